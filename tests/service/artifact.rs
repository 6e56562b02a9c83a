//! The artifact's life: liveness and readiness, picking up a new artifact while
//! requests keep flowing, 304s counted as `not_modified`, and bad downloads (garbage,
//! an unsupported version, a failing CDN) keeping the last good artifact.

use std::cell::RefCell;

use offerd::model::DecisioningMethod;
use serde_json::json;

use crate::common::{
    DEMO_ETAG, FakeUpstream, PATIENCE, TestApp, assert_error, demo_artifact, eventually, example,
    first_execute_options, with_hero_content,
};

#[actix_rt::test]
async fn ready_waits_for_the_first_artifact_while_live_answers_at_once() {
    let fake = FakeUpstream::start();
    fake.fail_artifact(500);
    let app = TestApp::start_with(fake, |_| {}).await;

    assert_eq!(app.get("/health/live").await.0, 200);
    let polled = eventually(PATIENCE, || async { app.fake.artifact_requests() >= 1 }).await;
    assert!(polled, "the refresher never asked for the artifact");
    assert_eq!(app.get("/health/ready").await.0, 503);
    let early = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_error(&early, 503);

    app.fake.serve_artifact(&demo_artifact(), DEMO_ETAG);
    app.wait_ready().await;

    assert_eq!(app.get("/health/live").await.0, 200);
    let (status, answer) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[actix_rt::test]
async fn server_side_mode_is_ready_without_an_artifact() {
    let fake = FakeUpstream::start();
    fake.fail_artifact(500);
    let app = TestApp::start_with(fake, |c| {
        c.target.decisioning_method = DecisioningMethod::ServerSide;
    })
    .await;

    assert_eq!(app.get("/health/ready").await.0, 200);
    let (status, answer) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/meta/decisioning_method"),
        Some(&json!("server-side"))
    );
}

async fn loaded_etag(app: &TestApp) -> String {
    let (_, status) = app.get_json("/v1/artifact").await;
    status["loaded"]["etag"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn hero_content(app: &TestApp) -> (u16, String) {
    let (status, answer) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    let options = first_execute_options(&answer);
    let content = options.first().and_then(|o| o["content"].as_str());
    (status, content.unwrap_or_default().to_string())
}

#[actix_rt::test]
async fn a_new_artifact_is_picked_up_while_requests_keep_succeeding() {
    let app = TestApp::ready(|_| {}).await;
    assert!(loaded_etag(&app).await.contains("demo-v1"));
    let (_, before) = hero_content(&app).await;
    assert!(before.contains("hero"), "{before}");

    app.fake
        .serve_artifact(&with_hero_content("refreshed hero"), "\"demo-v2\"");
    let failures = RefCell::new(Vec::new());
    let refreshed = eventually(PATIENCE, || async {
        let (status, content) = hero_content(&app).await;
        if status != 200 {
            failures.borrow_mut().push(status);
        }
        content == "refreshed hero"
    })
    .await;

    assert!(refreshed, "decisions never used the new artifact");
    let failures = failures.into_inner();
    assert!(
        failures.is_empty(),
        "requests failed during the swap: {failures:?}"
    );
    assert!(loaded_etag(&app).await.contains("demo-v2"));
}

#[actix_rt::test]
async fn unchanged_polls_are_counted_as_not_modified() {
    let app = TestApp::ready(|_| {}).await;
    let series = "offerd_artifact_refreshes_total{result=\"not_modified\"}";

    let counted = eventually(PATIENCE, || async {
        app.metric(series).await.is_some_and(|n| n >= 1.0)
    })
    .await;

    assert!(counted, "no 304 was counted as {series}");
    assert!(app.fake.not_modified() >= 1, "the fake never answered 304");
    assert!(loaded_etag(&app).await.contains("demo-v1"));
}

async fn last_error(app: &TestApp) -> Option<String> {
    let (_, status) = app.get_json("/v1/artifact").await;
    status["lastError"].as_str().map(str::to_string)
}

/// Waits for the refresher to report a failed refresh, then checks that decisions
/// still use the first artifact.
async fn assert_last_good_artifact_kept(app: &TestApp) {
    let failed = eventually(PATIENCE, || async { last_error(app).await.is_some() }).await;
    assert!(failed, "the bad download was never reported in lastError");

    assert_eq!(app.get("/health/ready").await.0, 200);
    let (status, content) = hero_content(app).await;
    assert_eq!(status, 200);
    assert!(content.contains("hero"), "{content}");
    assert!(loaded_etag(app).await.contains("demo-v1"));
}

#[actix_rt::test]
async fn a_bad_artifact_keeps_the_last_good_one() {
    let app = TestApp::ready(|_| {}).await;

    app.fake.serve_garbage();

    assert_last_good_artifact_kept(&app).await;
    app.fake
        .serve_artifact(&with_hero_content("fixed hero"), "\"demo-v3\"");
    let recovered = eventually(PATIENCE, || async {
        hero_content(&app).await.1 == "fixed hero" && last_error(&app).await.is_none()
    })
    .await;
    assert!(
        recovered,
        "a good artifact after a bad one was not picked up"
    );
}

#[actix_rt::test]
async fn an_artifact_of_an_unsupported_version_keeps_the_last_good_one() {
    let app = TestApp::ready(|_| {}).await;
    let mut future = with_hero_content("from the future");
    future["version"] = json!("99.0.0");

    app.fake.serve_artifact(&future, "\"demo-v99\"");

    assert_last_good_artifact_kept(&app).await;
}

#[actix_rt::test]
async fn a_failing_artifact_server_keeps_the_last_good_one() {
    let app = TestApp::ready(|_| {}).await;

    app.fake.fail_artifact(503);

    assert_last_good_artifact_kept(&app).await;
}

#[actix_rt::test]
async fn a_deploy_hook_refreshes_the_artifact_at_once() {
    // No poll for an hour: only the hook fetches.
    let app = TestApp::ready(|c| c.artifact.polling_interval_secs = 3600).await;
    let polls = app.fake.artifact_requests();

    let (status, answer) = app.post_raw("/v1/artifact/refresh", "").await;
    assert_eq!((status, &answer), (200, &json!({"outcome": "unchanged"})));
    assert_eq!(app.fake.artifact_requests(), polls + 1);
    assert_eq!(
        app.fake.not_modified(),
        1,
        "the refresh is a conditional request"
    );

    let mut newer = with_hero_content("<div>refreshed</div>");
    newer["meta"]["generatedAt"] = json!("2026-12-07T22:00:00.000Z");
    app.fake.serve_artifact(&newer, "\"demo-v2\"");
    let (status, answer) = app.post_raw("/v1/artifact/refresh", "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "updated");
    assert_eq!(answer["version"], newer["version"]);
    // In use by the time the hook has its answer.
    assert_eq!(loaded_etag(&app).await, "\"demo-v2\"");
    assert_eq!(
        hero_content(&app).await,
        (200, "<div>refreshed</div>".into())
    );

    app.fake.fail_artifact(500);
    let failed = app.post_raw("/v1/artifact/refresh", "").await;
    assert_error(&failed, 502);
    assert_eq!(
        loaded_etag(&app).await,
        "\"demo-v2\"",
        "the last good one stays"
    );
}

#[actix_rt::test]
async fn in_server_side_mode_there_is_no_artifact_to_refresh() {
    let app = TestApp::ready(|c| {
        c.target.decisioning_method = DecisioningMethod::ServerSide;
    })
    .await;
    let answer = app.post_raw("/v1/artifact/refresh", "").await;
    assert_error(&answer, 409);
}
