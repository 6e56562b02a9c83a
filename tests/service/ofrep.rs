//! OpenFeature's Remote Evaluation Protocol (`/ofrep/v1/evaluate/flags[/{key}]`) against
//! `/v1/attributes` for the same visitor and context: the same values, the ETag round
//! trip, the errors, the tokens, remote mboxes, the notification owed and overload.

use offerd::model::DecisioningMethod;
use serde_json::{Value, json};

use crate::common::{FakeUpstream, PATIENCE, TestApp, eventually};

const FLAGS: &str = "/ofrep/v1/evaluate/flags";

fn flag_path(key: &str) -> String {
    format!("{FLAGS}/{key}")
}

/// A Chrome user agent: the demo's checkout button targets Chrome.
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/120.0.0.0 Safari/537.36";

/// The `/v1/attributes` body the README's mapping table gives for `context`, written
/// out by hand here so that the test checks the table, not the code that implements it.
fn attributes_body(mbox: &str, visitor: &str, user_agent: Option<&str>, plan: &str) -> Value {
    let mut context = json!({"channel": "web", "address": {"url": "https://shop.example/"}});
    if let Some(ua) = user_agent {
        context["userAgent"] = json!(ua);
    }
    json!({
        "mbox_names": [mbox],
        "request": {
            "id": {"tntId": visitor},
            "context": context,
            "execute": {"mboxes": [{"name": mbox, "index": 1, "parameters": {"plan": plan}}]},
        },
    })
}

fn ofrep_context(visitor: &str, user_agent: Option<&str>, plan: &str) -> Value {
    let mut context =
        json!({"targetingKey": visitor, "url": "https://shop.example/", "plan": plan});
    if let Some(ua) = user_agent {
        context["userAgent"] = json!(ua);
    }
    json!({ "context": context })
}

#[actix_rt::test]
async fn flags_equal_the_attributes_of_the_same_visitor() {
    let app = TestApp::ready(|_| {}).await;
    let mut variants = std::collections::BTreeSet::new();
    for i in 0..24 {
        let visitor = format!("ofrep-visitor-{i}");
        let ua = (i % 2 == 0).then_some(CHROME);
        let plan = if i % 3 == 0 { "gold" } else { "free" };
        for (mbox, attribute) in [
            ("search-feature", "search_enabled"),
            ("search-feature", "search_provider"),
            ("search-feature", "max_results"),
            ("checkout-button", "label"),
        ] {
            let (status, attributes) = app
                .post_json("/v1/attributes", &attributes_body(mbox, &visitor, ua, plan))
                .await;
            assert_eq!(status, 200, "{attributes}");
            let expected = &attributes["attributes"][mbox];

            let body = ofrep_context(&visitor, ua, plan);
            let (status, object) = app.post_json(&flag_path(mbox), &body).await;
            assert_eq!(status, 200, "{object}");
            assert_eq!(&object["value"], expected, "{mbox} for {visitor}");
            let key = format!("{mbox}.{attribute}");
            let (status, typed) = app.post_json(&flag_path(&key), &body).await;
            assert_eq!(status, 200, "{typed}");
            assert_eq!(typed["key"], json!(key));
            assert_eq!(typed["value"], expected[attribute], "{key} for {visitor}");
            assert!(typed["variant"].is_string(), "{typed}");
            let reason = if mbox == "search-feature" {
                "SPLIT"
            } else {
                "TARGETING_MATCH"
            };
            assert_eq!(typed["reason"], json!(reason), "{typed}");
            assert!(typed["metadata"]["activity.id"].is_number(), "{typed}");
            if mbox == "search-feature" {
                variants.insert(typed["variant"].to_string());
            }
        }
    }
    assert_eq!(variants.len(), 2, "24 visitors land in both experiences");
}

/// A client that sends what `TestApp::post_json` cannot: headers.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .expect("a reqwest client")
}

