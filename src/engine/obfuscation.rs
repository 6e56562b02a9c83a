//! Decoding of the obfuscated `rules.bin` decisioning artifact.
//!
//! Owns turning the bytes Target publishes as `rules.bin` back into the
//! artifact JSON, the same way Adobe's Node.js SDK does. The artifact loader
//! calls [`deobfuscate`] before parsing the rules.
//!
//! Layout: a 40-byte header, then the body. The header starts with an
//! 8-byte `<prefix>:<version>` field (Target writes `ATOD:001`) followed by a
//! 32-character key. The body is XORed byte by byte with the UTF-8 bytes of
//! `organization id + key`, repeated as often as needed.

use thiserror::Error;

/// Size of the header preceding the obfuscated body.
const HEADER_LEN: usize = 40;
/// Size of the `<prefix>:<version>` field at the start of the header.
const VERSION_FIELD_LEN: usize = 8;
/// The only obfuscation scheme version this decoder understands.
const SUPPORTED_VERSION: i64 = 1;

/// Why an obfuscated artifact could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ObfuscationError {
    /// Fewer bytes than the fixed-size header.
    #[error("obfuscated artifact is truncated: {0} bytes, but the header alone is 40 bytes")]
    TooShort(usize),
    /// The first 8 bytes are not a `<prefix>:<version>` field.
    #[error("obfuscated artifact has no valid header; is this really a rules.bin file?")]
    BadHeader,
    /// The header names an obfuscation version other than 1.
    #[error(
        "obfuscated artifact uses unsupported obfuscation version {0:?} (only version 1 is supported)"
    )]
    UnsupportedVersion(String),
    /// The body did not decode to JSON, which is what a wrong organization
    /// id (or a corrupted download) produces.
    #[error(
        "obfuscated artifact did not decode to JSON; check that the organization id matches the artifact's, or that the file is not corrupted"
    )]
    WrongKey,
}

/// Decodes an obfuscated artifact, returning the artifact's JSON text.
///
/// Bytes that are not valid UTF-8 after decoding are replaced with U+FFFD
/// and a leading byte-order mark is dropped, matching how the reference SDK
/// decodes the buffer to a string before parsing it.
pub fn deobfuscate(bytes: &[u8], organization_id: &str) -> Result<Vec<u8>, ObfuscationError> {
    if bytes.len() < HEADER_LEN {
        return Err(ObfuscationError::TooShort(bytes.len()));
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    let version = header_version(&header[..VERSION_FIELD_LEN])?;
    if js_parse_int(version) != Some(SUPPORTED_VERSION) {
        return Err(ObfuscationError::UnsupportedVersion(version.to_owned()));
    }

    let key_source = &header[VERSION_FIELD_LEN..];
    // The key takes part as text, so invalid bytes become U+FFFD first.
    let key = format!("{organization_id}{}", String::from_utf8_lossy(key_source));
    let key = key.as_bytes();
    let decoded: Vec<u8> = body
        .iter()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();

    let mut text = match String::from_utf8(decoded) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    };
    if text.starts_with('\u{FEFF}') {
        text.drain(..'\u{FEFF}'.len_utf8());
    }
    if serde_json::from_str::<serde_json::Value>(&text).is_err() {
        return Err(ObfuscationError::WrongKey);
    }
    Ok(text.into_bytes())
}

/// Extracts the version text from the `<prefix>:<version>` field. The
/// prefix's value is not checked (the reference SDK ignores it too), but the
/// field must be ASCII with a non-empty prefix, so that arbitrary files are
/// reported as such rather than as an odd version.
fn header_version(field: &[u8]) -> Result<&str, ObfuscationError> {
    if !field.is_ascii() {
        return Err(ObfuscationError::BadHeader);
    }
    let text = std::str::from_utf8(field).map_err(|_| ObfuscationError::BadHeader)?;
    let mut parts = text.split(':');
    let prefix = parts.next().unwrap_or_default();
    let version = parts.next().ok_or(ObfuscationError::BadHeader)?;
    if prefix.is_empty() {
        return Err(ObfuscationError::BadHeader);
    }
    Ok(version)
}

