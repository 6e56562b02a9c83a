//! Page and referring URL attributes for the `page.*` / `referring.*` rule
//! context.
//!
//! Owns turning `context.address.url` / `referringUrl` into the fourteen
//! attributes artifact rules test (`url`, `path`, `query`, `fragment`,
//! `subdomain`, `domain`, `topLevelDomain` and their `_lc` twins). The
//! decisioning context builder is the only intended caller.
//!
//! Results must match Adobe's Node.js SDK, which splits URLs with the loose
//! mode of the `parse-uri` npm package and domains with the `psl` npm
//! package. Both have quirks a standards-based parser would "fix" (a path
//! containing `@` becomes user info, a bare `host:8080` is a scheme, hosts
//! with `_` have no public suffix), so this module replays their decisions
//! rather than using a WHATWG URL parser. The SDK bundles parse-uri 1.0.7
//! and psl 1.9.0; their algorithms are replayed here, while the public
//! suffix list itself comes from the (newer) `psl` crate.

use serde_json::{Map, Value};

/// URL attributes as exposed to rules under `page` or `referring`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlContext {
    /// The URL exactly as given.
    pub url: String,
    /// Path, including the leading `/` when there is one.
    pub path: String,
    /// Query string without the leading `?`.
    pub query: String,
    /// Fragment without the leading `#`.
    pub fragment: String,
    /// Labels left of the registrable domain, minus a leading `www` label.
    pub subdomain: String,
    /// Registrable domain (lowercased), or the whole host when it has no
    /// listed public suffix.
    pub domain: String,
    /// Public suffix, or empty when the host has none.
    pub top_level_domain: String,
}

impl UrlContext {
    /// The seven attributes by rule-context name.
    pub fn fields(&self) -> [(&'static str, &str); 7] {
        [
            ("url", &self.url),
            ("path", &self.path),
            ("query", &self.query),
            ("fragment", &self.fragment),
            ("subdomain", &self.subdomain),
            ("domain", &self.domain),
            ("topLevelDomain", &self.top_level_domain),
        ]
    }

    /// The names of their lower-cased copies, in the same order.
    pub const FIELDS_LC: [&'static str; 7] = [
        "url_lc",
        "path_lc",
        "query_lc",
        "fragment_lc",
        "subdomain_lc",
        "domain_lc",
        "topLevelDomain_lc",
    ];

    /// Rule-context JSON: the seven attributes, then each again with an
    /// `_lc` suffix holding its lowercased value, in that key order.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (key, value) in self.fields() {
            map.insert(key.to_owned(), Value::from(value));
        }
        for (key, (_, value)) in Self::FIELDS_LC.into_iter().zip(self.fields()) {
            map.insert(key.to_owned(), Value::String(value.to_lowercase()));
        }
        map
    }
}

/// Splits a page or referring URL into rule attributes. Never fails: odd
/// input yields empty or partial attributes, as in the reference SDK.
pub fn url_context(url: &str) -> UrlContext {
    let parts = parse_uri(url);
    let domain = split_domain(parts.host);
    UrlContext {
        url: url.to_owned(),
        path: parts.path.to_owned(),
        query: parts.query.to_owned(),
        fragment: parts.anchor.to_owned(),
        subdomain: domain.subdomain,
        domain: domain.domain,
        top_level_domain: domain.top_level_domain,
    }
}

// ---------------------------------------------------------------------------
// URI splitting (parse-uri 1.0.x, loose mode)
// ---------------------------------------------------------------------------

/// The pieces of a URI the rule context needs, borrowed from the input.
#[derive(Debug, Default, PartialEq, Eq)]
struct UriParts<'a> {
    host: &'a str,
    path: &'a str,
    query: &'a str,
    anchor: &'a str,
}

/// Replays parse-uri's loose regular expression. That expression always
/// matches, and every component after the scheme may match empty, so taking
/// each component greedily in order yields the same match a backtracking
/// engine picks. All delimiters are ASCII, so byte offsets found here are
/// always char boundaries.
fn parse_uri(s: &str) -> UriParts<'_> {
    let b = s.as_bytes();
    let mut pos = scheme_end(b);
    if b[pos..].starts_with(b"//") {
        pos += 2;
    }
    pos = user_info_end(b, pos);

    let host_end = find_from(b, pos, b":/?#").unwrap_or(b.len());
    let host = &s[pos..host_end];
    pos = host_end;
    if b.get(pos) == Some(&b':') {
        pos += 1;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
    }

    let path_start = pos;
    if b.get(pos) == Some(&b'/') {
        pos = directory_end(s, pos);
    }
    pos = find_from(b, pos, b"?#/").unwrap_or(b.len());
    let path = &s[path_start..pos];

    let mut query = "";
    if b.get(pos) == Some(&b'?') {
        let end = find_from(b, pos + 1, b"#").unwrap_or(b.len());
        query = &s[pos + 1..end];
        pos = end;
    }
    let mut anchor = "";
    if b.get(pos) == Some(&b'#') {
        let rest = &s[pos + 1..];
        // JavaScript's `.` stops at any of its line terminators.
        let end = rest
            .find(['\n', '\r', '\u{2028}', '\u{2029}'])
            .unwrap_or(rest.len());
        anchor = &rest[..end];
    }
    UriParts {
        host,
        path,
        query,
        anchor,
    }
}

