//! "Object contains" comparison with the semantics of Jest's `toMatchObject`, which is
//! how the conformance suite's expectations are meant to be read.
//!
//! Used by the runner to compare a case's `output` with the engine response and its
//! `notificationOutput` with the notification request that was sent.

use std::fmt;

use serde_json::{Map, Value};

/// Longest rendering of a value inside a [`Mismatch`]; whole artifacts or responses
/// would drown the one line that matters.
const MAX_SHOWN_CHARS: usize = 200;

/// Placeholder shown as `found` when an expected key is absent from the actual object.
const MISSING: &str = "<missing>";

/// One place where the actual value does not satisfy the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// JSON path of the offending value, e.g. `execute.mboxes[0].options[0].content`;
    /// empty when the root itself differs.
    pub path: String,
    /// What the expectation asked for (compact JSON or a description, truncated).
    pub expected: String,
    /// What the actual value held (compact JSON, truncated), or `<missing>`.
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(
            f,
            "{path}: expected {}, found {}",
            self.expected, self.found
        )
    }
}

/// Checks that `actual` contains `expected` the way Jest's `toMatchObject` does.
///
/// Objects: every expected key must exist in `actual` and match; extra keys are fine.
/// Arrays: same length, elements matched pairwise with the same rules. Numbers compare
/// as `f64`; other primitives by equality. The strings `"expect.any(String)"`,
/// `"expect.any(Number)"` and `"expect.any(Object)"` match any value of that type
/// (`Object` also accepts arrays; `null` matches none of them).
///
/// Returns every mismatch found; an empty vector means the values match.
pub fn contains(expected: &Value, actual: &Value) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    walk(expected, actual, "", &mut mismatches);
    mismatches
}

/// Type placeholders the suite writes as plain strings in place of Jest's
/// `expect.any(...)` asymmetric matchers.
#[derive(Debug, Clone, Copy)]
enum AnyOf {
    String,
    Number,
    Object,
}

impl AnyOf {
    fn parse(expected: &Value) -> Option<Self> {
        match expected.as_str()? {
            "expect.any(String)" => Some(Self::String),
            "expect.any(Number)" => Some(Self::Number),
            "expect.any(Object)" => Some(Self::Object),
            _ => None,
        }
    }

    fn accepts(self, actual: &Value) -> bool {
        match self {
            Self::String => actual.is_string(),
            Self::Number => actual.is_number(),
            // Jest's `expect.any(Object)` accepts arrays as well (typeof "object").
            Self::Object => actual.is_object() || actual.is_array(),
        }
    }
}

fn walk(expected: &Value, actual: &Value, path: &str, out: &mut Vec<Mismatch>) {
    if let Some(any) = AnyOf::parse(expected) {
        if !any.accepts(actual) {
            push(out, path, show(expected), show(actual));
        }
        return;
    }
    match (expected, actual) {
        (Value::Object(exp), Value::Object(act)) => walk_object(exp, act, path, out),
        (Value::Array(exp), Value::Array(act)) => walk_array(exp, act, path, out),
        // JSON has one number type; 1 and 1.0 are the same value to the suite.
        (Value::Number(exp), Value::Number(act)) => {
            if exp.as_f64() != act.as_f64() {
                push(out, path, show(expected), show(actual));
            }
        }
        _ if expected == actual => {}
        _ => push(out, path, show(expected), show(actual)),
    }
}

fn walk_object(
    expected: &Map<String, Value>,
    actual: &Map<String, Value>,
    path: &str,
    out: &mut Vec<Mismatch>,
) {
    for (key, exp) in expected {
        let child = key_path(path, key);
        match actual.get(key) {
            Some(act) => walk(exp, act, &child, out),
            None => push(out, &child, show(exp), MISSING.to_string()),
        }
    }
}

fn walk_array(expected: &[Value], actual: &[Value], path: &str, out: &mut Vec<Mismatch>) {
    if expected.len() != actual.len() {
        // Pairing elements of arrays of different lengths would mostly report noise.
        let found = format!(
            "array of length {}: {}",
            actual.len(),
            truncate(&Value::from(actual).to_string())
        );
        push(
            out,
            path,
            format!("array of length {}", expected.len()),
            found,
        );
        return;
    }
    for (index, (exp, act)) in expected.iter().zip(actual).enumerate() {
        walk(exp, act, &format!("{path}[{index}]"), out);
    }
}

fn push(out: &mut Vec<Mismatch>, path: &str, expected: String, found: String) {
    out.push(Mismatch {
        path: path.to_string(),
        expected,
        found,
    });
}

