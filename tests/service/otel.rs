//! OpenTelemetry traces as a platform team follows them: the real binary with
//! `otel.endpoint` pointed at an OTLP/HTTP receiver on loopback, a caller's
//! `traceparent` on a server-side decision. The spans arrive (protobuf, decoded with
//! `opentelemetry-proto`): the server span under the caller's span, the decision under
//! it, the Delivery API call under that; the fake Target got the same trace; and no
//! attribute holds the visitor's tntId or the bearer token.

use serde_json::json;

use crate::common::otlp::{OtlpReceiver, Received};
use crate::common::{FakeUpstream, OfferdProcess, PATIENCE, TempDir, eventually, example};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TOKEN: &str = "sesame-4c1d2b6e";

fn named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|s| s.span.name == name).collect()
}

/// offerd against a fake Target, exporting to an OTLP receiver at `sample_ratio`
/// (`extra` env on top), ready.
async fn traced_offerd(
    name: &str,
    sample_ratio: &str,
    extra: &[(&str, String)],
) -> (TempDir, FakeUpstream, OtlpReceiver, OfferdProcess) {
    let dir = TempDir::new(name);
    let fake = FakeUpstream::start();
    let receiver = OtlpReceiver::start();
    let mut env = vec![
        ("OFFERD_OTEL__ENDPOINT", receiver.base_url.clone()),
        ("OFFERD_OTEL__SAMPLE_RATIO", sample_ratio.to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ];
    env.extend(extra.iter().cloned());
    let mut offerd = OfferdProcess::start(&fake, dir.path(), name, &env);
    offerd.wait_ready(PATIENCE * 3).await;
    (dir, fake, receiver, offerd)
}

/// Waits for spans named `names`; all spans received, or a failure with the names seen.
async fn spans_named(
    receiver: &OtlpReceiver,
    offerd: &OfferdProcess,
    names: &[&str],
) -> Vec<Received> {
    let arrived = eventually(PATIENCE, || async {
        let spans = receiver.spans();
        names.iter().all(|name| !named(&spans, name).is_empty())
    })
    .await;
    let spans = receiver.spans();
    let seen: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    assert!(arrived, "spans received: {seen:?}\n{}", offerd.log());
    spans
}

#[actix_rt::test]
async fn a_callers_trace_continues_through_offerd_into_target() {
    // Only the caller's sampled trace is kept: the others would be noise here.
    let token = [("OFFERD_SERVER__AUTH_TOKENS", TOKEN.to_string())];
    let (_dir, fake, receiver, mut offerd) = traced_offerd("otel", "0", &token).await;

    let mut remote = example("execute-one-mbox.json");
    remote["decisioning_method"] = json!("server-side");
    let tnt_id = remote
        .pointer("/request/id/tntId")
        .and_then(|v| v.as_str())
        .expect("the example names a visitor")
        .to_owned();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let answer = http
        .post(format!("{}/v1/offers", offerd.base_url))
        .bearer_auth(TOKEN)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("tracestate", "vendor=abc")
        .json(&remote)
        .send()
        .await
        .expect("offerd answers");
    assert_eq!(answer.status().as_u16(), 200, "{}", offerd.log());

    let spans = spans_named(
        &receiver,
        &offerd,
        &["POST /v1/offers", "decide", "POST delivery"],
    )
    .await;
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();

    let server = named(&spans, "POST /v1/offers")[0];
    let decide = named(&spans, "decide")[0];
    let delivery = named(&spans, "POST delivery")[0];
    for span in [server, decide, delivery] {
        assert_eq!(span.trace_id(), TRACE_ID, "{span:?}");
    }
    assert_eq!(
        server.parent_span_id(),
        CALLER_SPAN,
        "the caller's span is the parent"
    );
    assert_eq!(decide.parent_span_id(), server.span_id());
    assert_eq!(delivery.parent_span_id(), decide.span_id());
    assert_eq!(server.span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(delivery.span.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(
        server.attribute("http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        server.attribute("http.route").as_deref(),
        Some("/v1/offers")
    );
    assert_eq!(
        server.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        decide.attribute("offerd.decisioning_method").as_deref(),
        Some("server-side")
    );
    assert_eq!(decide.attribute("offerd.mbox_count").as_deref(), Some("1"));
    assert_eq!(
        delivery.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        server.resource_attribute("service.name").as_deref(),
        Some("offerd")
    );
    assert!(server.resource_attribute("service.version").is_some());
    assert!(server.resource_attribute("service.instance.id").is_some());

    // Target saw the same trace, with the Delivery API call's span as the parent.
    let decisions = fake.decision_requests();
    let traceparent = decisions[0].traceparent.clone().unwrap_or_default();
    assert_eq!(
        traceparent,
        format!("00-{TRACE_ID}-{}-01", delivery.span_id()),
        "what Target received"
    );

    for span in &spans {
        for value in span.attribute_values() {
            assert!(
                !value.contains(&tnt_id) && !value.contains(TOKEN),
                "a visitor id or token in {:?}: {value}",
                span.span.name
            );
        }
    }
    eprintln!(
        "otel: {} spans received ({names:?}); Target got traceparent {traceparent}",
        spans.len()
    );
    offerd.kill();
}

/// A notification request is a span of its own (a root: it carries many callers'
/// notifications, so no one caller's trace), counting the notifications it carries.
#[actix_rt::test]
async fn a_notification_request_is_a_span_with_its_count() {
    let (_dir, _fake, receiver, mut offerd) = traced_offerd("otel-notify", "1", &[]).await;

    let on_device = example("execute-one-mbox.json");
    let tnt_id = on_device
        .pointer("/request/id/tntId")
        .and_then(|v| v.as_str())
        .expect("the example names a visitor")
        .to_owned();
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client")
        .post(format!("{}/v1/offers", offerd.base_url))
        .json(&on_device)
        .send()
        .await
        .expect("offerd answers");
    assert_eq!(answer.status().as_u16(), 200, "{}", offerd.log());

    let spans = spans_named(&receiver, &offerd, &["POST notifications"]).await;
    let notify = named(&spans, "POST notifications")[0];
    assert_eq!(notify.span.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(
        notify.attribute("offerd.notifications").as_deref(),
        Some("1")
    );
    assert_eq!(
        notify.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    for value in notify.attribute_values() {
        assert!(!value.contains(&tnt_id), "the visitor id in {value}");
    }
    offerd.kill();
}

/// offerd samples at the head: a request it does not record builds no span at all
/// (neither its server span nor any under it), yet passes its caller's trace on to
/// Target untouched; a sampled caller after it is recorded whole.
#[actix_rt::test]
async fn an_unsampled_request_records_nothing_and_passes_the_trace_on() {
    const UNSAMPLED: &str = "0af7651916cd43dd8448eb211c80319c";
    let (_dir, fake, receiver, mut offerd) = traced_offerd("otel-unsampled", "0", &[]).await;
    let mut remote = example("execute-one-mbox.json");
    remote["decisioning_method"] = json!("server-side");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let offers = |traceparent: String| {
        http.post(format!("{}/v1/offers", offerd.base_url))
            .header("traceparent", traceparent)
            .json(&remote)
            .send()
    };
    let unsampled = format!("00-{UNSAMPLED}-{CALLER_SPAN}-00");
    let answer = offers(unsampled.clone()).await.expect("offerd answers");
    assert_eq!(answer.status().as_u16(), 200, "{}", offerd.log());
    let sampled = offers(format!("00-{TRACE_ID}-{CALLER_SPAN}-01"));
    assert_eq!(
        sampled.await.expect("offerd answers").status().as_u16(),
        200
    );

    let spans = spans_named(
        &receiver,
        &offerd,
        &["POST /v1/offers", "decide", "POST delivery"],
    )
    .await;
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    for span in &spans {
        assert_eq!(
            span.trace_id(),
            TRACE_ID,
            "only the sampled request: {span:?}"
        );
    }
    assert_eq!(spans.len(), 3, "{names:?}");
    let decisions = fake.decision_requests();
    assert_eq!(
        decisions[0].traceparent.as_deref(),
        Some(unsampled.as_str()),
        "the unsampled caller's trace, passed on as it came"
    );
    offerd.kill();
}
