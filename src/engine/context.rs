//! The context JsonLogic conditions are evaluated against: time, user agent, page and
//! referring URL, geo (per request) plus mbox parameters and allocation (per rule).
//!
//! Keys and shapes are the ones Target's artifacts are written against (`page.domain`,
//! `user.browserType`, `mbox.<param>_lc`, `current_day`, ...).
//!
//! Rules read the context from the decision's arena, where it is built straight from
//! the parsed parts ([`RequestContext::to_arena`]); the same context as JSON is made
//! only for traces ([`RequestContext::to_json`]). Building JSON maps first and
//! converting them was most of a decision's time (hashing, allocation).

use bumpalo::Bump;
use datalogic_rs::DataValue;
use serde_json::{Map, Value};

use super::address::{UrlContext, url_context};
use super::user_agent::{ClientHintsView, UserContext, user_context};
use crate::model::{Address, Context, DeliveryRequest, Geo};

const MS_PER_DAY: i64 = 86_400_000;

/// A context object in the arena: JsonLogic reads it without converting anything.
pub type ArenaObject<'b> = &'b [(&'b str, DataValue<'b>)];

/// The request-level part of every rule's context, built once per decision.
#[derive(Debug, Clone)]
pub struct RequestContext {
    now_ms: i64,
    user: UserContext,
    page: UrlContext,
    referring: UrlContext,
    geo: Option<Geo>,
}

/// The parts of the context a mbox, view or page-load request replaces: `mbox` always,
/// `page` and `referring` when it has its own address.
pub type DetailsOverrides = Vec<(&'static str, Value)>;

impl RequestContext {
    /// Builds the context of `request` at time `now_ms` (epoch milliseconds, UTC).
    pub fn new(request: &DeliveryRequest, now_ms: i64) -> Self {
        let context = request.context.as_ref();
        let address = context.and_then(|c| c.address.as_ref());
        let url = |url: Option<&String>| url_context(url.map_or("", String::as_str));
        Self {
            now_ms,
            user: user_of(context),
            page: url(address.and_then(|a| a.url.as_ref())),
            referring: url(address.and_then(|a| a.referring_url.as_ref())),
            geo: context.and_then(|c| c.geo.clone()),
        }
    }

    /// `page.url`, for traces.
    pub fn page_url(&self) -> &str {
        &self.page.url
    }

    /// `page.domain`, for traces.
    pub fn page_domain(&self) -> &str {
        &self.page.domain
    }

    /// The request-level context (time, user, page, referring, geo) as JSON.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut base = time_context(self.now_ms);
        base.insert("user".into(), user_json(&self.user));
        base.insert("page".into(), Value::Object(self.page.to_json()));
        base.insert("referring".into(), Value::Object(self.referring.to_json()));
        base.insert("geo".into(), geo(self.geo.as_ref()));
        base
    }

    /// The request-level context in `arena`: the same keys, order and values as
    /// [`Self::to_json`].
    pub fn to_arena<'b>(&self, arena: &'b Bump) -> ArenaObject<'b> {
        let (hours_minutes, day) = clock(self.now_ms);
        let user = [
            ("browserType", str_in(&self.user.browser_type, arena)),
            ("platform", str_in(&self.user.platform, arena)),
            ("locale", DataValue::from_borrowed_str("en")),
            (
                "browserVersion",
                DataValue::from_i64(self.user.browser_version),
            ),
        ];
        let pairs = [
            ("current_timestamp", DataValue::from_i64(self.now_ms)),
            ("current_time", str_in(&hours_minutes, arena)),
            ("current_day", DataValue::from_i64(day)),
            ("user", DataValue::Object(arena.alloc_slice_copy(&user))),
            ("page", url_in(&self.page, arena)),
            ("referring", url_in(&self.referring, arena)),
            ("geo", geo_in(self.geo.as_ref(), arena)),
        ];
        arena.alloc_slice_copy(&pairs)
    }

    /// What one request detail changes in the arena context (see [`Self::overrides`]).
    pub fn overrides_in<'b>(
        address: Option<&Address>,
        parameters: Option<&Map<String, Value>>,
        arena: &'b Bump,
    ) -> Vec<(&'static str, DataValue<'b>)> {
        let mbox = match parameters {
            Some(params) if !params.is_empty() => {
                let params = Value::Object(with_lower_case(unflatten(params)));
                DataValue::from_serde_value_in(&params, arena)
            }
            _ => DataValue::Object(&[]),
        };
        let mut overrides = vec![("mbox", mbox)];
        if let Some(address) = address {
            let page = url_in(&url_context(address.url.as_deref().unwrap_or("")), arena);
            overrides.push(("referring", page));
            overrides.push(("page", page));
        }
        overrides
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
        let mut ctx = self.to_json();
        for (key, value) in Self::overrides(address, parameters) {
            ctx.insert(key.into(), value);
        }
        ctx
    }
}

/// `current_time` ("HHMM", UTC) and `current_day` at `now_ms`.
fn clock(now_ms: i64) -> (String, i64) {
    let ms_of_day = now_ms.rem_euclid(MS_PER_DAY);
    let days = now_ms.div_euclid(MS_PER_DAY);
    let hours = ms_of_day / 3_600_000;
    let minutes = ms_of_day / 60_000 % 60;
    // 1970-01-01 was a Thursday; Target numbers days 1 (Monday) to 7 (Sunday).
    let day = (days + 3).rem_euclid(7) + 1;
    (format!("{hours:02}{minutes:02}"), day)
}