/// Appends `key` to `path`, falling back to bracket notation for keys that would make
/// a dotted path ambiguous (mbox parameter names may themselves contain dots).
fn key_path(path: &str, key: &str) -> String {
    if !is_identifier(key) {
        return format!("{path}[{}]", Value::from(key));
    }
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn show(value: &Value) -> String {
    truncate(&value.to_string())
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (name, expected, actual, paths of the mismatches that must be reported)
    type Row = (&'static str, Value, Value, Vec<&'static str>);

    fn primitive_rows() -> Vec<Row> {
        vec![
            ("equal strings", json!("a"), json!("a"), vec![]),
            ("different strings", json!("a"), json!("b"), vec![""]),
            ("int equals float", json!(1), json!(1.0), vec![]),
            ("float equals int", json!(2.5), json!(2.5), vec![]),
            ("different numbers", json!(1), json!(2), vec![""]),
            ("number vs numeric string", json!(1), json!("1"), vec![""]),
            ("bools", json!(true), json!(true), vec![]),
            ("bool mismatch", json!(true), json!(false), vec![""]),
            ("null matches null", json!(null), json!(null), vec![]),
            ("null vs value", json!(null), json!(0), vec![""]),
            ("null vs missing", json!({"a": null}), json!({}), vec!["a"]),
        ]
    }

    fn object_rows() -> Vec<Row> {
        vec![
            (
                "extra keys ok",
                json!({"a": 1}),
                json!({"a": 1, "b": 2}),
                vec![],
            ),
            (
                "empty object matches any object",
                json!({}),
                json!({"x": 1}),
                vec![],
            ),
            (
                "missing key",
                json!({"a": 1, "b": 2}),
                json!({"a": 1}),
                vec!["b"],
            ),
            (
                "nested",
                json!({"a": {"b": {"c": 1}}}),
                json!({"a": {"b": {"c": 2, "d": 3}}}),
                vec!["a.b.c"],
            ),
        ]
    }

    fn array_rows() -> Vec<Row> {
        vec![
            ("object vs array", json!({}), json!([]), vec![""]),
            ("array vs object", json!([]), json!({}), vec![""]),
            ("arrays equal", json!([1, 2]), json!([1, 2]), vec![]),
            (
                "array order matters",
                json!([1, 2]),
                json!([2, 1]),
                vec!["[0]", "[1]"],
            ),
            ("array too long", json!([1]), json!([1, 2]), vec![""]),
            ("array too short", json!([1, 2]), json!([1]), vec![""]),
            (
                "array elements by contains",
                json!([{"a": 1}]),
                json!([{"a": 1, "b": 2}]),
                vec![],
            ),
            (
                "array element mismatch path",
                json!({"x": [{"a": 1}, {"a": 2}]}),
                json!({"x": [{"a": 1}, {"a": 3}]}),
                vec!["x[1].a"],
            ),
        ]
    }

    /// The suite's spelling of Jest's `expect.any(kind)`.
    fn any(kind: &str) -> Value {
        Value::from(format!("expect.any({kind})"))
    }

    fn any_rows() -> Vec<Row> {
        vec![
            ("any String", any("String"), json!("x"), vec![]),
            ("any String vs number", any("String"), json!(1), vec![""]),
            ("any String vs null", any("String"), json!(null), vec![""]),
            ("any Number int", any("Number"), json!(3), vec![]),
            ("any Number float", any("Number"), json!(3.5), vec![]),
            ("any Number vs string", any("Number"), json!("3"), vec![""]),
            ("any Object object", any("Object"), json!({}), vec![]),
            ("any Object array", any("Object"), json!([1]), vec![]),
            ("any Object vs null", any("Object"), json!(null), vec![""]),
            ("any Object vs string", any("Object"), json!("x"), vec![""]),
            (
                "any vs missing key",
                json!({"id": any("String")}),
                json!({}),
                vec!["id"],
            ),
            (
                "any in array",
                json!([{"id": any("Number")}]),
                json!([{"id": 7}]),
                vec![],
            ),
            (
                "unknown any is literal",
                any("Boolean"),
                json!(true),
                vec![""],
            ),
            (
                "unknown any matches itself",
                any("Boolean"),
                any("Boolean"),
                vec![],
            ),
        ]
    }

    fn path_rows() -> Vec<Row> {
        vec![
            (
                "dotted key uses brackets",
                json!({"params": {"a.b": 1}}),
                json!({"params": {"a.b": 2}}),
                vec!["params[\"a.b\"]"],
            ),
            (
                "several mismatches",
                json!({"a": 1, "b": [1], "c": "x"}),
                json!({"a": 2, "b": [1], "c": "y"}),
                vec!["a", "c"],
            ),
        ]
    }

    #[test]
    fn contains_follows_to_match_object_rules() {
        for (name, expected, actual, paths) in [
            primitive_rows(),
            object_rows(),
            array_rows(),
            any_rows(),
            path_rows(),
        ]
        .concat()
        {
            let got: Vec<String> = contains(&expected, &actual)
                .into_iter()
                .map(|m| m.path)
                .collect();
            assert_eq!(got, paths, "case `{name}`");
        }
    }

    #[test]
    fn mismatch_reports_expected_and_found() {
        let expected =
            json!({"execute": {"mboxes": [{"options": [{"content": {"doMagic": true}}]}]}});
        let actual =
            json!({"execute": {"mboxes": [{"options": [{"content": {"doMagic": false}}]}]}});
        let found = contains(&expected, &actual);
        assert_eq!(
            found,
            vec![Mismatch {
                path: "execute.mboxes[0].options[0].content.doMagic".into(),
                expected: "true".into(),
                found: "false".into(),
            }]
        );
        assert_eq!(
            found[0].to_string(),
            "execute.mboxes[0].options[0].content.doMagic: expected true, found false"
        );
    }

    #[test]
    fn missing_key_and_root_are_labelled() {
        let missing = contains(&json!({"a": {"b": 1}}), &json!({"a": {}}));
        assert_eq!(missing[0].found, MISSING);
        assert_eq!(missing[0].to_string(), "a.b: expected 1, found <missing>");
        let root = contains(&json!(1), &json!("1"));
        assert_eq!(root[0].to_string(), "(root): expected 1, found \"1\"");
    }

    #[test]
    fn array_length_mismatch_describes_lengths() {
        let found = contains(&json!({"xs": [1, 2]}), &json!({"xs": [1]}));
        assert_eq!(found[0].path, "xs");
        assert_eq!(found[0].expected, "array of length 2");
        assert_eq!(found[0].found, "array of length 1: [1]");
    }

    #[test]
    fn long_values_are_truncated() {
        let long = "é".repeat(500);
        let found = contains(&json!("short"), &json!(long));
        assert!(found[0].found.ends_with("..."));
        assert_eq!(found[0].found.chars().count(), MAX_SHOWN_CHARS + 3);
    }
}
