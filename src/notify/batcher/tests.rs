//! Batcher tests against a fake Delivery API on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::*;
use crate::model::{
    ChannelType, Context as VisitorContext, DeliveryRequest, Notification, TelemetryEntry,
    VisitorId,
};
use crate::upstream::delivery::fake::{FakeDelivery, Reply, Seen};

/// Waits (5 s at most) until `done`, else fails the test naming `what`.
async fn wait_for(what: &str, done: impl FnMut() -> bool) {
    let held = testkit::eventually_sync(Duration::from_secs(5), done).await;
    assert!(held, "timed out waiting for {what}");
}
use crate::upstream::delivery::{DeliveryClient, DeliverySettings};

/// A linger long enough never to end during a test: flushes are explicit.
const NO_TICK_MS: u64 = 600_000;

struct Harness {
    fake: FakeDelivery,
    metrics: Arc<Metrics>,
    telemetry: Arc<TelemetryBuffer>,
    addr: Addr<Batcher>,
}

impl Harness {
    async fn start(config: BatcherConfig) -> Self {
        let fake = FakeDelivery::start().await;
        let metrics = Arc::new(Metrics::new());
        let settings = DeliverySettings {
            client: "acme".into(),
            organization_id: "ORG@AdobeOrg".into(),
            server_domain: Some("127.0.0.1".into()),
            secure: false,
            port: Some(fake.port),
            pin_server_domain: true,
            timeout: Duration::from_secs(2),
            notification_timeout: Duration::from_secs(2),
            offline: false,
            // h2c, so calls go through the lean client, as in production.
            http2_prior_knowledge: true,
            egress: Default::default(),
        };
        let delivery = Arc::new(DeliveryClient::new(settings, metrics.clone()).unwrap());
        let senders =
            Arc::new(Senders::new(&delivery, config.send_threads, config.direct_http2).unwrap());
        let telemetry = Arc::new(TelemetryBuffer::new(true, 100));
        let backpressure = Arc::new(Backpressure::in_memory(0, Duration::ZERO));
        let batcher = Batcher::new(
            config,
            senders,
            telemetry.clone(),
            metrics.clone(),
            backpressure,
            None,
        );
        Self {
            fake,
            metrics,
            telemetry,
            addr: batcher.start(),
        }
    }

    async fn enqueue(&self, visitor: &str, session: &str, n: usize) -> Result<(), Overflow> {
        self.addr
            .send(Enqueue(owed(visitor, session, n)))
            .await
            .unwrap()
    }

    async fn requests_eventually(&self, n: usize) -> Vec<Seen> {
        wait_for(&format!("{n} upstream requests"), || {
            self.fake.requests().len() >= n
        })
        .await;
        self.fake.requests()
    }

    fn sent(&self) -> u64 {
        self.metrics.notifications_sent.get()
    }

    fn dropped(&self, reason: &str) -> u64 {
        let dropped = &self.metrics.notifications_dropped;
        dropped.with_label_values(&[reason]).get()
    }
}

fn config() -> BatcherConfig {
    BatcherConfig {
        queue_capacity: 1000,
        linger_ms: NO_TICK_MS,
        max_notifications_per_request: 50,
        initial_concurrency: 2,
        min_concurrency: 1,
        max_concurrency: 2,
        timeout_ms: 2000,
        retry_base_ms: 5,
        retry_max_ms: 20,
        max_age_secs: 3600,
        backpressure_at: 0,
        backpressure_max_wait_ms: 0,
        telemetry_capacity: 100,
        // Two lanes: calls run on two threads and two connections, as in production.
        send_threads: 2,
        direct_http2: true,
    }
}

fn owed_at(visitor: &str, session: &str, n: usize, owed_at_ms: i64) -> Owed {
    let notifications: Vec<Notification> = (0..n)
        .map(|i| Notification {
            id: Some(format!("{visitor}-{i}")),
            ..Default::default()
        })
        .collect();
    let request = DeliveryRequest {
        id: Some(VisitorId {
            tnt_id: Some(visitor.into()),
            ..Default::default()
        }),
        context: Some(VisitorContext {
            channel: Some(ChannelType::Web),
            ..Default::default()
        }),
        ..Default::default()
    };
    Owed::new(&request, &notifications, session, None, owed_at_ms).unwrap()
}

fn owed(visitor: &str, session: &str, n: usize) -> Owed {
    owed_at(visitor, session, n, now_ms())
}

fn visitor(seen: &Seen) -> String {
    let id = seen.body.id.as_ref();
    id.and_then(|id| id.tnt_id.clone()).unwrap_or_default()
}

fn entry(n: i64) -> TelemetryEntry {
    TelemetryEntry {
        timestamp: Some(n),
        ..Default::default()
    }
}