/// Index of the first byte at or after `from` that is one of `set`.
fn find_from(b: &[u8], from: usize, set: &[u8]) -> Option<usize> {
    let tail = b.get(from..)?;
    tail.iter().position(|c| set.contains(c)).map(|i| from + i)
}

/// Where the scheme (`name:`) ends, or 0 when there is none. A name may not
/// contain `:/?#.`; input shaped like `user:pass@...` is never a scheme.
fn scheme_end(b: &[u8]) -> usize {
    let credentials_first = match find_from(b, 0, b":@") {
        Some(colon) if colon > 0 && b[colon] == b':' => {
            find_from(b, colon + 1, b":@/").is_some_and(|i| b[i] == b'@')
        }
        _ => false,
    };
    if credentials_first {
        return 0;
    }
    match find_from(b, 0, b":/?#.") {
        Some(k) if k > 0 && b[k] == b':' => k + 1,
        _ => 0,
    }
}

/// Skips `user@` or `user:password@` at `pos`. Neither part may contain `:`
/// or `@`, but `/` is allowed, so `host/a@b` treats `host/a` as the user.
fn user_info_end(b: &[u8], pos: usize) -> usize {
    match find_from(b, pos, b":@") {
        Some(at) if b[at] == b'@' => at + 1,
        Some(colon) => match find_from(b, colon + 1, b":@") {
            Some(at) if b[at] == b'@' => at + 1,
            _ => pos,
        },
        None => pos,
    }
}

/// End of the "directory" part of a path starting with `/` at `start`: it
/// runs until `?`/`#`/end, or up to (and including) the `/` before a final
/// segment that looks like a file name with an extension.
fn directory_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let mut end = b.len();
    for (i, c) in s[start..].char_indices() {
        let at = start + i;
        if c == '?' || c == '#' || file_with_extension_at(b, at + c.len_utf8()) {
            end = at;
            break;
        }
    }
    if b.get(end) == Some(&b'/') {
        end += 1;
    }
    end
}

/// Whether the text at `pos` is a last path segment (it ends at `?`, `#` or
/// the end of input) containing a `.` followed by at least one character.
fn file_with_extension_at(b: &[u8], pos: usize) -> bool {
    let segment_end = find_from(b, pos, b"?#/").unwrap_or(b.len());
    if b.get(segment_end) == Some(&b'/') {
        return false;
    }
    let segment = b.get(pos..segment_end).unwrap_or_default();
    segment
        .iter()
        .rposition(|c| *c == b'.')
        .is_some_and(|dot| dot + 1 < segment.len())
}

// ---------------------------------------------------------------------------
// Domain splitting (npm psl + the SDK's `www` trimming)
// ---------------------------------------------------------------------------

/// Domain attributes of a host.
#[derive(Debug, PartialEq, Eq)]
struct DomainParts {
    subdomain: String,
    domain: String,
    top_level_domain: String,
}

/// Splits a host the way the Node SDK's psl-based splitter does: hosts the
/// public suffix list cannot place keep their original spelling as `domain`;
/// others come back lowercased, with a leading `www` (and whatever single
/// character follows it) cut from the subdomain.
fn split_domain(host: &str) -> DomainParts {
    let Some(parsed) = parse_listed(host) else {
        return DomainParts {
            subdomain: String::new(),
            domain: host.to_owned(),
            top_level_domain: String::new(),
        };
    };
    // The reference drops "www" plus the following character, whatever it
    // is: "www.shop" becomes "shop", "www2.shop" ".shop", "wwwx" "".
    let subdomain = match parsed.subdomain.strip_prefix("www") {
        Some(rest) => {
            let mut chars = rest.chars();
            chars.next();
            chars.as_str().to_owned()
        }
        None => parsed.subdomain,
    };
    DomainParts {
        subdomain,
        domain: parsed.domain,
        top_level_domain: parsed.tld,
    }
}

