//! The decision explorer (`/explorer`): where it is served and behind what, its
//! Content-Security-Policy, and that a tried request decides as `/v1/offers` does
//! while owing Target nothing and counting no decision.

use std::time::Duration;

use offerd::config::Config;
use serde_json::{Value, json};

use crate::common::process::free_port;
use crate::common::{TestApp, assert_error, execute_for};

fn enabled(config: &mut Config) {
    config.explorer.enabled = Some(true);
    // Nothing flushes on its own, so the drain below shows everything owed.
    config.batcher.linger_ms = 60_000;
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client")
}

/// The explorer's form body for `body`, a `/v1/offers` body.
fn tried(body: &Value) -> Value {
    json!({"offers": body})
}

#[actix_rt::test]
async fn the_page_shows_the_artifact_under_a_strict_csp() {
    let app = TestApp::ready(enabled).await;
    let response = http()
        .get(format!("{}/explorer", app.base_url))
        .send()
        .await
        .expect("GET /explorer");
    assert_eq!(response.status(), 200);
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let page = response.text().await.unwrap_or_default();
    for expected in [
        "hero-banner",
        "Demo hero A/B",
        "0–50 %",
        "browser is chrome",
        "decided by Target",
        "recommendations",
    ] {
        assert!(page.contains(expected), "the page lacks {expected:?}");
    }
    assert!(!page.contains("<script>"), "no inline script");
    let (status, js) = app.get("/explorer/assets/explorer.js").await;
    assert_eq!(status, 200);
    assert!(js.contains("/explorer/try"));
}

#[actix_rt::test]
async fn a_tried_request_decides_as_v1_offers_does() {
    let app = TestApp::ready(enabled).await;
    for visitor in ["same-1", "same-2", "same-3"] {
        let body = execute_for(visitor, "explorer-session");
        let (status, offered) = app.post_json("/v1/offers", &body).await;
        assert_eq!(status, 200, "{offered}");
        let (status, explained) = app.post_json("/explorer/try", &tried(&body)).await;
        assert_eq!(status, 200, "{explained}");
        let options = |v: &Value| v.pointer("/execute/mboxes/0/options/0/content").cloned();
        assert_eq!(
            options(&explained["response"]["response"]),
            options(&offered["response"]),
            "{visitor}"
        );
        let html = explained["html"].as_str().unwrap_or_default();
        assert!(
            html.contains("bucket: ") && html.contains("winner: "),
            "{html}"
        );
    }
}

#[actix_rt::test]
async fn a_tried_request_owes_target_nothing_and_counts_no_decision() {
    let app = TestApp::ready(enabled).await;
    let (status, explained) = app
        .post_json("/explorer/try", &tried(&execute_for("tried.35_0", "s1")))
        .await;
    assert_eq!(status, 200, "{explained}");
    assert_eq!(app.metric_total("offerd_decisions_total").await, 0.0);
    assert_eq!(
        app.metric_total("offerd_decision_duration_seconds_count")
            .await,
        0.0
    );
    assert_eq!(
        app.metric_total("offerd_notifications_owed_total").await,
        0.0
    );

    // The control: the same request through /v1/offers is counted and notified.
    let (status, offered) = app
        .post_json("/v1/offers", &execute_for("offered.35_0", "s2"))
        .await;
    assert_eq!(status, 200, "{offered}");
    assert_eq!(app.metric_total("offerd_decisions_total").await, 1.0);
    let report = app.client.shutdown(Duration::from_secs(5)).await;
    assert!(report.within_deadline, "{report:?}");
    let sent = app.fake.notification_requests();
    let visitors: Vec<_> = sent.iter().filter_map(|r| r.tnt_id()).collect();
    assert_eq!(
        visitors,
        ["offered.35_0"],
        "only /v1/offers' visitor reaches Target: {sent:#?}"
    );
    // Telemetry rides with notifications: the /v1/offers decision's entry is there,
    // the tried request's is not.
    let entries: Vec<Value> = sent
        .iter()
        .flat_map(|r| {
            r.body
                .pointer("/telemetry/entries")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let with_id = |id: &Value| entries.iter().filter(|e| &e["requestId"] == id).count();
    assert_eq!(
        with_id(&offered["response"]["requestId"]),
        1,
        "{entries:#?}"
    );
    assert_eq!(
        with_id(&explained["response"]["response"]["requestId"]),
        0,
        "{entries:#?}"
    );
}

#[actix_rt::test]
async fn bad_form_input_is_a_400_not_a_500() {
    let app = TestApp::ready(enabled).await;
    assert_error(&app.post_raw("/explorer/try", "not json").await, 400);
    assert_error(
        &app.post_json("/explorer/try", &json!({"offers": {"request": 5}}))
            .await,
        400,
    );
    let bad_time = json!({"offers": execute_for("v", "s"), "at": "yesterday-ish"});
    assert_error(&app.post_json("/explorer/try", &bad_time).await, 400);
    let at = json!({"offers": execute_for("v", "s"), "at": "2026-12-08T10:00:00Z"});
    assert_eq!(app.post_json("/explorer/try", &at).await.0, 200);
}

#[actix_rt::test]
async fn off_by_default_with_an_artifact_other_than_the_demo() {
    let app = TestApp::ready(|_| {}).await;
    assert_eq!(app.get("/explorer").await.0, 404);
    assert_eq!(app.post_json("/explorer/try", &json!({})).await.0, 404);
}

#[actix_rt::test]
async fn served_on_the_admin_listener_behind_the_operations_token() {
    let admin_port = free_port();
    let app = TestApp::ready(|config| {
        enabled(config);
        config.server.admin_bind = Some(format!("127.0.0.1:{admin_port}"));
        config.server.auth_tokens = vec!["secret".into()];
        config.server.protect_operations = true;
    })
    .await;
    let main = http()
        .get(format!("{}/explorer", app.base_url))
        .bearer_auth("secret")
        .send()
        .await
        .expect("GET");
    assert_eq!(main.status(), 404, "not on the decisions listener");
    let admin = format!("http://127.0.0.1:{admin_port}");
    let without = http()
        .get(format!("{admin}/explorer"))
        .send()
        .await
        .expect("GET");
    assert_eq!(without.status(), 401);
    let with = http()
        .get(format!("{admin}/explorer"))
        .bearer_auth("secret")
        .send()
        .await
        .expect("GET");
    assert_eq!(with.status(), 200);
}
