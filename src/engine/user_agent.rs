//! Browser and platform detection for the `user.*` rule context.
//!
//! Owns the mapping from a request's `userAgent` string and optional client
//! hints to `user.browserType`, `user.browserVersion` and `user.platform`,
//! mirroring what Adobe's Node.js SDK computes so that artifact rules
//! targeting browsers and platforms decide identically. The decisioning
//! context builder is the only intended caller.
//!
//! The JavaScript patterns are non-Unicode regexes (`\w`, `\d` and `/i` are
//! ASCII-only there), so the ports run in `(?-u)` mode. JavaScript's `.` and
//! `\s` do involve non-ASCII characters; those are spelled out as explicit
//! Unicode classes so matching stays identical for any input.

use std::sync::LazyLock;

use regex::Regex;

/// Name reported when no pattern recognises the browser or platform.
const UNKNOWN: &str = "unknown";

/// What JavaScript's `.` matches: anything except its four line terminators.
const JS_DOT: &str = r"(?u:[^\n\r\u{2028}\u{2029}])";

/// What JavaScript's `\s` matches (ECMAScript WhiteSpace + LineTerminator),
/// which differs from Rust's Unicode `\s` (no U+FEFF, extra U+0085).
const JS_SPACE: &str = r"(?u:[\t\n\x0B\x0C\r \u{A0}\u{1680}\u{2000}-\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}])";

/// Browser and platform attributes of the `user` rule context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserContext {
    /// Lowercased browser name (`chrome`, `mobile safari`, `ie`, ...), or
    /// `unknown`.
    pub browser_type: String,
    /// Major browser version, or -1 when it cannot be determined.
    pub browser_version: i64,
    /// Operating system as Target names it (`mac`, `windows`, `linux`,
    /// `iOS`, `Android`, ...), or `unknown`.
    pub platform: String,
}

/// The subset of the request's `context.clientHints` used for browser and
/// platform detection. `None` means the field was absent from the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientHintsView<'a> {
    /// `Sec-CH-UA-Platform`, e.g. `macOS`; wins over the user agent when set.
    pub platform: Option<&'a str>,
    /// `Sec-CH-UA-Full-Version-List`.
    pub browser_ua_with_full_version: Option<&'a str>,
    /// `Sec-CH-UA`.
    pub browser_ua_with_major_version: Option<&'a str>,
}

/// One entry of an ordered detection table; the first matching entry wins.
struct Matcher {
    name: &'static str,
    regex: Regex,
    /// Capture group holding the version text (0 when the entry has none).
    version_group: usize,
    /// Version used when the version group did not take part in the match.
    default_version: Option<&'static str>,
}

/// Browser name and raw major version as found by one detection table.
struct Detected {
    name: &'static str,
    version: Option<i64>,
}

fn matcher(
    name: &'static str,
    pattern: &str,
    version_group: usize,
    default_version: Option<&'static str>,
) -> Matcher {
    // The patterns are constants of this file; failing to compile one is a
    // programming error that every test run would reveal immediately.
    let regex = Regex::new(pattern).expect("built-in user agent pattern must compile");
    Matcher {
        name,
        regex,
        version_group,
        default_version,
    }
}

/// Browsers recognised from the `User-Agent` string, in priority order.
static UA_BROWSERS: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    let mobile_safari = format!(r"(?i-u)version/([\w.]+){JS_DOT}+?mobile/\w+{JS_SPACE}(safari)");
    let safari = format!(r"(?i-u)version/([\w.]+){JS_DOT}+?(mobile{JS_SPACE}?safari|safari)");
    let ie_trident =
        format!(r"(?i-u)(trident){JS_DOT}+rv(?::|{JS_SPACE})([\w.]+){JS_DOT}+like{JS_SPACE}gecko");
    vec![
        matcher(
            "Edge",
            r"(?i-u)(edge|edgios|edga|edg)/((\d+)?[\w.]+)",
            2,
            None,
        ),
        matcher("Mobile Safari", &mobile_safari, 1, None),
        matcher("Safari", &safari, 1, None),
        matcher("Chrome", r"(?i-u)(chrome)/v?([\w.]+)", 2, None),
        matcher("Firefox", r"(?i-u)(firefox)/([\w.\-]+)$", 2, None),
        matcher(
            "IE",
            &format!(r"(?i-u)(?:ms|\()(ie){JS_SPACE}([\w.]+)"),
            2,
            None,
        ),
        matcher("IE", &ie_trident, 2, Some("11")),
    ]
});

