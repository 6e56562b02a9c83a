//! The black-box harness: a [`FakeUpstream`] playing Adobe Target (artifact CDN,
//! Delivery API, geo endpoint) on 127.0.0.1, a [`TestApp`] running the real offerd
//! HTTP server against it, and [`eventually`] for waiting by bounded polling.
//!
//! Everything runs inside the test's actix `System` (`#[actix_rt::test]`); both servers
//! are stopped when the [`TestApp`] or [`FakeUpstream`] is dropped.

#![allow(dead_code)] // each test module uses a different part of the harness

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, IF_NONE_MATCH};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use offerd::client::TargetClient;
use offerd::config::Config;
use serde_json::{Value, json};

/// How long a test waits for something that should happen on its own (a poll, a
/// flush). Generous: the cores are shared with other builds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The ETag the fake serves the demo artifact with at first.
pub const DEMO_ETAG: &str = "\"demo-v1\"";

/// Polls `condition` every 20 ms until it holds or `timeout` passes; true if it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The demo artifact shipped in `examples/`.
pub fn demo_artifact() -> Value {
    let text = std::fs::read_to_string(repo_path("examples/demo-artifact.json"))
        .expect("examples/demo-artifact.json is readable");
    serde_json::from_str(&text).expect("the demo artifact is JSON")
}

/// An example request body from `examples/requests/`, e.g. `execute-one-mbox.json`.
pub fn example(name: &str) -> Value {
    let path = repo_path("examples/requests").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("example requests are JSON")
}

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
}

/// The fake's state, shared by its handlers and the test.
struct FakeState {
    artifact: Mutex<ArtifactReply>,
    /// Status the Delivery API answers with; 200 means "the canned answer".
    delivery_status: AtomicUsize,
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
    let recorded = Recorded { query, body };
    lock(&state.deliveries).push(recorded.clone());
    let status = state.delivery_status.load(Ordering::SeqCst);
    if status != 200 {
        let status = u16::try_from(status).expect("a status set from a u16");
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

/// offerd's HTTP server and client, running against a [`FakeUpstream`].
pub struct TestApp {
    pub base_url: String,
    pub client: TargetClient,
    pub fake: FakeUpstream,
    http: reqwest::Client,
    server: ServerHandle,
}

impl TestApp {
    /// Starts offerd against a new fake serving the demo artifact; `tweak` adjusts the
    /// test configuration before start.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(FakeUpstream::start(), tweak).await
    }

    /// Starts offerd against `fake` (set up beforehand, e.g. failing at first).
    pub async fn start_with(fake: FakeUpstream, tweak: impl FnOnce(&mut Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind offerd");
        let addr = listener.local_addr().expect("bound address");
        let mut config = test_config(&fake);
        config.server.bind = addr.to_string();
        tweak(&mut config);
        let client = TargetClient::create(config).expect("offerd starts");
        let server = offerd::http::serve(client.clone(), listener).expect("offerd serves");
        let handle = server.handle();
        actix_rt::spawn(server);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(PATIENCE)
            .build()
            .expect("a reqwest client");
        Self {
            base_url: format!("http://{addr}"),
            client,
            fake,
            http,
            server: handle,
        }
    }

    /// Starts offerd and waits until it has loaded the artifact.
    pub async fn ready(tweak: impl FnOnce(&mut Config)) -> Self {
        let app = Self::start(tweak).await;
        app.wait_ready().await;
        app
    }

    /// Waits until `/health/ready` answers 200; panics after [`PATIENCE`].
    pub async fn wait_ready(&self) {
        let ready = eventually(PATIENCE, || async {
            self.get("/health/ready").await.0 == 200
        })
        .await;
        assert!(ready, "offerd did not become ready within {PATIENCE:?}");
    }

    /// POSTs `body` as JSON; the status and the answer parsed as JSON (`Null` when the
    /// answer is not JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, &body.to_string()).await
    }

    /// POSTs `body` as it is, labelled as JSON.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GETs `path`: the status and the body as text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// GETs `path` and parses the answer as JSON.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, text) = self.get(path).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {text}"));
        (status, value)
    }

    /// The value of the Prometheus sample `series` (name with labels, exactly as
    /// rendered), or None when `/metrics` does not have it.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics").await;
        metric_value(&text, series)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; its future only waits for completion.
        drop(self.server.stop(false));
    }
}

/// The value of the sample named exactly `series` in Prometheus text.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter_map(|line| line.strip_prefix(series))
        .find_map(|rest| rest.strip_prefix(' ')?.trim().parse().ok())
}

/// The configuration every test starts from: everything upstream is the fake, the
/// artifact is polled every second and notifications flush every 100 ms.
fn test_config(fake: &FakeUpstream) -> Config {
    let mut config = Config::default();
    config.server.workers = 1;
    config.decision.actors = 1;
    config.artifact.location = format!("{}/rules.json", fake.base_url);
    config.artifact.polling_interval_secs = 1;
    config.upstream.server_domain = Some("127.0.0.1".into());
    config.upstream.port = Some(fake.port);
    config.upstream.secure = false;
    config.upstream.pin_server_domain = true;
    config.geo.url = format!("{}/geo", fake.base_url);
    config.batcher.flush_interval_ms = 100;
    config.target.client = "demo".into();
    config
}

/// Asserts an offerd error answer: `status` and `{"error": {"code", "message"}}`.
pub fn assert_error(answer: &(u16, Value), status: u16) {
    let (got, body) = answer;
    assert_eq!(*got, status, "unexpected status; body: {body}");
    let code = body.pointer("/error/code").and_then(Value::as_str);
    let message = body.pointer("/error/message").and_then(Value::as_str);
    assert!(
        code.is_some_and(|c| !c.is_empty()) && message.is_some_and(|m| !m.is_empty()),
        "not an error body: {body}"
    );
}

/// The options of the first mbox of `execute` in a `TargetDeliveryResponse`.
pub fn first_execute_options(answer: &Value) -> Vec<Value> {
    answer
        .pointer("/response/execute/mboxes/0/options")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `execute-one-mbox.json` for visitor `tnt_id` in session `session_id`.
pub fn execute_for(tnt_id: &str, session_id: &str) -> Value {
    let mut body = example("execute-one-mbox.json");
    body["request"]["id"]["tntId"] = json!(tnt_id);
    body["session_id"] = json!(session_id);
    body
}
