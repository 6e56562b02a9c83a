//! How offerd behaves where it is deployed: started by a container runtime or
//! Kubernetes from an empty directory, with the service-link variables Kubernetes
//! injects, configured through `OFFERD_CONFIG`, logging JSON, probed by `offerd health`
//! and `offerd ready`, and refusing a bad configuration with exit 64.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::process::free_port;
use crate::common::{TempDir, metric_value};

const OFFERD: &str = env!("CARGO_BIN_EXE_offerd");

/// A command for the binary with nothing of this test's environment but `PATH`, run
/// in `dir`.
fn offerd(dir: &Path) -> Command {
    let mut command = Command::new(OFFERD);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    command
}

/// What Kubernetes injects into a pod when a Service named `offerd` exists.
const SERVICE_LINKS: [(&str, &str); 7] = [
    ("OFFERD_PORT", "tcp://10.96.0.12:8080"),
    ("OFFERD_PORT_8080_TCP", "tcp://10.96.0.12:8080"),
    ("OFFERD_PORT_8080_TCP_ADDR", "10.96.0.12"),
    ("OFFERD_PORT_8080_TCP_PORT", "8080"),
    ("OFFERD_PORT_8080_TCP_PROTO", "tcp"),
    ("OFFERD_SERVICE_HOST", "10.96.0.12"),
    ("OFFERD_SERVICE_PORT", "8080"),
];

fn probe(dir: &Path, config: &Path, which: &str) -> i32 {
    let status = offerd(dir)
        .env("OFFERD_CONFIG", config)
        .arg(which)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run offerd health/ready");
    status.code().unwrap_or(-1)
}

#[actix_rt::test]
async fn from_an_empty_directory_under_kubernetes_it_serves_the_embedded_demo() {
    let dir = TempDir::new("k8s");
    let port = free_port();
    let config = dir.path().join("offerd.toml");
    std::fs::write(
        &config,
        format!("[server]\nbind = \"127.0.0.1:{port}\"\nshutdown_grace_secs = 30\n"),
    )
    .unwrap();
    let log = dir.path().join("offerd.log");
    let mut child = offerd(dir.path())
        .envs(SERVICE_LINKS)
        .env("OFFERD_CONFIG", &config)
        .env("OFFERD_LOG__FORMAT", "json")
        .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start offerd");

    // Not listening yet, or not ready: the probes say so with exit 1.
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe(dir.path(), &config, "ready") != 0 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "offerd exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(probe(dir.path(), &config, "health"), 0);

    let body = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/requests/execute-one-mbox.json"),
    )
    .unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/offers"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mbox = &answer["response"]["execute"]["mboxes"][0];
    assert_eq!(mbox["name"], "hero-banner", "{answer}");
    assert!(
        mbox["options"][0]["content"].is_string(),
        "the demo decided: {answer}"
    );

    // SIGTERM: with nothing owed (offline), offerd drains at once and exits 0, well
    // before its 30 s grace period (it once waited for telemetry that offline mode can
    // never send).
    let terminated = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            terminated.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM with nothing to drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert_eq!(probe(dir.path(), &config, "health"), 1, "nothing listening");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "no ANSI codes in JSON logs");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["service"] == "offerd" && l["version"].is_string())
    );
    let listening = lines
        .iter()
        .find(|l| l["message"] == "offerd listening")
        .unwrap();
    assert!(
        listening["mode"]
            .as_str()
            .is_some_and(|m| m.contains("offline")),
        "the start-up line states the mode: {listening}"
    );
    assert_eq!(
        listening["addr"],
        format!("127.0.0.1:{port}"),
        "fields are flat"
    );
}