#[actix_rt::test]
async fn bulk_answers_every_flag_with_an_etag_and_304s_when_unchanged() {
    let app = TestApp::ready(|_| {}).await;
    let url = format!("{}{FLAGS}", app.base_url);
    let body = ofrep_context("bulk-visitor", Some(CHROME), "gold");

    let first = http().post(&url).json(&body).send().await.expect("bulk");
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"]
        .to_str()
        .expect("an ASCII ETag")
        .to_string();
    let answer: Value = first.json().await.expect("JSON");
    let flags = answer["flags"].as_array().expect("flags");
    let value_of = |key: &str| {
        flags
            .iter()
            .find(|f| f["key"] == json!(key))
            .map(|f| f["value"].clone())
    };
    let (_, attributes) = app
        .post_json(
            "/v1/attributes",
            &attributes_body("search-feature", "bulk-visitor", Some(CHROME), "gold"),
        )
        .await;
    assert_eq!(
        value_of("search-feature.max_results"),
        Some(attributes["attributes"]["search-feature"]["max_results"].clone())
    );
    assert_eq!(
        value_of("checkout-button.label"),
        Some(json!("Buy now")),
        "Chrome"
    );
    assert!(
        value_of("hero-banner").is_none(),
        "html offers are no flags"
    );

    let again = http()
        .post(&url)
        .header("if-none-match", &etag)
        .json(&body)
        .send()
        .await
        .expect("bulk again");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().ok(), Some(etag.as_str()));
    assert!(again.bytes().await.expect("a body").is_empty());

    let other = ofrep_context("bulk-visitor", None, "gold");
    let changed = http()
        .post(&url)
        .header("if-none-match", &etag)
        .json(&other)
        .send()
        .await
        .expect("another context");
    assert_eq!(changed.status(), 200, "other flags, so not a 304");
    assert_ne!(changed.headers()["etag"].to_str().ok(), Some(etag.as_str()));
}

