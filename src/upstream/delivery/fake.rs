//! A fake Delivery API for unit tests: an actix-web server on `127.0.0.1:0` that
//! records every request and answers from a script (then `200 {"status":200}`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};

use crate::model::DeliveryRequest;

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// `200 {"status":200}`.
    Ok,
    /// That status with that body.
    Status(u16, String),
    /// `200` with a body that is not JSON.
    BadJson,
    /// Waits, then answers `Ok`.
    Slow(Duration),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub query: String,
    pub body: DeliveryRequest,
    pub user_agent: String,
    pub request_id_header: String,
}

impl Seen {
    /// A decoded query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Notifications carried.
    pub fn notifications(&self) -> usize {
        self.body.notifications.as_ref().map_or(0, Vec::len)
    }

    /// Telemetry entries carried.
    pub fn telemetry(&self) -> usize {
        let telemetry = self.body.telemetry.as_ref();
        telemetry
            .and_then(|t| t.entries.as_ref())
            .map_or(0, Vec::len)
    }
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    reject_prefix: Mutex<Option<String>>,
}

/// The running fake; stops its server when dropped.
pub(crate) struct FakeDelivery {
    pub port: u16,
    state: Arc<State>,
    handle: ServerHandle,
}

impl FakeDelivery {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/rest/v1/delivery", web::post().to(answer))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        // HTTP/1.1, and h2c for the notification lanes' lean client.
        .listen_auto_h2c(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            port,
            state,
            handle,
        }
    }

    /// Answers 400 to any request holding a notification whose id starts with
    /// `prefix` (Target refuses a whole request for one bad notification).
    pub fn reject_ids_starting_with(&self, prefix: &str) {
        *self.state.reject_prefix.lock().unwrap() = Some(prefix.to_owned());
    }

    /// Queues replies for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDelivery {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only waits for completion.
        drop(self.handle.stop(false));
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let seen = Seen {
        query: req.query_string().to_string(),
        body: serde_json::from_slice(&body).unwrap_or_default(),
        user_agent: header("user-agent"),
        request_id_header: header("x-request-id"),
    };
    let prefix = state.reject_prefix.lock().unwrap().clone();
    let bad = prefix.is_some_and(|prefix| {
        let notifications = seen.body.notifications.iter().flatten();
        notifications
            .filter_map(|n| n.id.as_deref())
            .any(|id| id.starts_with(&prefix))
    });
    state.seen.lock().unwrap().push(seen);
    if bad {
        return HttpResponse::BadRequest().body(r#"{"status":400,"message":"bad notification"}"#);
    }
    let reply = state.script.lock().unwrap().pop_front();
    match reply.unwrap_or(Reply::Ok) {
        Reply::Ok => ok(),
        Reply::Status(status, body) => {
            let status = actix_web::http::StatusCode::from_u16(status).unwrap();
            HttpResponse::build(status).body(body)
        }
        Reply::BadJson => HttpResponse::Ok().body("not json"),
        Reply::Slow(delay) => {
            actix_rt::time::sleep(delay).await;
            ok()
        }
    }
}

fn ok() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":200}"#)
}
