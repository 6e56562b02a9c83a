//! Batcher tests against a fake Delivery API on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::send::RetryPolicy;
use super::*;
use crate::model::{
    ChannelType, Context as VisitorContext, Notification, TelemetryEntry, VisitorId,
};
use crate::upstream::delivery::DeliverySettings;
use crate::upstream::delivery::fake::{FakeDelivery, Reply, Seen, eventually};

/// A tick long enough never to fire during a test: flushes are explicit.
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
            offline: false,
        };
        let delivery = Arc::new(DeliveryClient::new(settings, metrics.clone()).unwrap());
        let telemetry = Arc::new(TelemetryBuffer::new(true, 100));
        let batcher = Batcher::new(config, delivery, telemetry.clone(), metrics.clone());
        Self {
            fake,
            metrics,
            telemetry,
            addr: batcher.start(),
        }
    }

    async fn enqueue(&self, visitor: &str, session: &str, n: usize) -> Result<(), Overflow> {
        self.addr
            .send(Enqueue(outbound(visitor, session, n)))
            .await
            .unwrap()
    }

    async fn requests_eventually(&self, n: usize) -> Vec<Seen> {
        eventually(&format!("{n} upstream requests"), || {
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
        flush_interval_ms: NO_TICK_MS,
        max_notifications_per_request: 50,
        concurrency: 2,
        max_retries: 3,
        retry_base_ms: 5,
        retry_max_ms: 20,
        telemetry_capacity: 100,
    }
}

fn outbound(visitor: &str, session: &str, n: usize) -> Outbound {
    let notifications = (0..n)
        .map(|i| Notification {
            id: Some(format!("{visitor}-{i}")),
            ..Default::default()
        })
        .collect();
    Outbound {
        request: DeliveryRequest {
            id: Some(VisitorId {
                tnt_id: Some(visitor.into()),
                ..Default::default()
            }),
            context: Some(VisitorContext {
                channel: Some(ChannelType::Web),
                ..Default::default()
            }),
            notifications: Some(notifications),
            ..Default::default()
        },
        session_id: session.into(),
        cluster: None,
    }
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
    eventually("5 sent", || h.sent() == 5).await;
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
    eventually("an ok call", || {
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
    eventually("6 sent", || h.sent() == 6).await;
    assert_eq!(h.metrics.batcher_queue_depth.get(), 1);
    h.addr.send(Flush).await.unwrap();
    let seen = h.requests_eventually(3).await;
    assert_eq!(seen[2].notifications(), 1);
    eventually("7 sent", || h.sent() == 7).await;
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
    eventually("2 sent", || h.sent() == 2).await;
    assert_eq!(h.fake.requests().len(), 3);
    assert_eq!(h.metrics.notifications_retried.get(), 4, "2 retries x 2");
    assert_eq!(h.metrics.batcher_queue_depth.get(), 0);
}

#[actix_rt::test]
async fn a_400_is_dropped_as_rejected_without_retry() {
    let h = Harness::start(config()).await;
    h.fake.script([Reply::Status(400, "bad tntId".into())]);
    h.enqueue("a", "s", 2).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    eventually("2 rejected", || h.dropped("rejected") == 2).await;
    assert_eq!(h.fake.requests().len(), 1);
    assert_eq!(h.metrics.notifications_retried.get(), 0);
    assert_eq!(h.sent(), 0);
}

#[actix_rt::test]
async fn retries_run_out_and_are_counted() {
    let h = Harness::start(config()).await;
    h.fake
        .script((0..10).map(|_| Reply::Status(503, String::new())));
    h.enqueue("a", "s", 2).await.unwrap();
    h.addr.send(Flush).await.unwrap();
    eventually("2 exhausted", || h.dropped("retries_exhausted") == 2).await;
    assert_eq!(h.fake.requests().len(), 4, "1 try + 3 retries");
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
    eventually("2 sent", || h.sent() == 2).await;

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
    let deadline = Duration::from_secs(5);
    let report = h.addr.send(Drain { deadline }).await.unwrap();
    assert_eq!((report.sent, report.dropped), (5, 0));
    assert_eq!(h.sent(), 5);
    eventually("the batcher to stop", || !h.addr.connected()).await;
}

#[actix_rt::test]
async fn enqueue_after_drain_started_is_refused_and_counted() {
    let h = Harness::start(config()).await;
    h.fake.script([Reply::Slow(Duration::from_millis(200))]);
    h.enqueue("a", "s", 1).await.unwrap();
    let deadline = Duration::from_secs(5);
    // `send` queues at once, so the Drain is handled before the Enqueue.
    let drain = h.addr.send(Drain { deadline });
    let late = h.addr.send(Enqueue(outbound("b", "s", 2)));
    assert!(late.await.unwrap().is_err());
    let report = drain.await.unwrap();
    assert_eq!((report.sent, report.dropped), (1, 2));
    assert_eq!(h.dropped("shutdown"), 2);
}

#[actix_rt::test]
async fn the_drain_deadline_drops_what_is_unsent() {
    let h = Harness::start(config()).await;
    h.fake.script([Reply::Slow(Duration::from_secs(3))]);
    h.enqueue("a", "s", 3).await.unwrap();
    let started = Instant::now();
    let deadline = Duration::from_millis(200);
    let report = h.addr.send(Drain { deadline }).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((report.sent, report.dropped), (0, 3));
    assert_eq!(h.dropped("shutdown"), 3);
    assert_eq!(h.metrics.batcher_queue_depth.get(), 0);
}

#[test]
fn backoff_is_capped_jittered_and_fits_a_drain() {
    let policy = RetryPolicy {
        max_retries: 5,
        base_ms: 200,
        max_ms: 10_000,
    };
    for attempt in 0..70 {
        let cap = (200u64 << attempt.min(40)).min(10_000);
        assert!(policy.delay(attempt, None) <= Duration::from_millis(cap));
    }
    let deadline = Some(Instant::now() + Duration::from_millis(600));
    // 5 retries left after attempt 0: at most 600 / 6 ms each.
    assert!(policy.delay(0, deadline) <= Duration::from_millis(100));
    let past = Some(Instant::now() - Duration::from_millis(1));
    assert_eq!(policy.delay(4, past), Duration::ZERO);
}
