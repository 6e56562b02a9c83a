//! How many held notifications were owed in each second, for the oldest-age gauge:
//! a few entries however many are held, since notifications are owed in order.

use std::collections::BTreeMap;

#[derive(Default)]
pub struct Ages(BTreeMap<i64, usize>);

impl Ages {
    /// `n` notifications owed at `owed_at_ms` are held.
    pub fn add(&mut self, owed_at_ms: i64, n: usize) {
        *self.0.entry(owed_at_ms.div_euclid(1000)).or_default() += n;
    }

    /// One notification owed at `owed_at_ms` is no longer held.
    pub fn remove(&mut self, owed_at_ms: i64) {
        let second = owed_at_ms.div_euclid(1000);
        if let Some(n) = self.0.get_mut(&second) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.0.remove(&second);
            }
        }
    }

    /// The second (since the epoch) the oldest held notification was owed in.
    pub fn oldest_second(&self) -> Option<i64> {
        self.0.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_second_follows_what_is_held() {
        let mut ages = Ages::default();
        ages.add(5_500, 2);
        ages.add(7_100, 1);
        assert_eq!(ages.oldest_second(), Some(5));
        ages.remove(5_900);
        ages.remove(5_000);
        assert_eq!(ages.oldest_second(), Some(7));
        ages.remove(7_100);
        assert_eq!(ages.oldest_second(), None);
    }
}