fn in_five_seconds() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[actix_rt::test]
async fn merges_per_visitor_and_session_never_across() {
    let h = Harness::start(config()).await;
    h.enqueue("a", "s1", 1).await.unwrap();
    h.enqueue("a", "s1", 2).await.unwrap();
    h.enqueue("b", "s1", 1).await.unwrap();
    h.enqueue("a", "s2", 1).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    let mut seen = h.requests_eventually(3).await;
    seen.sort_by_key(|s| (visitor(s), s.query_param("sessionId")));
    let shape: Vec<_> = seen
        .iter()
        .map(|s| {
            (
                visitor(s),
                s.query_param("sessionId").unwrap(),
                s.notifications(),
            )
        })
        .collect();
    let expected = [("a", "s1", 3), ("a", "s2", 1), ("b", "s1", 1)];
    let expected: Vec<_> = expected
        .iter()
        .map(|(v, s, n)| (v.to_string(), s.to_string(), *n))
        .collect();
    assert_eq!(shape, expected);
    wait_for("5 sent", || h.sent() == 5).await;
    assert_eq!(h.fake.requests().len(), 3);
}

#[actix_rt::test]
async fn the_query_carries_client_and_the_outbound_session() {
    let h = Harness::start(config()).await;
    h.enqueue("a", "session-42", 1).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    let seen = h.requests_eventually(1).await;
    assert_eq!(seen[0].query_param("client").as_deref(), Some("acme"));
    assert_eq!(
        seen[0].query_param("sessionId").as_deref(),
        Some("session-42")
    );
    assert_eq!(
        seen[0].query_param("imsOrgId").as_deref(),
        Some("ORG@AdobeOrg")
    );
    let context = seen[0].body.context.as_ref().unwrap();
    assert_eq!(context.channel, Some(ChannelType::Web));
    let upstream = &h.metrics.upstream_requests;
    wait_for("an ok call", || {
        upstream.with_label_values(&["notifications", "ok"]).get() == 1
    })
    .await;
}

#[actix_rt::test]
async fn a_full_key_is_sent_at_once_and_split_at_the_limit() {
    let h = Harness::start(BatcherConfig {
        max_notifications_per_request: 3,
        ..config()
    })
    .await;
    h.enqueue("a", "s", 7).await.unwrap();
    // No tick and no Flush: the size trigger sends the two full requests.
    let seen = h.requests_eventually(2).await;
    assert!(seen.iter().all(|s| s.notifications() == 3), "{seen:?}");
    wait_for("6 sent", || h.sent() == 6).await;
    assert_eq!(h.metrics.batcher_queue_depth.get(), 1);
    h.addr.send(Flush).await.unwrap();
    let seen = h.requests_eventually(3).await;
    assert_eq!(seen[2].notifications(), 1);
    wait_for("7 sent", || h.sent() == 7).await;
}

#[actix_rt::test]
async fn overflow_is_refused_and_counted() {
    let h = Harness::start(BatcherConfig {
        queue_capacity: 5,
        ..config()
    })
    .await;
    h.enqueue("a", "s", 4).await.unwrap();
    assert!(h.enqueue("b", "s", 2).await.is_err());
    assert_eq!(h.dropped("overflow"), 2);
    assert_eq!(h.metrics.batcher_queue_depth.get(), 4);
    h.enqueue("b", "s", 1).await.unwrap();
    assert_eq!(h.metrics.batcher_queue_depth.get(), 5);
}

#[actix_rt::test]
async fn a_503_is_retried_then_sent() {
    let h = Harness::start(config()).await;
    h.fake.script([
        Reply::Status(503, "busy".into()),
        Reply::Status(503, "busy".into()),
    ]);
    h.enqueue("a", "s", 2).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    wait_for("2 sent", || h.sent() == 2).await;
    assert_eq!(h.fake.requests().len(), 3);
    assert_eq!(h.metrics.notifications_retried.get(), 4, "2 retries x 2");
    assert_eq!(h.metrics.batcher_queue_depth.get(), 0);
}

#[actix_rt::test]
async fn a_400_is_split_until_the_bad_notification_is_alone() {
    let h = Harness::start(config()).await;
    h.fake.reject_ids_starting_with("bad-");
    // Five notifications of one visitor and session, one of them bad.
    let mut owed = owed("a", "s", 4);
    let bad = Notification {
        id: Some("bad-1".into()),
        ..Default::default()
    };
    owed.notifications
        .insert(2, serde_json::value::to_raw_value(&bad).unwrap());
    h.addr.send(Enqueue(owed)).await.unwrap().unwrap();
    h.addr.send(Flush).await.unwrap();
    wait_for("1 rejected, 4 sent", || {
        h.dropped("rejected") == 1 && h.sent() == 4
    })
    .await;
    assert_eq!(
        h.metrics.notifications_retried.get(),
        0,
        "a 4xx is no overload"
    );
    assert_eq!(h.metrics.batcher_queue_depth.get(), 0);
    // 5 -> 2 + 3 -> (2 ok) 1 + 2 -> (1 bad alone) (2 ok): 5 requests.
    assert_eq!(h.fake.requests().len(), 5);
}

