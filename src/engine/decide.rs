//! The decision itself: every requested mbox, view and page load of `execute` and
//! `prefetch` matched against the artifact's rules, as the SDKs' on-device engine does.

use std::collections::HashSet;

use bumpalo::Bump;
use datalogic_rs::DataValue;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::allocation::{allocation, allocation_visitor_id};
use super::compiled::{CompiledArtifact, CompiledRule};
use super::context::{ArenaObject, RequestContext};
use super::dependency::remote_dependency;
use super::postprocess::{self, MacroSources};
use super::trace::{TraceScope, Tracer};
use super::{Decision, DecisionInput};
use crate::model::*;

/// Execute (decide and count the impression now) or prefetch (decide for later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Execute,
    Prefetch,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Execute => "execute",
            Mode::Prefetch => "prefetch",
        }
    }
}

/// What is being decided: views keep their metrics on prefetch, mboxes do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mbox,
    View,
}

/// One mbox, view or page-load request, seen uniformly.
struct Details<'r> {
    name: Option<&'r str>,
    index: Option<i64>,
    address: Option<&'r Address>,
    parameters: Option<&'r Map<String, Value>>,
    /// The request as JSON, for traces and macros.
    json: Map<String, Value>,
}

impl<'r> Details<'r> {
    fn mbox(mbox: &'r MboxRequest) -> Self {
        Self {
            name: mbox.name.as_deref(),
            index: mbox.index,
            address: mbox.address.as_ref(),
            parameters: mbox.parameters.as_ref(),
            json: to_map(mbox),
        }
    }

    fn view(view: &'r ViewRequest) -> Self {
        Self {
            name: view.name.as_deref(),
            index: None,
            address: view.address.as_ref(),
            parameters: view.parameters.as_ref(),
            json: to_map(view),
        }
    }

    /// A page load is decided as a request for the global mbox.
    fn page_load(details: &'r RequestDetails, global_mbox: &'r str) -> Self {
        let mut json = to_map(details);
        json.insert("name".into(), Value::from(global_mbox));
        Self {
            name: Some(global_mbox),
            index: None,
            address: details.address.as_ref(),
            parameters: details.parameters.as_ref(),
            json,
        }
    }
}

fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A matched rule's consequence on its way into the response.
#[derive(Debug, Default)]
struct Matched {
    name: Option<String>,
    index: Option<i64>,
    options: Option<Vec<OfferOption>>,
    metrics: Option<Vec<Metric>>,
    trace: Option<Value>,
}

/// One request detail's context: in the arena for evaluation, and as JSON for traces.
struct RuleContext<'b> {
    pairs: ArenaObject<'b>,
    json: Option<Value>,
}

/// Per-decision state: the inputs, and the notifications the decision owes.
struct Decider<'a, 'b> {
    artifact: &'a CompiledArtifact,
    input: &'a DecisionInput<'a>,
    context: RequestContext,
    /// Everything evaluation allocates lives here until the decision is done.
    arena: &'b Bump,
    /// The request-level context, converted into the arena once.
    base: ArenaObject<'b>,
    visitor: String,
    property_token: Option<&'a str>,
    /// The geo response tokens of this request (usually none).
    geo_tokens: Map<String, Value>,
    notifications: Vec<Notification>,
    notified: HashSet<String>,
}

