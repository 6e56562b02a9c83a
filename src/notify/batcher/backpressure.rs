//! Backpressure from the pipeline to the calls that owe notifications: the one place
//! a decision can wait on delivery, and only as a last resort.
//!
//! When a call waits (at most `batcher.backpressure_max_wait_ms`, counted in
//! `offerd_backpressure_wait_seconds`):
//! - **With a spool**, only while the spool holds more than half of `spool.max_bytes`.
//!   Below that, a backlog is durable on disk and costs no memory (records past
//!   `batcher.queue_capacity` wait there), so decisions never wait at nominal load; past
//!   it, slowing decisions to the delivery rate keeps the disk from filling and
//!   refusing notifications (`spool_full`).
//! - **Memory only**, while the Batcher holds more than `batcher.backpressure_at`
//!   notifications: past it, memory is at risk and the queue would refuse
//!   (`overflow`).
//!
//! Either way, only while Target is healthy (a 2xx within the last second): a decision
//! must not depend on Target's health. When Target fails, the backlog goes to the spool
//! (or, memory only, is refused and counted).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::notify::spool::Spool;

/// Target counts as healthy this long after its last accepted notification request.
const HEALTHY_FOR_MS: i64 = 1000;

/// How often a waiting call looks at the spool again: the spool shrinking on disk
/// wakes no one.
const SPOOL_RECHECK: Duration = Duration::from_millis(5);

/// What a high backlog is.
#[derive(Debug)]
enum Mark {
    /// Notifications held by the Batcher, memory only (0: never).
    Held(usize),
    /// Record bytes in the spool.
    Spooled { spool: Spool, at_bytes: u64 },
}

/// Shared by the client (waits) and the Batcher (publishes its backlog).
#[derive(Debug)]
pub struct Backpressure {
    mark: Mark,
    max_wait: Duration,
    held: AtomicUsize,
    last_success_ms: AtomicI64,
    room: Notify,
    /// Calls waiting now: the Batcher wakes them only when there are some.
    waiting: AtomicUsize,
}

impl Backpressure {
    /// Memory only: waits above `at` held notifications (0: never), `max_wait` at most.
    pub fn in_memory(at: usize, max_wait: Duration) -> Self {
        Self::with_mark(Mark::Held(at), max_wait)
    }

    /// With a spool: waits while it holds more than `at_bytes` of records.
    pub fn on_disk(spool: Spool, at_bytes: u64, max_wait: Duration) -> Self {
        Self::with_mark(Mark::Spooled { spool, at_bytes }, max_wait)
    }

    fn with_mark(mark: Mark, max_wait: Duration) -> Self {
        Self {
            mark,
            max_wait,
            held: AtomicUsize::new(0),
            last_success_ms: AtomicI64::new(i64::MIN),
            room: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The Batcher's backlog changed; wakes the waiting calls once it is low enough.
    pub fn set_held(&self, held: usize) {
        self.held.store(held, Ordering::Relaxed);
        if self.waiting.load(Ordering::Relaxed) > 0 && !self.high() {
            self.room.notify_waiters();
        }
    }

    /// Target just accepted a request.
    pub fn succeeded(&self, now_ms: i64) {
        self.last_success_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Waits while the backlog is high and Target healthy, at most `max_wait`;
    /// returns how long it waited (zero when it did not).
    pub async fn wait(&self, now_ms: i64) -> Duration {
        if !self.should_wait(now_ms) {
            return Duration::ZERO;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started + self.max_wait;
        let recheck = match self.mark {
            Mark::Held(_) => self.max_wait,
            Mark::Spooled { .. } => SPOOL_RECHECK,
        };
        while self.should_wait(now_ms) {
            // Created before the check below, so a wake-up in between is not missed.
            let room = self.room.notified();
            if !self.should_wait(now_ms) {
                break;
            }
            let until = deadline.min(Instant::now() + recheck);
            let _ = tokio::time::timeout_at(until.into(), room).await;
            if Instant::now() >= deadline {
                break;
            }
        }
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        started.elapsed()
    }

    fn high(&self) -> bool {
        match &self.mark {
            Mark::Held(at) => *at > 0 && self.held.load(Ordering::Relaxed) >= *at,
            Mark::Spooled { spool, at_bytes } => spool.bytes() > *at_bytes,
        }
    }

    fn should_wait(&self, now_ms: i64) -> bool {
        let last = self.last_success_ms.load(Ordering::Relaxed);
        let healthy = now_ms.saturating_sub(last) < HEALTHY_FOR_MS;
        healthy && self.high()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn waits_while_high_and_healthy_until_room() {
        let bp = Arc::new(Backpressure::in_memory(10, Duration::from_secs(5)));
        bp.succeeded(1_000);
        bp.set_held(10);
        let waiter = tokio::spawn({
            let bp = bp.clone();
            async move { bp.wait(1_500).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished());
        bp.set_held(9);
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn never_waits_for_a_failing_target_or_below_the_mark() {
        let bp = Backpressure::in_memory(10, Duration::from_secs(5));
        bp.set_held(100);
        assert!(
            bp.wait(1_000).await < Duration::from_millis(50),
            "no success yet"
        );
        bp.succeeded(1_000);
        assert!(
            bp.wait(3_000).await < Duration::from_millis(50),
            "last success 2 s ago"
        );
        bp.set_held(3);
        assert!(bp.wait(1_100).await < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn the_wait_is_bounded() {
        let bp = Backpressure::in_memory(1, Duration::from_millis(40));
        bp.succeeded(0);
        bp.set_held(5);
        let waited = bp.wait(10).await;
        assert!(waited >= Duration::from_millis(40) && waited < Duration::from_secs(2));
    }

    #[actix_rt::test]
    async fn with_a_spool_only_a_half_full_disk_makes_calls_wait() {
        use crate::config::SpoolConfig;
        use crate::notify::spool_writer::{self, CommittedSink};
        use crate::notify::{Owed, spool};

        let dir = spool::tests::tempdir();
        let config = SpoolConfig {
            dir: Some(dir.clone()),
            ..SpoolConfig::default()
        };
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let sink = CommittedSink::new(Arc::default());
        let (spool, _) = spool_writer::start(&config, metrics, sink).unwrap();
        let owed = Owed::new(&Default::default(), &[Default::default()], "s", None, 1).unwrap();
        spool.append(owed).await.unwrap();
        let bytes = spool.bytes();
        assert!(bytes > 0);

        let below = Backpressure::on_disk(spool.clone(), bytes, Duration::from_secs(5));
        below.succeeded(1_000);
        below.set_held(1_000_000);
        assert_eq!(
            below.wait(1_100).await,
            Duration::ZERO,
            "held notifications are on disk"
        );

        let above = Backpressure::on_disk(spool, bytes - 1, Duration::from_millis(40));
        above.succeeded(1_000);
        let waited = above.wait(1_100).await;
        assert!(waited >= Duration::from_millis(40), "{waited:?}");
        assert_eq!(
            above.wait(5_000).await,
            Duration::ZERO,
            "Target not healthy"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
