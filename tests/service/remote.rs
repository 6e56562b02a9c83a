//! Decisions that need Target or its geo endpoint: server-side per request (forwarded
//! whole), hybrid (local mboxes on-device, remote ones server-side), on-device naming
//! what it cannot decide, and geo lookups for an IP (cached).

use std::cell::RefCell;

use offerd::model::DecisioningMethod;
use serde_json::{Value, json};

use crate::common::{PATIENCE, TestApp, assert_error, eventually, example, first_execute_options};

#[actix_rt::test]
async fn server_side_requests_are_forwarded_with_nothing_lost() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = example("execute-one-mbox.json");
    body["decisioning_method"] = json!("server-side");
    body["session_id"] = json!("edge-session");
    body["request"]["context"]["futureField"] = json!(1);

    let (status, answer) = app.post_json("/v1/offers", &body).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/meta/decisioning_method"),
        Some(&json!("server-side"))
    );
    assert_eq!(
        answer.pointer("/target_location_hint_cookie/value"),
        Some(&json!("35"))
    );
    let options = first_execute_options(&answer);
    assert_eq!(
        options.first().and_then(|o| o.pointer("/content/from")),
        Some(&json!("edge")),
        "{answer}"
    );
    let forwarded = app.fake.decision_requests();
    assert_eq!(forwarded.len(), 1, "{forwarded:#?}");
    let forwarded = &forwarded[0];
    assert_eq!(forwarded.param("client"), Some("demo"));
    assert_eq!(forwarded.param("sessionId"), Some("edge-session"));
    assert_eq!(
        forwarded.body.pointer("/context/futureField"),
        Some(&json!(1))
    );
    assert_eq!(
        forwarded.body.pointer("/execute/mboxes/0/name"),
        Some(&json!("hero-banner"))
    );
}

#[actix_rt::test]
async fn an_upstream_failure_is_a_5xx_not_a_crash() {
    let app = TestApp::ready(|_| {}).await;
    app.fake.set_delivery_status(500);
    let mut body = example("execute-one-mbox.json");
    body["decisioning_method"] = json!("server-side");

    let (status, answer) = app.post_json("/v1/offers", &body).await;

    assert!(
        matches!(status, 502 | 504),
        "upstream failures are 502/504: {status} {answer}"
    );
    assert!(answer.pointer("/error/code").is_some(), "{answer}");
    let message = answer.pointer("/error/message").and_then(|m| m.as_str());
    assert!(
        message.is_some_and(|m| !m.contains("fake failure")),
        "Target's error body is logged, not echoed: {answer}"
    );
    let local = example("execute-one-mbox.json");
    assert_eq!(app.post_json("/v1/offers", &local).await.0, 200);
}

#[actix_rt::test]
async fn hybrid_decides_local_mboxes_on_device_and_remote_ones_at_target() {
    let app = TestApp::ready(|c| c.target.decisioning_method = DecisioningMethod::Hybrid).await;

    let (status, local) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_eq!(status, 200, "{local}");
    assert!(!first_execute_options(&local).is_empty(), "{local}");
    assert!(
        app.fake.decision_requests().is_empty(),
        "a local mbox must be decided on-device"
    );

    let mut remote = example("hybrid-remote-mbox.json");
    remote
        .as_object_mut()
        .expect("an options object")
        .remove("decisioning_method");
    let (status, answer) = app.post_json("/v1/offers", &remote).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/meta/decisioning_method"),
        Some(&json!("server-side"))
    );
    assert_eq!(
        answer.pointer("/response/execute/mboxes/0/name"),
        Some(&json!("recommendations"))
    );
    let forwarded = app.fake.decision_requests();
    assert_eq!(forwarded.len(), 1, "{forwarded:#?}");
    assert_eq!(
        forwarded[0].body.pointer("/execute/mboxes/0/name"),
        Some(&json!("recommendations"))
    );
}

