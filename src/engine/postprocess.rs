//! What happens to a matched rule's consequence before it is returned: execute and
//! prefetch shaping, response tokens, and campaign macros in HTML and actions.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::{Map, Value};

use super::compiled::{CompiledArtifact, js_string};
use crate::model::{Geo, Metric, MetricType, OfferOption, OptionType, ResponseTokens};

/// Execute: drop options with neither type nor content, strip event tokens (the
/// display is notified by offerd itself) and keep only click metrics.
pub(crate) fn prepare_execute(options: &mut Vec<OfferOption>, metrics: &mut Option<Vec<Metric>>) {
    options.retain(|o| o.kind.is_some() || o.content.is_some());
    for option in options.iter_mut() {
        option.event_token = None;
    }
    let clicks: Vec<Metric> = metrics
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.kind == Some(MetricType::Click))
        .collect();
    *metrics = (!clicks.is_empty()).then_some(clicks);
}

/// Prefetch: each option carries the event token the caller reports its display
/// with, taken from the display metric at the same position when the option has none.
pub(crate) fn prepare_prefetch(options: &mut [OfferOption], metrics: &[Metric]) {
    for (idx, option) in options.iter_mut().enumerate() {
        let display = metrics
            .get(idx)
            .filter(|m| m.kind == Some(MetricType::Display));
        if let (None, Some(metric)) = (&option.event_token, display) {
            option.event_token = metric.event_token.clone();
        }
    }
}

/// The geo response tokens the artifact lists, the same for every option of a
/// decision; usually none.
pub(crate) fn geo_tokens(artifact: &CompiledArtifact, geo: Option<&Geo>) -> Map<String, Value> {
    let mut tokens = Map::new();
    let Some(geo) = geo else { return tokens };
    let wanted = |key: &str| artifact.response_tokens.contains(key);
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|_| wanted(key)) {
            tokens.insert(key.into(), value);
        }
    };
    put("geo.city", geo.city.clone().map(Value::from));
    put("geo.country", geo.country_code.clone().map(Value::from));
    put("geo.state", geo.state_code.clone().map(Value::from));
    put("geo.latitude", geo.latitude.map(Value::from));
    put("geo.longitude", geo.longitude.map(Value::from));
    tokens
}

/// Sets every option's response tokens: the rule's own, then the request's geo ones.
/// Without geo tokens (the usual case) the options share the rule's map as it is.
pub(crate) fn add_response_tokens(
    options: &mut [OfferOption],
    rule_tokens: &ResponseTokens,
    geo_tokens: &Map<String, Value>,
) {
    let tokens = if geo_tokens.is_empty() {
        rule_tokens.clone()
    } else {
        let mut tokens = Map::clone(rule_tokens);
        tokens.extend(geo_tokens.iter().map(|(k, v)| (k.clone(), v.clone())));
        ResponseTokens::new(tokens)
    };
    for option in options {
        option.response_tokens = Some(tokens.clone());
    }
}

/// Where macro values come from, searched in this order.
pub(crate) struct MacroSources<'a> {
    pub meta: &'a Map<String, Value>,
    /// The mbox/view request as JSON (`name`, `index`, ...).
    pub details: &'a Map<String, Value>,
    pub parameters: Option<&'a Map<String, Value>>,
}

/// Replaces `${campaign.id}`, `${offer.name}`, `${mbox.param}`, ... in HTML content and
/// in the content of actions. An unknown macro is left as written.
pub(crate) fn replace_campaign_macros(options: &mut [OfferOption], sources: &MacroSources<'_>) {
    for option in options {
        match (option.kind, option.content.as_mut()) {
            (Some(OptionType::Html), Some(Value::String(html))) => {
                *html = expand(html, sources);
            }
            (Some(OptionType::Actions), Some(Value::Array(actions))) => {
                for action in actions {
                    if let Some(Value::String(content)) = action.get_mut("content") {
                        *content = expand(content, sources);
                    }
                }
            }
            _ => {}
        }
    }
}

static MACRO: LazyLock<Regex> = LazyLock::new(|| {
    // A fixed, valid pattern: compiling it cannot fail.
    Regex::new(r"\$\{([a-zA-Z0-9_.]*?)\}").expect("macro pattern is valid")
});
static MACRO_ALIAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)campaign|recipe").expect("alias pattern is valid"));

fn expand(text: &str, sources: &MacroSources<'_>) -> String {
    if !text.contains("${") {
        return text.to_string();
    }
    MACRO
        .replace_all(text, |caps: &Captures<'_>| {
            let key = macro_key(&caps[1]);
            lookup(&key, sources).unwrap_or_else(|| caps[0].to_string())
        })
        .into_owned()
}

/// `campaign.recipe.name` -> `experience.name`, `mbox.user` -> `user`: aliases
/// renamed, the last two segments kept, `mbox` segments dropped.
fn macro_key(raw: &str) -> String {
    let renamed = MACRO_ALIAS.replace_all(raw, |caps: &Captures<'_>| match &caps[0] {
        "campaign" => "activity".to_string(),
        "recipe" => "experience".to_string(),
        // The SDKs map only the lower-case spellings; other cases become "undefined".
        _ => "undefined".to_string(),
    });
    let parts: Vec<&str> = renamed.split('.').collect();
    let tail = &parts[parts.len().saturating_sub(2)..];
    tail.iter()
        .copied()
        .filter(|part| *part != "mbox")
        .collect::<Vec<_>>()
        .join(".")
}

fn lookup(key: &str, sources: &MacroSources<'_>) -> Option<String> {
    [
        Some(sources.meta),
        Some(sources.details),
        sources.parameters,
    ]
    .into_iter()
    .flatten()
    .find_map(|map| map.get(key))
    .map(js_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn macro_keys_follow_the_sdk_rules() {
        assert_eq!(macro_key("campaign.id"), "activity.id");
        assert_eq!(macro_key("campaign.recipe.name"), "experience.name");
        assert_eq!(macro_key("activity.experience.id"), "experience.id");
        assert_eq!(macro_key("mbox.name"), "name");
        assert_eq!(macro_key("mbox.browserWidth"), "browserWidth");
        assert_eq!(macro_key("offer.id"), "offer.id");
    }

    #[test]
    fn macros_expand_from_meta_then_request_then_parameters() {
        let meta = json!({"activity.id": 125, "offer.name": "o"});
        let details = json!({"name": "box", "index": 1});
        let params = json!({"user": "Ann"});
        let sources = MacroSources {
            meta: meta.as_object().unwrap(),
            details: details.as_object().unwrap(),
            parameters: params.as_object(),
        };
        let text = "${campaign.id}|${offer.name}|${mbox.name}|${mbox.user}|${mbox.nope}";
        assert_eq!(expand(text, &sources), "125|o|box|Ann|${mbox.nope}");
    }
}
