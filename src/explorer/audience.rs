//! JsonLogic conditions as sentences: `{"in": ["/shop", {"var": "page.url"}]}` reads
//! "page URL contains /shop". Covers what Target compiles audiences, allocations and
//! time frames into; anything else is written out as compact JSON, never dropped.

use serde_json::Value;

/// A condition as readable text.
pub fn describe(condition: &Value) -> String {
    match condition {
        Value::Bool(true) => "everyone".into(),
        Value::Bool(false) => "no one".into(),
        Value::Object(map) if map.len() == 1 => {
            let (op, args) = map
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v))
                .unwrap_or(("", &Value::Null));
            describe_op(op, &as_list(args)).unwrap_or_else(|| compact(condition))
        }
        other => operand(other),
    }
}

/// The clauses of a condition's top-level `and`s, flattened: each is shown (and
/// evaluated) on its own.
pub fn clauses(condition: &Value) -> Vec<&Value> {
    match condition.get("and").and_then(Value::as_array) {
        Some(parts) if condition.as_object().is_some_and(|m| m.len() == 1) => {
            parts.iter().flat_map(clauses).collect()
        }
        _ => vec![condition],
    }
}

fn as_list(args: &Value) -> Vec<&Value> {
    match args {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    }
}

fn describe_op(op: &str, args: &[&Value]) -> Option<String> {
    Some(match (op, args) {
        ("and", parts) => join(parts, " and "),
        ("or", parts) => join(parts, " or "),
        ("!", [inner]) => format!("not ({})", describe(inner)),
        ("!!", [inner]) => format!("{} is set", operand(inner)),
        ("==" | "===", [a, b]) => equality(a, b, "is"),
        ("!=" | "!==", [a, b]) => equality(a, b, "is not"),
        ("in", [needle, Value::Array(list)]) => {
            let items: Vec<String> = list.iter().map(operand).collect();
            format!("{} is one of {}", operand(needle), items.join(", "))
        }
        ("in", [needle, haystack]) => format!("{} contains {}", operand(haystack), operand(needle)),
        ("<" | "<=" | ">" | ">=", [low, middle, high]) => {
            let (lo, hi) = if op == "<" {
                ("above", "below")
            } else {
                ("at least", "at most")
            };
            format!(
                "{} is {lo} {} and {hi} {}",
                operand(middle),
                operand(low),
                operand(high)
            )
        }
        ("<" | "<=" | ">" | ">=", [a, b]) => comparison(op, a, b),
        ("missing", names) => format!("{} missing", join_operands(names)),
        _ => return None,
    })
}

fn join(parts: &[&Value], with: &str) -> String {
    let texts: Vec<String> = parts
        .iter()
        .map(|part| {
            let text = describe(part);
            // Nested and/or keep their grouping.
            let nested = part.get("and").or_else(|| part.get("or")).is_some();
            if nested && parts.len() > 1 {
                format!("({text})")
            } else {
                text
            }
        })
        .collect();
    texts.join(with)
}