/// Base-10 `parseInt` as the reference applies it to the version text:
/// leading whitespace and a sign are allowed, trailing junk is ignored.
fn js_parse_int(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    // At most 7 digits fit in the 8-byte field, so this cannot overflow.
    let value: i64 = digits.parse().ok()?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::shared::REAL_ARTIFACT_ORG as ORG;

    fn obfuscate(header: &[u8; 8], key: &[u8; 32], org: &str, json: &str) -> Vec<u8> {
        let full_key: Vec<u8> = org.bytes().chain(key.iter().copied()).collect();
        let mut out = header.to_vec();
        out.extend_from_slice(key);
        out.extend(
            json.bytes()
                .zip(full_key.iter().cycle())
                .map(|(b, k)| b ^ k),
        );
        out
    }

    const KEY: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

    /// That it decodes to exactly rules.json is `engine::artifact`'s test.
    #[test]
    fn the_real_rules_bin_refuses_another_org_and_a_cut_file() {
        let bin = testkit::shared::file("real-artifact/rules.bin");
        let wrong = deobfuscate(&bin, "74F652E95F1B16FE0A495C92@InvalidOrg");
        assert_eq!(wrong, Err(ObfuscationError::WrongKey));
        assert_eq!(
            deobfuscate(&bin[..39], ORG),
            Err(ObfuscationError::TooShort(39))
        );
        assert_eq!(
            deobfuscate(&bin[..200], ORG),
            Err(ObfuscationError::WrongKey)
        );
    }

    #[test]
    fn synthetic_round_trip() {
        let json = r#"{"version":"1.0.0","rules":{}}"#;
        let bin = obfuscate(b"ATOD:001", KEY, "org@AdobeOrg", json);
        assert_eq!(deobfuscate(&bin, "org@AdobeOrg").unwrap(), json.as_bytes());
        // Any prefix is accepted, as is any text parseInt reads as 1.
        let bin = obfuscate(b"TAR:1xyz", KEY, "o", json);
        assert_eq!(deobfuscate(&bin, "o").unwrap(), json.as_bytes());
        // An empty body is not JSON.
        let bin = obfuscate(b"ATOD:001", KEY, "o", "");
        assert_eq!(deobfuscate(&bin, "o"), Err(ObfuscationError::WrongKey));
    }

    #[test]
    fn bad_headers() {
        let json = "{}";
        let cases: [(&[u8; 8], ObfuscationError); 5] = [
            (
                b"ATOD:002",
                ObfuscationError::UnsupportedVersion("002".into()),
            ),
            (
                b"TAR:2...",
                ObfuscationError::UnsupportedVersion("2...".into()),
            ),
            (
                b"ATOD:abc",
                ObfuscationError::UnsupportedVersion("abc".into()),
            ),
            (b"{\"versio", ObfuscationError::BadHeader),
            (b":0000001", ObfuscationError::BadHeader),
        ];
        for (header, expected) in cases {
            let bin = obfuscate(header, KEY, "o", json);
            assert_eq!(deobfuscate(&bin, "o"), Err(expected), "{header:?}");
        }
        let mut bin = obfuscate(b"ATOD:001", KEY, "o", json);
        bin[0] = 0xFF;
        assert_eq!(deobfuscate(&bin, "o"), Err(ObfuscationError::BadHeader));
        assert_eq!(deobfuscate(&[], "o"), Err(ObfuscationError::TooShort(0)));
    }

    #[test]
    fn messages_are_readable() {
        let msg = ObfuscationError::UnsupportedVersion("2".into()).to_string();
        assert!(msg.contains("version \"2\""), "{msg}");
        assert!(
            ObfuscationError::WrongKey
                .to_string()
                .contains("organization id")
        );
    }
}
