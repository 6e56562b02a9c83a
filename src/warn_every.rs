//! A warning logged at most once a second, from one thread or many, with the count of
//! occurrences since the last line: an overflow storm stays visible without flooding
//! the log, and its count stays complete (metrics count every one anyway).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const EVERY_MS: i64 = 1000;

/// One kind of rate-limited warning.
#[derive(Debug)]
pub struct WarnEvery {
    last_ms: AtomicI64,
    since: AtomicU64,
}

impl Default for WarnEvery {
    fn default() -> Self {
        Self {
            last_ms: AtomicI64::new(i64::MIN),
            since: AtomicU64::new(0),
        }
    }
}

impl WarnEvery {
    /// Records `n` occurrences at `now_ms`; `Some(total since the last line)` when
    /// this one should be logged.
    pub fn record(&self, n: u64, now_ms: i64) -> Option<u64> {
        self.since.fetch_add(n, Ordering::Relaxed);
        let last = self.last_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < EVERY_MS {
            return None;
        }
        // One thread wins the line; the others keep counting.
        self.last_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.since.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_second_with_the_count_since() {
        let warn = WarnEvery::default();
        assert_eq!(warn.record(2, 10_000), Some(2));
        assert_eq!(warn.record(3, 10_500), None);
        assert_eq!(warn.record(1, 10_900), None);
        assert_eq!(warn.record(1, 11_000), Some(5));
    }
}
