//! The black-box harness: a [`FakeUpstream`] playing Adobe Target (artifact CDN,
//! Delivery API, geo endpoint) on 127.0.0.1, a [`TestApp`] running the real offerd
//! HTTP server against it, and [`eventually`] for waiting by bounded polling. For the
//! durability tests: [`TcpProxy`] (a transport-level outage between offerd and the
//! fake), [`OfferdProcess`] (the real binary as a child process) and [`TempDir`]. For
//! the egress test: a private CA, a TLS front and a CONNECT proxy ([`egress`]); for
//! the tracing test, an OTLP/HTTP receiver ([`otlp`]).
//!
//! Everything runs inside the test's actix `System` (`#[actix_rt::test]`); both servers
//! are stopped when the [`TestApp`] or [`FakeUpstream`] is dropped.

pub mod egress;
mod fake;
pub mod otlp;
pub mod process;
mod proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use offerd::client::TargetClient;
use offerd::config::Config;
use serde_json::{Value, json};

pub use fake::{FakeUpstream, Recorded};
pub use process::OfferdProcess;
pub use proxy::TcpProxy;

/// How long a test waits for something that should happen on its own (a poll, a
/// flush). Generous: the cores are shared with other builds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The ETag the fake serves the demo artifact with at first.
pub const DEMO_ETAG: &str = "\"demo-v1\"";

pub use testkit::eventually;

/// A fresh directory under the system's temp dir, removed when dropped — unless the
/// test is failing: then it is kept (and named on stderr) for a look at the spool
/// and the logs.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `offerd-<label>-<uuid>`.
    pub fn new(label: &str) -> Self {
        let name = format!("offerd-{label}-{}", uuid::Uuid::new_v4());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for a look: {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
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

/// offerd's HTTP server and client, running against a [`FakeUpstream`].
pub struct TestApp {
    pub base_url: String,
    /// The admin listener, when `server.admin_bind` is set.
    pub admin_base_url: Option<String>,
    /// The token readiness is asked with, when operations are protected.
    probe_token: Option<String>,
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
        let admin = config.admin_addr().expect("a valid admin address");
        let probe_token = config
            .server
            .protect_operations
            .then(|| config.server.auth_tokens.first().cloned())
            .flatten();
        let client = TargetClient::create(config).expect("offerd starts");
        let server = offerd::http::serve(client.clone(), listener).expect("offerd serves");
        let handle = server.handle();
        actix_rt::spawn(server);
        let admin_base_url = admin.map(|admin| {
            let listener = TcpListener::bind(admin).expect("bind the admin listener");
            let server = offerd::http::serve_admin(client.clone(), listener).expect("admin serves");
            actix_rt::spawn(server);
            format!("http://{admin}")
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(PATIENCE)
            .build()
            .expect("a reqwest client");
        Self {
            base_url: format!("http://{addr}"),
            admin_base_url,
            probe_token,
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
        let base = self.admin_base_url.as_ref().unwrap_or(&self.base_url);
        let url = format!("{base}/health/ready");
        let ready = eventually(PATIENCE, || async {
            let mut request = self.http.get(&url);
            if let Some(token) = &self.probe_token {
                request = request.bearer_auth(token);
            }
            request.send().await.is_ok_and(|r| r.status() == 200)
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

    /// The sum of every sample of the metric `name` in `/metrics`.
    pub async fn metric_total(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        metric_sum(&text, name)
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

/// The sum of every sample of `name` (all label sets) in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
    config.artifact.location = format!("{}/rules.json", fake.base_url);
    config.artifact.polling_interval_secs = 1;
    config.upstream.server_domain = Some("127.0.0.1".into());
    config.upstream.port = Some(fake.port);
    config.upstream.secure = false;
    config.upstream.pin_server_domain = true;
    config.upstream.offline = false;
    config.geo.url = format!("{}/geo", fake.base_url);
    config.batcher.linger_ms = 100;
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

/// Asserts an error answer of Target's Delivery API: `status` and `{"status", "message"}`.
pub fn assert_target_error(answer: &(u16, Value), status: u16) {
    let (got, body) = answer;
    assert_eq!(*got, status, "unexpected status; body: {body}");
    assert_eq!(body["status"], status, "Target's error shape: {body}");
    let message = body["message"].as_str();
    assert!(message.is_some_and(|m| !m.is_empty()), "no message: {body}");
    assert!(body.get("error").is_none(), "offerd's own shape: {body}");
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

/// The demo artifact with every hero-banner offer replaced by `content`.
pub fn with_hero_content(content: &str) -> Value {
    let mut artifact = demo_artifact();
    let rules = artifact["rules"]["mboxes"]["hero-banner"]
        .as_array_mut()
        .expect("hero-banner rules");
    for rule in rules {
        rule["consequence"]["options"][0]["content"] = json!(content);
    }
    artifact
}
