//! Flag keys and answers: which mbox (and which attribute of its JSON offers) a flag key
//! names, against the loaded artifact, and the OFREP answer made from get_attributes'
//! result. `<mbox>` is an object flag (the mbox's merged JSON offers), `<mbox>.<key>` one
//! attribute; when mbox names hold dots, the longest one the artifact knows wins.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{ErrorCode, EvaluationError};
use crate::client::TargetDeliveryResponse;
use crate::engine::CompiledArtifact;
use crate::model::{DecisioningMethod, MboxResponse, OptionType};

/// What a flag key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagRef<'k> {
    /// The whole merged JSON offer of an mbox: an object flag.
    Mbox(&'k str),
    /// One attribute of it: a typed flag.
    Attribute { mbox: &'k str, key: &'k str },
}

impl<'k> FlagRef<'k> {
    /// The mbox to decide.
    pub fn mbox(self) -> &'k str {
        match self {
            Self::Mbox(mbox) | Self::Attribute { mbox, .. } => mbox,
        }
    }
}

/// An OpenFeature resolution reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// An A/B activity allocated the visitor to the experience.
    Split,
    /// Experience targeting (or an activity of unknown type) matched.
    TargetingMatch,
    /// No activity served a value: the caller's code default applies.
    Default,
}

/// One flag's answer; `value` absent means "use your code default" (OFREP's
/// `codeDefaultFlag`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub reason: Reason,
    /// The experience: its name, else its id; `default` when none served a value.
    pub variant: String,
    /// Activity and experience ids and names, and how it was decided; scalars only.
    pub metadata: Map<String, Value>,
}

/// A flag of a bulk answer: evaluated, or failed on its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BulkItem {
    Evaluated(Evaluation),
    Failed {
        key: String,
        #[serde(rename = "errorCode")]
        error_code: &'static str,
        #[serde(rename = "errorDetails")]
        error_details: String,
    },
}

/// The bulk answer: `{"flags": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkAnswer {
    pub flags: Vec<BulkItem>,
}

/// The flags the loaded artifact serves. Without an artifact (server-side mode before
/// or without one) every mbox is Target's: a key is split at its first dot.
#[derive(Debug, Clone, Copy)]
pub struct Catalog<'a> {
    artifact: Option<&'a CompiledArtifact>,
}

/// The response tokens reported as metadata, when the artifact exposes them.
const METADATA_TOKENS: [&str; 4] = [
    "activity.id",
    "activity.name",
    "experience.id",
    "experience.name",
];

impl<'a> Catalog<'a> {
    pub fn new(artifact: Option<&'a CompiledArtifact>) -> Self {
        Self { artifact }
    }

    /// An mbox the artifact names: with rules, local or remote.
    fn knows(&self, mbox: &str) -> bool {
        self.artifact.is_none_or(|a| {
            a.mbox_rules.contains_key(mbox)
                || a.local_mboxes.contains(mbox)
                || a.remote_mboxes.contains_key(mbox)
        })
    }

    /// An mbox only Target decides: its attributes cannot be known here.
    fn is_remote(&self, mbox: &str) -> bool {
        self.artifact
            .is_none_or(|a| a.remote_mboxes.contains_key(mbox))
    }

