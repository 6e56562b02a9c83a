//! The artifact compiled once on load: rules indexed by mbox and view name, conditions
//! parsed into JsonLogic programs, lookup sets built, so a decision does no per-request
//! work on the artifact itself.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::artifact::{Artifact, ArtifactError, Rule};
use super::json_logic::Condition;
use crate::model::ResponseTokens;

/// Response tokens copied from rule meta when the artifact lists them.
const META_TOKENS: [&str; 12] = [
    "activity.id",
    "activity.name",
    "activity.type",
    "experience.id",
    "experience.name",
    "location.id",
    "location.name",
    "location.type",
    "offer.id",
    "offer.name",
    "option.id",
    "option.name",
];

/// A rule with its condition compiled and the values a decision needs precomputed.
#[derive(Debug)]
pub struct CompiledRule {
    pub rule: Rule,
    pub(crate) condition: Condition,
    /// `meta["activity.id"]` as the SDKs stringify it into the allocation key.
    pub(crate) activity_id: String,
    /// The response tokens of its options, before any geo ones.
    pub(crate) response_tokens: ResponseTokens,
}

/// Where an artifact came from, for the `artifact` part of a trace.
#[derive(Debug, Clone, Default)]
pub struct ArtifactProvenance {
    /// URL or path it was read from; `None` for an inline payload.
    pub location: Option<String>,
    pub polling_interval_ms: u64,
    pub polling_halted: bool,
    pub retrieval_count: u64,
    /// RFC 3339 time of the download.
    pub last_retrieved: String,
}

/// An artifact ready to decide from. Immutable; a refresh builds a new one.
#[derive(Debug)]
pub struct CompiledArtifact {
    pub artifact: Artifact,
    pub(crate) mbox_rules: IndexMap<String, Vec<CompiledRule>>,
    pub(crate) view_rules: IndexMap<String, Vec<CompiledRule>>,
    pub(crate) local_mboxes: HashSet<String>,
    pub(crate) local_views: HashSet<String>,
    /// `remoteMboxes` and `remoteViews` by name, each with its first position in the
    /// artifact: a request looks its own few names up here, in artifact order, instead of
    /// scanning lists that grow with the artifact.
    pub(crate) remote_mboxes: HashMap<String, usize>,
    pub(crate) remote_views: HashMap<String, usize>,
    pub(crate) response_tokens: HashSet<String>,
    /// The `artifact` object of trace responses.
    pub(crate) trace: Value,
}

impl CompiledArtifact {
    /// Compiles every rule. A condition that is not valid JsonLogic fails the whole
    /// artifact: deciding from a partial artifact would silently skip activities.
    pub fn compile(
        mut artifact: Artifact,
        provenance: ArtifactProvenance,
    ) -> Result<Self, ArtifactError> {
        let response_tokens: HashSet<String> = artifact.response_tokens.iter().cloned().collect();
        let mbox_rules = compile_rules(
            std::mem::take(&mut artifact.rules.mboxes),
            "mbox",
            &response_tokens,
        )?;
        let view_rules = compile_rules(
            std::mem::take(&mut artifact.rules.views),
            "view",
            &response_tokens,
        )?;
        let trace = artifact_trace(&artifact, &provenance);
        Ok(Self {
            local_mboxes: artifact.local_mboxes.iter().cloned().collect(),
            local_views: artifact.local_views.iter().cloned().collect(),
            remote_mboxes: positions(&artifact.remote_mboxes),
            remote_views: positions(&artifact.remote_views),
            response_tokens,
            mbox_rules,
            view_rules,
            trace,
            artifact,
        })
    }

    /// The global mbox name used for page-load requests.
    pub fn global_mbox(&self) -> &str {
        self.artifact.global_mbox()
    }

    /// Rules of one mbox, in priority order.
    pub fn mbox_rules(&self, name: &str) -> &[CompiledRule] {
        self.mbox_rules.get(name).map_or(&[], Vec::as_slice)
    }

