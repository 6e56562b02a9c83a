//! JsonLogic as the SDKs evaluate it (json-logic-js), on top of datalogic-rs.
//!
//! datalogic-rs compiles once and evaluates fast, but its loose equality is not
//! JavaScript's (it holds `null == 0`, and not `"" == 0`), and it accepts unknown
//! operators until run time. Conditions are therefore checked and rewritten on load:
//! `==`/`!=` become operators with JavaScript's abstract equality, and an operator
//! json-logic-js does not know refuses the artifact.

use std::sync::LazyLock;

use bumpalo::Bump;
use datalogic_rs::operator::EvalContext;
use datalogic_rs::{ArenaExt, CustomOperator, DataValue, Engine, Logic};
use serde_json::{Map, Value};

/// The operators json-logic-js knows.
const JSON_LOGIC_JS_OPERATORS: &[&str] = &[
    "var",
    "missing",
    "missing_some",
    "if",
    "?:",
    "==",
    "===",
    "!=",
    "!==",
    "!",
    "!!",
    "or",
    "and",
    ">",
    ">=",
    "<",
    "<=",
    "max",
    "min",
    "+",
    "-",
    "*",
    "/",
    "%",
    "map",
    "filter",
    "reduce",
    "all",
    "none",
    "some",
    "merge",
    "in",
    "cat",
    "substr",
    "log",
];
const JS_EQ: &str = "offerd.js==";
const JS_NE: &str = "offerd.js!=";

/// One engine for every artifact: it holds no per-artifact state.
static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    Engine::builder()
        .add_operator(JS_EQ, LooseEquality { negate: false })
        .add_operator(JS_NE, LooseEquality { negate: true })
        .build()
});

/// A condition compiled for evaluation.
#[derive(Debug)]
pub struct Condition(Logic);

impl Condition {
    /// Checks and compiles a condition; the error says what is wrong with it.
    pub fn compile(condition: &Value) -> Result<Self, String> {
        if let Some(op) = unknown_operator(condition) {
            return Err(format!("unknown JsonLogic operator {op:?}"));
        }
        ENGINE
            .compile(&with_js_equality(condition))
            .map(Condition)
            .map_err(|e| e.to_string())
    }

    /// Whether the condition holds for `data`, by JavaScript truthiness. A condition
    /// that fails at run time does not hold. Decisions use [`Self::holds_in`]; this
    /// serves tests and the explorer's clause-by-clause view (`engine::condition_holds`).
    pub fn holds(&self, data: &Value, arena: &Bump) -> bool {
        ENGINE
            .evaluate(&self.0, data, arena)
            .is_ok_and(|result| ENGINE.truthy(result))
    }

    /// Whether the condition holds for `data` (already in the arena: no conversion per
    /// evaluation), by JavaScript truthiness. A condition that fails at run time does
    /// not hold.
    pub fn holds_in<'a>(&'a self, data: &'a DataValue<'a>, arena: &'a Bump) -> bool {
        ENGINE
            .evaluate(&self.0, data, arena)
            .is_ok_and(|result| ENGINE.truthy(result))
    }
}

fn unknown_operator(condition: &Value) -> Option<&str> {
    match condition {
        Value::Object(map) if map.len() == 1 => {
            let (op, args) = map.iter().next()?;
            if JSON_LOGIC_JS_OPERATORS.contains(&op.as_str()) {
                unknown_operator(args)
            } else {
                Some(op)
            }
        }
        Value::Array(items) => items.iter().find_map(unknown_operator),
        _ => None,
    }
}

fn with_js_equality(condition: &Value) -> Value {
    match condition {
        Value::Object(map) if map.len() == 1 => {
            let mut out = Map::new();
            for (op, args) in map {
                let op = match op.as_str() {
                    "==" => JS_EQ,
                    "!=" => JS_NE,
                    other => other,
                };
                out.insert(op.to_string(), with_js_equality(args));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(with_js_equality).collect()),
        other => other.clone(),
    }
}

/// `==` / `!=` with JavaScript's abstract equality.
struct LooseEquality {
    negate: bool,
}

impl CustomOperator for LooseEquality {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _ctx: &mut EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let null = DataValue::Null;
        let a = args.first().copied().unwrap_or(&null);
        let b = args.get(1).copied().unwrap_or(&null);
        Ok(arena.bool(js_loose_equals(a, b) != self.negate))
    }
}

/// JavaScript's `a == b` for JSON values.
fn js_loose_equals(a: &DataValue<'_>, b: &DataValue<'_>) -> bool {
    use DataValue as V;
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Null, _) | (_, V::Null) => false,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::String(x), V::String(y)) => x == y,
        (V::Number(x), V::Number(y)) => x.as_f64() == y.as_f64(),
        // Arrays and objects are equal only to themselves: never across two values.
        (V::Array(_) | V::Object(_), V::Array(_) | V::Object(_)) => false,
        (V::Bool(x), other) | (other, V::Bool(x)) => {
            equals_number(if *x { 1.0 } else { 0.0 }, other)
        }
        (V::Number(n), other) | (other, V::Number(n)) => equals_number(n.as_f64(), other),
        (V::String(s), other) | (other, V::String(s)) => *s == to_primitive(other),
    }
}