/// Decides `input.request` against `artifact`. Pure: time, ids and geo come in.
pub fn decide(artifact: &CompiledArtifact, input: &DecisionInput<'_>) -> Decision {
    let request = input.request;
    let remote = remote_dependency(artifact, request);
    let scope = TraceScope::new(request, input.client, artifact, input.session_id);
    let arena = Bump::new();
    let context = RequestContext::new(request, input.now_ms);
    let base = context.to_arena(&arena);
    let mut decider = Decider {
        artifact,
        input,
        context,
        arena: &arena,
        base,
        visitor: allocation_visitor_id(request.id.as_ref()).unwrap_or_else(|| input.ids.next_id()),
        property_token: request.property.as_ref().and_then(|p| p.token.as_deref()),
        geo_tokens: postprocess::geo_tokens(
            artifact,
            request.context.as_ref().and_then(|c| c.geo.as_ref()),
        ),
        notifications: Vec::new(),
        notified: HashSet::new(),
    };
    let execute = request.execute.as_ref().map(|execute| {
        let mut tracer = scope.as_ref().map(Tracer::new);
        decider.execute(execute, tracer.as_mut())
    });
    let prefetch = request.prefetch.as_ref().map(|prefetch| {
        let mut tracer = scope.as_ref().map(Tracer::new);
        decider.prefetch(prefetch, tracer.as_mut())
    });
    let response = DeliveryResponse {
        status: Some(if remote.remote_needed() { 206 } else { 200 }),
        request_id: request.request_id.clone(),
        id: request.id.clone(),
        client: Some(input.client.to_string()),
        execute,
        prefetch,
        ..Default::default()
    };
    Decision {
        response,
        remote,
        notifications: decider.notifications,
    }
}

impl<'a, 'b> Decider<'a, 'b> {
    fn execute(
        &mut self,
        request: &ExecuteRequest,
        mut tracer: Option<&mut Tracer<'_, '_>>,
    ) -> ExecuteResponse {
        let mode = Mode::Execute;
        let mut mboxes = request.mboxes.as_ref().map(|mboxes| {
            let mut out = Vec::new();
            for mbox in mboxes {
                out.extend(self.mbox(mode, &Details::mbox(mbox), tracer.as_deref_mut()));
            }
            out.into_iter().map(into_mbox_response).collect()
        });
        let mut page_load = request
            .page_load
            .as_ref()
            .map(|details| self.page_load(mode, details, tracer.as_deref_mut()));
        if let Some(tracer) = tracer {
            share_live_lists(tracer, mboxes.as_mut(), page_load.as_mut());
        }
        ExecuteResponse {
            page_load,
            mboxes,
            ..Default::default()
        }
    }

    fn prefetch(
        &mut self,
        request: &PrefetchRequest,
        mut tracer: Option<&mut Tracer<'_, '_>>,
    ) -> PrefetchResponse {
        let mode = Mode::Prefetch;
        let mut mboxes = request.mboxes.as_ref().map(|mboxes| {
            let mut out = Vec::new();
            for mbox in mboxes {
                out.extend(self.mbox(mode, &Details::mbox(mbox), tracer.as_deref_mut()));
            }
            out.into_iter().map(into_mbox_response).collect()
        });
        let views = request.views.as_ref().map(|views| {
            let mut out = Vec::new();
            for view in views {
                out.extend(self.view(mode, &Details::view(view), tracer.as_deref_mut()));
            }
            out.into_iter().map(into_view).collect()
        });
        let mut page_load = request
            .page_load
            .as_ref()
            .map(|details| self.page_load(mode, details, tracer.as_deref_mut()));
        if let Some(tracer) = tracer {
            share_live_lists(tracer, mboxes.as_mut(), page_load.as_mut());
        }
        PrefetchResponse {
            views,
            page_load,
            mboxes,
            ..Default::default()
        }
    }

    /// The first matching rule of an mbox; every matching rule (one per activity) of
    /// the global mbox. An mbox without a match still answers, with no options.
    fn mbox(
        &mut self,
        mode: Mode,
        details: &Details<'_>,
        mut tracer: Option<&mut Tracer<'_, '_>>,
    ) -> Vec<Matched> {
        let name = details.name.unwrap_or_default();
        let is_global = name == self.artifact.global_mbox();
        self.trace_request(mode, "mbox", details, tracer.as_deref_mut());
        let mut context = self.rule_context(details, tracer.is_some());
        let mut matched = Vec::new();
        let mut matched_keys = HashSet::new();
        let (artifact, token) = (self.artifact, self.property_token);
        for rule in artifact
            .mbox_rules(name)
            .iter()
            .filter(|r| property_allows(r, token))
        {
            if is_global && matched_keys.contains(&rule.rule.rule_key) {
                continue;
            }
            let Some(m) = self.rule(
                rule,
                mode,
                Kind::Mbox,
                &mut context,
                details,
                tracer.as_deref_mut(),
            ) else {
                continue;
            };
            matched.push(m);
            matched_keys.insert(rule.rule.rule_key.clone());
            if !is_global {
                break;
            }
        }
        if !is_global && matched.is_empty() {
            matched.push(Matched {
                name: details.name.map(str::to_string),
                index: details.index,
                trace: tracer.map(|t| t.result()),
                ..Default::default()
            });
        }
        matched
    }

