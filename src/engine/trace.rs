//! Decision traces (`request.trace`): which activities were evaluated against which
//! context, which matched, and what notifications they produced — shaped like the
//! trace Target's edge returns, as the SDKs build it on-device.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::compiled::{CompiledArtifact, CompiledRule};
use crate::model::{DeliveryRequest, Notification};

/// Request-wide trace inputs, fixed for one decision.
pub(crate) struct TraceScope<'a> {
    pub client: &'a str,
    pub artifact: &'a CompiledArtifact,
    pub profile: Value,
    pub session_id: Option<&'a str>,
}

impl<'a> TraceScope<'a> {
    /// `None` when the request did not ask for a trace.
    pub fn new(
        request: &DeliveryRequest,
        client: &'a str,
        artifact: &'a CompiledArtifact,
        session_id: Option<&'a str>,
    ) -> Option<Self> {
        request.trace.as_ref()?;
        Some(Self {
            client,
            artifact,
            profile: profile(request),
            session_id,
        })
    }
}

fn profile(request: &DeliveryRequest) -> Value {
    let mut visitor = match request.id.as_ref().map(serde_json::to_value) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    let tnt = request.id.as_ref().and_then(|id| id.tnt_id.as_deref());
    visitor.remove("tntId");
    if let Some(tnt) = tnt {
        let mut parts = tnt.split('.');
        if let Some(id) = parts.next() {
            visitor.insert("tntId".into(), Value::from(id));
        }
        if let Some(location) = parts.next() {
            visitor.insert("profileLocation".into(), Value::from(location));
        }
    }
    let mut profile = Map::new();
    profile.insert("visitorId".into(), Value::Object(visitor));
    Value::Object(profile)
}

/// Accumulates what one mode (execute or prefetch) evaluated. Like the SDKs, campaigns
/// accumulate across every mbox and view of the mode; the `request` part is the
/// current one.
pub(crate) struct Tracer<'s, 'a> {
    scope: &'s TraceScope<'a>,
    request: Map<String, Value>,
    campaigns: IndexMap<String, Map<String, Value>>,
    targets: IndexMap<String, EvaluatedTarget>,
}

struct EvaluatedTarget {
    head: Map<String, Value>,
    matched_segments: Vec<Value>,
    unmatched_segments: Vec<Value>,
    matched_conditions: Vec<Value>,
    unmatched_conditions: Vec<Value>,
}

impl<'s, 'a> Tracer<'s, 'a> {
    pub fn new(scope: &'s TraceScope<'a>) -> Self {
        Self {
            scope,
            request: Map::new(),
            campaigns: IndexMap::new(),
            targets: IndexMap::new(),
        }
    }

