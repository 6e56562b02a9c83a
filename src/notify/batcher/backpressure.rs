//! Backpressure from the Batcher to the calls that owe notifications.
//!
//! Why: on a busy machine decisions and deliveries share the cores. Without it, a
//! closed-loop load lets decisions take the CPU and the backlog of notifications grows
//! until it is refused. So while Target is healthy and the Batcher holds more than
//! `batcher.backpressure_at` notifications, a call that owes more waits (at most
//! `backpressure_max_wait_ms`) for the backlog to shrink: decisions slow down to the
//! rate at which their notifications are delivered.
//!
//! When Target is failing, calls never wait: a decision must not depend on Target's
//! health. Then the backlog goes to the spool (or, memory only, is refused and counted).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Target counts as healthy this long after its last accepted notification request.
const HEALTHY_FOR_MS: i64 = 1000;

/// Shared by the client (waits) and the Batcher (publishes its backlog).
#[derive(Debug)]
pub struct Backpressure {
    /// Waits start above this many held notifications (0: never).
    at: usize,
    max_wait: Duration,
    held: AtomicUsize,
    last_success_ms: AtomicI64,
    room: Notify,
}

impl Backpressure {
    pub fn new(at: usize, max_wait: Duration) -> Self {
        Self {
            at,
            max_wait,
            held: AtomicUsize::new(0),
            last_success_ms: AtomicI64::new(i64::MIN),
            room: Notify::new(),
        }
    }

    /// The Batcher's backlog changed; wakes the waiting calls once it is low enough.
    pub fn set_held(&self, held: usize) {
        self.held.store(held, Ordering::Relaxed);
        if held < self.at {
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
        let started = Instant::now();
        let deadline = started + self.max_wait;
        while self.should_wait(now_ms) {
            // Created before the check below, so a wake-up in between is not missed.
            let room = self.room.notified();
            if !self.should_wait(now_ms) {
                break;
            }
            if tokio::time::timeout_at(deadline.into(), room)
                .await
                .is_err()
            {
                break;
            }
        }
        started.elapsed()
    }

    fn should_wait(&self, now_ms: i64) -> bool {
        let healthy =
            now_ms.saturating_sub(self.last_success_ms.load(Ordering::Relaxed)) < HEALTHY_FOR_MS;
        self.at > 0 && healthy && self.held.load(Ordering::Relaxed) >= self.at
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn waits_while_high_and_healthy_until_room() {
        let bp = Arc::new(Backpressure::new(10, Duration::from_secs(5)));
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
        let bp = Backpressure::new(10, Duration::from_secs(5));
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
        let bp = Backpressure::new(1, Duration::from_millis(40));
        bp.succeeded(0);
        bp.set_held(5);
        let waited = bp.wait(10).await;
        assert!(waited >= Duration::from_millis(40) && waited < Duration::from_secs(2));
    }
}