#[actix_rt::test]
async fn errors_answer_with_an_ofrep_error_code() {
    let app = TestApp::ready(|_| {}).await;
    let ok = ofrep_context("v", None, "free");
    let cases: [(&str, String, u16, &str); 8] = [
        ("no-such-flag", ok.to_string(), 404, "FLAG_NOT_FOUND"),
        ("search-feature.nope", ok.to_string(), 404, "FLAG_NOT_FOUND"),
        (
            "search-feature",
            json!({"context": {"plan": "x"}}).to_string(),
            400,
            "TARGETING_KEY_MISSING",
        ),
        ("search-feature", "{}".into(), 400, "TARGETING_KEY_MISSING"),
        ("search-feature", "not json".into(), 400, "PARSE_ERROR"),
        ("search-feature", String::new(), 400, "PARSE_ERROR"),
        (
            "search-feature",
            json!({"context": {"targetingKey": "v", "cart": {"n": 1}}}).to_string(),
            400,
            "INVALID_CONTEXT",
        ),
        // Only Target decides it, and this offerd decides on-device.
        ("recommendations", ok.to_string(), 400, "GENERAL"),
    ];
    for (key, body, status, code) in cases {
        let (got, answer) = app.post_raw(&flag_path(key), &body).await;
        assert_eq!(got, status, "{key} {body}: {answer}");
        assert_eq!(answer["errorCode"], json!(code), "{key} {body}: {answer}");
        assert_eq!(answer["key"], json!(key), "{answer}");
        assert!(
            answer["errorDetails"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    let (status, answer) = app.post_raw(FLAGS, "[1]").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorCode"], json!("INVALID_CONTEXT"));
    assert!(answer.get("key").is_none(), "{answer}");
}

#[actix_rt::test]
async fn tokens_are_checked_as_bearer_or_api_key() {
    let app = TestApp::ready(|c| c.server.auth_tokens = vec!["of-token".into()]).await;
    let url = format!("{}{}", app.base_url, flag_path("search-feature"));
    let body = &ofrep_context("v", None, "free");
    let send = |request: reqwest::RequestBuilder| async move {
        request
            .json(body)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    };
    assert_eq!(send(http().post(&url)).await, 401);
    assert_eq!(send(http().post(&url).bearer_auth("wrong")).await, 401);
    assert_eq!(
        send(http().post(&url).header("x-api-key", "wrong")).await,
        401
    );
    assert_eq!(send(http().post(&url).bearer_auth("of-token")).await, 200);
    assert_eq!(
        send(http().post(&url).header("x-api-key", "of-token")).await,
        200
    );
    // X-API-Key is OFREP's: offerd's own endpoints still take bearers only.
    let offers = http()
        .post(format!("{}/v1/attributes", app.base_url))
        .header("x-api-key", "of-token")
        .json(&attributes_body("search-feature", "v", None, "free"))
        .send()
        .await
        .expect("sent");
    assert_eq!(offers.status(), 401);
}

#[actix_rt::test]
async fn remote_mboxes_are_decided_by_target_in_hybrid_mode() {
    let app = TestApp::ready(|c| c.target.decisioning_method = DecisioningMethod::Hybrid).await;
    let body = ofrep_context("hybrid-visitor", None, "free");

    let (status, answer) = app
        .post_json(&flag_path("recommendations.from"), &body)
        .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["value"], json!("edge"), "the fake Target's offer");
    assert_eq!(
        answer["metadata"]["decisioningMethod"],
        json!("server-side")
    );
    let forwarded = app.fake.decision_requests();
    assert_eq!(forwarded.len(), 1, "{forwarded:#?}");
    assert_eq!(
        forwarded[0].body.pointer("/id/tntId"),
        Some(&json!("hybrid-visitor"))
    );
}

#[actix_rt::test]
async fn remote_mboxes_offline_are_a_general_error_that_says_why() {
    let app = TestApp::ready(|c| {
        c.target.decisioning_method = DecisioningMethod::Hybrid;
        c.upstream.offline = true;
    })
    .await;
    let (status, answer) = app
        .post_json(
            &flag_path("recommendations"),
            &ofrep_context("v", None, "free"),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorCode"], json!("GENERAL"));
    let details = answer["errorDetails"].as_str().unwrap_or_default();
    assert!(details.contains("upstream.offline"), "{details}");
    assert!(app.fake.decision_requests().is_empty());
}

#[actix_rt::test]
async fn an_evaluation_owes_target_the_display_notification_attributes_owe() {
    let app = TestApp::ready(|_| {}).await;
    let (status, _) = app
        .post_json(
            &flag_path("search-feature.search_enabled"),
            &ofrep_context("notified-visitor", None, "free"),
        )
        .await;
    assert_eq!(status, 200);

    let delivered = eventually(PATIENCE, || async {
        app.fake
            .notification_requests()
            .iter()
            .any(|r| r.tnt_id() == Some("notified-visitor"))
    })
    .await;
    assert!(delivered, "no display notification reached Target");
    let notifications = app.fake.notifications();
    let notification = notifications
        .iter()
        .find(|n| n.pointer("/mbox/name") == Some(&json!("search-feature")));
    assert!(
        notification.is_some_and(|n| n["type"] == json!("display")),
        "{notifications:#?}"
    );
}

#[actix_rt::test]
async fn overload_is_a_429_with_retry_after() {
    // One decision admitted at a time: of concurrent evaluations, those that find the
    // gate taken are refused at once, as /v1/attributes refuses them with a 503.
    let app = TestApp::ready(|c| c.decision.max_in_flight = 1).await;
    let url = format!("{}{}", app.base_url, flag_path("search-feature"));
    let client = http();
    let mut refused = None;
    // Bounded: 20 rounds of 32 at once; one round nearly always shows a refusal.
    for round in 0..20 {
        let calls = (0..32).map(|i| {
            client
                .post(&url)
                .json(&ofrep_context(&format!("busy-{round}-{i}"), None, "free"))
                .send()
        });
        for response in futures_util::future::join_all(calls).await {
            let response = response.expect("sent");
            match response.status().as_u16() {
                200 => {}
                429 if refused.is_none() => refused = Some(response),
                429 => {}
                status => panic!("neither a 200 nor a 429: {status}"),
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let refused = refused.expect("640 concurrent evaluations through a gate of one");
    assert_eq!(refused.headers()["retry-after"].to_str().ok(), Some("1"));
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["errorCode"], json!("GENERAL"), "{body}");
    assert_eq!(body["key"], json!("search-feature"), "{body}");
}

#[actix_rt::test]
async fn not_ready_is_a_503_with_retry_after() {
    let fake = FakeUpstream::start();
    fake.fail_artifact(500);
    let app = TestApp::start_with(fake, |_| {}).await;
    let response = http()
        .post(format!("{}{}", app.base_url, flag_path("search-feature")))
        .json(&ofrep_context("v", None, "free"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[actix_rt::test]
async fn server_side_mode_asks_target_for_any_key() {
    let app = TestApp::ready(|c| c.target.decisioning_method = DecisioningMethod::ServerSide).await;
    let body = ofrep_context("server-side-visitor", None, "free");

    let (status, answer) = app.post_json(&flag_path("any-mbox.from"), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["value"], json!("edge"), "the fake Target's offer");
    let forwarded = app.fake.decision_requests();
    assert_eq!(
        forwarded
            .first()
            .and_then(|r| r.body.pointer("/execute/mboxes/0/name")),
        Some(&json!("any-mbox")),
        "{forwarded:#?}"
    );

    // No artifact names the flag mboxes: bulk has none to decide.
    let (status, bulk) = app.post_json(FLAGS, &body).await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(bulk, json!({"flags": []}));
}