#[actix_rt::test]
async fn too_old_to_retry_is_expired_and_counted() {
    let h = Harness::start(BatcherConfig {
        max_age_secs: 60,
        ..config()
    })
    .await;
    h.fake
        .script((0..10).map(|_| Reply::Status(503, String::new())));
    let old = owed_at("a", "s", 2, now_ms() - 61_000);
    h.addr.send(Enqueue(old)).await.unwrap().unwrap();
    h.addr.send(Flush).await.unwrap();
    wait_for("2 expired", || h.dropped("expired") == 2).await;
    assert_eq!(h.fake.requests().len(), 1, "no retry past the age budget");
}

#[actix_rt::test]
async fn retries_go_on_while_young_enough() {
    let h = Harness::start(config()).await;
    h.fake
        .script((0..12).map(|_| Reply::Status(503, String::new())));
    h.enqueue("a", "s", 2).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    wait_for("2 sent after 12 failures", || h.sent() == 2).await;
    assert_eq!(h.fake.requests().len(), 13);
    let ids: Vec<_> = h
        .fake
        .requests()
        .iter()
        .map(|r| r.body.request_id.clone())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "a retry resends the same request"
    );
}

#[actix_rt::test]
async fn telemetry_rides_on_the_first_request_or_alone() {
    let h = Harness::start(config()).await;
    h.telemetry.push(entry(1), &h.metrics);
    h.telemetry.push(entry(2), &h.metrics);
    h.enqueue("a", "s1", 1).await.unwrap();
    h.enqueue("b", "s2", 1).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    let seen = h.requests_eventually(2).await;
    let carriers: Vec<_> = seen.iter().filter(|s| s.telemetry() > 0).collect();
    assert_eq!(carriers.len(), 1, "{seen:?}");
    assert_eq!(carriers[0].telemetry(), 2);
    assert!(h.telemetry.is_empty());
    wait_for("2 sent", || h.sent() == 2).await;

    // Nothing queued: a telemetry-only request for the visitor seen last.
    h.telemetry.push(entry(3), &h.metrics);
    h.addr.send(Flush).await.unwrap();
    let seen = h.requests_eventually(3).await;
    let alone = &seen[2];
    assert_eq!((alone.notifications(), alone.telemetry()), (0, 1));
    assert_eq!(visitor(alone), "b");
    assert_eq!(alone.query_param("sessionId").as_deref(), Some("s2"));
    assert!(alone.body.context.is_some());
    assert_eq!(h.sent(), 2, "telemetry counts no notification");
}

#[actix_rt::test]
async fn drain_sends_everything_reports_it_and_stops() {
    let h = Harness::start(config()).await;
    h.fake.script([Reply::Status(503, String::new())]);
    h.enqueue("a", "s", 3).await.unwrap();
    h.enqueue("b", "s", 2).await.unwrap();
    let report = h
        .addr
        .send(Drain {
            deadline: in_five_seconds(),
        })
        .await
        .unwrap();
    assert_eq!((report.sent, report.dropped), (5, 0));
    assert_eq!(h.sent(), 5);
    wait_for("the batcher to stop", || !h.addr.connected()).await;
}

#[actix_rt::test]
async fn the_drain_deadline_drops_what_is_unsent_without_a_spool() {
    let h = Harness::start(config()).await;
    h.fake.script([Reply::Slow(Duration::from_secs(3))]);
    h.enqueue("a", "s", 3).await.unwrap();
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_millis(200);
    let report = h.addr.send(Drain { deadline }).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((report.sent, report.dropped, report.left), (0, 3, 3));
    assert_eq!(h.dropped("shutdown"), 3);
    assert_eq!(h.metrics.batcher_queue_depth.get(), 0);
}

#[actix_rt::test]
async fn the_limit_grows_with_demand_and_shrinks_on_errors() {
    let h = Harness::start(BatcherConfig {
        initial_concurrency: 2,
        max_concurrency: 64,
        max_notifications_per_request: 1,
        ..config()
    })
    .await;
    for i in 0..200 {
        h.enqueue(&format!("v{i}"), "s", 1).await.unwrap();
    }
    wait_for("200 sent", || h.sent() == 200).await;
    let grown = h.metrics.notification_concurrency_limit.get();
    assert!(grown > 2, "limit grew to {grown}");
    h.fake
        .script((0..20).map(|_| Reply::Status(503, String::new())));
    for i in 0..10 {
        h.enqueue(&format!("w{i}"), "s", 1).await.unwrap();
    }
    wait_for("210 sent", || h.sent() == 210).await;
    let shrunk = h.metrics.notification_concurrency_limit.get();
    assert!(shrunk < grown, "limit shrank from {grown} to {shrunk}");
}
