//! The context JsonLogic conditions are evaluated against: time, user agent, page and
//! referring URL, geo (per request) plus mbox parameters and allocation (per rule).
//!
//! Keys and shapes are the ones Target's artifacts are written against (`page.domain`,
//! `user.browserType`, `mbox.<param>_lc`, `current_day`, ...).

use serde_json::{Map, Value};

use super::address::url_context;
use super::user_agent::{ClientHintsView, user_context};
use crate::model::{Address, Context, DeliveryRequest, Geo};

const MS_PER_DAY: i64 = 86_400_000;

/// The request-level part of every rule's context, built once per decision.
#[derive(Debug, Clone)]
pub struct RequestContext {
    base: Map<String, Value>,
}

/// The parts of the context a mbox, view or page-load request replaces: `mbox` always,
/// `page` and `referring` when it has its own address.
pub type DetailsOverrides = Vec<(&'static str, Value)>;

impl RequestContext {
    /// Builds the context of `request` at time `now_ms` (epoch milliseconds, UTC).
    pub fn new(request: &DeliveryRequest, now_ms: i64) -> Self {
        let context = request.context.as_ref();
        let address = context.and_then(|c| c.address.as_ref());
        let mut base = time_context(now_ms);
        base.insert("user".into(), user(context));
        base.insert("page".into(), page(address.and_then(|a| a.url.as_deref())));
        base.insert(
            "referring".into(),
            page(address.and_then(|a| a.referring_url.as_deref())),
        );
        base.insert("geo".into(), geo(context.and_then(|c| c.geo.as_ref())));
        Self { base }
    }

    /// `page.url`, for traces.
    pub fn page_url(&self) -> &Value {
        &self.base["page"]["url"]
    }

    /// `page.domain`, for traces.
    pub fn page_domain(&self) -> &Value {
        &self.base["page"]["domain"]
    }

    /// The request-level context (time, user, page, referring, geo).
    pub fn base(&self) -> &Map<String, Value> {
        &self.base
    }

    /// What one mbox, view or page-load request changes in the context.
    ///
    /// Like the Node SDK, an address on the request detail replaces both `page` and
    /// `referring` with the context of that address's URL.
    pub fn overrides(
        address: Option<&Address>,
        parameters: Option<&Map<String, Value>>,
    ) -> DetailsOverrides {
        let params = parameters.map(unflatten).unwrap_or_default();
        let mut overrides = vec![("mbox", Value::Object(with_lower_case(params)))];
        if let Some(address) = address {
            let detail_page = page(address.url.as_deref());
            overrides.push(("referring", detail_page.clone()));
            overrides.push(("page", detail_page));
        }
        overrides
    }

    /// The whole context of one mbox, view or page-load request as JSON, without
    /// `allocation` (which differs per rule), for traces.
    pub fn for_details(
        &self,
        address: Option<&Address>,
        parameters: Option<&Map<String, Value>>,
    ) -> Map<String, Value> {
        let mut ctx = self.base.clone();
        for (key, value) in Self::overrides(address, parameters) {
            ctx.insert(key.into(), value);
        }
        ctx
    }
}

fn time_context(now_ms: i64) -> Map<String, Value> {
    let ms_of_day = now_ms.rem_euclid(MS_PER_DAY);
    let days = now_ms.div_euclid(MS_PER_DAY);
    let hours = ms_of_day / 3_600_000;
    let minutes = ms_of_day / 60_000 % 60;
    // 1970-01-01 was a Thursday; Target numbers days 1 (Monday) to 7 (Sunday).
    let day = (days + 3).rem_euclid(7) + 1;
    let mut map = Map::new();
    map.insert("current_timestamp".into(), Value::from(now_ms));
    map.insert(
        "current_time".into(),
        Value::from(format!("{hours:02}{minutes:02}")),
    );
    map.insert("current_day".into(), Value::from(day));
    map
}

fn user(context: Option<&Context>) -> Value {
    let user_agent = context.and_then(|c| c.user_agent.as_deref()).unwrap_or("");
    let hints = context
        .and_then(|c| c.client_hints.as_ref())
        .map(|h| ClientHintsView {
            platform: h.platform.as_deref(),
            browser_ua_with_full_version: h.browser_ua_with_full_version.as_deref(),
            browser_ua_with_major_version: h.browser_ua_with_major_version.as_deref(),
        });
    let user = user_context(user_agent, hints.as_ref());
    let mut map = Map::new();
    map.insert("browserType".into(), Value::from(user.browser_type));
    map.insert("platform".into(), Value::from(user.platform));
    // The SDKs do not derive a locale; artifacts are generated against "en".
    map.insert("locale".into(), Value::from("en"));
    map.insert("browserVersion".into(), Value::from(user.browser_version));
    Value::Object(map)
}

fn page(url: Option<&str>) -> Value {
    Value::Object(url_context(url.unwrap_or("")).to_json())
}

fn geo(geo: Option<&Geo>) -> Value {
    let mut map = Map::new();
    if let Some(geo) = geo {
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(key.into(), value);
            }
        };
        put("country", geo.country_code.clone().map(Value::from));
        put("region", geo.state_code.clone().map(Value::from));
        put("city", geo.city.clone().map(Value::from));
        put("latitude", geo.latitude.map(Value::from));
        put("longitude", geo.longitude.map(Value::from));
    }
    Value::Object(map)
}