fn join_operands(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| operand(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a == b` with the variable first, however the artifact ordered it.
fn equality(a: &Value, b: &Value, verb: &str) -> String {
    let (var, value) = if is_var(b) && !is_var(a) {
        (b, a)
    } else {
        (a, b)
    };
    format!("{} {verb} {}", operand(var), operand(value))
}

/// `a < b` with the variable first, flipping the operator when needed.
fn comparison(op: &str, a: &Value, b: &Value) -> String {
    let (var, value, op) = if is_var(b) && !is_var(a) {
        (b, a, flip(op))
    } else {
        (a, b, op)
    };
    let words = match op {
        "<" => "is below",
        "<=" => "is at most",
        ">" => "is above",
        _ => "is at least",
    };
    format!("{} {words} {}", operand(var), operand_for(var, value))
}

fn flip(op: &str) -> &str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        _ => "<=",
    }
}

fn is_var(value: &Value) -> bool {
    value.get("var").is_some()
}

/// A value or variable as text: variables by a readable name, strings as they are.
fn operand(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Object(map) if map.contains_key("var") => {
            variable(map.get("var").unwrap_or(&Value::Null))
        }
        Value::Object(_) => format!("({})", describe(value)),
        other => compact(other),
    }
}

/// A compared value, as a date when the variable is a timestamp.
fn operand_for(var: &Value, value: &Value) -> String {
    let timestamp = var.get("var").and_then(Value::as_str) == Some("current_timestamp");
    match value.as_i64() {
        Some(ms) if timestamp => date(ms),
        _ => operand(value),
    }
}

/// An epoch-milliseconds instant as an RFC 3339 date.
pub fn date(ms: i64) -> String {
    u64::try_from(ms)
        .map(|ms| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
            )
            .to_string()
        })
        .unwrap_or_else(|_| ms.to_string())
}

/// Target's context variables by the names its UI uses.
fn variable(name: &Value) -> String {
    let name = match name {
        Value::Array(parts) => parts.first().and_then(Value::as_str).unwrap_or_default(),
        other => other.as_str().unwrap_or_default(),
    };
    let known = match name {
        "allocation" => "allocation bucket",
        "user.browserType" => "browser",
        "user.browserVersion" => "browser version",
        "user.platform" => "operating system",
        "user.locale" => "language",
        "page.url" | "page.url_lc" => "page URL",
        "page.domain" | "page.domain_lc" => "page domain",
        "page.subdomain" | "page.subdomain_lc" => "page subdomain",
        "page.topLevelDomain" | "page.topLevelDomain_lc" => "page top-level domain",
        "page.path" | "page.path_lc" => "page path",
        "page.query" | "page.query_lc" => "page query",
        "page.fragment" | "page.fragment_lc" => "page fragment",
        "referring.url" | "referring.url_lc" => "referring URL",
        "referring.domain" | "referring.domain_lc" => "referring domain",
        "referring.path" | "referring.path_lc" => "referring path",
        "geo.country" => "country",
        "geo.region" => "region",
        "geo.city" => "city",
        "current_timestamp" => "time",
        "current_day" => "day of week",
        "current_time" => "time of day (UTC)",
        _ => "",
    };
    if !known.is_empty() {
        return known.into();
    }
    match name.strip_prefix("mbox.") {
        Some(param) => format!("mbox parameter {}", param.trim_end_matches("_lc")),
        None => name.into(),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The `[low, high]` allocation range (in %) a condition restricts `allocation` to;
/// `None` when it does not mention it.
pub fn allocation_range(condition: &Value) -> Option<(f64, f64)> {
    bounds_of(condition, "allocation", 0.0, 100.0)
}

/// The `[from, until]` epoch-ms time frame a condition restricts `current_timestamp`
/// to; `None` when it has none.
pub fn time_frame(condition: &Value) -> Option<(Option<f64>, Option<f64>)> {
    let (lo, hi) = bounds_of(
        condition,
        "current_timestamp",
        f64::NEG_INFINITY,
        f64::INFINITY,
    )?;
    Some((lo.is_finite().then_some(lo), hi.is_finite().then_some(hi)))
}

/// Lower and upper bounds on `var` from the comparisons among `condition`'s clauses.
fn bounds_of(condition: &Value, var: &str, min: f64, max: f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi, mut found) = (min, max, false);
    for clause in clauses(condition) {
        let Some((op, args)) = clause.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let args = as_list(args);
        let names_var = |v: &Value| v.get("var").and_then(Value::as_str) == Some(var);
        let mut apply = |bound: Option<f64>, is_lower: bool| {
            if let Some(b) = bound {
                found = true;
                if is_lower {
                    lo = lo.max(b)
                } else {
                    hi = hi.min(b)
                }
            }
        };
        match (op.as_str(), args.as_slice()) {
            ("<" | "<=", [a, v, b]) if names_var(v) => {
                apply(a.as_f64(), true);
                apply(b.as_f64(), false);
            }
            ("<" | "<=", [a, v]) if names_var(v) => apply(a.as_f64(), true),
            ("<" | "<=", [v, b]) if names_var(v) => apply(b.as_f64(), false),
            (">" | ">=", [a, v]) if names_var(v) => apply(a.as_f64(), false),
            (">" | ">=", [v, b]) if names_var(v) => apply(b.as_f64(), true),
            _ => {}
        }
    }
    found.then_some((lo, hi))
}