/// `n == other` once the other side is converted to a number, as JavaScript does.
fn equals_number(n: f64, other: &DataValue<'_>) -> bool {
    let other = match other {
        DataValue::Number(m) => m.as_f64(),
        DataValue::Bool(b) => f64::from(u8::from(*b)),
        DataValue::String(s) => to_number(s),
        DataValue::Array(_) | DataValue::Object(_) => to_number(&to_primitive(other)),
        _ => return false,
    };
    n == other
}

/// JavaScript's `Number(string)`.
fn to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    let radix = [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ];
    for (prefix, base) in radix {
        if let Some(digits) = t.strip_prefix(prefix) {
            return u64::from_str_radix(digits, base).map_or(f64::NAN, |n| n as f64);
        }
    }
    match t {
        "Infinity" | "+Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ if t.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => f64::NAN,
        _ => t.parse::<f64>().unwrap_or(f64::NAN),
    }
}

/// JavaScript's `String(value)` of an array or object, as `==` converts it.
fn to_primitive(value: &DataValue<'_>) -> String {
    match value {
        DataValue::Array(items) => items
            .iter()
            .map(|item| match item {
                DataValue::Null => String::new(),
                DataValue::String(s) => (*s).to_string(),
                other => to_primitive(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        DataValue::Object(_) => "[object Object]".to_string(),
        DataValue::String(s) => (*s).to_string(),
        other => other.to_string(),
    }
}

/// json-logic-js is what the SDKs evaluate conditions with; these are its answers
/// (checked against its semantics: JavaScript loose equality and coercion) for the
/// operators Target artifacts use.
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(rule: Value, data: Value) -> bool {
        Condition::compile(&rule)
            .unwrap()
            .holds(&data, &Bump::new())
    }

    fn check(table: &[(Value, bool)], data: &Value) {
        let wrong: Vec<String> = table
            .iter()
            .filter(|(rule, expected)| holds(rule.clone(), data.clone()) != *expected)
            .map(|(rule, expected)| format!("{rule} should be {expected}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn equality_is_javascript_loose_equality() {
        let data = json!({"user": {"browserType": "chrome"}, "n": 1});
        let table = [
            (json!({"==": [{"var": "user.browserType"}, "chrome"]}), true),
            (json!({"==": ["chrome", {"var": "user.browserType"}]}), true),
            (json!({"==": [1, "1"]}), true),
            (json!({"==": ["1.0", 1]}), true),
            (json!({"==": [1.0, 1]}), true),
            (json!({"==": ["", 0]}), true),
            (json!({"==": [null, 0]}), false),
            (json!({"==": [{"var": "missing"}, null]}), true),
            (json!({"==": [{"var": "n"}, "1"]}), true),
            (json!({"===": [1, "1"]}), false),
            (json!({"!=": [1, "1"]}), false),
            (json!({"!=": ["a", "b"]}), true),
            (json!({"==": [null, false]}), false),
            (json!({"==": ["true", true]}), false),
            (json!({"==": ["1", true]}), true),
            (json!({"==": [" 2 ", 2]}), true),
            (json!({"==": ["0x10", 16]}), true),
            (json!({"==": [["a"], "a"]}), true),
            (json!({"==": [[1, 2], "1,2"]}), true),
            (json!({"==": [{"var": "user"}, "[object Object]"]}), true),
            (json!({"!=": [null, 0]}), true),
        ];
        check(&table, &data);
    }

    #[test]
    fn comparisons_coerce_like_javascript() {
        let data = json!({"allocation": 50.0, "current_time": "0105", "current_day": 3});
        let table = [
            (json!({"<=": [0, {"var": "allocation"}]}), true),
            (json!({">=": [50, {"var": "allocation"}]}), true),
            (json!({"<": [50, {"var": "allocation"}]}), false),
            (json!({"<": [1, 2, 3]}), true),
            (json!({"<=": [1, 1, 3]}), true),
            (json!({"<": [1, 4, 3]}), false),
            (json!({"<": ["1", 2]}), true),
            (json!({"<=": ["0100", {"var": "current_time"}]}), true),
            (json!({">": ["0100", {"var": "current_time"}]}), false),
            (json!({"<": ["a", "b"]}), true),
            (json!({"<=": [1, {"var": "current_day"}, 5]}), true),
        ];
        check(&table, &data);
    }

    #[test]
    fn in_logic_and_var_work_like_json_logic_js() {
        let data =
            json!({"page": {"query": "bar=true", "domain": "target.com"}, "mbox": {"a": "x"}});
        let table = [
            (json!({"in": ["bar", {"var": "page.query"}]}), true),
            (json!({"in": ["baz", {"var": "page.query"}]}), false),
            (json!({"in": [{"var": "mbox.a"}, ["x", "y"]]}), true),
            (json!({"in": ["z", ["x", "y"]]}), false),
            (json!({"and": [true, {"var": "mbox.a"}]}), true),
            (json!({"and": [true, {"var": "mbox.nope"}]}), false),
            (json!({"or": [false, 0, ""]}), false),
            (json!({"or": [false, {"var": "page.domain"}]}), true),
            (json!({"!": [{"var": "mbox.nope"}]}), true),
            (json!({"!": [true]}), false),
            (json!({"var": ["mbox.nope", "fallback"]}), true),
        ];
        check(&table, &data);
    }

    #[test]
    fn unknown_operators_are_refused() {
        assert!(Condition::compile(&json!({"and": [{"no-such-op": [1]}]})).is_err());
        assert!(Condition::compile(&json!({"==": [1, {"var": "a"}]})).is_ok());
    }
}