    /// Rules of one view, in priority order.
    pub fn view_rules(&self, name: &str) -> &[CompiledRule] {
        self.view_rules.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every view rule, view by view in artifact order.
    pub fn all_view_rules(&self) -> impl Iterator<Item = &CompiledRule> {
        self.view_rules.values().flatten()
    }

    /// Rule counts by mbox and by view, for `/v1/artifact`.
    pub fn rule_counts(&self) -> (usize, usize) {
        (
            self.mbox_rules.values().map(Vec::len).sum(),
            self.view_rules.values().map(Vec::len).sum(),
        )
    }

    /// Names of the mboxes that have on-device rules.
    pub fn mbox_names(&self) -> impl Iterator<Item = &str> {
        self.mbox_rules.keys().map(String::as_str)
    }
}

/// Each name with the position of its first occurrence.
fn positions(names: &[String]) -> HashMap<String, usize> {
    let mut map = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        map.entry(name.clone()).or_insert(i);
    }
    map
}

fn compile_rules(
    rules: IndexMap<String, Vec<Rule>>,
    kind: &str,
    response_tokens: &HashSet<String>,
) -> Result<IndexMap<String, Vec<CompiledRule>>, ArtifactError> {
    rules
        .into_iter()
        .map(|(name, rules)| {
            let compiled = rules
                .into_iter()
                .map(|rule| compile_rule(rule, &format!("{kind} {name:?}"), response_tokens))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name, compiled))
        })
        .collect()
}

fn compile_rule(
    rule: Rule,
    location: &str,
    response_tokens: &HashSet<String>,
) -> Result<CompiledRule, ArtifactError> {
    let condition =
        Condition::compile(&rule.condition).map_err(|reason| ArtifactError::InvalidCondition {
            location: location.to_string(),
            rule_key: rule.rule_key.clone().unwrap_or_default(),
            reason,
        })?;
    let activity_id = rule
        .meta
        .get("activity.id")
        .or(rule.activity_id.as_ref())
        .map(js_string)
        .unwrap_or_else(|| "undefined".to_string());
    Ok(CompiledRule {
        response_tokens: rule_tokens(response_tokens, &rule.meta),
        rule,
        condition,
        activity_id,
    })
}

/// A rule's response tokens when the request adds no geo: its listed meta values, then
/// the decisioning method. Made once, when the artifact is compiled.
fn rule_tokens(listed: &HashSet<String>, meta: &Map<String, Value>) -> ResponseTokens {
    let mut tokens = Map::new();
    for key in META_TOKENS {
        if let Some(value) = meta.get(key).filter(|_| listed.contains(key)) {
            tokens.insert(key.into(), value.clone());
        }
    }
    tokens.insert(
        "activity.decisioningMethod".into(),
        Value::from("on-device"),
    );
    ResponseTokens::new(tokens)
}

/// A JSON value as JavaScript's `String(value)` renders it (numbers without ".0").
pub(crate) fn js_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

fn artifact_trace(artifact: &Artifact, provenance: &ArtifactProvenance) -> Value {
    let mut trace = Map::new();
    trace.insert(
        "artifactLocation".into(),
        Value::from(provenance.location.as_deref().unwrap_or("N/A")),
    );
    trace.insert(
        "pollingInterval".into(),
        Value::from(provenance.polling_interval_ms),
    );
    trace.insert(
        "pollingHalted".into(),
        Value::from(provenance.polling_halted),
    );
    trace.insert(
        "artifactVersion".into(),
        Value::from(artifact.version.as_str()),
    );
    trace.insert(
        "artifactRetrievalCount".into(),
        Value::from(provenance.retrieval_count),
    );
    trace.insert(
        "artifactLastRetrieved".into(),
        Value::from(provenance.last_retrieved.as_str()),
    );
    for (key, value) in &artifact.meta {
        trace.insert(key.clone(), value.clone());
    }
    Value::Object(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn js_string_matches_javascript() {
        assert_eq!(js_string(&json!(125871)), "125871");
        assert_eq!(js_string(&json!(1.5)), "1.5");
        assert_eq!(js_string(&json!(2.0)), "2");
        assert_eq!(js_string(&json!("x")), "x");
        assert_eq!(js_string(&json!(true)), "true");
    }

    #[test]
    fn an_invalid_condition_fails_the_artifact() {
        let artifact = Artifact::from_value(json!({
            "version": "1.0.0",
            "rules": {"mboxes": {"m": [{"ruleKey": "1", "meta": {}, "condition": {"no-such-op": [1]},
                                        "consequence": {}}]}}
        }))
        .unwrap();
        let err = CompiledArtifact::compile(artifact, ArtifactProvenance::default()).unwrap_err();
        assert!(
            matches!(err, ArtifactError::InvalidCondition { .. }),
            "{err}"
        );
    }
}
