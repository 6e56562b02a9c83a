//! The request/response surface: `/v1/offers` decided on-device, the SDK's option
//! names in both spellings, input errors (always a JSON 4xx, never a 500), the Delivery
//! API–compatible endpoint, `/v1/attributes` and `/metrics`.

use serde_json::{Value, json};

use crate::common::{
    PATIENCE, TestApp, assert_error, assert_target_error, eventually, example, execute_for,
    first_execute_options,
};

#[actix_rt::test]
async fn offers_are_decided_on_device_from_the_served_artifact() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/response/execute/mboxes/0/name"),
        Some(&json!("hero-banner"))
    );
    assert!(!first_execute_options(&answer).is_empty(), "{answer}");
    assert_eq!(answer.pointer("/target_cookie/name"), Some(&json!("mbox")));
    assert_eq!(
        answer.pointer("/meta/decisioning_method"),
        Some(&json!("on-device"))
    );
    assert!(
        app.fake.decision_requests().is_empty(),
        "an on-device decision must not call the Delivery API"
    );
}

#[actix_rt::test]
async fn camel_case_option_aliases_are_accepted() {
    let app = TestApp::ready(|_| {}).await;
    let far = 4_000_000_000_i64; // an expiry in 2096
    let mut by_cookie = example("execute-one-mbox.json");
    by_cookie["request"]
        .as_object_mut()
        .expect("a request object")
        .remove("id");
    by_cookie["targetCookie"] = json!(format!(
        "session#cookie-session#{far}|PC#cookie-visitor.28_0#{far}"
    ));

    let (status, answer) = app.post_json("/v1/offers", &by_cookie).await;

    assert_eq!(status, 200, "{answer}");
    let cookie = answer["target_cookie"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(cookie.contains("session#cookie-session#"), "{cookie}");
    assert!(cookie.contains("PC#cookie-visitor.28_0#"), "{cookie}");
    assert_eq!(
        answer.pointer("/target_location_hint_cookie/value"),
        Some(&json!("28"))
    );

    let mut by_session = example("execute-one-mbox.json");
    by_session["sessionId"] = json!("camel-session");
    let (status, answer) = app.post_json("/v1/offers", &by_session).await;
    assert_eq!(status, 200, "{answer}");
    let cookie = answer["target_cookie"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(cookie.starts_with("session#camel-session#"), "{cookie}");

    let mut by_method = example("execute-one-mbox.json");
    by_method["decisioningMethod"] = json!("server-side");
    let (status, answer) = app.post_json("/v1/offers", &by_method).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/meta/decisioning_method"),
        Some(&json!("server-side"))
    );
    assert_eq!(app.fake.decision_requests().len(), 1);
}

#[actix_rt::test]
async fn a_body_that_is_not_json_is_a_400_with_a_json_error() {
    let app = TestApp::ready(|_| {}).await;

    for body in ["this is not json", "{\"request\": ", ""] {
        let answer = app.post_raw("/v1/offers", body).await;
        assert_error(&answer, 400);
    }
}

#[actix_rt::test]
async fn a_body_without_request_is_a_400() {
    let app = TestApp::ready(|_| {}).await;

    let answer = app
        .post_json("/v1/offers", &json!({"session_id": "s1"}))
        .await;

    assert_error(&answer, 400);
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("request"), "{message}");
}

#[actix_rt::test]
async fn an_execute_without_mboxes_or_page_load_is_a_400() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = example("execute-one-mbox.json");
    body["request"]["execute"] = json!({"mboxes": []});

    let answer = app.post_json("/v1/offers", &body).await;

    assert_error(&answer, 400);
}

/// As in the Node SDK, which sends `execute: {}` itself once it has filtered out an
/// invalid mbox: an empty object asks for nothing, which is not an error.
#[actix_rt::test]
async fn an_empty_execute_or_prefetch_is_answered() {
    let app = TestApp::ready(|_| {}).await;
    for part in ["execute", "prefetch"] {
        let mut body = example("execute-one-mbox.json");
        body["request"].as_object_mut().unwrap().remove("execute");
        body["request"][part] = json!({});

        let (status, answer) = app.post_json("/v1/offers", &body).await;

        assert_eq!(status, 200, "{part}: {answer}");
        assert_eq!(answer["response"][part], json!({}), "{answer}");
    }
}

#[actix_rt::test]
async fn an_unknown_path_is_a_json_404() {
    let app = TestApp::ready(|_| {}).await;

    let (status, text) = app.get("/v1/nothing-here").await;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);

    assert_error(&(status, body), 404);
}

#[actix_rt::test]
async fn a_wrongly_typed_field_is_a_400_naming_it() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = example("execute-one-mbox.json");
    body["request"]["execute"]["mboxes"][0]["index"] = json!("x");

    let answer = app.post_json("/v1/offers", &body).await;

    assert_error(&answer, 400);
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("index"),
        "the message must name the field: {message}"
    );
    let (status, _) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_eq!(status, 200, "a bad request must not break the next one");
}

#[actix_rt::test]
async fn the_delivery_api_endpoint_answers_like_target() {
    let app = TestApp::ready(|_| {}).await;
    let request = example("execute-one-mbox.json")["request"].clone();

    let (status, answer) = app
        .post_json("/rest/v1/delivery?client=demo&sessionId=s1", &request)
        .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.pointer("/execute/mboxes/0/name"),
        Some(&json!("hero-banner"))
    );
    let options = answer.pointer("/execute/mboxes/0/options");
    assert!(
        options
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty()),
        "{answer}"
    );
    assert!(
        answer.get("meta").is_none() && answer.get("target_cookie").is_none(),
        "a Delivery API answer, not the SDK's wrapper: {answer}"
    );
}