    /// Starts tracing one mbox/view/pageLoad request of `mode`.
    pub fn trace_request(
        &mut self,
        mode: &str,
        kind: &str,
        details: Value,
        page_url: &Value,
        host: &Value,
    ) {
        let mut detail = match details {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        detail.insert("type".into(), Value::from(mode));
        self.request = Map::new();
        self.request.insert("pageURL".into(), page_url.clone());
        self.request.insert("host".into(), host.clone());
        self.request.insert(kind.into(), Value::Object(detail));
    }

    /// Records one rule evaluation and the context it ran against.
    pub fn rule_evaluated(
        &mut self,
        rule: &CompiledRule,
        context: &Map<String, Value>,
        satisfied: bool,
    ) {
        let meta = &rule.rule.meta;
        let activity = rule.activity_id.clone();
        if satisfied && !self.campaigns.contains_key(&activity) {
            let mut campaign = Map::new();
            copy_meta(&mut campaign, "id", meta, "activity.id");
            copy_meta(&mut campaign, "campaignType", meta, "activity.type");
            copy_meta(&mut campaign, "branchId", meta, "experience.id");
            let offers = meta
                .get("offer.id")
                .map(|o| vec![o.clone()])
                .unwrap_or_default();
            campaign.insert("offers".into(), Value::Array(offers));
            let environment = self.scope.artifact.artifact.meta.get("environment");
            if let Some(environment) = environment {
                campaign.insert("environment".into(), environment.clone());
            }
            self.campaigns.insert(activity.clone(), campaign);
        }
        let target = self.targets.entry(activity).or_insert_with(|| {
            let mut head = Map::new();
            head.insert("context".into(), Value::Object(context.clone()));
            copy_meta(&mut head, "campaignId", meta, "activity.id");
            copy_meta(&mut head, "campaignType", meta, "activity.type");
            EvaluatedTarget {
                head,
                matched_segments: Vec::new(),
                unmatched_segments: Vec::new(),
                matched_conditions: Vec::new(),
                unmatched_conditions: Vec::new(),
            }
        });
        let audiences = meta.get("audience.ids").and_then(Value::as_array);
        let (segments, conditions) = if satisfied {
            (&mut target.matched_segments, &mut target.matched_conditions)
        } else {
            (
                &mut target.unmatched_segments,
                &mut target.unmatched_conditions,
            )
        };
        for audience in audiences.into_iter().flatten() {
            if !segments.contains(audience) {
                segments.push(audience.clone());
            }
        }
        conditions.push(rule.rule.condition.clone());
    }

    /// Attaches a display notification to the campaign of `rule`.
    pub fn notification(&mut self, rule: &CompiledRule, notification: &Notification) {
        if let Some(campaign) = self.campaigns.get_mut(&rule.activity_id) {
            let list = campaign
                .entry("notifications")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let (Value::Array(list), Ok(n)) = (list, serde_json::to_value(notification)) {
                list.push(n);
            }
        }
    }

    /// The trace object as it stands now.
    pub fn result(&self) -> Value {
        let scope = self.scope;
        let mut request = Map::new();
        if let Some(session) = scope.session_id {
            request.insert("sessionId".into(), Value::from(session));
        }
        request.extend(self.request.clone());
        let campaigns = self
            .campaigns
            .values()
            .cloned()
            .map(Value::Object)
            .collect();
        let targets = self
            .targets
            .values()
            .map(EvaluatedTarget::to_json)
            .collect();
        let mut trace = Map::new();
        trace.insert("clientCode".into(), Value::from(scope.client));
        trace.insert("artifact".into(), scope.artifact.trace.clone());
        trace.insert("profile".into(), scope.profile.clone());
        trace.insert("request".into(), Value::Object(request));
        trace.insert("campaigns".into(), Value::Array(campaigns));
        trace.insert("evaluatedCampaignTargets".into(), Value::Array(targets));
        Value::Object(trace)
    }
}

impl Tracer<'_, '_> {
    /// Brings `trace`, a snapshot this tracer made earlier, up to date where the SDKs'
    /// snapshot shares the tracer's lists (see `decide::share_live_lists`): the matched
    /// and unmatched rule conditions of every target it holds, and the notifications of
    /// every campaign that had some when it was taken. Segment ids and which targets and
    /// campaigns it holds stay as they were (the SDKs copy those).
    pub fn share_live_lists(&self, trace: &mut Value) {
        let targets = trace
            .get_mut("evaluatedCampaignTargets")
            .and_then(Value::as_array_mut);
        for (snapshot, target) in targets.into_iter().flatten().zip(self.targets.values()) {
            if let Value::Object(snapshot) = snapshot {
                let lists = [
                    ("matchedRuleConditions", &target.matched_conditions),
                    ("unmatchedRuleConditions", &target.unmatched_conditions),
                ];
                for (key, live) in lists {
                    snapshot.insert(key.into(), Value::Array(live.clone()));
                }
            }
        }
        let campaigns = trace.get_mut("campaigns").and_then(Value::as_array_mut);
        for (snapshot, campaign) in campaigns.into_iter().flatten().zip(self.campaigns.values()) {
            if let (Some(list), Some(live)) = (
                snapshot.get_mut("notifications"),
                campaign.get("notifications"),
            ) {
                *list = live.clone();
            }
        }
    }
}

impl EvaluatedTarget {
    fn to_json(&self) -> Value {
        let mut map = self.head.clone();
        map.insert(
            "matchedSegmentIds".into(),
            Value::Array(self.matched_segments.clone()),
        );
        map.insert(
            "unmatchedSegmentIds".into(),
            Value::Array(self.unmatched_segments.clone()),
        );
        map.insert(
            "matchedRuleConditions".into(),
            Value::Array(self.matched_conditions.clone()),
        );
        map.insert(
            "unmatchedRuleConditions".into(),
            Value::Array(self.unmatched_conditions.clone()),
        );
        Value::Object(map)
    }
}

/// Copies `meta[from]` to `target[to]`; absent values stay absent, as in JSON from JS.
fn copy_meta(target: &mut Map<String, Value>, to: &str, meta: &Map<String, Value>, from: &str) {
    if let Some(value) = meta.get(from) {
        target.insert(to.into(), value.clone());
    }
}
