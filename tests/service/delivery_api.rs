//! `/rest/v1/delivery` behaves as Target's Delivery API: the spec's checks with Target's
//! error shape and status codes, 204 for a beacon, a generated requestId, notification
//! answers with the visitor and the notification ids, empty execute and prefetch
//! answered, 405 for a wrong method.

use serde_json::{Value, json};

use crate::common::{PATIENCE, TestApp, assert_target_error, eventually, example};

const DELIVERY: &str = "/rest/v1/delivery?client=demo&sessionId=session-1";

/// A minimal valid request: the spec requires `context.channel` and nothing else.
fn minimal() -> Value {
    json!({"context": {"channel": "web"}})
}

fn execute_one_mbox() -> Value {
    example("execute-one-mbox.json")["request"].clone()
}

/// POSTs `body` with `content_type`; the status, the body text and the content type.
async fn post(app: &TestApp, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.base_url))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn json_of(answer: (u16, String)) -> (u16, Value) {
    (
        answer.0,
        serde_json::from_str(&answer.1).unwrap_or(Value::Null),
    )
}

#[actix_rt::test]
async fn the_query_must_name_the_caller_and_a_valid_session() {
    let app = TestApp::ready(|_| {}).await;
    let org = app.client.config().target.organization_id.clone();
    let body = minimal();

    for query in [
        "sessionId=s1",                // neither client nor imsOrgId
        "client=demo",                 // no sessionId
        "client=demo&sessionId=",      // empty
        "client=demo&sessionId=a%20b", // a space
        "client=demo&sessionId=a%2Fb", // a slash
        "client=demo&sessionId=a%3Fb", // a question mark
    ] {
        let answer = app
            .post_json(&format!("/rest/v1/delivery?{query}"), &body)
            .await;
        assert_target_error(&answer, 400);
    }
    let long = "s".repeat(200);
    let answer = app
        .post_json(
            &format!("/rest/v1/delivery?client=demo&sessionId={long}"),
            &body,
        )
        .await;
    assert_target_error(&answer, 400);

    // Either one alone names the caller: at.js sends client, the SDKs imsOrgId.
    for query in [
        "client=demo&sessionId=s1",
        &format!("imsOrgId={org}&sessionId=s1"),
    ] {
        let (status, answer) = app
            .post_json(&format!("/rest/v1/delivery?{query}"), &body)
            .await;
        assert_eq!(status, 200, "{query}: {answer}");
    }
    let answer = app
        .post_json(
            "/rest/v1/delivery?imsOrgId=someone-else@AdobeOrg&sessionId=s1",
            &body,
        )
        .await;
    assert_target_error(&answer, 400);
}

#[actix_rt::test]
async fn the_body_must_have_a_context_with_a_channel() {
    let app = TestApp::ready(|_| {}).await;
    for body in [json!({}), json!({"context": {}}), json!({"execute": {}})] {
        let answer = app.post_json(DELIVERY, &body).await;
        assert_target_error(&answer, 400);
    }
}

#[actix_rt::test]
async fn ids_longer_than_the_spec_allows_are_refused() {
    let app = TestApp::ready(|_| {}).await;
    let long = "x".repeat(129);
    for (pointer, value) in [
        ("/id", json!({"tntId": long})),
        ("/id", json!({"thirdPartyId": long})),
        ("/id", json!({"marketingCloudVisitorId": long})),
        (
            "/id",
            json!({"customerIds": [{"id": long, "integrationCode": "crm", "authenticatedState": "authenticated"}]}),
        ),
        ("/requestId", json!(long)),
        ("/impressionId", json!(long)),
    ] {
        let mut body = execute_one_mbox();
        let key = &pointer[1..];
        body[key] = value;
        let answer = app.post_json(DELIVERY, &body).await;
        assert_target_error(&answer, 400);
    }
    // 128 is allowed.
    let mut body = execute_one_mbox();
    body["id"] = json!({"tntId": "x".repeat(128)});
    let (status, answer) = app.post_json(DELIVERY, &body).await;
    assert_eq!(status, 200, "{answer}");
}

#[actix_rt::test]
async fn the_body_must_be_sent_as_json() {
    let app = TestApp::ready(|_| {}).await;
    let body = minimal().to_string();

    let answer = json_of(post(&app, DELIVERY, "application/x-www-form-urlencoded", &body).await);
    assert_target_error(&answer, 415);

    // A browser's beacon and at.js send JSON as text/plain; Target takes it.
    for content_type in [
        "application/json; charset=utf-8",
        "text/plain;charset=UTF-8",
    ] {
        let (status, text) = post(&app, DELIVERY, content_type, &body).await;
        assert_eq!(status, 200, "{content_type}: {text}");
    }
}

#[actix_rt::test]
async fn a_beacon_is_answered_204_without_a_body_and_still_queues_its_notifications() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = example("notifications.json")["request"].clone();
    body["context"]["beacon"] = json!(true);

    let (status, text) = post(
        &app,
        "/rest/v1/delivery?client=demo&sessionId=beacon-session",
        "text/plain",
        &body.to_string(),
    )
    .await;

    assert_eq!(status, 204);
    assert!(text.is_empty(), "a 204 has no body: {text:?}");
    let arrived = eventually(PATIENCE, || async {
        app.fake
            .notification_requests()
            .iter()
            .any(|r| r.param("sessionId") == Some("beacon-session"))
    })
    .await;
    assert!(arrived, "the beacon's notification never reached Target");
}

