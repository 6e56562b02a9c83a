//! When to retry a notification request, and when to give up: a budget by age, not
//! by count. A request is retried with capped exponential backoff and full jitter
//! for as long as its newest notification is younger than `batcher.max_age`, so a
//! Target outage of any length shorter than that loses nothing.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::job::Job;

/// Backoff bounds and the age budget.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first retry waits up to this.
    pub base: Duration,
    /// No retry waits longer than this.
    pub max: Duration,
    /// Past this age (from when the call owed it) a notification is given up on.
    pub max_age: Duration,
}

impl RetryPolicy {
    /// The pause before retry number `attempt + 1`: uniform in `0..=min(max, base ×
    /// 2^attempt)` ("full jitter", so retries after an outage spread out). While
    /// draining, it never runs past `deadline`.
    pub fn delay(&self, attempt: u32, deadline: Option<Instant>) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let mut cap = self.base.saturating_mul(factor).min(self.max);
        if let Some(deadline) = deadline {
            cap = cap.min(deadline.saturating_duration_since(Instant::now()));
        }
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=cap_ms))
    }

    /// True when a notification owed at `owed_at_ms` is too old to retry at `now_ms`.
    pub fn expired(&self, owed_at_ms: i64, now_ms: i64) -> bool {
        let age = now_ms.saturating_sub(owed_at_ms);
        u128::try_from(age).is_ok_and(|age| age >= self.max_age.as_millis())
    }
}

/// Requests waiting out a backoff, by when they are due. Held by the Batcher rather
/// than in a timer task each: a backoff then costs its request alone, which matters
/// with a whole outage's worth waiting. The Batcher's tick takes the due ones.
#[derive(Default)]
pub struct Backoffs {
    /// By due time, then a sequence number (two may be due at once).
    waiting: BTreeMap<(Instant, u64), Job>,
    seq: u64,
}

impl Backoffs {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// `job` may be sent again at `due`.
    pub fn wait(&mut self, job: Job, due: Instant) {
        self.seq += 1;
        self.waiting.insert((due, self.seq), job);
    }

    /// Moves the jobs due by `now` to `ready`.
    pub fn take_due(&mut self, now: Instant, ready: &mut VecDeque<Job>) {
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            ready.push_back(entry.remove());
        }
    }

    /// A drain started: no job waits out a long backoff; each is due within a base
    /// delay (jittered, so they do not all go at once) and within `deadline`.
    pub fn hasten(&mut self, policy: &RetryPolicy, deadline: Instant) {
        let now = Instant::now();
        for ((due, seq), job) in std::mem::take(&mut self.waiting) {
            let sooner = now + policy.delay(0, Some(deadline));
            self.waiting.insert((due.min(sooner), seq), job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_age: Duration::from_secs(60),
        }
    }

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let p = policy();
        for attempt in 0..40 {
            let cap = (100u64 << attempt.min(20)).min(5000);
            for _ in 0..20 {
                assert!(p.delay(attempt, None) <= Duration::from_millis(cap));
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| p.delay(6, None)).collect();
        assert!(spread.len() > 10, "full jitter spreads retries out");
    }

    #[test]
    fn a_drain_deadline_caps_the_pause() {
        let deadline = Instant::now() + Duration::from_millis(30);
        for _ in 0..20 {
            assert!(policy().delay(10, Some(deadline)) <= Duration::from_millis(30));
        }
    }

    #[test]
    fn the_budget_is_an_age() {
        let p = policy();
        assert!(!p.expired(1_000, 60_999));
        assert!(p.expired(1_000, 61_000));
        assert!(
            !p.expired(5_000, 1_000),
            "a clock step backwards expires nothing"
        );
    }
}
