//! Tests of the fake: counting without a server, and the fault knobs against a real one.

use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, sleep};

use super::counted::IdHash;
use super::*;

#[test]
fn counts_notifications_ids_duplicates_and_telemetry() {
    let counters = Counters::default();
    counters.count(&json!({
        "notifications": [{"id": "a"}, {"id": "b"}, {"type": "display"}],
        "telemetry": {"entries": [{}, {}]}
    }));
    counters.count(&json!({"notifications": [{"id": "a"}]}));
    counters.count(&json!({"id": {"tntId": "t"}}));
    let stats = counters.snapshot();
    assert_eq!(stats.accepted, 3);
    assert_eq!(stats.notifications, 4);
    assert_eq!(stats.distinct_notification_ids, 2);
    assert_eq!(stats.duplicate_notification_ids, 1);
    assert_eq!(stats.notifications_without_id, 1);
    assert_eq!(stats.telemetry_entries, 2);
}

#[test]
fn an_outage_after_zero_covers_the_first_delivery_request_however_late_it_comes() {
    let counters = Counters {
        options: outage(60_000, OutageMode::Unavailable),
        ..Counters::default()
    };
    assert_eq!(counters.outage_now(), Some(OutageMode::Unavailable));
    assert_eq!(
        Counters::default().outage_now(),
        None,
        "no outage configured"
    );
}

/// A fake with `options` on a free loopback port, and a client that never pools (so
/// every request opens a connection of its own and a reset cannot leak into the next).
fn start(options: FakeOptions) -> (FakeUpstream, reqwest::Client, String) {
    let fake = FakeUpstream::start(SocketAddr::from(([127, 0, 0, 1], 0)), options, false)
        .expect("the fake starts on a free port");
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a plain client builds");
    let url = format!("http://{}/rest/v1/delivery", fake.addr);
    (fake, client, url)
}

async fn post(client: &reqwest::Client, url: &str, id: &str) -> reqwest::Result<u16> {
    let body = json!({"notifications": [{"id": id}]});
    let response = client.post(url).json(&body).send().await?;
    Ok(response.status().as_u16())
}

/// Posts (a fresh notification id each time) until one is accepted, at most 5 s.
async fn post_until_accepted(client: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    for n in 0.. {
        if let Ok(200) = post(client, url, &format!("late-{n}")).await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no 200 within 5 s"
        );
        sleep(Duration::from_millis(20)).await;
    }
    unreachable!("the loop returns or panics")
}

fn outage(length_ms: u64, mode: OutageMode) -> FakeOptions {
    FakeOptions {
        outage: Some(Outage {
            after: Duration::ZERO,
            length: Duration::from_millis(length_ms),
            mode,
        }),
        ..FakeOptions::default()
    }
}

#[tokio::test]
async fn a_503_outage_answers_503_then_the_fake_recovers() {
    let (fake, client, url) = start(FakeOptions {
        // The outage skips the delay: its 503s come at once.
        delay: Duration::from_secs(2),
        ..outage(400, OutageMode::Unavailable)
    });
    let sent = Instant::now();
    assert_eq!(post(&client, &url, "a").await.ok(), Some(503));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    post_until_accepted(&client, &url).await;
    let stats = fake.stats();
    assert!(stats.outage_failures >= 1, "{stats:?}");
    assert_eq!(stats.injected_failures, stats.outage_failures);
    assert_eq!(stats.requests, stats.accepted + stats.injected_failures);
    assert_eq!(stats.accepted, 1);
    assert_eq!(
        stats.notifications, 1,
        "a 503'd notification is not received"
    );
    fake.stop().await.expect("the fake stops");
}

#[tokio::test]
async fn a_reset_outage_fails_at_the_transport_then_the_fake_recovers() {
    let (fake, client, url) = start(outage(400, OutageMode::Reset));
    let failed = post(&client, &url, "a").await;
    let err = failed.expect_err("no answer during a reset outage");
    assert!(
        err.status().is_none(),
        "a transport error, not a status: {err}"
    );
    post_until_accepted(&client, &url).await;
    let stats = fake.stats();
    assert!(stats.outage_failures >= 1, "{stats:?}");
    assert_eq!(stats.injected_failures, 0, "resets are not answers");
    assert_eq!(stats.requests, stats.accepted);
    assert_eq!(stats.distinct_notification_ids, 1);
    fake.stop().await.expect("the fake stops");
}

#[tokio::test]
async fn fail_every_still_fails_every_nth_request() {
    let (fake, client, url) = start(FakeOptions {
        fail_every: 2,
        ..FakeOptions::default()
    });
    let mut statuses = Vec::new();
    for id in ["a", "b", "c", "d"] {
        statuses.push(post(&client, &url, id).await.ok());
    }
    assert_eq!(statuses, [Some(200), Some(503), Some(200), Some(503)]);
    let stats = fake.stats();
    assert_eq!((stats.requests, stats.injected_failures), (4, 2));
    assert_eq!(stats.outage_failures, 0);
    fake.stop().await.expect("the fake stops");
}