/// Browsers recognised from a `Sec-CH-UA` style brand list, in priority order.
static HINT_BROWSERS: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    vec![
        matcher("Chrome", r#"(?i-u)Chrome";v="([0-9.]+)""#, 1, None),
        matcher("Edge", r#"(?i-u)Edge";v="([0-9.]+)""#, 1, None),
        matcher("Safari", r#"(?i-u)Safari";v="([0-9.]+)""#, 1, None),
        matcher("Firefox", r#"(?i-u)Firefox";v="([0-9.]+)""#, 1, None),
    ]
});

/// Operating systems recognised from the `User-Agent` string, in priority
/// order. These patterns are case-sensitive in the reference too.
static UA_PLATFORMS: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    vec![
        matcher("iOS", r"(?-u)iPhone|iPad|iPod", 0, None),
        matcher("Android", r"(?-u)Android [0-9.]+;", 0, None),
        matcher("Linux", r"(?-u) Linux ", 0, None),
        matcher("Unix", r"(?-u)FreeBSD|OpenBSD|CrOS", 0, None),
        matcher("Windows", r"(?-u)[( ]Windows ", 0, None),
        matcher("Mac OS", r"(?-u)Macintosh;", 0, None),
    ]
});

/// Computes the `user` rule context from a user agent and optional client
/// hints, the way the Node.js SDK does.
///
/// Client-hint brands override the user agent's browser name (when they
/// recognise one) and version (when it is a non-negative number); a client
/// hint platform, when present, replaces user agent detection entirely.
pub fn user_context(user_agent: &str, client_hints: Option<&ClientHintsView>) -> UserContext {
    let hints = client_hints.copied().unwrap_or_default();

    // Mirrors `full || major`: an empty full-version list falls back too.
    let brand_list = hints
        .browser_ua_with_full_version
        .filter(|s| !s.is_empty())
        .or(hints.browser_ua_with_major_version)
        .unwrap_or("");

    let mut name = UNKNOWN;
    let mut version = -1;
    for found in [
        detect(&UA_BROWSERS, user_agent),
        detect(&HINT_BROWSERS, brand_list),
    ] {
        if found.name != UNKNOWN {
            name = found.name;
        }
        // A missing, unparsable or negative version never replaces a
        // previous one, which is also what keeps the result at -1 or above.
        if let Some(v) = found.version.filter(|v| *v >= 0) {
            version = v;
        }
    }

    let platform = match hints.platform {
        Some(platform) => platform,
        None => detect(&UA_PLATFORMS, user_agent).name,
    };

    UserContext {
        browser_type: name.to_lowercase(),
        browser_version: version,
        platform: target_platform(platform).to_owned(),
    }
}

/// Runs an ordered detection table against `text`.
fn detect(table: &[Matcher], text: &str) -> Detected {
    // `is_match` first: it needs no capture slots, which `captures` allocates on every
    // call (it showed in profiles, once per pattern that did not match).
    for m in table.iter().filter(|m| m.regex.is_match(text)) {
        // Group 0 is the whole match; tables without versions use it as "none".
        let captured = match m.version_group {
            0 => None,
            group => {
                let Some(caps) = m.regex.captures(text) else {
                    continue;
                };
                caps.get(group).map(|c| c.as_str())
            }
        };
        let raw = captured
            .or(m.default_version)
            // An empty capture is falsy in the reference, hence the fallback.
            .filter(|s| !s.is_empty())
            .unwrap_or("-1");
        let major = raw.split('.').next().unwrap_or("");
        return Detected {
            name: m.name,
            version: js_parse_int(major),
        };
    }
    Detected {
        name: UNKNOWN,
        version: Some(-1),
    }
}

/// Translates browser-reported platform names to the values Target rules
/// compare against; anything else passes through unchanged.
fn target_platform(platform: &str) -> &str {
    match platform {
        "Windows" => "windows",
        "Macintosh" | "Mac OS" | "macOS" => "mac",
        "Linux" => "linux",
        other => other,
    }
}