/// A host placed under a listed public suffix.
struct Listed {
    subdomain: String,
    domain: String,
    tld: String,
}

/// Replays npm psl's `parse` for hosts its `isValid` accepts (valid labels,
/// a listed suffix, and at least one label left of it); `None` otherwise.
fn parse_listed(host: &str) -> Option<Listed> {
    let mut lower = host.to_lowercase();
    if lower.ends_with('.') {
        lower.pop();
    }
    // npm psl validates and looks up the punycode form but splits the
    // original text on '.', so alternative full stops would misalign the
    // two; such hosts are treated as unlisted.
    if lower.contains(['@', '\u{3002}', '\u{FF0E}', '\u{FF61}']) {
        return None;
    }
    let ascii = to_ascii(&lower)?;
    if !is_valid_hostname(&ascii) || ascii.rsplit('.').next() == Some("local") {
        return None;
    }
    let suffix = psl::suffix(ascii.as_bytes()).filter(|s| s.is_known())?;
    let suffix_labels = if SHADOWED_BY_PARENT.contains(&suffix.as_bytes()) {
        1
    } else {
        suffix.as_bytes().split(|c| *c == b'.').count()
    };
    if is_wildcard_base(&ascii) {
        return None;
    }

    let labels: Vec<&str> = lower.split('.').collect();
    let ascii_labels: Vec<&str> = ascii.split('.').collect();
    let sld_index = labels.len().checked_sub(suffix_labels + 1)?;
    let tld_labels = labels.get(sld_index + 1..)?;
    let tld_ascii = ascii_labels.get(sld_index + 1..)?;

    // Labels taken from a rule are spelled as in the list (Unicode) even for
    // punycode input; a label matched by a wildcard keeps the input spelling.
    let from_wildcard = tld_ascii.len() > 1 && is_wildcard_base(&tld_ascii[1..].join("."));
    let tld = tld_ascii
        .iter()
        .zip(tld_labels)
        .enumerate()
        .map(|(i, (a, u))| match a.strip_prefix("xn--") {
            Some(encoded) if i > 0 || !from_wildcard => {
                punycode_decode(encoded).unwrap_or_else(|| (*u).to_owned())
            }
            _ => (*u).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(".");
    let mut domain = format!("{}.{tld}", labels.get(sld_index)?);
    let mut subdomain = labels[..sld_index].join(".");
    if lower.contains("xn--") {
        domain = to_ascii(&domain).unwrap_or(domain);
        subdomain = to_ascii(&subdomain).unwrap_or(subdomain);
    }
    Some(Listed {
        subdomain,
        domain,
        tld,
    })
}

/// Suffixes that npm psl 1.9.0 (the version bundled in the Node SDK) never
/// applies: it takes the *last* matching rule in list order rather than the
/// longest, and its list has these entries before their parent TLD.
const SHADOWED_BY_PARENT: [&[u8]; 6] = [
    b"com.fm", b"edu.fm", b"net.fm", b"org.fm", b"edu.gd", b"gov.gd",
];

/// Whether the list has a wildcard rule `*.<host>`. npm psl then treats the
/// host itself as a bare public suffix with no registrable domain, whereas
/// the standard algorithm (and the `psl` crate) falls back to a shorter rule.
fn is_wildcard_base(ascii: &str) -> bool {
    // Labels with "--" in positions 3-4 are reserved, so no list entry can
    // name this probe explicitly; only a wildcard can cover it.
    let probe = format!("zz--probe.{ascii}");
    psl::suffix(probe.as_bytes()).is_some_and(|s| s.is_known() && s.as_bytes().len() == probe.len())
}

/// npm psl 1.9.0's label rules: 1..=255 characters overall, labels of
/// 1..=63 characters from `[a-z0-9-]` that neither start nor end with `-`.
/// (psl 1.14 started accepting `_`; the SDK bundles 1.9.0.)
fn is_valid_hostname(ascii: &str) -> bool {
    if ascii.is_empty() || ascii.len() > 255 {
        return false;
    }
    ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    })
}

/// Converts each non-ASCII label to `xn--` form (RFC 3492 Punycode, through `idna`:
/// npm psl works on the ASCII form). `None` on arithmetic overflow, which only
/// absurdly long labels can cause (and those are invalid hostnames anyway).
fn to_ascii(domain: &str) -> Option<String> {
    let labels: Option<Vec<String>> = domain
        .split('.')
        .map(|label| {
            if label.is_ascii() {
                Some(label.to_owned())
            } else {
                punycode_encode(label).map(|p| format!("xn--{p}"))
            }
        })
        .collect();
    Some(labels?.join("."))
}