#[actix_rt::test]
async fn a_request_id_is_generated_when_none_is_given() {
    let app = TestApp::ready(|_| {}).await;

    let (status, answer) = app.post_json(DELIVERY, &minimal()).await;

    assert_eq!(status, 200, "{answer}");
    let id = answer["requestId"].as_str().unwrap_or_default();
    assert!(!id.is_empty(), "{answer}");
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["client"], "demo", "{answer}");
    // A given one is kept.
    let mut body = minimal();
    body["requestId"] = json!("my-request");
    let (_, answer) = app.post_json(DELIVERY, &body).await;
    assert_eq!(answer["requestId"], "my-request", "{answer}");
}

#[actix_rt::test]
async fn a_notification_answer_carries_the_visitor_and_the_notification_ids() {
    let app = TestApp::ready(|_| {}).await;
    let body = example("notifications.json")["request"].clone();
    let given: Vec<Value> = body["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| json!({"id": n["id"]}))
        .collect();

    let (status, answer) = app.post_json(DELIVERY, &body).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["notifications"], Value::Array(given), "{answer}");
    let tnt_id = answer.pointer("/id/tntId").and_then(Value::as_str);
    assert!(tnt_id.is_some_and(|t| !t.is_empty()), "{answer}");
    assert!(answer["requestId"].as_str().is_some_and(|r| !r.is_empty()));

    // Without a visitor id, one is made, as Target does.
    let mut anonymous = body.clone();
    anonymous.as_object_mut().unwrap().remove("id");
    let (status, answer) = app.post_json(DELIVERY, &anonymous).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.pointer("/id/tntId").is_some(), "{answer}");
}

#[actix_rt::test]
async fn notifications_beside_a_decision_are_answered_for_the_decided_visitor() {
    let app = TestApp::ready(|_| {}).await;
    let mut body = execute_one_mbox();
    body.as_object_mut().unwrap().remove("id");
    body["notifications"] = example("notifications.json")["request"]["notifications"].clone();

    let (status, answer) = app
        .post_json(
            "/rest/v1/delivery?client=demo&sessionId=both-session",
            &body,
        )
        .await;

    assert_eq!(status, 200, "{answer}");
    assert!(answer.pointer("/execute/mboxes/0").is_some(), "{answer}");
    assert_eq!(
        answer["notifications"].as_array().map(Vec::len),
        body["notifications"].as_array().map(Vec::len),
        "{answer}"
    );
    // The caller's notifications go out for the visitor the decision made.
    let tnt_id = answer
        .pointer("/id/tntId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let arrived = eventually(PATIENCE, || async {
        app.fake
            .notification_requests()
            .iter()
            .any(|r| r.param("sessionId") == Some("both-session") && r.tnt_id() == Some(&tnt_id))
    })
    .await;
    assert!(arrived, "no notification for visitor {tnt_id}");
}

#[actix_rt::test]
async fn empty_execute_and_prefetch_are_answered() {
    let app = TestApp::ready(|_| {}).await;
    for part in [
        json!({"execute": {}}),
        json!({"execute": {"mboxes": []}}),
        json!({"prefetch": {}}),
        json!({"prefetch": {"views": []}}),
    ] {
        let mut body = minimal();
        body.as_object_mut()
            .unwrap()
            .extend(part.as_object().unwrap().clone());

        let (status, answer) = app.post_json(DELIVERY, &body).await;

        assert_eq!(status, 200, "{part}: {answer}");
        assert_eq!(answer["status"], 200, "{part}: {answer}");
    }
}

#[actix_rt::test]
async fn a_wrong_method_or_a_trailing_slash_is_not_a_404() {
    let app = TestApp::ready(|_| {}).await;
    let http = reqwest::Client::new();
    for path in ["/rest/v1/delivery", "/rest/v1/delivery/"] {
        let response = http
            .get(format!("{}{path}?client=demo&sessionId=s", app.base_url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_target_error(&(status, body), 405);
    }
    let (status, answer) = app
        .post_json(
            "/rest/v1/delivery/?client=demo&sessionId=s",
            &execute_one_mbox(),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[actix_rt::test]
async fn an_oversized_body_and_a_missing_token_answer_in_targets_shape() {
    let app = TestApp::ready(|c| {
        c.server.max_body_bytes = 1024;
        c.server.auth_tokens = vec!["secret".into()];
    })
    .await;
    let answer = app.post_json(DELIVERY, &minimal()).await;
    assert_target_error(&answer, 401);

    let mut body = minimal();
    body["context"]["padding"] = json!("x".repeat(2048));
    let response = reqwest::Client::new()
        .post(format!("{}{DELIVERY}", app.base_url))
        .bearer_auth("secret")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_target_error(&(status, body), 413);
}