fn time_context(now_ms: i64) -> Map<String, Value> {
    let (hours_minutes, day) = clock(now_ms);
    let mut map = Map::new();
    map.insert("current_timestamp".into(), Value::from(now_ms));
    map.insert("current_time".into(), Value::from(hours_minutes));
    map.insert("current_day".into(), Value::from(day));
    map
}

fn str_in<'b>(s: &str, arena: &'b Bump) -> DataValue<'b> {
    DataValue::String(arena.alloc_str(s))
}

/// `s` lower-cased (as `str::to_lowercase`), in the arena; ASCII without a temporary.
fn lower_in<'b>(s: &str, arena: &'b Bump) -> DataValue<'b> {
    if s.is_ascii() {
        let lower = arena.alloc_str(s);
        lower.make_ascii_lowercase();
        DataValue::String(lower)
    } else {
        str_in(&s.to_lowercase(), arena)
    }
}

/// [`UrlContext::to_json`] in the arena.
fn url_in<'b>(url: &UrlContext, arena: &'b Bump) -> DataValue<'b> {
    let fields = url.fields();
    let exact = fields.map(|(key, value)| (key, str_in(value, arena)));
    let lower = UrlContext::FIELDS_LC
        .into_iter()
        .zip(fields)
        .map(|(key, (_, value))| (key, lower_in(value, arena)));
    let pairs: Vec<_> = exact.into_iter().chain(lower).collect();
    DataValue::Object(arena.alloc_slice_copy(&pairs))
}

/// [`geo`] in the arena.
fn geo_in<'b>(geo: Option<&Geo>, arena: &'b Bump) -> DataValue<'b> {
    let Some(geo) = geo else {
        return DataValue::Object(&[]);
    };
    let text = |s: &Option<String>| s.as_deref().map(|s| str_in(s, arena));
    let number = |n: Option<f64>| n.map(number_value);
    let pairs: Vec<(&str, DataValue<'b>)> = [
        ("country", text(&geo.country_code)),
        ("region", text(&geo.state_code)),
        ("city", text(&geo.city)),
        ("latitude", number(geo.latitude)),
        ("longitude", number(geo.longitude)),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value?)))
    .collect();
    DataValue::Object(arena.alloc_slice_copy(&pairs))
}

/// A geo number as the JSON context holds it: a float, and null where JSON has no
/// number (NaN, infinities).
fn number_value<'b>(n: f64) -> DataValue<'b> {
    if n.is_finite() {
        DataValue::from_f64(n)
    } else {
        DataValue::Null
    }
}

fn user_of(context: Option<&Context>) -> UserContext {
    let user_agent = context.and_then(|c| c.user_agent.as_deref()).unwrap_or("");
    let hints = context
        .and_then(|c| c.client_hints.as_ref())
        .map(|h| ClientHintsView {
            platform: h.platform.as_deref(),
            browser_ua_with_full_version: h.browser_ua_with_full_version.as_deref(),
            browser_ua_with_major_version: h.browser_ua_with_major_version.as_deref(),
        });
    user_context(user_agent, hints.as_ref())
}

fn user_json(user: &UserContext) -> Value {
    let mut map = Map::new();
    map.insert(
        "browserType".into(),
        Value::from(user.browser_type.as_str()),
    );
    map.insert("platform".into(), Value::from(user.platform.as_str()));
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

#[cfg(test)]
mod arena_tests {
    use super::*;
    use serde_json::json;

    /// The arena context is the JSON context: same keys, order and values.
    #[test]
    fn the_arena_context_equals_the_json_context() {
        let requests = [
            json!({}),
            json!({"context": {"channel": "web"}}),
            json!({"context": {
                "channel": "web",
                "address": {"url": "https://Www.Shop.Example.co.uk/Path/A?Q=1#Frag", "referringUrl": "http://ÉCOLE.fr/İx"},
                "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "geo": {"countryCode": "US", "stateCode": "CA", "city": "San Jose", "latitude": 37.0, "longitude": -121.5}
            }}),
            json!({"context": {"geo": {"city": "Zürich"}, "address": {"url": "not a url"}}}),
        ];
        for (i, request) in requests.into_iter().enumerate() {
            let request: DeliveryRequest = serde_json::from_value(request).unwrap();
            let context = RequestContext::new(&request, 1_585_098_300_000 + i as i64 * 7_777_777);
            let arena = Bump::new();
            let from_json =
                DataValue::from_serde_value_in(&Value::Object(context.to_json()), &arena);
            let direct = DataValue::Object(context.to_arena(&arena));
            assert_eq!(direct, from_json, "request {i}");
            // Keys in the same order too.
            let (DataValue::Object(a), DataValue::Object(b)) = (direct, from_json) else {
                panic!("objects");
            };
            let keys = |o: &[(&str, DataValue<'_>)]| {
                o.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>()
            };
            assert_eq!(keys(a), keys(b));
        }
    }

    #[test]
    fn detail_overrides_in_the_arena_equal_the_json_ones() {
        let params = json!({"a.b": "X", "c": "Yz", "n": 1});
        let params = params.as_object().unwrap();
        let address = Address {
            url: Some("https://Detail.example.com/P?x=Y".into()),
            ..Default::default()
        };
        let arena = Bump::new();
        for (address, parameters) in [(None, None), (Some(&address), Some(params))] {
            let direct = RequestContext::overrides_in(address, parameters, &arena);
            let json = RequestContext::overrides(address, parameters);
            assert_eq!(direct.len(), json.len());
            for ((dk, dv), (jk, jv)) in direct.iter().zip(&json) {
                assert_eq!(dk, jk);
                assert_eq!(*dv, DataValue::from_serde_value_in(jv, &arena), "{dk}");
            }
        }
    }
}