/// One label's Punycode, without the `xn--` prefix.
fn punycode_encode(label: &str) -> Option<String> {
    idna::punycode::encode_str(label)
}

/// One label from Punycode (without the `xn--` prefix); `None` if it is not Punycode.
fn punycode_decode(encoded: &str) -> Option<String> {
    idna::punycode::decode_to_string(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(url: &str) -> [String; 7] {
        let c = url_context(url);
        [
            c.url,
            c.path,
            c.query,
            c.fragment,
            c.subdomain,
            c.domain,
            c.top_level_domain,
        ]
    }

    /// (url, path, query, fragment, subdomain, domain, topLevelDomain), each
    /// row checked against the Node SDK (parse-uri 1.0.7 + psl).
    #[rustfmt::skip]
    const TABLE: &[[&str; 7]] = &[
        // TEST_SUITE_TRACE / TEST_SUITE_ADDRESS ground truth.
        ["http://local-target-test/", "/", "", "", "", "local-target-test", ""],
        ["", "", "", "", "", "", ""],
        ["http://local-target-test:8080/home?bar=true#hello", "/home", "bar=true", "hello", "", "local-target-test", ""],
        ["http://local-target-test", "", "", "", "", "local-target-test", ""],
        ["http://adobe.com", "", "", "", "", "adobe.com", "com"],
        ["https://pied.piper.decentralized.test.hooli.com/?implementation=psl", "/", "implementation=psl", "", "pied.piper.decentralized.test", "hooli.com", "com"],
        ["https://test.wayne-enterprises.us-east-1.elasticbeanstalk.com", "", "", "", "test", "wayne-enterprises.us-east-1.elasticbeanstalk.com", "us-east-1.elasticbeanstalk.com"],
        // Node SDK contextProvider tests.
        ["https://www.town.ide.kyoto.jp:8080/About?m=1&t=5&name=Jimmy#home", "/About", "m=1&t=5&name=Jimmy", "home", "", "town.ide.kyoto.jp", "ide.kyoto.jp"],
        ["https://www.a.b.c.d.foo.com/help?Language=Javascript&fiz=buzz#bar", "/help", "Language=Javascript&fiz=buzz", "bar", "a.b.c.d", "foo.com", "com"],
        ["http://My.Web-Site.net:8080/About?m=1&t=5&name=Jimmy#home", "/About", "m=1&t=5&name=Jimmy", "home", "my", "web-site.net", "net"],
        ["https://stage.applookout.net/", "/", "", "", "stage", "applookout.net", "net"],
        // Brief cases and odd input.
        ["http://www.target.com/", "/", "", "", "", "target.com", "com"],
        ["https://shop.target.co.uk/cart", "/cart", "", "", "shop", "target.co.uk", "co.uk"],
        ["https://a.b.c.target.com", "", "", "", "a.b.c", "target.com", "com"],
        ["https://www.foo.target.com", "", "", "", "foo", "target.com", "com"],
        ["https://www2.shop.target.com", "", "", "", ".shop", "target.com", "com"],
        ["https://wwwshop.target.com", "", "", "", "hop", "target.com", "com"],
        ["https://WWW.TARGET.COM/Index.HTML?A=B#C", "/Index.HTML", "A=B", "C", "", "target.com", "com"],
        ["http://127.0.0.1:3000/x", "/x", "", "", "", "127.0.0.1", ""],
        ["http://user:pw@www.example.org:81/a/b.c?d#e", "/a/b.c", "d", "e", "", "example.org", "org"],
        ["www.example.com/x?y#z", "/x", "y", "z", "", "example.com", "com"],
        ["localhost:8080/foo", "/foo", "", "", "", "8080", ""],
        ["/relative/path?q=1", "/relative/path", "q=1", "", "", "", ""],
        ["?q=1#f", "", "q=1", "f", "", "", ""],
        ["#frag\nmore", "", "", "frag", "", "", ""],
        ["http://example.com/a@evil.com/x", "/x", "", "", "", "evil.com", "com"],
        ["http://my_host.example.com/", "/", "", "", "", "my_host.example.com", ""],
        ["http://shop.foo.com.fm/", "/", "", "", "shop.foo", "com.fm", "fm"],
        ["http://foo.gov.gd/", "/", "", "", "foo", "gov.gd", "gd"],
        ["http://example.com./", "/", "", "", "", "example.com", "com"],
        ["http://co.uk/", "/", "", "", "", "co.uk", ""],
        ["http://kawasaki.jp/", "/", "", "", "", "kawasaki.jp", ""],
        ["http://x.kawasaki.jp/", "/", "", "", "", "x.kawasaki.jp", ""],
        ["http://www.city.kawasaki.jp/", "/", "", "", "", "city.kawasaki.jp", "kawasaki.jp"],
        ["http://printer.local/", "/", "", "", "", "printer.local", ""],
        ["http://www.bücher.de/", "/", "", "", "", "bücher.de", "de"],
        ["http://example.xn--p1ai/", "/", "", "", "", "example.xn--p1ai", "рф"],
        ["http://a.xn--bcher-kva.рф/", "/", "", "", "a", "xn--bcher-kva.xn--p1ai", "рф"],
        ["http://x.xn--bcher-kva.ck/", "/", "", "", "", "x.xn--bcher-kva.ck", "xn--bcher-kva.ck"],
        ["http://a.b.xn--p1ai/", "/", "", "", "a", "b.xn--p1ai", "рф"],
    ];

    #[test]
    fn matches_reference_table() {
        for row in TABLE {
            let expected: Vec<String> = row.iter().map(|s| s.to_string()).collect();
            assert_eq!(attrs(row[0]).to_vec(), expected, "{}", row[0]);
        }
    }

    #[test]
    fn json_has_plain_then_lowercase_keys() {
        let json = url_context("http://My.Web-Site.net:8080/About?m=1#Home").to_json();
        let keys: Vec<&str> = json.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "url",
                "path",
                "query",
                "fragment",
                "subdomain",
                "domain",
                "topLevelDomain",
                "url_lc",
                "path_lc",
                "query_lc",
                "fragment_lc",
                "subdomain_lc",
                "domain_lc",
                "topLevelDomain_lc",
            ]
        );
        assert_eq!(json["path"], "/About");
        assert_eq!(json["path_lc"], "/about");
        assert_eq!(json["url_lc"], "http://my.web-site.net:8080/about?m=1#home");
        assert_eq!(json["fragment_lc"], "home");
    }

    #[test]
    fn trace_suite_page_objects() {
        let path = testkit::shared::suite_dir().join("models/TEST_SUITE_TRACE.json");
        let raw = std::fs::read_to_string(&path).unwrap();
        let suite: Value = serde_json::from_str(&raw).unwrap();
        let mut seen = 0;
        visit(&suite, &mut |obj| {
            for key in ["page", "referring"] {
                let Some(Value::Object(expected)) = obj.get(key) else {
                    continue;
                };
                let Some(Value::String(url)) = expected.get("url") else {
                    continue;
                };
                assert_eq!(&url_context(url).to_json(), expected, "{url}");
                seen += 1;
            }
        });
        assert!(seen > 0);
    }

    fn visit(v: &Value, f: &mut dyn FnMut(&Map<String, Value>)) {
        match v {
            Value::Object(o) => {
                f(o);
                o.values().for_each(|c| visit(c, f));
            }
            Value::Array(a) => a.iter().for_each(|c| visit(c, f)),
            _ => {}
        }
    }

    #[test]
    fn garbage_never_panics() {
        let long_label = format!("http://{}.com/", "é".repeat(5000));
        let inputs = [
            ":",
            "::",
            "@",
            "@@",
            ":@",
            "//",
            "///",
            "?",
            "#",
            "http:",
            "http://",
            "http://@",
            "http://:80",
            "a:b:c@d",
            "\u{0}\u{1}",
            "é:é@é/é.é?é#é",
            "/.",
            "/a.",
            "/.b",
            "..",
            "http://[::1]:8080/",
            "http://例え.テスト/",
            "http://a。b。com/",
            "xn--",
            "http://xn--zz/",
            "http://xn--.com/",
            "\u{2028}#\u{2028}",
            &long_label,
        ];
        for input in inputs {
            let c = url_context(input);
            assert_eq!(c.url, input);
            let _ = c.to_json();
        }
        let bytes: Vec<u8> = (0u32..4000).map(|i| (i * 7919 % 251) as u8).collect();
        for chunk in bytes.chunks(13) {
            let s = String::from_utf8_lossy(chunk);
            let _ = url_context(&s);
        }
    }

    #[test]
    fn punycode_round_trips() {
        for (unicode, ascii) in [("bücher", "bcher-kva"), ("рф", "p1ai"), ("例え", "r8jz45g")]
        {
            assert_eq!(punycode_encode(unicode).as_deref(), Some(ascii));
            assert_eq!(punycode_decode(ascii).as_deref(), Some(unicode));
        }
        assert_eq!(punycode_decode("zz!"), None);
    }
}
