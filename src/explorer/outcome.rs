//! A tried request explained: the offers and response tokens of the answer, and for
//! every activity of every requested mbox or view, its experiences with the visitor's
//! allocation bucket against their ranges and each audience clause matched or failed,
//! read from the decision's trace (the same trace `/v1/offers` returns).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::audience::{allocation_range, clauses, describe};
use super::view::{Activity, ArtifactView, LocationKind, text};
use crate::engine::condition_holds;
use crate::model::{DeliveryRequest, OfferOption};
use crate::sdk::response::TargetDeliveryResponse;

/// What the explorer shows for one tried request.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub offers: Vec<ShownOffer>,
    /// One list per offer, in the answer's order.
    pub response_tokens: Vec<Vec<(String, String)>>,
    pub locations: Vec<LocationOutcome>,
    /// Mboxes and views only Target could decide (not decided here).
    pub remote: Vec<String>,
}

/// One offer of the answer.
#[derive(Debug, Clone)]
pub struct ShownOffer {
    pub location: String,
    pub kind: String,
    pub content: String,
}

/// One requested mbox or view.
#[derive(Debug, Clone)]
pub struct LocationOutcome {
    pub kind: LocationKind,
    pub name: String,
    /// False when the artifact has no rules for it.
    pub known: bool,
    /// False when the answer carries no trace for it: the SDKs attach a page-load or
    /// view trace only to a match.
    pub traced: bool,
    pub activities: Vec<ActivityOutcome>,
}

/// One activity of a requested location.
#[derive(Debug, Clone)]
pub struct ActivityOutcome {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The visitor's allocation bucket (0–100), when the activity was evaluated.
    pub bucket: Option<f64>,
    pub experiences: Vec<ExperienceOutcome>,
    /// The experience that won, by name.
    pub winner: Option<String>,
    /// Why the activity was not considered at all (its property tokens).
    pub excluded: Option<String>,
}

/// What happened to one experience (rule).
#[derive(Debug, Clone)]
pub struct ExperienceOutcome {
    pub name: String,
    pub range: Option<(f64, f64)>,
    /// Whether the bucket falls in `range`.
    pub in_range: Option<bool>,
    pub verdict: Verdict,
    pub clauses: Vec<Clause>,
}

/// A rule's fate in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its condition held: this experience is the activity's answer.
    Won,
    /// Its condition did not hold.
    Failed,
    /// Not evaluated: an earlier experience of the activity matched, or the activity
    /// was not reached.
    NotEvaluated,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Won => "won",
            Self::Failed => "failed",
            Self::NotEvaluated => "not evaluated",
        }
    }
}

/// One clause of a rule's condition, as text, and whether it held.
#[derive(Debug, Clone)]
pub struct Clause {
    pub text: String,
    /// `None`: the trace had no context to evaluate it against.
    pub holds: Option<bool>,
}

/// What the trace says about one activity.
struct Evaluated<'t> {
    context: &'t Map<String, Value>,
    matched: &'t [Value],
    unmatched: &'t [Value],
}

/// Explains `answer`, the decision of `request`, against the artifact `view`.
/// `property_token` is the request's, or the configured default.
pub fn outcome(
    view: &ArtifactView,
    global_mbox: &str,
    property_token: Option<&str>,
    request: &DeliveryRequest,
    answer: &TargetDeliveryResponse,
) -> Outcome {
    let traces = answer.trace.as_deref().unwrap_or_default();
    let evaluated = evaluated_targets(traces);
    let winners = winners(traces);
    let traced = Traced {
        evaluated: &evaluated,
        winners: &winners,
        property_token,
    };
    let locations = requested(request, global_mbox)
        .into_iter()
        .map(|(kind, name)| location_outcome(view, kind, name, &traced))
        .collect();
    let meta = &answer.meta;
    Outcome {
        offers: offers(answer),
        response_tokens: response_tokens(answer),
        locations,
        remote: meta
            .remote_mboxes
            .iter()
            .chain(&meta.remote_views)
            .cloned()
            .collect(),
    }
}

/// The mboxes and views a request asks for, in request order.
fn requested(request: &DeliveryRequest, global_mbox: &str) -> Vec<(LocationKind, String)> {
    let mut names = Vec::new();
    for part in [
        request.execute.as_ref().map(|e| (&e.page_load, &e.mboxes)),
        request.prefetch.as_ref().map(|p| (&p.page_load, &p.mboxes)),
    ]
    .into_iter()
    .flatten()
    {
        if part.0.is_some() {
            names.push((LocationKind::Mbox, global_mbox.to_owned()));
        }
        for mbox in part.1.iter().flatten() {
            names.push((LocationKind::Mbox, mbox.name.clone().unwrap_or_default()));
        }
    }
    let views = request.prefetch.as_ref().and_then(|p| p.views.as_ref());
    for view in views.into_iter().flatten() {
        names.push((LocationKind::View, view.name.clone().unwrap_or_default()));
    }
    names.dedup();
    names
}

/// What the decision's trace and request say, for every location.
struct Traced<'a, 't> {
    evaluated: &'a HashMap<String, Evaluated<'t>>,
    winners: &'a HashMap<String, String>,
    property_token: Option<&'a str>,
}

fn location_outcome(
    view: &ArtifactView,
    kind: LocationKind,
    name: String,
    traced: &Traced<'_, '_>,
) -> LocationOutcome {
    let Some(location) = view.location(kind, &name) else {
        return LocationOutcome {
            kind,
            name,
            known: false,
            traced: false,
            activities: Vec::new(),
        };
    };
    let any_traced = location
        .activities
        .iter()
        .any(|a| traced.evaluated.contains_key(&a.id));
    LocationOutcome {
        kind,
        name,
        known: true,
        traced: any_traced,
        activities: location
            .activities
            .iter()
            .map(|a| activity_outcome(a, traced))
            .collect(),
    }
}

