//! The Batcher's lingering queue: notifications merged per visitor + session + edge
//! cluster (the Delivery API takes one of each per request), each key waiting at most
//! `linger` for more before it is cut into [`Batch`]es. Plain data, no actor state,
//! so its memory per notification can be measured on its own (`benches/queue.rs`).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::value::RawValue;

use crate::notify::owed::Owed;

/// Merge key: visitor, session and edge cluster of a notification request.
#[derive(Debug)]
pub struct Key {
    /// `request.id` as JSON: every id field takes part.
    pub visitor: Option<Box<RawValue>>,
    pub session_id: Box<str>,
    pub cluster: Option<Box<str>>,
}

impl Key {
    fn visitor_text(&self) -> &str {
        self.visitor.as_deref().map_or("", RawValue::get)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.session_id == other.session_id
            && self.cluster == other.cluster
            && self.visitor_text() == other.visitor_text()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.visitor_text().hash(state);
        self.session_id.hash(state);
        self.cluster.hash(state);
    }
}

/// One queued notification.
#[derive(Debug)]
pub struct Item {
    /// The notification's JSON.
    pub body: Box<RawValue>,
    /// Its spool record (0 when there is no spool).
    pub seq: u64,
    /// When the call owed it, ms since the epoch.
    pub owed_at_ms: i64,
}

/// The notifications of one key waiting for more.
struct Pending {
    /// The newest envelope of the key: its context wins.
    envelope: Arc<RawValue>,
    items: Vec<Item>,
}

/// Notifications of one key cut out of the queue: one upstream request's worth.
#[derive(Debug)]
pub struct Batch {
    pub key: Arc<Key>,
    pub envelope: Arc<RawValue>,
    pub items: Vec<Item>,
}

/// The queue; see the module docs.
pub struct Queue {
    keys: IndexMap<Arc<Key>, Pending>,
    /// Keys in order of their first notification, for the linger deadline. A key cut
    /// early (full) and queued again appears twice; the stale entry only cuts the
    /// newer one early, which is harmless.
    arrivals: VecDeque<(Instant, Arc<Key>)>,
    /// Notifications held.
    len: usize,
    max_per_request: usize,
}

impl Queue {
    /// An empty queue cutting requests of at most `max_per_request` notifications.
    pub fn new(max_per_request: usize) -> Self {
        Self {
            keys: IndexMap::new(),
            arrivals: VecDeque::new(),
            len: 0,
            max_per_request: max_per_request.max(1),
        }
    }

    /// Notifications held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `owed` (its notifications all recorded as spool record `seq`); returns
    /// its key, and whether that key now fills a request.
    pub fn push(&mut self, owed: Owed, seq: u64, now: Instant) -> (Arc<Key>, bool) {
        let Owed {
            session_id,
            cluster,
            visitor,
            envelope,
            notifications,
            owed_at_ms,
        } = owed;
        let key = Key {
            visitor,
            session_id: session_id.into_boxed_str(),
            cluster: cluster.map(String::into_boxed_str),
        };
        let envelope: Arc<RawValue> = Arc::from(envelope);
        let items = notifications.into_iter().map(|body| Item {
            body,
            seq,
            owed_at_ms,
        });
        self.len += items.len();
        let key = match self.keys.get_key_value(&key) {
            Some((existing, _)) => existing.clone(),
            None => Arc::new(key),
        };
        let pending = self.keys.entry(key.clone()).or_insert_with(|| Pending {
            envelope: envelope.clone(),
            items: Vec::new(),
        });
        if pending.items.is_empty() {
            self.arrivals.push_back((now, key.clone()));
        }
        pending.envelope = envelope;
        pending.items.extend(items);
        let full = pending.items.len() >= self.max_per_request;
        (key, full)
    }

    /// Cuts the full requests of `key`; a smaller remainder keeps lingering.
    pub fn take_full(&mut self, key: &Arc<Key>, out: &mut Vec<Batch>) {
        let Some(pending) = self.keys.get_mut(key) else {
            return;
        };
        while pending.items.len() >= self.max_per_request {
            let items: Vec<Item> = pending.items.drain(..self.max_per_request).collect();
            self.len -= items.len();
            out.push(Batch {
                key: key.clone(),
                envelope: pending.envelope.clone(),
                items,
            });
        }
        if pending.items.is_empty() {
            self.keys.swap_remove(key);
        }
    }

