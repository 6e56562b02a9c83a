//! The loaded artifact as the explorer shows it: every mbox and view with its
//! activities, their experiences (allocation ranges in %, audiences as text, offers),
//! property tokens and time frames, and what only Target decides.

use std::time::SystemTime;

use indexmap::IndexMap;
use serde_json::Value;

use super::audience::{allocation_range, clauses, date, describe, time_frame};
use crate::engine::artifact::Rule;
use crate::engine::compiled::CompiledRule;
use crate::store::{LoadedArtifact, RefreshStatus};

/// Where the artifact came from and how it is kept fresh.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub version: String,
    pub generated_at: String,
    pub etag: String,
    pub source: String,
    pub fetched_at: String,
    pub last_success: String,
    pub last_error: String,
    /// "every 300 s", or "loaded once".
    pub polling: String,
    pub refreshes: String,
}

/// An mbox or a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    Mbox,
    View,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mbox => "mbox",
            Self::View => "view",
        }
    }
}

/// One mbox or view and its activities, in artifact order.
#[derive(Debug, Clone)]
pub struct Location {
    pub kind: LocationKind,
    pub name: String,
    /// Also listed as remote: some of its activities are decided by Target only.
    pub remote: bool,
    pub activities: Vec<Activity>,
}

/// One activity on one location.
#[derive(Debug, Clone)]
pub struct Activity {
    pub id: String,
    pub name: String,
    /// "A/B", "XT" (experience targeting), or the artifact's own word.
    pub kind: String,
    pub experiences: Vec<Experience>,
    pub property_tokens: Vec<String>,
    /// "from … until …", when its rules carry one.
    pub time_frame: Option<String>,
}

/// One experience: a rule of the artifact.
#[derive(Debug, Clone)]
pub struct Experience {
    pub id: String,
    pub name: String,
    /// Allocation bucket range in %, `[low, high]`.
    pub allocation: Option<(f64, f64)>,
    /// The audience conditions besides allocation and time, as text.
    pub audience: String,
    /// The rule's whole condition, pretty JSON, for the raw toggle.
    pub condition_json: String,
    /// The rule itself (as JsonLogic), for the outcome's clause-by-clause view.
    pub condition: Value,
    pub offers: Vec<Offer>,
}

/// One offer option of an experience.
#[derive(Debug, Clone)]
pub struct Offer {
    pub name: String,
    pub kind: String,
    /// The content as text (HTML offers stay text: the page escapes it).
    pub content: String,
}

/// The whole artifact view.
#[derive(Debug, Clone)]
pub struct ArtifactView {
    pub provenance: Provenance,
    pub locations: Vec<Location>,
    /// Remote mboxes and views without a single local rule.
    pub remote_only: Vec<(LocationKind, String)>,
    pub activity_count: usize,
}

/// Builds the view of `loaded`, polled every `polling_secs` (0 = loaded once).
pub fn artifact_view(
    loaded: &LoadedArtifact,
    status: &RefreshStatus,
    polling_secs: u64,
) -> ArtifactView {
    let artifact = &loaded.compiled.artifact;
    let remote_mboxes = &artifact.remote_mboxes;
    let remote_views = &artifact.remote_views;
    // Compiling moved the rules out of `artifact.rules`: they are read from the
    // compiled artifact, in its (priority) order.
    let compiled = &loaded.compiled;
    let mut locations = Vec::new();
    for (name, rules) in &compiled.mbox_rules {
        let remote = remote_mboxes.contains(name);
        locations.push(location(LocationKind::Mbox, name, rules, remote));
    }
    for (name, rules) in &compiled.view_rules {
        let remote = remote_views.contains(name);
        locations.push(location(LocationKind::View, name, rules, remote));
    }
    let remote_only = remote_mboxes
        .iter()
        .filter(|m| !compiled.mbox_rules.contains_key(*m))
        .map(|m| (LocationKind::Mbox, m.clone()))
        .chain(
            remote_views
                .iter()
                .filter(|v| !compiled.view_rules.contains_key(*v))
                .map(|v| (LocationKind::View, v.clone())),
        )
        .collect();
    let activity_count = locations.iter().map(|l| l.activities.len()).sum();
    ArtifactView {
        provenance: provenance(loaded, status, polling_secs),
        locations,
        remote_only,
        activity_count,
    }
}

