//! What the fake counts in a delivery request body, read without building it.
//!
//! An accepted body used to be parsed into a whole `serde_json::Value` tree (every key a
//! `String`, every object a map) and each notification id copied into a `String` of the
//! id set: with actix-web's own cost, ~31 µs of CPU per notification request under
//! offerd's traffic, as much as offerd's whole decision, on cores the fake shares with
//! offerd and the load. [`Counted`] reads only the notifications' ids and the number of
//! telemetry entries; serde skips everything else without allocating, and each id is
//! hashed straight from the body's bytes ([`IdHash`]), borrowed or, with escapes,
//! unescaped by serde_json into its scratch buffer: never copied into a `String`.
//!
//! The visitors take JSON objects only. Any other shape that is still JSON (a body that is
//! an array, a notification that is not an object, an id that is a number, a repeated key,
//! …) fails here and is counted from a `Value` instead ([`Counted::from_value`], the same
//! rules), so what is counted never depends on which path read it: serde's derived
//! visitors would have read an array as a struct, and refused a repeated key that
//! `Value` takes (the last one wins).

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::Value;

/// A notification id, stored as its 128-bit XXH3 hash.
///
/// Why a hash: the id set holds every id received in a run (a million and more), and must
/// say exactly whether an id came before. A `String` (or `Box<str>`) per id costs a heap
/// allocation on the hot path and ~80 bytes per offerd id (a 36-byte UUID, its pointer
/// and length, the allocator's overhead); a `u128` costs none and 16 bytes, in a flat
/// table. Two different ids collide with probability ~n²/2¹²⁹: for 10⁹ ids, ~10⁻²¹, so
/// duplicate detection stays exact in practice. XXH3 (the `xxhash-rust` crate) hashes a
/// UUID in a few nanoseconds; it is not keyed, which is fine for ids a test sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct IdHash(pub(super) u128);

impl IdHash {
    pub(super) fn of(id: &str) -> Self {
        Self(xxhash_rust::xxh3::xxh3_128(id.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for IdHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = IdHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string id")
            }
            // Borrowed strings (no escapes) come here too (`visit_borrowed_str`'s default):
            // hashed in place, never copied.
            fn visit_str<E: de::Error>(self, id: &str) -> Result<IdHash, E> {
                Ok(IdHash::of(id))
            }
        }
        deserializer.deserialize_str(IdVisitor)
    }
}

/// The set of notification ids received, in [`IdSet::SHARDS`] shards, each a mutex over
/// a flat table of hashes. The fake answers on 2 workers (and offerd sends on many
/// connections), so a lock per shard keeps them from waiting on one another; a shard is
/// held for one insert.
#[derive(Default)]
pub(super) struct IdSet {
    shards: [Mutex<HashSet<IdHash, BuildHasherDefault<IdHasher>>>; IdSet::SHARDS],
}

impl IdSet {
    const SHARDS: usize = 16;

    /// Adds `id`; false if it was there already (a duplicate).
    pub(super) fn insert(&self, id: IdHash) -> bool {
        // The top bits pick the shard, the low 64 bits place it in the shard's table.
        let shard = &self.shards[(id.0 >> 124) as usize % Self::SHARDS];
        shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id)
    }

    /// Distinct ids so far.
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// The hasher of [`IdSet`]'s tables: an [`IdHash`] is already a uniform hash, so its low
/// 64 bits serve as they are (no second hash per insert).
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `IdHash` (it hashes one u128); any other key is folded in FNV-1a.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// What one accepted body adds to the counts.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Counted {
    /// One per element of `notifications`.
    pub(super) notifications: Vec<Notification>,
    /// Elements of `telemetry.entries`.
    pub(super) telemetry_entries: u64,
}

/// One element of `notifications`: its id's hash, None without one.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Notification {
    pub(super) id: Option<IdHash>,
}

impl Counted {
    /// Reads a body; the parse error if it is not JSON at all.
    pub(super) fn from_slice(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<Self>(body)
            .or_else(|_| serde_json::from_slice::<Value>(body).map(|v| Self::from_value(&v)))
    }

    /// The same counts from any JSON value: `notifications` if it is an array, each
    /// element's `id` if it is a string; `telemetry.entries` if it is an array.
    pub(super) fn from_value(body: &Value) -> Self {
        let notifications = body
            .get("notifications")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|n| Notification {
                id: n.get("id").and_then(Value::as_str).map(IdHash::of),
            })
            .collect();
        let telemetry_entries = body
            .pointer("/telemetry/entries")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as u64;
        Self {
            notifications,
            telemetry_entries,
        }
    }
}

/// Keys of the body that are read; the values of all others are skipped unparsed.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum BodyKey {
    Notifications,
    Telemetry,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum NotificationKey {
    Id,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum TelemetryKey {
    Entries,
    #[serde(other)]
    Other,
}

/// `telemetry`'s entry count.
struct Telemetry(u64);

// Hand-written visitors: each takes an object only (`visit_map`), and a repeated key
// overwrites the earlier value, as in `Value`.

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = Counted;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a delivery request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Counted, A::Error> {
                let mut counted = Counted::default();
                while let Some(key) = map.next_key()? {
                    match key {
                        BodyKey::Notifications => {
                            counted.notifications =
                                map.next_value::<Option<_>>()?.unwrap_or_default();
                        }
                        BodyKey::Telemetry => {
                            counted.telemetry_entries =
                                map.next_value::<Option<Telemetry>>()?.map_or(0, |t| t.0);
                        }
                        BodyKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(counted)
            }
        }
        deserializer.deserialize_map(BodyVisitor)
    }
}

impl<'de> Deserialize<'de> for Notification {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NotificationVisitor;
        impl<'de> Visitor<'de> for NotificationVisitor {
            type Value = Notification;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a notification object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notification, A::Error> {
                let mut notification = Notification::default();
                while let Some(key) = map.next_key()? {
                    match key {
                        // null: no id, as `Value::as_str` says.
                        NotificationKey::Id => notification.id = map.next_value()?,
                        NotificationKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(notification)
            }
        }
        deserializer.deserialize_map(NotificationVisitor)
    }
}

impl<'de> Deserialize<'de> for Telemetry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TelemetryVisitor;
        impl<'de> Visitor<'de> for TelemetryVisitor {
            type Value = Telemetry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a telemetry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Telemetry, A::Error> {
                let mut entries = 0;
                while let Some(key) = map.next_key()? {
                    match key {
                        TelemetryKey::Entries => {
                            // A Vec of a zero-sized type: counts, never allocates.
                            let seq: Option<Vec<IgnoredAny>> = map.next_value()?;
                            entries = seq.map_or(0, |s| s.len() as u64);
                        }
                        TelemetryKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Telemetry(entries))
            }
        }
        deserializer.deserialize_map(TelemetryVisitor)
    }
}