    /// Every matching rule (one per activity) of the named view, or of every view;
    /// matches for the same view are merged.
    fn view(
        &mut self,
        mode: Mode,
        details: &Details<'_>,
        mut tracer: Option<&mut Tracer<'_, '_>>,
    ) -> Vec<Matched> {
        self.trace_request(mode, "view", details, tracer.as_deref_mut());
        let (artifact, token) = (self.artifact, self.property_token);
        let rules: Vec<&CompiledRule> = match details.name {
            Some(name) => artifact.view_rules(name).iter().collect(),
            None => artifact.all_view_rules().collect(),
        };
        let mut context = self.rule_context(details, tracer.is_some());
        let mut by_name: IndexMap<Option<String>, Matched> = IndexMap::new();
        let mut matched_keys = HashSet::new();
        for rule in rules.into_iter().filter(|r| property_allows(r, token)) {
            if matched_keys.contains(&rule.rule.rule_key) {
                continue;
            }
            let Some(m) = self.rule(
                rule,
                mode,
                Kind::View,
                &mut context,
                details,
                tracer.as_deref_mut(),
            ) else {
                continue;
            };
            matched_keys.insert(rule.rule.rule_key.clone());
            match by_name.get_mut(&m.name) {
                Some(existing) => merge(existing, m),
                None => {
                    by_name.insert(m.name.clone(), m);
                }
            }
        }
        by_name.into_values().collect()
    }

    /// The page load: the global mbox's matches flattened into one answer.
    fn page_load(
        &mut self,
        mode: Mode,
        details: &RequestDetails,
        tracer: Option<&mut Tracer<'_, '_>>,
    ) -> PageLoadResponse {
        let global = self.artifact.global_mbox().to_string();
        let matched = self.mbox(mode, &Details::page_load(details, &global), tracer);
        let trace = matched.last().and_then(|m| m.trace.clone());
        let mut options = Vec::new();
        let mut metrics: IndexMap<Option<String>, Metric> = IndexMap::new();
        for m in matched {
            options.extend(m.options.unwrap_or_default());
            for metric in m.metrics.unwrap_or_default() {
                metrics.insert(metric.event_token.clone(), metric);
            }
        }
        PageLoadResponse {
            options: Some(options),
            metrics: (!metrics.is_empty()).then(|| metrics.into_values().collect()),
            trace,
            ..Default::default()
        }
    }

    /// Evaluates one rule; on a match, shapes its consequence for the response.
    fn rule(
        &mut self,
        rule: &CompiledRule,
        mode: Mode,
        kind: Kind,
        context: &mut RuleContext<'b>,
        details: &Details<'_>,
        mut tracer: Option<&mut Tracer<'_, '_>>,
    ) -> Option<Matched> {
        let allocation = allocation(self.input.client, &rule.activity_id, &self.visitor);
        let satisfied = self.evaluate(rule, context.pairs, allocation);
        if let (Some(tracer), Some(Value::Object(ctx))) =
            (tracer.as_deref_mut(), context.json.as_mut())
        {
            ctx.insert("allocation".into(), Value::from(allocation));
            tracer.rule_evaluated(rule, ctx, satisfied);
        }
        if !satisfied {
            return None;
        }
        let consequence = &rule.rule.consequence;
        let mut options = consequence.options.clone();
        let mut metrics = Some(consequence.metrics.clone());
        match mode {
            Mode::Execute => {
                self.notify(
                    consequence.name.as_deref(),
                    &options,
                    rule,
                    tracer.as_deref_mut(),
                );
                postprocess::prepare_execute(&mut options, &mut metrics);
            }
            Mode::Prefetch => {
                postprocess::prepare_prefetch(&mut options, &consequence.metrics);
                if kind != Kind::View {
                    metrics = None;
                }
            }
        }
        postprocess::add_response_tokens(&mut options, &rule.response_tokens, &self.geo_tokens);
        let sources = MacroSources {
            meta: &rule.rule.meta,
            details: &details.json,
            parameters: details.parameters,
        };
        postprocess::replace_campaign_macros(&mut options, &sources);
        Some(Matched {
            name: consequence.name.clone(),
            index: details.index,
            options: Some(options),
            metrics,
            trace: tracer.map(|t| t.result()),
        })
    }