    /// Cuts every key that has lingered `linger` by `now`.
    pub fn take_due(&mut self, now: Instant, linger: Duration, out: &mut Vec<Batch>) {
        while let Some((since, _)) = self.arrivals.front() {
            if now.saturating_duration_since(*since) < linger {
                break;
            }
            if let Some((_, key)) = self.arrivals.pop_front() {
                self.take_key(&key, out);
            }
        }
    }

    /// Cuts everything (shutdown, `Flush`).
    pub fn take_all(&mut self, out: &mut Vec<Batch>) {
        while let Some((_, key)) = self.arrivals.pop_front() {
            self.take_key(&key, out);
        }
    }

    fn take_key(&mut self, key: &Arc<Key>, out: &mut Vec<Batch>) {
        let Some(mut pending) = self.keys.swap_remove(key) else {
            return;
        };
        self.len -= pending.items.len();
        while !pending.items.is_empty() {
            let n = pending.items.len().min(self.max_per_request);
            let items: Vec<Item> = pending.items.drain(..n).collect();
            out.push(Batch {
                key: key.clone(),
                envelope: pending.envelope.clone(),
                items,
            });
        }
    }

    /// When the oldest queued notification was owed (ms since the epoch).
    pub fn oldest_owed_ms(&self) -> Option<i64> {
        let (_, key) = self.arrivals.front()?;
        let pending = self.keys.get(key)?;
        pending.items.iter().map(|i| i.owed_at_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryRequest, Notification, VisitorId};

    fn owed(visitor: &str, session: &str, n: usize) -> Owed {
        let request = DeliveryRequest {
            id: Some(VisitorId {
                tnt_id: Some(visitor.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let notifications: Vec<Notification> = (0..n)
            .map(|i| Notification {
                id: Some(format!("{visitor}-{session}-{i}")),
                ..Default::default()
            })
            .collect();
        Owed::new(&request, &notifications, session, None, 1).unwrap()
    }

    #[test]
    fn merges_per_visitor_and_session() {
        let mut q = Queue::new(50);
        let now = Instant::now();
        q.push(owed("a", "s1", 1), 1, now);
        q.push(owed("a", "s1", 2), 2, now);
        q.push(owed("a", "s2", 1), 3, now);
        q.push(owed("b", "s1", 1), 4, now);
        assert_eq!(q.len(), 5);
        let mut out = Vec::new();
        q.take_all(&mut out);
        let sizes: Vec<usize> = out.iter().map(|b| b.items.len()).collect();
        assert_eq!(sizes, [3, 1, 1]);
        assert_eq!(
            out[0].items.iter().map(|i| i.seq).collect::<Vec<_>>(),
            [1, 2, 2]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_key_is_cut_at_once_and_the_rest_lingers() {
        let mut q = Queue::new(3);
        let now = Instant::now();
        let (key, full) = q.push(owed("a", "s", 2), 1, now);
        assert!(!full);
        let (_, full) = q.push(owed("a", "s", 5), 2, now);
        assert!(full);
        let mut out = Vec::new();
        q.take_full(&key, &mut out);
        assert_eq!(
            out.iter().map(|b| b.items.len()).collect::<Vec<_>>(),
            [3, 3]
        );
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn keys_wait_for_their_linger() {
        let mut q = Queue::new(50);
        let t0 = Instant::now();
        q.push(owed("a", "s", 1), 1, t0);
        q.push(owed("b", "s", 1), 2, t0 + Duration::from_millis(50));
        let linger = Duration::from_millis(100);
        let mut out = Vec::new();
        q.take_due(t0 + Duration::from_millis(99), linger, &mut out);
        assert!(out.is_empty());
        q.take_due(t0 + Duration::from_millis(100), linger, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(q.oldest_owed_ms(), Some(1));
        q.take_due(t0 + Duration::from_millis(150), linger, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(q.oldest_owed_ms(), None);
    }
}