/// Expands dotted parameter names (`a.b` -> `{a: {b}}`) as the SDKs do; names with
/// empty segments stay flat.
fn unflatten(params: &Map<String, Value>) -> Map<String, Value> {
    let mut result = Map::new();
    for (key, value) in params {
        let expandable = key.contains('.')
            && !key.contains("..")
            && !key.starts_with('.')
            && !key.ends_with('.');
        if expandable {
            let parts: Vec<&str> = key.split('.').collect();
            set_nested(&mut result, &parts, value.clone());
        } else {
            result.insert(key.clone(), value.clone());
        }
    }
    result
}

fn set_nested(object: &mut Map<String, Value>, keys: &[&str], value: Value) {
    let Some((last, path)) = keys.split_last() else {
        return;
    };
    let mut current = object;
    for key in path {
        let slot = current.entry(key.to_string()).or_insert(Value::Null);
        if !is_truthy(slot) {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(next) => current = next,
            // JavaScript silently ignores a property set on a primitive.
            _ => return,
        }
    }
    current.insert(last.to_string(), value);
}

fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Adds `<key>_lc` with the lower-cased value next to every string, recursively, so
/// artifacts can match parameters case-insensitively.
fn with_lower_case(object: Map<String, Value>) -> Map<String, Value> {
    let mut lower = Vec::new();
    let mut result = Map::with_capacity(object.len() * 2);
    for (key, value) in object {
        let value = match value {
            Value::String(s) => {
                lower.push((format!("{key}_lc"), Value::from(s.to_lowercase())));
                Value::String(s)
            }
            Value::Object(inner) => Value::Object(with_lower_case(inner)),
            other => other,
        };
        result.insert(key, value);
    }
    result.extend(lower);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_is_utc_with_monday_as_day_one() {
        // 2020-03-25T01:05:00Z was a Wednesday.
        let t = time_context(1_585_098_300_000);
        assert_eq!(t["current_time"], "0105");
        assert_eq!(t["current_day"], 3);
        // 2020-03-29 was a Sunday.
        assert_eq!(time_context(1_585_440_000_000)["current_day"], 7);
        assert_eq!(time_context(0)["current_day"], 4);
    }

    #[test]
    fn parameters_are_unflattened_and_lower_cased() {
        let params = json!({"a.b": "X", "c": "Yz", "n": 1, "bad..key": "k", "d.": "e"});
        let mbox = with_lower_case(unflatten(params.as_object().unwrap()));
        assert_eq!(
            Value::Object(mbox),
            json!({"a": {"b": "X", "b_lc": "x"}, "c": "Yz", "n": 1, "bad..key": "k", "d.": "e",
                   "c_lc": "yz", "bad..key_lc": "k", "d._lc": "e"})
        );
    }

    #[test]
    fn a_dotted_name_under_a_string_is_ignored_like_javascript() {
        let params = json!({"a": "s", "a.b": "t"});
        let flat = unflatten(params.as_object().unwrap());
        assert_eq!(Value::Object(flat), json!({"a": "s"}));
    }

    #[test]
    fn geo_uses_target_names_and_skips_missing_values() {
        let g = Geo {
            country_code: Some("US".into()),
            latitude: Some(1.5),
            ..Default::default()
        };
        assert_eq!(geo(Some(&g)), json!({"country": "US", "latitude": 1.5}));
        assert_eq!(geo(None), json!({}));
    }
}
