//! The fake Adobe Target: one actix-web server on 127.0.0.1:0 serving the artifact
//! (`GET /rules.json`, swappable, with ETag and 304), the Delivery API
//! (`POST /rest/v1/delivery`, recording every request and the status it answered,
//! canned or failing answers, a 400 for chosen notification ids, the `traceparent` it
//! came with) and the geo endpoint
//! (`GET /geo`, counted). Tests read what it saw through accessors.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, IF_NONE_MATCH};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::{DEMO_ETAG, demo_artifact};

/// What the fake answers on `GET /rules.json`.
#[derive(Debug, Clone)]
struct ArtifactReply {
    status: u16,
    body: Vec<u8>,
    etag: Option<String>,
}

/// One request the fake's Delivery API received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub query: HashMap<String, String>,
    pub body: Value,
    /// The status the fake answered with: 200 means Target accepted the request.
    pub status: u16,
    /// The W3C `traceparent` header offerd sent, if any.
    pub traceparent: Option<String>,
}

impl Recorded {
    /// A query parameter, e.g. `client` or `sessionId`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// True for a request asking for decisions (execute or prefetch).
    pub fn is_decision(&self) -> bool {
        self.body.get("execute").is_some() || self.body.get("prefetch").is_some()
    }

    /// The notifications the request carries (empty when none).
    pub fn notifications(&self) -> Vec<Value> {
        self.body
            .get("notifications")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The visitor's tntId.
    pub fn tnt_id(&self) -> Option<&str> {
        self.body.pointer("/id/tntId").and_then(Value::as_str)
    }

    /// The ids of the notifications the request carries, in body order.
    pub fn notification_ids(&self) -> Vec<String> {
        let notifications = self.notifications();
        let ids = notifications.iter().filter_map(|n| n["id"].as_str());
        ids.map(str::to_owned).collect()
    }

    /// True when the fake answered 200: what Target has counted.
    pub fn accepted(&self) -> bool {
        self.status == 200
    }
}

/// The fake's state, shared by its handlers and the test.
struct FakeState {
    artifact: Mutex<ArtifactReply>,
    /// Status the Delivery API answers with; 200 means "the canned answer".
    delivery_status: AtomicUsize,
    /// A request holding a notification whose id starts with this is answered 400.
    rejected_prefix: Mutex<Option<String>>,
    deliveries: Mutex<Vec<Recorded>>,
    artifact_requests: AtomicUsize,
    not_modified: AtomicUsize,
    geo_calls: AtomicUsize,
}

/// Locks a mutex of the fake; a panicking test thread must not hide the state from
/// the assertions that follow, so a poisoned lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adobe Target played on 127.0.0.1: artifact CDN, Delivery API and geo endpoint.
pub struct FakeUpstream {
    pub base_url: String,
    pub port: u16,
    state: Arc<FakeState>,
    handle: ServerHandle,
}

impl FakeUpstream {
    /// Starts the fake, serving the demo artifact with [`DEMO_ETAG`].
    pub fn start() -> Self {
        let state = Arc::new(FakeState {
            artifact: Mutex::new(ArtifactReply {
                status: 200,
                body: serde_json::to_vec(&demo_artifact()).expect("serializable"),
                etag: Some(DEMO_ETAG.into()),
            }),
            delivery_status: AtomicUsize::new(200),
            rejected_prefix: Mutex::new(None),
            deliveries: Mutex::new(Vec::new()),
            artifact_requests: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            geo_calls: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake upstream");
        let port = listener.local_addr().expect("bound address").port();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/rules.json", web::get().to(rules))
                .route("/rest/v1/delivery", web::post().to(delivery))
                .route("/geo", web::get().to(geo))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen on the fake upstream")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            state,
            handle,
        }
    }

    /// Serves `artifact` from now on, with `etag`.
    pub fn serve_artifact(&self, artifact: &Value, etag: &str) {
        *lock(&self.state.artifact) = ArtifactReply {
            status: 200,
            body: serde_json::to_vec(artifact).expect("serializable"),
            etag: Some(etag.into()),
        };
    }

    /// Serves a body that is no artifact at all, with a new ETag.
    pub fn serve_garbage(&self) {
        *lock(&self.state.artifact) = ArtifactReply {
            status: 200,
            body: b"{\"version\": \"1.0.0\", \"rules\": <<< not json".to_vec(),
            etag: Some("\"garbage\"".into()),
        };
    }

    /// Answers the artifact URL with `status` and no artifact.
    pub fn fail_artifact(&self, status: u16) {
        *lock(&self.state.artifact) = ArtifactReply {
            status,
            body: b"{\"error\": \"the CDN is having a bad day\"}".to_vec(),
            etag: None,
        };
    }

    /// Makes the Delivery API answer `status` (200 restores the canned answers).
    pub fn set_delivery_status(&self, status: u16) {
        self.state
            .delivery_status
            .store(status.into(), Ordering::SeqCst);
    }

    /// Answers 400 to every Delivery API request holding a notification whose id
    /// starts with `prefix`, whatever [`Self::set_delivery_status`] says.
    pub fn reject_notification_ids_starting_with(&self, prefix: &str) {
        *lock(&self.state.rejected_prefix) = Some(prefix.into());
    }

    /// Every Delivery API request so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Recorded> {
        lock(&self.state.deliveries).clone()
    }

