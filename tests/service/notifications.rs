//! What reaches Target's notification endpoint: display notifications owed by
//! on-device executes (merged per visitor and session), none for prefetch, caller-sent
//! notifications through `POST /v1/notifications` and `/rest/v1/delivery`, telemetry,
//! retries and refusals by Target, and the drain on shutdown.
//!
//! Tests about how notifications are grouped hold them with a flush interval of a
//! minute and let the shutdown drain send them, so a flush tick falling between two
//! calls cannot split what should be one request.

use std::time::Duration;

use offerd::config::Config;
use serde_json::{Value, json};

use crate::common::{PATIENCE, Recorded, TestApp, assert_error, eventually, example, execute_for};

/// Nothing flushes on its own; telemetry off so that only notifications travel.
fn held_until_shutdown(config: &mut Config) {
    config.batcher.linger_ms = 60_000;
    config.target.telemetry_enabled = false;
}

async fn drain(app: &TestApp) {
    let report = app.client.shutdown(Duration::from_secs(5)).await;
    assert!(
        report.within_deadline,
        "the drain missed its deadline: {report:?}"
    );
}

fn session_of(request: &Recorded) -> &str {
    request.param("sessionId").unwrap_or_default()
}

#[actix_rt::test]
async fn executes_of_one_visitor_and_session_travel_as_one_request() {
    let app = TestApp::ready(held_until_shutdown).await;

    for _ in 0..2 {
        let body = execute_for("merge-visitor.35_0", "merge-session");
        let (status, answer) = app.post_json("/v1/offers", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    drain(&app).await;

    let sent = app.fake.notification_requests();
    assert_eq!(sent.len(), 1, "expected one merged request, got {sent:#?}");
    assert_eq!(sent[0].param("client"), Some("demo"));
    assert_eq!(session_of(&sent[0]), "merge-session");
    assert_eq!(sent[0].tnt_id(), Some("merge-visitor.35_0"));
    let notifications = sent[0].notifications();
    assert_eq!(notifications.len(), 2, "{notifications:#?}");
    for n in &notifications {
        assert_eq!(n["type"], json!("display"));
        assert_eq!(n.pointer("/mbox/name"), Some(&json!("hero-banner")));
    }
}

#[actix_rt::test]
async fn different_visitors_travel_as_separate_requests() {
    let app = TestApp::ready(held_until_shutdown).await;

    for visitor in ["visitor-a.35_0", "visitor-b.35_0"] {
        let body = execute_for(visitor, "shared-session");
        let (status, answer) = app.post_json("/v1/offers", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    drain(&app).await;

    let sent = app.fake.notification_requests();
    assert_eq!(sent.len(), 2, "one request per visitor: {sent:#?}");
    let mut visitors: Vec<&str> = sent.iter().filter_map(Recorded::tnt_id).collect();
    visitors.sort_unstable();
    assert_eq!(visitors, ["visitor-a.35_0", "visitor-b.35_0"]);
    assert!(sent.iter().all(|r| r.notifications().len() == 1));
    assert!(sent.iter().all(|r| session_of(r) == "shared-session"));
}

#[actix_rt::test]
async fn prefetch_sends_no_display_notifications() {
    let app = TestApp::ready(held_until_shutdown).await;
    let mut prefetch = example("prefetch-view-and-pageload.json");
    prefetch["session_id"] = json!("prefetch-session");

    let (status, answer) = app.post_json("/v1/offers", &prefetch).await;
    assert_eq!(status, 200, "{answer}");
    let views = answer.pointer("/response/prefetch/views");
    assert!(views.is_some(), "the view was prefetched: {answer}");
    // A later execute shows the pipeline works, so silence is not an accident.
    let execute = execute_for("execute-visitor", "execute-session");
    assert_eq!(app.post_json("/v1/offers", &execute).await.0, 200);
    drain(&app).await;

    let sent = app.fake.notification_requests();
    let sessions: Vec<&str> = sent.iter().map(session_of).collect();
    assert_eq!(sessions, ["execute-session"], "{sent:#?}");
}

#[actix_rt::test]
async fn posted_notifications_are_accepted_and_reach_target() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app
        .post_json("/v1/notifications", &example("notifications.json"))
        .await;

    assert_eq!(status, 202, "{answer}");
    let arrived = eventually(PATIENCE, || async {
        app.fake
            .notifications()
            .iter()
            .any(|n| n["id"] == json!("n-1"))
    })
    .await;
    assert!(arrived, "notification n-1 never reached the fake Target");
    let request = app
        .fake
        .notification_requests()
        .into_iter()
        .find(|r| r.notifications().iter().any(|n| n["id"] == json!("n-1")))
        .expect("the request that carried n-1");
    assert_eq!(request.param("client"), Some("demo"));
    assert_eq!(session_of(&request), "demo-session-1");
    let notification = &request.notifications()[0];
    assert_eq!(notification["type"], json!("display"));
    assert_eq!(
        notification["tokens"],
        json!(["z91IaNh+ITAvhAFW60I51rY7bv7tY8Ak"])
    );
}

#[actix_rt::test]
async fn a_notification_missing_id_type_or_timestamp_is_a_400() {
    let app = TestApp::ready(|_| {}).await;

    for field in ["id", "type", "timestamp"] {
        let mut body = example("notifications.json");
        let notification: &mut Value = &mut body["request"]["notifications"][0];
        notification
            .as_object_mut()
            .expect("a notification object")
            .remove(field);
        let answer = app.post_json("/v1/notifications", &body).await;
        assert_error(&answer, 400);
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{field}: {message}");
    }
}

#[actix_rt::test]
async fn shutdown_drains_queued_notifications() {
    let app = TestApp::ready(held_until_shutdown).await;

    let body = execute_for("drain-visitor", "drain-session");
    let (status, answer) = app.post_json("/v1/offers", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        app.fake.notification_requests().is_empty(),
        "nothing should flush on its own within a minute"
    );

    let report = app.client.shutdown(Duration::from_secs(5)).await;

    assert!(report.within_deadline, "{report:?}");
    let sent = app.fake.notification_requests();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(session_of(&sent[0]), "drain-session");
    assert_eq!(report.notifications.dropped, 0, "{report:?}");
}

#[actix_rt::test]
async fn notifications_in_a_delivery_api_request_reach_target() {
    let app = TestApp::ready(|_| {}).await;
    let request = example("notifications.json")["request"].clone();

    let (status, answer) = app
        .post_json(
            "/rest/v1/delivery?client=demo&sessionId=raw-session",
            &request,
        )
        .await;

    assert_eq!(status, 200, "{answer}");
    let arrived = eventually(PATIENCE, || async {
        app.fake
            .notification_requests()
            .iter()
            .any(|r| session_of(r) == "raw-session")
    })
    .await;
    assert!(arrived, "the notification never reached the fake Target");
}

/// The telemetry entries a request carries.
fn telemetry_entries(request: &Recorded) -> Vec<Value> {
    let entries = request.body.pointer("/telemetry/entries");
    entries
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[actix_rt::test]
async fn on_device_telemetry_rides_along_to_target() {
    let app = TestApp::ready(|_| {}).await;

    let body = execute_for("telemetry-visitor", "telemetry-session");
    assert_eq!(app.post_json("/v1/offers", &body).await.0, 200);

    // The artifact download has its own entry; the decision's names its method.
    let is_decision = |e: &Value| e.pointer("/features/decisioningMethod").is_some();
    let arrived = eventually(PATIENCE, || async {
        let requests = app.fake.deliveries();
        requests
            .iter()
            .flat_map(telemetry_entries)
            .any(|e| is_decision(&e))
    })
    .await;
    assert!(arrived, "no decision telemetry reached the fake Target");
    let requests = app.fake.deliveries();
    let entry = requests
        .iter()
        .flat_map(telemetry_entries)
        .find(is_decision)
        .expect("a decision entry");
    assert_eq!(entry["features"]["decisioningMethod"], json!("on-device"));
    assert_eq!(entry["mode"], json!("local"), "{entry}");
}

/// Fast retries, so that a test sees several within a second.
fn quick_retries(config: &mut Config) {
    config.target.telemetry_enabled = false;
    config.batcher.retry_base_ms = 10;
    config.batcher.retry_max_ms = 50;
}

fn attempts_for(app: &TestApp, session: &str) -> usize {
    let requests = app.fake.notification_requests();
    requests.iter().filter(|r| session_of(r) == session).count()
}

#[actix_rt::test]
async fn a_failed_send_is_retried_until_target_accepts() {
    let app = TestApp::ready(quick_retries).await;
    app.fake.set_delivery_status(503);

    let body = execute_for("retry-visitor", "retry-session");
    assert_eq!(app.post_json("/v1/offers", &body).await.0, 200);
    let retried = eventually(PATIENCE, || async {
        attempts_for(&app, "retry-session") >= 2
    })
    .await;
    assert!(retried, "a 503 was not retried");
    assert_eq!(
        app.metric("offerd_notifications_sent_total").await,
        Some(0.0)
    );

    app.fake.set_delivery_status(200);
    let sent = eventually(PATIENCE, || async {
        app.metric("offerd_notifications_sent_total").await == Some(1.0)
    })
    .await;
    assert!(sent, "the notification was not sent once Target recovered");
    assert_eq!(
        app.metric_total("offerd_notifications_dropped_total").await,
        0.0
    );
}

#[actix_rt::test]
async fn a_notification_target_refuses_is_dropped_and_counted_not_retried() {
    let app = TestApp::ready(quick_retries).await;
    app.fake.set_delivery_status(400);

    let body = execute_for("refused-visitor", "refused-session");
    assert_eq!(app.post_json("/v1/offers", &body).await.0, 200);
    let counted = eventually(PATIENCE, || async {
        app.metric_total("offerd_notifications_dropped_total").await >= 1.0
    })
    .await;

    assert!(
        counted,
        "the refused notification was not counted as dropped"
    );
    // Retries, had there been any, would be 10-50 ms apart: give them time to show.
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            attempts_for(&app, "refused-session"),
            1,
            "a 400 must not be retried"
        );
    }
}