#[test]
fn a_bad_configuration_exits_64_with_one_clear_line() {
    let dir = TempDir::new("badconfig");
    let missing = dir.path().join("missing.toml");
    let out = offerd(dir.path())
        .env("OFFERD_CONFIG", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[batcher]\nconcurrency = 3\n").unwrap();
    let out = offerd(dir.path())
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("concurrency"), "{stderr}");

    let out = offerd(dir.path())
        .env("OFFERD_SERVER__BIND", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn an_environment_variable_wins_over_the_file_under_any_name_of_its_key() {
    // `offerd health` loads the configuration, then asks a port where nothing
    // listens: exit 1 means the configuration was accepted, 64 that it was not.
    let dir = TempDir::new("aliases");
    let port = free_port();
    for (in_file, variable) in [
        ("linger_ms", "OFFERD_BATCHER__FLUSH_INTERVAL_MS"),
        ("flush_interval_ms", "OFFERD_BATCHER__LINGER_MS"),
    ] {
        let file = dir.path().join(format!("{in_file}.toml"));
        let text = format!("[server]\nbind = \"127.0.0.1:{port}\"\n[batcher]\n{in_file} = 50\n");
        std::fs::write(&file, text).unwrap();
        let out = offerd(dir.path())
            .env("OFFERD_CONFIG", &file)
            .env(variable, "70")
            .arg("health")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{in_file} + {variable}: {stderr}"
        );
        assert!(!stderr.contains("duplicate"), "{stderr}");
    }
}

#[test]
fn help_names_the_environment_variables_and_allowed_values() {
    let out = offerd(Path::new(env!("CARGO_MANIFEST_DIR")))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "OFFERD_CONFIG",
        "OFFERD_SERVER__BIND",
        "OFFERD_ARTIFACT__LOCATION",
        "OFFERD_TARGET__DECISIONING_METHOD",
        "on-device, server-side, hybrid",
        "OFFERD_LOG__FORMAT",
        "pretty, json",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[actix_rt::test]
async fn a_wrong_method_is_a_json_405_naming_the_right_one() {
    let app = crate::common::TestApp::ready(|_| {}).await;
    let http = reqwest::Client::new();
    for (method, path, allow) in [
        (reqwest::Method::GET, "/v1/offers", "POST"),
        (reqwest::Method::PUT, "/v1/notifications", "POST"),
        (reqwest::Method::GET, "/rest/v1/delivery", "POST"),
        (reqwest::Method::POST, "/metrics", "GET"),
        (reqwest::Method::DELETE, "/health/ready", "GET"),
    ] {
        let url = format!("{}{path}", app.base_url);
        let response = http.request(method.clone(), url).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let allowed = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok());
        assert_eq!(allowed, Some(allow), "{method} {path}");
        let body: Value = response.json().await.unwrap();
        if path.starts_with("/rest/") {
            // Target's own API answers in Target's error shape.
            assert_eq!(body["status"], 405, "{body}");
        } else {
            assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        }
    }
}

#[actix_rt::test]
async fn metrics_carry_process_build_and_method_series() {
    let app = crate::common::TestApp::ready(|_| {}).await;
    let response = reqwest::get(format!("{}/metrics", app.base_url))
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.contains("charset=utf-8"), "{content_type}");
    let text = response.text().await.unwrap();
    let build = format!(
        "offerd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&build), "{text}");
    for series in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "offerd_notifications_dropped_total{reason=\"spool_full\"} 0",
        "offerd_actor_restarts_total{actor=\"batcher\"} 0",
        "offerd_upstream_request_duration_seconds_count{upstream=\"geo\"}",
        "offerd_upstream_request_duration_seconds_count{upstream=\"notifications\"}",
    ] {
        assert!(text.contains(series), "missing {series}");
    }
    let (status, _) = app.get("/health/ready").await;
    assert_eq!(status, 200);
    let artifact = metric_value(
        &text,
        "offerd_upstream_request_duration_seconds_count{upstream=\"artifact\"}",
    );
    assert!(
        artifact.is_some_and(|n| n >= 1.0),
        "the artifact download is timed"
    );
    let text = reqwest::get(format!("{}/metrics", app.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ready =
        "offerd_http_requests_total{endpoint=\"/health/ready\",method=\"GET\",status=\"200\"}";
    assert!(text.contains(ready), "{text}");
}

#[actix_rt::test]
async fn bearer_tokens_guard_the_decision_endpoints_not_the_probes() {
    let app = crate::common::TestApp::ready(|c| {
        c.server.auth_tokens = vec!["s3cret-one".into(), "s3cret-two".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let offers = format!("{}/v1/offers", app.base_url);
    let body = crate::common::example("execute-one-mbox.json");

    let none = http.post(&offers).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let answer: Value = none.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");

    let wrong = http
        .post(&offers)
        .bearer_auth("s3cret-on")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http
        .post(&offers)
        .bearer_auth("s3cret-two")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    assert_eq!(
        app.get("/health/ready").await.0,
        200,
        "probes stay open by default"
    );
    assert_eq!(app.get("/metrics").await.0, 200);
}

#[actix_rt::test]
async fn protected_operations_need_the_token_too() {
    let app = crate::common::TestApp::ready(|c| {
        c.server.auth_tokens = vec!["ops-token".into()];
        c.server.protect_operations = true;
    })
    .await;
    assert_eq!(app.get("/metrics").await.0, 401);
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", app.base_url))
        .bearer_auth("ops-token")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

#[actix_rt::test]
async fn an_admin_listener_takes_health_and_metrics_off_the_main_port() {
    let admin_port = free_port();
    let app = crate::common::TestApp::ready(|c| {
        c.server.admin_bind = Some(format!("127.0.0.1:{admin_port}"));
    })
    .await;
    assert_eq!(app.get("/metrics").await.0, 404, "not on the main port");
    let body = crate::common::example("execute-one-mbox.json");
    assert_eq!(app.post_json("/v1/offers", &body).await.0, 200);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let ready = reqwest::get(format!("{admin}/health/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = reqwest::get(format!("{admin}/metrics")).await.unwrap();
    assert!(metrics.text().await.unwrap().contains("offerd_build_info"));
    let offers = reqwest::Client::new()
        .post(format!("{admin}/v1/offers"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(offers.status(), 404, "no decisions on the admin port");
}