#[test]
fn bodies_are_counted_from_their_bytes_ids_hashed_duplicates_and_missing_ids_apart() {
    let counters = Counters::default();
    for body in [
        // What offerd sends, less some context: skipped keys, one notification without an
        // id and one whose id is null, two telemetry entries.
        r#"{"id":{"tntId":"t.35_0"},"context":{"channel":"web"},"notifications":[
            {"id":"a","type":"display","timestamp":1,"mbox":{"name":"m"},"tokens":["x"]},
            {"type":"display"},{"id":null},{"id":"b"}],
            "telemetry":{"entries":[{"execution":0.4,"features":{"a":[1,{}]}},{}]}}"#,
        r#"{"notifications":[{"id":"a"},{"id":"c"}]}"#, // "a" again: a duplicate
        r#"{"notifications":[{"id":"\u0063"}]}"#,       // "c" with an escape: the same id
        r#"{"notifications":[{"id":""}],"telemetry":{"entries":[]}}"#, // "" is an id
        "{}",
    ] {
        let counted = Counted::from_slice(body.as_bytes()).expect("JSON");
        counters.record(counted);
    }
    let stats = counters.snapshot();
    assert_eq!(stats.accepted, 5);
    assert_eq!(stats.notifications, 8);
    assert_eq!(
        stats.distinct_notification_ids, 4,
        "a, b, c and the empty id"
    );
    assert_eq!(stats.duplicate_notification_ids, 2);
    assert_eq!(stats.notifications_without_id, 2);
    assert_eq!(stats.telemetry_entries, 2);
}

#[test]
fn any_json_is_counted_as_its_value_says_and_anything_else_is_refused() {
    // Well-formed bodies take the fast path; every other shape of JSON falls back to
    // `Value`, so both paths must give the counts `Value` gives.
    let fast = r#"{"notifications":[{"id":"a"},{}],"telemetry":{"entries":[1,[2],{"c":3}]}}"#;
    assert!(
        serde_json::from_str::<Counted>(fast).is_ok(),
        "the fast path reads it"
    );
    for body in [
        fast,
        "[1, 2]",
        r#"[{"notifications": [{"id": "a"}]}]"#,
        "5",
        "null",
        r#"{"notifications": 5, "telemetry": {"entries": [1, 2, 3]}}"#,
        r#"{"notifications": [["a"], 7, null, {"id": 5}, {"id": ["x"]}, {"id": "x"}]}"#,
        r#"{"notifications": [{"id": "a"}], "notifications": [{"id": "b"}, {}]}"#,
        r#"{"notifications": [{"id": "a", "id": "b"}]}"#,
        r#"{"telemetry": {"entries": {"a": 1}}}"#,
        r#"{"telemetry": [[1]], "notifications": {"id": "a"}}"#,
        r#"{"telemetry": {"entries": null}, "notifications": null}"#,
        r#"{"telemetry": {"entries": [1]}, "telemetry": {}}"#,
    ] {
        let value: Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(
            Counted::from_slice(body.as_bytes()).expect("JSON"),
            Counted::from_value(&value),
            "{body}"
        );
    }
    for not_json in ["", "{", "not json", r#"{"notifications": [}"#, "{} {}"] {
        assert!(
            Counted::from_slice(not_json.as_bytes()).is_err(),
            "{not_json}"
        );
    }
}

#[test]
fn the_id_set_tells_each_id_once_across_its_shards() {
    let ids = IdSet::default();
    for n in 0..10_000 {
        assert!(ids.insert(IdHash::of(&format!("id-{n}"))), "id-{n} is new");
    }
    for n in (0..10_000).step_by(7) {
        assert!(
            !ids.insert(IdHash::of(&format!("id-{n}"))),
            "id-{n} came before"
        );
    }
    assert_eq!(ids.len(), 10_000);
    assert_ne!(IdHash::of("a"), IdHash::of("b"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_answered_400_and_counts_nothing() {
    let (fake, client, url) = start(FakeOptions::default());
    let bad = client
        .post(&url)
        .body("not json")
        .send()
        .await
        .expect("an answer");
    assert_eq!(bad.status().as_u16(), 400);
    let good = client
        .post(&url)
        .json(&json!({"notifications": [{"id": "a"}], "telemetry": {"entries": [{}]}}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(good.status().as_u16(), 200);
    assert_eq!(
        good.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    assert_eq!(good.text().await.expect("a body"), r#"{"status":200}"#);
    let stats = fake.stats();
    assert_eq!(
        (stats.requests, stats.accepted, stats.bad_bodies),
        (2, 1, 1)
    );
    assert_eq!((stats.notifications, stats.telemetry_entries), (1, 1));
    fake.stop().await.expect("the fake stops");
}