    /// The Delivery API requests that asked for decisions.
    pub fn decision_requests(&self) -> Vec<Recorded> {
        let all = self.deliveries().into_iter();
        all.filter(Recorded::is_decision).collect()
    }

    /// The Delivery API requests carrying at least one notification.
    pub fn notification_requests(&self) -> Vec<Recorded> {
        let all = self.deliveries().into_iter();
        all.filter(|r| !r.notifications().is_empty()).collect()
    }

    /// The ids of the notifications in requests the fake answered 200, in arrival
    /// order, duplicates included.
    pub fn accepted_notification_ids(&self) -> Vec<String> {
        let requests = self.deliveries().into_iter().filter(Recorded::accepted);
        requests.flat_map(|r| r.notification_ids()).collect()
    }

    /// Every notification received, across requests.
    pub fn notifications(&self) -> Vec<Value> {
        let requests = self.deliveries();
        requests.iter().flat_map(Recorded::notifications).collect()
    }

    /// `GET /rules.json` requests so far.
    pub fn artifact_requests(&self) -> usize {
        self.state.artifact_requests.load(Ordering::SeqCst)
    }

    /// Artifact polls answered 304 so far.
    pub fn not_modified(&self) -> usize {
        self.state.not_modified.load(Ordering::SeqCst)
    }

    /// `GET /geo` requests so far.
    pub fn geo_calls(&self) -> usize {
        self.state.geo_calls.load(Ordering::SeqCst)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // `stop` sends its command at once; its future only waits for completion.
        drop(self.handle.stop(false));
    }
}

async fn rules(state: web::Data<FakeState>, req: HttpRequest) -> HttpResponse {
    state.artifact_requests.fetch_add(1, Ordering::SeqCst);
    let reply = lock(&state.artifact).clone();
    let status = StatusCode::from_u16(reply.status).expect("a valid status");
    let Some(etag) = reply.etag.filter(|_| status.is_success()) else {
        return HttpResponse::build(status).body(reply.body);
    };
    let asked = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if asked == Some(etag.as_str()) {
        state.not_modified.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::NotModified()
            .insert_header((ETAG, etag))
            .finish();
    }
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((ETAG, etag))
        .body(reply.body)
}

async fn delivery(state: web::Data<FakeState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let traceparent = req.headers().get("traceparent");
    let mut recorded = Recorded {
        query,
        body,
        status: 200,
        traceparent: traceparent.and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let prefix = lock(&state.rejected_prefix).clone();
    let rejected = prefix.is_some_and(|p| {
        let ids = recorded.notification_ids();
        ids.iter().any(|id| id.starts_with(&p))
    });
    let status = if rejected {
        400
    } else {
        let status = state.delivery_status.load(Ordering::SeqCst);
        u16::try_from(status).expect("a status set from a u16")
    };
    recorded.status = status;
    lock(&state.deliveries).push(recorded.clone());
    if status != 200 {
        let status = StatusCode::from_u16(status).expect("a valid status");
        return HttpResponse::build(status)
            .json(json!({"status": status.as_u16(), "message": "fake failure"}));
    }
    let mut answer = json!({
        "status": 200,
        "requestId": recorded.body.get("requestId").cloned().unwrap_or(Value::Null),
        "client": recorded.param("client"),
        "id": recorded.body.get("id").cloned().unwrap_or(Value::Null),
        "edgeHost": "mboxedge35.tt.omtrdc.net",
    });
    if recorded.is_decision() {
        let first = ["/execute/mboxes/0/name", "/prefetch/mboxes/0/name"]
            .iter()
            .find_map(|p| recorded.body.pointer(p))
            .cloned()
            .unwrap_or(Value::Null);
        answer["execute"] = json!({"mboxes": [{
            "index": 1,
            "name": first,
            "options": [{"type": "json", "content": {"from": "edge"}}],
        }]});
    }
    HttpResponse::Ok().json(answer)
}

async fn geo(state: web::Data<FakeState>) -> HttpResponse {
    state.geo_calls.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(json!({
        "x-geo-country-code": "US",
        "x-geo-city": "SAN FRANCISCO",
        "x-geo-latitude": 37.75,
        "x-geo-longitude": -122.4,
    }))
}