#[actix_rt::test]
async fn the_delivery_api_endpoint_refuses_another_client() {
    let app = TestApp::ready(|_| {}).await;
    let request = example("execute-one-mbox.json")["request"].clone();

    let answer = app
        .post_json(
            "/rest/v1/delivery?client=someone-else&sessionId=s1",
            &request,
        )
        .await;

    assert_target_error(&answer, 400);
}

#[actix_rt::test]
async fn attributes_of_a_feature_flag_mbox_are_returned() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app
        .post_json("/v1/attributes", &example("attributes.json"))
        .await;

    assert_eq!(status, 200, "{answer}");
    let flag = answer.pointer("/attributes/search-feature/search_enabled");
    assert!(flag.is_some_and(Value::is_boolean), "{answer}");
}

#[actix_rt::test]
async fn metrics_count_requests_decisions_and_notifications() {
    let app = TestApp::ready(|_| {}).await;

    let (status, _) = app
        .post_json(
            "/v1/offers",
            &execute_for("metrics-visitor", "metrics-session"),
        )
        .await;
    assert_eq!(status, 200);

    let requests =
        "offerd_http_requests_total{endpoint=\"/v1/offers\",method=\"POST\",status=\"200\"}";
    assert_eq!(app.metric(requests).await, Some(1.0));
    let decisions = "offerd_decisions_total{method=\"on-device\"}";
    assert_eq!(app.metric(decisions).await, Some(1.0));
    let sent = eventually(PATIENCE, || async {
        app.metric("offerd_notifications_sent_total")
            .await
            .is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(
        sent,
        "offerd_notifications_sent_total never counted the display notification"
    );
}

/// Bodies that are JSON but not what any options endpoint takes.
const ODD_BODIES: &[&str] = &[
    "[]",
    "null",
    "42",
    r#"{"request": null}"#,
    r#"{"request": []}"#,
    r#"{"request": {"execute": {"mboxes": [{}]}}}"#,
    r#"{"request": {"execute": {"mboxes": [{"name": ""}]}}}"#,
    r#"{"request": {"prefetch": {"mboxes": []}}}"#,
    r#"{"request": {}, "decisioning_method": "magic"}"#,
];

#[actix_rt::test]
async fn odd_bodies_are_a_json_4xx_never_a_5xx() {
    let app = TestApp::ready(|_| {}).await;

    for path in ["/v1/offers", "/v1/notifications", "/v1/attributes"] {
        for body in ODD_BODIES {
            let answer = app.post_raw(path, body).await;
            assert_error(&answer, 400);
        }
    }
    // The Delivery API endpoint takes a bare request: only non-objects are wrong.
    for body in &ODD_BODIES[..3] {
        let answer = app
            .post_raw("/rest/v1/delivery?client=demo&sessionId=s", body)
            .await;
        assert_target_error(&answer, 400);
    }
    let (status, answer) = app
        .post_json("/v1/offers", &example("execute-one-mbox.json"))
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[actix_rt::test]
async fn an_oversized_body_is_a_json_413() {
    let app = TestApp::ready(|c| c.server.max_body_bytes = 1024).await;
    let mut body = example("execute-one-mbox.json");
    body["request"]["context"]["padding"] = json!("x".repeat(2048));

    let answer = app.post_json("/v1/offers", &body).await;

    assert_error(&answer, 413);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/offers", app.base_url))
        .header("x-request-id", "big-one")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["x-request-id"], "big-one", "kept");
}

#[actix_rt::test]
async fn a_query_string_that_cannot_be_read_is_a_json_400() {
    let app = TestApp::ready(|_| {}).await;
    let request = example("execute-one-mbox.json")["request"].clone();

    let (status, body) = app
        .post_json("/rest/v1/delivery?client=demo&client=demo", &request)
        .await;

    assert_eq!(status, 400);
    assert!(body.is_object(), "JSON, not actix's plain text: {body}");
}

#[actix_rt::test]
async fn attributes_after_the_highest_possible_mbox_index_do_not_crash() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = example("attributes.json");
    body["request"]["execute"] = json!({"mboxes": [{"name": "hero-banner", "index": i64::MAX}]});

    let (status, answer) = app.post_json("/v1/attributes", &body).await;

    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["attributes"]["search-feature"].is_object(),
        "{answer}"
    );
}

/// For callers moving from the Node SDK: its result names, on request.
#[actix_rt::test]
async fn results_can_be_named_as_the_node_sdk_names_them() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = example("execute-one-mbox.json");
    let (_, snake) = app.post_json("/v1/offers", &body).await;
    body["result_naming"] = json!("camelCase");

    let (status, camel) = app.post_json("/v1/offers", &body).await;

    assert_eq!(status, 200, "{camel}");
    assert!(camel["targetCookie"]["maxAge"].is_i64(), "{camel}");
    assert_eq!(camel["targetCookie"]["name"], "mbox", "{camel}");
    assert_eq!(camel["meta"]["decisioningMethod"], "on-device", "{camel}");
    assert!(camel["meta"]["remoteMboxes"].is_array(), "{camel}");
    assert_eq!(
        camel.get("responseTokens").is_some(),
        snake.get("response_tokens").is_some(),
        "{camel}"
    );
    assert_eq!(
        camel["response"]["execute"], snake["response"]["execute"],
        "the Delivery API response itself is the same"
    );
    for snake_key in [
        "target_cookie",
        "response_tokens",
        "meta/decisioning_method",
    ] {
        assert!(camel.pointer(&format!("/{snake_key}")).is_none(), "{camel}");
    }

    body["result_naming"] = json!("kebab");
    assert_error(&app.post_json("/v1/offers", &body).await, 400);
}