fn activity_outcome(activity: &Activity, traced: &Traced<'_, '_>) -> ActivityOutcome {
    let evaluated = traced.evaluated.get(&activity.id);
    let bucket = evaluated
        .and_then(|t| t.context.get("allocation"))
        .and_then(Value::as_f64);
    let won_id = traced.winners.get(&activity.id);
    let experiences: Vec<ExperienceOutcome> = activity
        .experiences
        .iter()
        .map(|e| {
            let verdict = match evaluated {
                Some(t)
                    if t.matched.contains(&e.condition) && won_id.is_none_or(|w| *w == e.id) =>
                {
                    Verdict::Won
                }
                Some(t) if t.unmatched.contains(&e.condition) => Verdict::Failed,
                _ => Verdict::NotEvaluated,
            };
            let range = allocation_range(&e.condition);
            ExperienceOutcome {
                name: e.name.clone(),
                range,
                in_range: range.zip(bucket).map(|((lo, hi), b)| lo <= b && b <= hi),
                verdict,
                clauses: clause_outcomes(&e.condition, evaluated.map(|t| t.context)),
            }
        })
        .collect();
    let winner = experiences
        .iter()
        .find(|e| e.verdict == Verdict::Won)
        .map(|e| e.name.clone());
    ActivityOutcome {
        id: activity.id.clone(),
        name: activity.name.clone(),
        kind: activity.kind.clone(),
        bucket,
        experiences,
        winner,
        excluded: excluded(&activity.property_tokens, traced.property_token),
    }
}

/// Why an activity with `tokens` is not considered for a request with `token`; the
/// engine's rule, `decide::property_allows`, over the activity's rules.
fn excluded(tokens: &[String], token: Option<&str>) -> Option<String> {
    let allowed = tokens.is_empty() || token.is_some_and(|t| tokens.iter().any(|p| p == t));
    (!allowed).then(|| match token {
        Some(token) => format!(
            "skipped: property token {token} is not one of {}",
            tokens.join(", ")
        ),
        None => format!(
            "skipped: the request has no property token, and the activity needs one of {}",
            tokens.join(", ")
        ),
    })
}

/// Each clause of `condition` as text, evaluated against the traced context.
fn clause_outcomes(condition: &Value, context: Option<&Map<String, Value>>) -> Vec<Clause> {
    let data = context.map(|c| Value::Object(c.clone()));
    clauses(condition)
        .into_iter()
        .map(|clause| Clause {
            text: describe(clause),
            holds: data.as_ref().and_then(|d| condition_holds(clause, d).ok()),
        })
        .collect()
}

/// The trace's evaluated campaign targets by activity id.
fn evaluated_targets(traces: &[Value]) -> HashMap<String, Evaluated<'_>> {
    let mut found = HashMap::new();
    let targets = traces
        .iter()
        .filter_map(|t| t.get("evaluatedCampaignTargets")?.as_array())
        .flatten();
    for target in targets {
        let (Some(id), Some(context)) = (
            target.get("campaignId"),
            target.get("context").and_then(Value::as_object),
        ) else {
            continue;
        };
        let list = |key: &str| {
            target
                .get(key)
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        };
        found.insert(
            text(id),
            Evaluated {
                context,
                matched: list("matchedRuleConditions"),
                unmatched: list("unmatchedRuleConditions"),
            },
        );
    }
    found
}

/// The winning experience id of each activity, from the trace's campaigns.
fn winners(traces: &[Value]) -> HashMap<String, String> {
    traces
        .iter()
        .filter_map(|t| t.get("campaigns")?.as_array())
        .flatten()
        .filter_map(|c| Some((text(c.get("id")?), text(c.get("branchId")?))))
        .collect()
}

fn offers(answer: &TargetDeliveryResponse) -> Vec<ShownOffer> {
    let mut shown = Vec::new();
    let mut add = |location: &str, options: Option<&Vec<OfferOption>>| {
        for option in options.into_iter().flatten() {
            shown.push(ShownOffer {
                location: location.to_owned(),
                kind: option
                    .kind
                    .as_ref()
                    .map(|k| text(&serde_json::to_value(k).unwrap_or_default()))
                    .unwrap_or_default(),
                content: option.content.as_ref().map(text).unwrap_or_default(),
            });
        }
    };
    let response = &answer.response;
    if let Some(execute) = &response.execute {
        if let Some(page) = &execute.page_load {
            add("page load", page.options.as_ref());
        }
        for mbox in execute.mboxes.iter().flatten() {
            add(
                mbox.name.as_deref().unwrap_or_default(),
                mbox.options.as_ref(),
            );
        }
    }
    if let Some(prefetch) = &response.prefetch {
        if let Some(page) = &prefetch.page_load {
            add("page load", page.options.as_ref());
        }
        for mbox in prefetch.mboxes.iter().flatten() {
            add(
                mbox.name.as_deref().unwrap_or_default(),
                mbox.options.as_ref(),
            );
        }
        for view in prefetch.views.iter().flatten() {
            add(
                view.name.as_deref().unwrap_or_default(),
                view.options.as_ref(),
            );
        }
    }
    shown
}

fn response_tokens(answer: &TargetDeliveryResponse) -> Vec<Vec<(String, String)>> {
    answer
        .response_tokens
        .iter()
        .flatten()
        .map(|tokens| tokens.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .collect()
}