fn provenance(loaded: &LoadedArtifact, status: &RefreshStatus, polling_secs: u64) -> Provenance {
    let artifact = &loaded.compiled.artifact;
    let time = |t: Option<SystemTime>| {
        t.map_or_else(
            || "never".to_owned(),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        )
    };
    let generated_at = artifact
        .meta
        .get("generatedAt")
        .map(text)
        .unwrap_or_else(|| "unknown".into());
    let backup = if loaded.from_backup {
        " (from the backup)"
    } else {
        ""
    };
    Provenance {
        version: artifact.version.clone(),
        generated_at,
        etag: loaded.etag.clone().unwrap_or_else(|| "none".into()),
        source: format!("{}{backup}", loaded.source),
        fetched_at: time(Some(loaded.fetched_at)),
        last_success: time(status.last_success),
        last_error: status.last_error.clone().unwrap_or_else(|| "none".into()),
        polling: if polling_secs == 0 {
            "loaded once".into()
        } else {
            format!("every {polling_secs} s")
        },
        refreshes: format!("{} succeeded, {} failed", status.successes, status.failures),
    }
}

fn location(kind: LocationKind, name: &str, rules: &[CompiledRule], remote: bool) -> Location {
    let mut by_activity: IndexMap<String, Vec<&Rule>> = IndexMap::new();
    for compiled in rules {
        let rule = &compiled.rule;
        by_activity.entry(activity_id(rule)).or_default().push(rule);
    }
    let activities = by_activity
        .into_iter()
        .map(|(id, rules)| activity(id, &rules))
        .collect();
    Location {
        kind,
        name: name.to_owned(),
        remote,
        activities,
    }
}

/// The activity a rule belongs to, as text.
pub fn activity_id(rule: &Rule) -> String {
    rule.activity_id
        .as_ref()
        .or_else(|| rule.meta.get("activity.id"))
        .map(text)
        .unwrap_or_default()
}

fn activity(id: String, rules: &[&Rule]) -> Activity {
    let first = rules.first().map(|r| &r.meta);
    let meta = |key: &str| first.and_then(|m| m.get(key)).map(text).unwrap_or_default();
    let mut property_tokens: Vec<String> = Vec::new();
    for token in rules.iter().flat_map(|r| &r.property_tokens) {
        if !property_tokens.contains(token) {
            property_tokens.push(token.clone());
        }
    }
    let time_frame = rules
        .iter()
        .find_map(|r| time_frame(&r.condition))
        .map(|(from, until)| {
            let at = |ms: Option<f64>| ms.map(|ms| date(ms as i64));
            match (at(from), at(until)) {
                (Some(f), Some(u)) => format!("from {f} until {u}"),
                (Some(f), None) => format!("from {f}"),
                (None, Some(u)) => format!("until {u}"),
                (None, None) => "always".into(),
            }
        });
    Activity {
        name: non_empty(meta("activity.name"), || format!("activity {id}")),
        kind: kind_label(&meta("activity.type")),
        experiences: rules.iter().map(|r| experience(r)).collect(),
        property_tokens,
        time_frame,
        id,
    }
}

/// Target's activity types by the names its UI uses.
pub fn kind_label(kind: &str) -> String {
    match kind {
        "ab" => "A/B".into(),
        "landing" => "XT".into(),
        "" => "unknown".into(),
        other => other.to_owned(),
    }
}

fn experience(rule: &Rule) -> Experience {
    let meta = |key: &str| rule.meta.get(key).map(text).unwrap_or_default();
    let audience_clauses: Vec<&Value> = clauses(&rule.condition)
        .into_iter()
        .filter(|c| allocation_range(c).is_none() && time_frame(c).is_none())
        .collect();
    let audience = match audience_clauses.as_slice() {
        [] => "everyone".to_owned(),
        parts => parts
            .iter()
            .map(|c| describe(c))
            .collect::<Vec<_>>()
            .join(" and "),
    };
    // Target names the offer (`offer.name`) where it can; older artifacts only the
    // option (`option.name`).
    let offer_name = non_empty(meta("offer.name"), || meta("option.name"));
    let offers = rule
        .consequence
        .options
        .iter()
        .map(|option| Offer {
            name: offer_name.clone(),
            kind: option
                .kind
                .as_ref()
                .map(|k| text(&serde_json::to_value(k).unwrap_or_default()))
                .unwrap_or_default(),
            content: option.content.as_ref().map(text).unwrap_or_default(),
        })
        .collect();
    Experience {
        id: meta("experience.id"),
        name: non_empty(meta("experience.name"), || {
            rule.rule_key.clone().unwrap_or_default()
        }),
        allocation: allocation_range(&rule.condition),
        audience,
        condition_json: serde_json::to_string_pretty(&rule.condition).unwrap_or_default(),
        condition: rule.condition.clone(),
        offers,
    }
}

fn non_empty(text: String, otherwise: impl FnOnce() -> String) -> String {
    if text.is_empty() { otherwise() } else { text }
}

/// A JSON value as display text: strings as they are, anything else as compact JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

impl ArtifactView {
    /// The activities of one mbox or view.
    pub fn location(&self, kind: LocationKind, name: &str) -> Option<&Location> {
        self.locations
            .iter()
            .find(|l| l.kind == kind && l.name == name)
    }
}