/// Base-10 `parseInt`: optional leading whitespace and sign, then the longest
/// run of ASCII digits. `None` stands for `NaN`. Values beyond `i64` saturate
/// (JavaScript would switch to an imprecise float; only ordering matters to
/// rules, and saturation preserves it).
fn js_parse_int(text: &str) -> Option<i64> {
    let trimmed = text.trim_start_matches(is_js_whitespace);
    let (negative, rest) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit);
    let mut value: i64 = 0;
    let mut any = false;
    for d in digits {
        any = true;
        let d = i64::from(d - b'0');
        value = value.saturating_mul(10).saturating_add(d);
    }
    match (any, negative) {
        (false, _) => None,
        (true, true) => Some(-value),
        (true, false) => Some(value),
    }
}

/// ECMAScript WhiteSpace and LineTerminator code points.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_80_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.163 Safari/537.36";
    const FIREFOX_73_MAC: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:73.0) Gecko/20100101 Firefox/73.0";
    const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.5 Safari/605.1.15";
    const IE11_TRIDENT: &str = "Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko";
    const IE7_COMPAT: &str = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/8.0; .NET4.0C; .NET4.0E)";
    const EDGE_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.116 Safari/537.36 Edg/83.0.478.61";
    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 13_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Mobile/15E148 Safari/604.1";
    const ANDROID_OLD: &str = "Mozilla/5.0 (Linux; U; Android 4.0.2; en-us; Galaxy Nexus Build/ICL53F) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30";
    const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/93.0.0.0 Mobile Safari/537.36";
    const IPAD_UC: &str = "Mozilla/5.0 (iPad; U; CPU OS 11_2 like Mac OS X; zh-CN; iPad5,3) AppleWebKit/534.46 (KHTML, like Gecko) UCBrowser/3.0.1.776 U3/ Mobile/10A403 Safari/7543.48.3";
    const WINDOWS_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/93.0.0.0 Safari/537.36";
    const LINUX_FIREFOX: &str =
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0";
    const LINUX_NO_SPACE: &str = "Mozilla/5.0 (X11; Linux; rv:1.0) Gecko/20100101 Firefox";
    const CROS: &str = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.0.0 Safari/537.36";

    fn ctx(ua: &str) -> (String, i64, String) {
        let c = user_context(ua, None);
        (c.browser_type, c.browser_version, c.platform)
    }

    #[test]
    fn user_agent_table() {
        let table: &[(&str, &str, i64, &str)] = &[
            (CHROME_80_MAC, "chrome", 80, "mac"),
            (FIREFOX_73_MAC, "firefox", 73, "mac"),
            (SAFARI_MAC, "safari", 13, "mac"),
            (IE11_TRIDENT, "ie", 11, "windows"),
            (IE7_COMPAT, "ie", 7, "windows"),
            (EDGE_WIN, "edge", 83, "windows"),
            (IPHONE, "mobile safari", 13, "iOS"),
            // "Mobile Safari/" lacks the "Mobile/<build>" token, so only the
            // plain Safari pattern matches.
            (ANDROID_OLD, "safari", 4, "Android"),
            (ANDROID_CHROME, "chrome", 93, "Android"),
            (IPAD_UC, "unknown", -1, "iOS"),
            (WINDOWS_CHROME, "chrome", 93, "windows"),
            (LINUX_FIREFOX, "firefox", 115, "linux"),
            // "Linux;" is not " Linux " and nothing else matches.
            (LINUX_NO_SPACE, "unknown", -1, "unknown"),
            (CROS, "chrome", 110, "Unix"),
            ("", "unknown", -1, "unknown"),
            ("oh hai", "unknown", -1, "unknown"),
        ];
        for (ua, name, version, platform) in table {
            assert_eq!(
                ctx(ua),
                (name.to_string(), *version, platform.to_string()),
                "{ua}"
            );
        }
    }

    #[test]
    fn version_parsing_follows_parse_int() {
        assert_eq!(ctx("Chrome/80abc.1").1, 80);
        assert_eq!(ctx("Chrome/abc.1").1, -1);
        assert_eq!(ctx("Chrome/.1").1, -1);
        assert_eq!(ctx("CHROME/v12.0").1, 12);
        // Firefox versions may carry a sign; negative ones count as unknown.
        assert_eq!(
            ctx("Firefox/-5.0"),
            ("firefox".into(), -1, "unknown".into())
        );
        // Firefox must end the string.
        assert_eq!(ctx("Firefox/73.0 extra").0, "unknown");
        assert_eq!(ctx("Chrome/99999999999999999999999").1, i64::MAX);
    }

    #[test]
    fn js_case_folding_is_ascii_only() {
        // U+212A KELVIN SIGN folds to "k" in Unicode but not in JS /i.
        assert_eq!(ctx("Mozilla \u{212A}Chrome/1").0, "chrome");
        assert_eq!(ctx("Edge/5").0, "edge");
        assert_eq!(ctx("edg\u{17F}/5").0, "unknown");
    }

    #[test]
    fn js_dot_stops_at_line_terminators() {
        let ua = "Version/13.0\u{2028} Safari/1";
        assert_eq!(ctx(ua).0, "unknown");
        assert_eq!(ctx("Version/13.0 \u{85} Safari/1").0, "safari");
    }

    #[test]
    fn client_hints_override_user_agent() {
        let major = r#"" Not A;Brand";v="99", "Chromium";v="99", "Google Chrome";v="99""#;
        let full = r#"" Not A;Brand";v="99.0.0.0", "Chromium";v="99.0.1150.46", "Microsoft Edge";v="102.0.1150.46""#;
        let hints = ClientHintsView {
            platform: None,
            browser_ua_with_full_version: None,
            browser_ua_with_major_version: Some(major),
        };
        let c = user_context(FIREFOX_73_MAC, Some(&hints));
        assert_eq!((c.browser_type.as_str(), c.browser_version), ("chrome", 99));
        assert_eq!(c.platform, "mac");

        // The full-version list wins over the major one.
        let hints = ClientHintsView {
            browser_ua_with_full_version: Some(full),
            ..hints
        };
        let c = user_context("", Some(&hints));
        assert_eq!((c.browser_type.as_str(), c.browser_version), ("edge", 102));

        // An empty full-version list falls back to the major one.
        let hints = ClientHintsView {
            browser_ua_with_full_version: Some(""),
            ..hints
        };
        assert_eq!(user_context("", Some(&hints)).browser_type, "chrome");

        // Unrecognised brands keep what the user agent said.
        let hints = ClientHintsView {
            browser_ua_with_full_version: Some("oh hai"),
            ..hints
        };
        let c = user_context(SAFARI_MAC, Some(&hints));
        assert_eq!((c.browser_type.as_str(), c.browser_version), ("safari", 13));

        // A recognised brand without a usable version keeps the UA version.
        let hints = ClientHintsView {
            browser_ua_with_full_version: Some(r#""Firefox";v=".1""#),
            ..hints
        };
        let c = user_context(CHROME_80_MAC, Some(&hints));
        assert_eq!(
            (c.browser_type.as_str(), c.browser_version),
            ("firefox", 80)
        );
    }

    #[test]
    fn client_hint_platform_wins_and_is_mapped() {
        let with = |platform: &'static str| ClientHintsView {
            platform: Some(platform),
            ..ClientHintsView::default()
        };
        let table = [
            ("macOS", "mac"),
            ("Macintosh", "mac"),
            ("Mac OS", "mac"),
            ("Windows", "windows"),
            ("Linux", "linux"),
            ("Android", "Android"),
            ("Chrome OS", "Chrome OS"),
            ("", ""),
        ];
        for (given, expected) in table {
            assert_eq!(
                user_context(EDGE_WIN, Some(&with(given))).platform,
                expected
            );
        }
        let none = ClientHintsView::default();
        assert_eq!(user_context(EDGE_WIN, Some(&none)).platform, "windows");
    }

    #[test]
    fn parse_int_edge_cases() {
        assert_eq!(js_parse_int("  42x"), Some(42));
        assert_eq!(js_parse_int("+7"), Some(7));
        assert_eq!(js_parse_int("-0"), Some(0));
        assert_eq!(js_parse_int("-"), None);
        assert_eq!(js_parse_int(""), None);
        assert_eq!(js_parse_int("\u{FEFF}3"), Some(3));
    }
}
