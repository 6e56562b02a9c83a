//! The `mbox` cookie (session id and device id, each with an expiry) and the
//! `mboxEdgeCluster` location-hint cookie, as the SDKs read and write them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;

/// Name of the Target cookie.
pub const TARGET_COOKIE: &str = "mbox";
/// Name of the location-hint cookie.
pub const LOCATION_HINT_COOKIE: &str = "mboxEdgeCluster";
const SESSION_ID: &str = "session";
const DEVICE_ID: &str = "PC";
const SESSION_MAX_AGE_S: i64 = 1860;
const DEVICE_ID_MAX_AGE_S: i64 = 63_244_800;
const LOCATION_HINT_MAX_AGE_S: i64 = 1860;

/// What JavaScript's `encodeURIComponent` leaves alone.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A cookie for the caller to set on the visitor's browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// Seconds.
    pub max_age: i64,
}

/// The unexpired parts of an `mbox` cookie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetCookie {
    pub session_id: Option<String>,
    pub device_id: Option<String>,
}

/// Parses `session#<id>#<expiry>|PC#<tntId>#<expiry>`, dropping parts that are
/// malformed or expired at `now_s` (epoch seconds).
pub fn parse_target_cookie(value: Option<&str>, now_s: i64) -> TargetCookie {
    let mut cookie = TargetCookie::default();
    for part in value.unwrap_or_default().split('|') {
        let fields: Vec<&str> = part.split('#').collect();
        let [name, value, expires, ..] = fields.as_slice() else {
            continue;
        };
        let Some(expires) = js_parse_int(expires) else {
            continue;
        };
        if now_s > expires {
            continue;
        }
        let value = decode(value).filter(|v| !v.is_empty());
        match decode(name).as_deref() {
            Some(SESSION_ID) => cookie.session_id = value,
            Some(DEVICE_ID) => cookie.device_id = value,
            _ => {}
        }
    }
    cookie
}

/// The new `mbox` cookie: the session, and the device id when there is one.
pub fn target_cookie(session_id: &str, tnt_id: Option<&str>, now_ms: i64) -> Cookie {
    let now_s = ceil_div(now_ms, 1000);
    let mut parts = vec![(SESSION_ID, session_id, now_s + SESSION_MAX_AGE_S)];
    if let Some(tnt) = tnt_id.filter(|t| !t.is_empty()) {
        parts.push((DEVICE_ID, tnt, now_s + DEVICE_ID_MAX_AGE_S));
    }
    let max_expires = parts.iter().map(|p| p.2).max().unwrap_or(now_s);
    let value = parts
        .iter()
        .map(|(name, value, expires)| format!("{}#{}#{expires}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("|");
    Cookie {
        name: TARGET_COOKIE.into(),
        value,
        max_age: ceil_div((max_expires * 1000 - now_ms).abs(), 1000),
    }
}

/// The location-hint cookie for `cluster`, if there is one.
pub fn location_hint_cookie(cluster: Option<&str>) -> Option<Cookie> {
    let cluster = cluster.filter(|c| !c.is_empty())?;
    Some(Cookie {
        name: LOCATION_HINT_COOKIE.into(),
        value: cluster.into(),
        max_age: LOCATION_HINT_MAX_AGE_S,
    })
}

/// The edge cluster encoded in a tntId: `<id>.<cluster>_<n>`.
pub fn cluster_from_device_id(device_id: Option<&str>) -> Option<String> {
    let (_, node) = device_id?.split_once('.')?;
    if node.contains('.') {
        return None;
    }
    let (cluster, rest) = node.split_once('_')?;
    (!cluster.is_empty() && !rest.contains('_')).then(|| cluster.to_string())
}

/// The edge cluster named by an edge host: `mboxedge<cluster>.tt.omtrdc.net`.
pub fn cluster_from_edge_host(host: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = host?.split('.').collect();
    if parts.len() != 4 || parts[0].is_empty() {
        return None;
    }
    Some(parts[0].replace("mboxedge", "")).filter(|c| !c.is_empty())
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// JavaScript's `parseInt(s, 10)`: leading whitespace, a sign, then digits.
fn js_parse_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_cookie_reads_back() {
        let now_ms = 1_600_000_000_000;
        let cookie = target_cookie("sess 1", Some("abc.28_0"), now_ms);
        assert_eq!(cookie.name, "mbox");
        assert_eq!(cookie.max_age, DEVICE_ID_MAX_AGE_S);
        assert!(
            cookie.value.starts_with("session#sess%201#"),
            "{}",
            cookie.value
        );
        let parsed = parse_target_cookie(Some(&cookie.value), now_ms / 1000 + 1);
        assert_eq!(parsed.session_id.as_deref(), Some("sess 1"));
        assert_eq!(parsed.device_id.as_deref(), Some("abc.28_0"));
    }

    #[test]
    fn expired_and_malformed_parts_are_dropped() {
        let parsed = parse_target_cookie(Some("session#s#100|PC#d#999|junk|PC#x#notanumber"), 500);
        assert_eq!(
            parsed,
            TargetCookie {
                session_id: None,
                device_id: Some("d".into())
            }
        );
        assert_eq!(parse_target_cookie(None, 0), TargetCookie::default());
        assert_eq!(
            parse_target_cookie(Some("%E0%A4%A#x#1|||##"), 0),
            TargetCookie::default()
        );
    }

    #[test]
    fn clusters_come_from_device_ids_and_edge_hosts() {
        assert_eq!(
            cluster_from_device_id(Some("338e3c1e51f7416a8e1ccba4f81acea0.28_0")).as_deref(),
            Some("28")
        );
        assert_eq!(cluster_from_device_id(Some("nocluster")), None);
        assert_eq!(cluster_from_device_id(Some("a._0")), None);
        assert_eq!(
            cluster_from_edge_host(Some("mboxedge35.tt.omtrdc.net")).as_deref(),
            Some("35")
        );
        assert_eq!(
            cluster_from_edge_host(Some("client.tt.omtrdc.net")).as_deref(),
            Some("client")
        );
        assert_eq!(
            location_hint_cookie(Some("28")).map(|c| c.max_age),
            Some(1860)
        );
        assert_eq!(location_hint_cookie(Some("")), None);
    }
}