    /// Whether `rule` holds for `context` with this rule's allocation: only the
    /// top-level slice is copied per rule, the rest is shared in the arena.
    fn evaluate(&self, rule: &CompiledRule, context: ArenaObject<'b>, allocation: f64) -> bool {
        let arena = self.arena;
        let n = context.len();
        let pairs = arena.alloc_slice_fill_with(n + 1, |i| match context.get(i) {
            Some(pair) => *pair,
            None => ("allocation", DataValue::from_f64(allocation)),
        });
        let data = arena.alloc(DataValue::Object(pairs));
        rule.condition.holds_in(data, arena)
    }

    /// Records the display notification an executed decision owes, once per mbox and
    /// event token within a request.
    fn notify(
        &mut self,
        name: Option<&str>,
        options: &[OfferOption],
        rule: &CompiledRule,
        tracer: Option<&mut Tracer<'_, '_>>,
    ) {
        let mbox = name.unwrap_or("undefined");
        let tokens: Vec<String> = options
            .iter()
            .filter_map(|o| o.event_token.clone())
            .filter(|token| self.notified.insert(format!("{mbox}-{token}")))
            .collect();
        if tokens.is_empty() {
            return;
        }
        let notification = Notification {
            id: Some(self.input.ids.next_id()),
            impression_id: Some(self.input.ids.next_id()),
            kind: Some(MetricType::Display),
            timestamp: Some(self.input.now_ms),
            tokens: Some(tokens),
            mbox: Some(NotificationMbox {
                name: name.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Some(tracer) = tracer {
            tracer.notification(rule, &notification);
        }
        self.notifications.push(notification);
    }

    fn trace_request(
        &self,
        mode: Mode,
        kind: &str,
        details: &Details<'_>,
        tracer: Option<&mut Tracer<'_, '_>>,
    ) {
        if let Some(tracer) = tracer {
            let json = Value::Object(details.json.clone());
            tracer.trace_request(
                mode.as_str(),
                kind,
                json,
                &Value::from(self.context.page_url()),
                &Value::from(self.context.page_domain()),
            );
        }
    }

    /// The context of one request detail: the request-level pairs with `mbox` (and
    /// `page`/`referring` when it has an address) replaced; JSON too when tracing.
    fn rule_context(&self, details: &Details<'_>, tracing: bool) -> RuleContext<'b> {
        let arena = self.arena;
        let overrides = RequestContext::overrides_in(details.address, details.parameters, arena);
        let kept = self
            .base
            .iter()
            .copied()
            .filter(|(key, _)| overrides.iter().all(|(o, _)| o != key));
        let pairs: Vec<_> = kept.chain(overrides.iter().copied()).collect();
        let pairs = arena.alloc_slice_copy(&pairs);
        let json = tracing.then(|| {
            Value::Object(
                self.context
                    .for_details(details.address, details.parameters),
            )
        });
        RuleContext { pairs, json }
    }
}

/// Rules of an at.js property apply only to requests of that property; rules of no
/// property apply to every request.
fn property_allows(rule: &CompiledRule, token: Option<&str>) -> bool {
    let tokens = &rule.rule.property_tokens;
    tokens.is_empty() || token.is_some_and(|t| tokens.iter().any(|p| p == t))
}

fn merge(existing: &mut Matched, other: Matched) {
    if let Some(options) = other.options {
        existing
            .options
            .get_or_insert_with(Vec::new)
            .extend(options);
    }
    if let Some(metrics) = other.metrics {
        existing
            .metrics
            .get_or_insert_with(Vec::new)
            .extend(metrics);
    }
    // The first match's trace stands for the merged view, as in the SDKs.
}

/// The SDKs give a blank mbox answer (no rule matched) and the page load a trace whose
/// rule-condition lists and campaign notification lists are the tracer's own arrays, not
/// copies (Node's `RequestTracer`: the blank consequence and `preserveTrace` escape the
/// rule evaluator's deep clone). Serialized after the whole mode ran, those lists show
/// what the rest of the mode evaluated too; so do these, once the mode is done.
fn share_live_lists(
    tracer: &Tracer<'_, '_>,
    mboxes: Option<&mut Vec<MboxResponse>>,
    page_load: Option<&mut PageLoadResponse>,
) {
    let blank = mboxes
        .into_iter()
        .flatten()
        .filter(|m| m.options.is_none())
        .filter_map(|m| m.trace.as_mut());
    let page_load = page_load.and_then(|p| p.trace.as_mut());
    for trace in blank.chain(page_load) {
        tracer.share_live_lists(trace);
    }
}

fn into_mbox_response(m: Matched) -> MboxResponse {
    MboxResponse {
        index: m.index,
        name: m.name,
        options: m.options,
        metrics: m.metrics,
        trace: m.trace,
        ..Default::default()
    }
}

fn into_view(m: Matched) -> View {
    View {
        name: m.name,
        options: m.options,
        metrics: m.metrics,
        trace: m.trace,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::{Artifact, ArtifactProvenance, RandomIds};

    /// The embedded demo, read here rather than from `upstream`, a layer above.
    const DEMO_ARTIFACT: &str = include_str!("../../examples/demo-artifact.json");

    fn conditions(trace: &Value) -> usize {
        let target = &trace["evaluatedCampaignTargets"][0];
        let len = |key: &str| target[key].as_array().map_or(0, Vec::len);
        len("matchedRuleConditions") + len("unmatchedRuleConditions")
    }

    /// Node's trace for a blank mbox answer shows the conditions evaluated after it in
    /// the same mode; a matched answer's trace is a snapshot.
    #[test]
    fn a_blank_mbox_trace_shows_the_whole_modes_conditions_as_the_sdk_does() {
        let artifact = Artifact::from_json(DEMO_ARTIFACT.as_bytes()).expect("demo artifact");
        let artifact = CompiledArtifact::compile(artifact, ArtifactProvenance::default())
            .expect("demo artifact compiles");
        let request: DeliveryRequest = serde_json::from_value(json!({
            "id": {"tntId": "trace-visitor"},
            "context": {"channel": "web", "address": {"url": "https://example.com/"}},
            "trace": {},
            "execute": {"mboxes": [
                {"name": "hero-banner", "index": 1},
                {"name": "no-such-mbox", "index": 2},
                {"name": "hero-banner", "index": 3},
            ]}
        }))
        .expect("request");
        let input = DecisionInput {
            request: &request,
            client: "demo",
            session_id: Some("s"),
            now_ms: 1_700_000_000_000,
            ids: &RandomIds,
        };

        let decision = decide(&artifact, &input);

        let mboxes = decision
            .response
            .execute
            .and_then(|e| e.mboxes)
            .expect("mboxes");
        let traces: Vec<&Value> = mboxes.iter().filter_map(|m| m.trace.as_ref()).collect();
        assert_eq!(traces.len(), 3);
        assert!(mboxes[1].options.is_none(), "no-such-mbox is blank");
        let (first, blank, last) = (
            conditions(traces[0]),
            conditions(traces[1]),
            conditions(traces[2]),
        );
        assert!(first > 0 && last > first, "{first} then {last}");
        assert_eq!(
            blank, last,
            "the blank answer's lists are the mode's final ones"
        );
    }
}
