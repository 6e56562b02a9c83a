//! Traffic allocation: which bucket (0..100, two decimals) a visitor falls into for an
//! activity, computed exactly as Target's edge and the SDKs compute it.

use std::io::Cursor;

use crate::model::VisitorId;

const TOTAL_BUCKETS: u32 = 10_000;
/// Appended to every allocation key by the SDKs ("campaign bucket salt").
const SALT: &str = "0";

/// The allocation, in percent with two decimals, of `visitor` in `activity_id`.
pub fn allocation(client: &str, activity_id: &str, visitor: &str) -> f64 {
    salted_allocation(client, activity_id, visitor, SALT)
}

fn salted_allocation(client: &str, activity_id: &str, visitor: &str, salt: &str) -> f64 {
    let key = format!("{client}.{activity_id}.{visitor}.{salt}");
    let bucket = hash_unencoded_chars(&key).unsigned_abs() % TOTAL_BUCKETS;
    // Rounded to two decimals as the SDKs do, so conditions compare equal values.
    let percent = f64::from(bucket) / f64::from(TOTAL_BUCKETS) * 100.0;
    (percent * 100.0).round() / 100.0
}

/// murmur3 x86_32 (seed 0) over the string's UTF-16 code units, as Java's Guava
/// `hashUnencodedChars` does on Target's edge. Hashing each unit as two little-endian
/// bytes is exactly that, so the well-kept `murmur3` crate does the work.
pub fn hash_unencoded_chars(value: &str) -> i32 {
    let bytes: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
    // Reading from an in-memory cursor cannot fail.
    let hash = murmur3::murmur3_32(&mut Cursor::new(bytes), 0).unwrap_or_default();
    hash as i32
}

/// The id allocation hashes: the ECID, else the tntId without its location suffix,
/// else the third-party id. `None` when the visitor has none of them.
pub fn allocation_visitor_id(id: Option<&VisitorId>) -> Option<String> {
    let id = id?;
    let non_empty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    non_empty(&id.marketing_cloud_visitor_id)
        .or_else(|| {
            non_empty(&id.tnt_id).map(|tnt| tnt.split('.').next().unwrap_or_default().to_string())
        })
        .or_else(|| non_empty(&id.third_party_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_sdk_hash() {
        // Values Target's edge and every SDK agree on.
        assert_eq!(
            hash_unencoded_chars("someClientId.123456.tntId123.salty"),
            -1846592194
        );
        assert_eq!(
            hash_unencoded_chars("targettesting.125880.4c038b35f1b1453d80a3e7da8208c617.campaign"),
            -683299703
        );
        assert_eq!(
            salted_allocation("someClientId", "123456", "ecid123", "salty"),
            29.06
        );
        assert_eq!(
            salted_allocation("someClientId", "123456", "tntId123", "salty"),
            21.94
        );
        assert_eq!(
            salted_allocation("someClientId", "123456", "thirtPartyId123", "salty"),
            73.15
        );
    }

    #[test]
    fn allocation_is_a_two_decimal_percentage() {
        for visitor in [
            "a",
            "b",
            "338e3c1e51f7416a8e1ccba4f81acea0",
            "ünïcödé",
            "😀",
        ] {
            let a = allocation("client", "125871", visitor);
            assert!((0.0..100.0).contains(&a), "{a}");
            assert_eq!((a * 100.0).round() / 100.0, a);
        }
    }

    #[test]
    fn visitor_id_prefers_ecid_then_tnt_then_third_party() {
        let mut id = VisitorId {
            tnt_id: Some("tnt.28_0".into()),
            third_party_id: Some("3p".into()),
            ..Default::default()
        };
        assert_eq!(allocation_visitor_id(Some(&id)).as_deref(), Some("tnt"));
        id.marketing_cloud_visitor_id = Some("ecid".into());
        assert_eq!(allocation_visitor_id(Some(&id)).as_deref(), Some("ecid"));
        id.marketing_cloud_visitor_id = None;
        id.tnt_id = Some(String::new());
        assert_eq!(allocation_visitor_id(Some(&id)).as_deref(), Some("3p"));
        assert_eq!(allocation_visitor_id(None), None);
    }
}