    /// The attribute names of the mbox's JSON offers, in artifact order, once each.
    fn json_keys(&self, mbox: &str) -> Vec<&'a str> {
        let mut keys: Vec<&str> = Vec::new();
        let rules = self.artifact.map_or(&[][..], |a| a.mbox_rules(mbox));
        for rule in rules {
            for option in &rule.rule.consequence.options {
                if let (Some(OptionType::Json), Some(Value::Object(content))) =
                    (option.kind, &option.content)
                {
                    for key in content.keys() {
                        if !keys.contains(&key.as_str()) {
                            keys.push(key);
                        }
                    }
                }
            }
        }
        keys
    }

    /// What `key` names: the longest known mbox name that is the key or a prefix of it
    /// up to a dot; the rest, if any, an attribute that mbox's offers hold (any
    /// attribute for a remote mbox).
    pub fn resolve<'k>(&self, key: &'k str) -> Result<FlagRef<'k>, EvaluationError> {
        if self.artifact.is_none() {
            return Ok(match key.split_once('.') {
                Some((mbox, attribute)) if !mbox.is_empty() && !attribute.is_empty() => {
                    FlagRef::Attribute {
                        mbox,
                        key: attribute,
                    }
                }
                _ => FlagRef::Mbox(key),
            });
        }
        if self.knows(key) {
            return Ok(FlagRef::Mbox(key));
        }
        for (dot, _) in key.rmatch_indices('.') {
            let (mbox, attribute) = (&key[..dot], &key[dot + 1..]);
            if !self.knows(mbox) {
                continue;
            }
            if !attribute.is_empty()
                && (self.is_remote(mbox) || self.json_keys(mbox).contains(&attribute))
            {
                return Ok(FlagRef::Attribute {
                    mbox,
                    key: attribute,
                });
            }
            return Err(not_found(format!(
                "no JSON offer of mbox `{mbox}` has the attribute `{attribute}`"
            )));
        }
        Err(not_found(format!(
            "the artifact names no mbox `{key}` (nor one that `{key}` starts with, up to a dot)"
        )))
    }

    /// The mboxes a bulk evaluation decides: local ones whose offers are JSON, in
    /// artifact order.
    pub fn bulk_mboxes(&self) -> Vec<&'a str> {
        let Some(artifact) = self.artifact else {
            return Vec::new();
        };
        artifact
            .mbox_names()
            .filter(|mbox| !self.is_remote(mbox) && !self.json_keys(mbox).is_empty())
            .collect()
    }

    /// Every flag of the bulk mboxes, evaluated from one decision: each mbox as an
    /// object flag, then each of its attributes.
    pub fn bulk(
        &self,
        attributes: &Map<String, Value>,
        response: &TargetDeliveryResponse,
    ) -> BulkAnswer {
        let mut flags = Vec::new();
        for mbox in self.bulk_mboxes() {
            let mut one = |key: String, flag: FlagRef<'_>| {
                flags.push(match self.evaluate(&key, flag, attributes, response) {
                    Ok(evaluation) => BulkItem::Evaluated(evaluation),
                    Err(error) => BulkItem::Failed {
                        key,
                        error_code: error.code.as_str(),
                        error_details: error.details,
                    },
                });
            };
            one(mbox.to_string(), FlagRef::Mbox(mbox));
            for attribute in self.json_keys(mbox) {
                let key = format!("{mbox}.{attribute}");
                one(
                    key,
                    FlagRef::Attribute {
                        mbox,
                        key: attribute,
                    },
                );
            }
        }
        BulkAnswer { flags }
    }

    /// The answer for `flag` (asked for as `key`) from get_attributes' result.
    pub fn evaluate(
        &self,
        key: &str,
        flag: FlagRef<'_>,
        attributes: &Map<String, Value>,
        response: &TargetDeliveryResponse,
    ) -> Result<Evaluation, EvaluationError> {
        let mbox = flag.mbox();
        let method = response.meta.decisioning_method;
        if method == DecisioningMethod::OnDevice
            && response.meta.remote_mboxes.iter().any(|m| m == mbox)
        {
            return Err(EvaluationError::new(
                ErrorCode::General,
                format!(
                    "only Target can decide mbox `{mbox}` (a remote mbox), and offerd decides \
                     on-device: set target.decisioning_method = \"hybrid\""
                ),
            ));
        }
        let offer = attributes.get(mbox);
        let value = match flag {
            FlagRef::Mbox(_) => offer,
            FlagRef::Attribute { key, .. } => offer.and_then(|o| o.get(key)),
        }
        .filter(|v| !v.is_null())
        .cloned();
        let tokens = served_tokens(response, mbox);
        let token = |name: &str| tokens.and_then(|t| t.get(name));
        let reason = match (&value, token("activity.id")) {
            (None, _) => Reason::Default,
            (Some(_), Some(activity)) if self.is_ab_test(mbox, activity) => Reason::Split,
            (Some(_), _) => Reason::TargetingMatch,
        };
        let variant = match (token("experience.name"), token("experience.id")) {
            (Some(Value::String(name)), _) => name.clone(),
            (_, Some(Value::Number(id))) => id.to_string(),
            (_, Some(Value::String(id))) => id.clone(),
            _ => "default".to_string(),
        };
        let mut metadata: Map<String, Value> = METADATA_TOKENS
            .iter()
            .filter_map(|name| {
                token(name)
                    .filter(|v| v.is_string() || v.is_number())
                    .map(|v| ((*name).to_string(), v.clone()))
            })
            .collect();
        metadata.insert("decisioningMethod".into(), method.as_str().into());
        Ok(Evaluation {
            key: key.to_string(),
            value,
            reason,
            variant,
            metadata,
        })
    }

    /// Whether `activity` of `mbox` is an A/B test (`activity.type` "ab" in the
    /// artifact); experience targeting is "landing".
    fn is_ab_test(&self, mbox: &str, activity: &Value) -> bool {
        let rules = self.artifact.map_or(&[][..], |a| a.mbox_rules(mbox));
        rules
            .iter()
            .find(|rule| rule.rule.meta.get("activity.id") == Some(activity))
            .and_then(|rule| rule.rule.meta.get("activity.type"))
            .is_some_and(|kind| kind == "ab")
    }
}

fn not_found(details: String) -> EvaluationError {
    EvaluationError::new(ErrorCode::FlagNotFound, details)
}

/// The response tokens of the mbox's first JSON offer that has them, execute first.
fn served_tokens<'r>(
    response: &'r TargetDeliveryResponse,
    mbox: &str,
) -> Option<&'r Map<String, Value>> {
    let delivery = &response.response;
    let execute = delivery.execute.as_ref().and_then(|e| e.mboxes.as_ref());
    let prefetch = delivery.prefetch.as_ref().and_then(|p| p.mboxes.as_ref());
    execute
        .into_iter()
        .flatten()
        .chain(prefetch.into_iter().flatten())
        .filter(|m: &&MboxResponse| m.name.as_deref() == Some(mbox))
        .flat_map(|m| m.options.iter().flatten())
        .filter(|o| o.kind == Some(OptionType::Json))
        .find_map(|o| o.response_tokens.as_deref())
}

#[cfg(test)]
mod tests;