#[actix_rt::test]
async fn on_device_names_the_mboxes_it_cannot_decide() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app
        .post_json("/v1/offers", &example("hybrid-remote-mbox.json"))
        .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/meta/remote_mboxes"),
        Some(&json!(["recommendations"]))
    );
    assert!(app.fake.decision_requests().is_empty());
}

/// `geo.json` with an IP address instead of a location.
fn geo_by_ip(ip: &str) -> Value {
    let mut body = example("geo.json");
    body["request"]["context"]["geo"] = json!({"ipAddress": ip});
    body
}

fn first_content(answer: &Value) -> String {
    let options = first_execute_options(answer);
    let content = options.first().and_then(|o| o.get("content"));
    content.and_then(Value::as_str).unwrap_or_default().into()
}

#[actix_rt::test]
async fn an_ip_address_is_located_once_and_the_answer_reused() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app.post_json("/v1/offers", &geo_by_ip("203.0.113.7")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(first_content(&answer), "<p>Howdy from the US!</p>");
    assert_eq!(app.fake.geo_calls(), 1);

    let (status, again) = app.post_json("/v1/offers", &geo_by_ip("203.0.113.7")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(first_content(&again), "<p>Howdy from the US!</p>");
    assert_eq!(
        app.fake.geo_calls(),
        1,
        "the second lookup must hit the cache"
    );
}

#[actix_rt::test]
async fn a_request_with_a_location_needs_no_lookup() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app.post_json("/v1/offers", &example("geo.json")).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(first_content(&answer), "<p>Howdy from the US!</p>");
    assert_eq!(app.fake.geo_calls(), 0);
}

#[actix_rt::test]
async fn the_edge_cluster_is_learned_at_start_when_asked() {
    let app = TestApp::ready(|c| {
        c.target.learn_location_hint = true;
        c.target.telemetry_enabled = false;
    })
    .await;
    let mut new_visitor = example("execute-one-mbox.json");
    new_visitor["request"]
        .as_object_mut()
        .expect("a request object")
        .remove("id");

    // The learning call runs in the background: poll until its answer is in use.
    let last = RefCell::new(Value::Null);
    let learned = eventually(PATIENCE, || async {
        let (status, answer) = app.post_json("/v1/offers", &new_visitor).await;
        assert_eq!(status, 200, "{answer}");
        let hint = answer
            .pointer("/target_location_hint_cookie/value")
            .cloned();
        *last.borrow_mut() = answer;
        hint == Some(json!("35"))
    })
    .await;

    let answer = last.into_inner();
    assert!(learned, "the edge cluster was never learned: {answer}");
    let requests = app.fake.deliveries();
    let learning = requests.iter().filter(|r| r.notifications().is_empty());
    assert_eq!(learning.count(), 1, "one learning call only: {requests:#?}");
    assert_eq!(
        answer.pointer("/meta/decisioning_method"),
        Some(&json!("on-device"))
    );
    let tnt_id = answer.pointer("/response/id/tntId").and_then(Value::as_str);
    assert!(
        tnt_id.is_some_and(|t| t.ends_with(".35_0")),
        "a new visitor's tntId names the learned cluster: {answer}"
    );
}

#[actix_rt::test]
async fn offline_mode_never_calls_target_and_says_so() {
    let app = TestApp::ready(|c| c.upstream.offline = true).await;
    let mut server_side = example("execute-one-mbox.json");
    server_side["decisioning_method"] = json!("server-side");

    // Not a 5xx: nothing failed, and retrying cannot help.
    let answer = app.post_json("/v1/offers", &server_side).await;
    assert_error(&answer, 422);
    assert_eq!(answer.1["error"]["code"], json!("upstream_offline"));
    let (status, local) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_eq!(status, 200, "{local}");

    let offline = "offerd_notifications_dropped_total{reason=\"offline\"}";
    let counted = eventually(PATIENCE, || async {
        app.metric(offline).await.is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(
        counted,
        "the owed notification was not counted as {offline}"
    );
    assert!(
        app.fake.deliveries().is_empty(),
        "offline offerd called Target"
    );
}
