//! Runs one conformance case through offerd's own get_offers step, the way a Target
//! SDK runner drives its engine: the case's artifact as the downloaded artifact, its
//! `mockDate` as the clock, its `mockGeo` as the geo endpoint's answer.

use serde_json::Value;

use super::runner::CaseRun;
use super::suite::Case;
use crate::client::GetOffersOptions;
use crate::engine::telemetry;
use crate::engine::{
    Artifact, ArtifactProvenance, CompiledArtifact, DecisionInput, RandomIds, decide,
};
use crate::model::{
    DecisioningMethod, DeliveryRequest, ExecutionMode, Notification, Telemetry, TelemetryEntry,
};
use crate::sdk::prepare::{self, ClientSettings};
use crate::upstream::geo::geo_from_payload;

/// Decides `case` and collects what it returned and what it sent upstream.
pub fn run_case(case: &Case) -> Result<CaseRun, String> {
    let conf = &case.conf;
    let client = conf
        .get("client")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let telemetry_enabled = conf
        .get("telemetryEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let artifact_json = case.artifact.clone().ok_or("the case has no artifact")?;
    let artifact = Artifact::from_value(artifact_json).map_err(|e| e.to_string())?;
    let provenance = ArtifactProvenance {
        location: Some(format!(
            "https://assets.adobetarget.com/{client}/production/v1/rules.json"
        )),
        retrieval_count: 1,
        ..Default::default()
    };
    let artifact = CompiledArtifact::compile(artifact, provenance).map_err(|e| e.to_string())?;
    let now_ms = case.mock_date_ms.unwrap_or_else(crate::clock::now_ms);
    let ids = RandomIds;

    // The artifact download is the first telemetry entry a client records.
    let mut pending = Vec::new();
    if telemetry_enabled {
        pending.push(telemetry::artifact_entry(ids_next(&ids), 1.0, now_ms));
    }

    let options: GetOffersOptions = serde_json::from_value(case.input.clone())
        .map_err(|e| format!("input is not valid get_offers options: {e}"))?;
    let settings = ClientSettings {
        client,
        property_token: None,
        location_hint: None,
    };
    let session_hint = options.session_id.clone();
    let mut prepared = prepare::prepare(options, settings, now_ms, &ids);
    if prepare::geo_lookup_address(&artifact, &prepared.request).is_some() {
        // No mockGeo means the geo endpoint failed: decide without geo.
        if let Some(payload) = &case.mock_geo {
            prepare::apply_geo(&mut prepared.request, geo_from_payload(payload));
        }
    }
    let input = DecisionInput {
        request: &prepared.request,
        client,
        session_id: session_hint.as_deref(),
        now_ms,
        ids: &ids,
    };
    let decision = decide(&artifact, &input);
    if telemetry_enabled {
        pending.push(telemetry::decision_entry(
            &prepared.request,
            DecisioningMethod::OnDevice,
            ExecutionMode::Local,
            1.0,
            1.0,
            now_ms,
        ));
    }

    let mut notifications = Vec::new();
    if !decision.notifications.is_empty() || telemetry_enabled {
        let request = notification_request(&prepared.request, decision.notifications, pending);
        // The SDKs hand `{request}` to their send-notifications step.
        let request = serde_json::to_value(request).map_err(|e| e.to_string())?;
        notifications.push(serde_json::json!({ "request": request }));
    }
    let mut response = serde_json::to_value(&decision.response).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut response {
        map.insert(
            "remoteMboxes".into(),
            Value::from(decision.remote.remote_mboxes),
        );
        map.insert(
            "remoteViews".into(),
            Value::from(decision.remote.remote_views),
        );
    }
    Ok(CaseRun {
        response,
        notifications,
    })
}

fn ids_next(ids: &RandomIds) -> String {
    crate::engine::IdGenerator::next_id(ids)
}

/// The notification request a decision owes Target, as the SDKs send it: the visitor,
/// their context, the display notifications and any telemetry riding along. (The
/// service sends the same body, spliced from the bytes it spools: `owed::request_body`.)
fn notification_request(
    request: &DeliveryRequest,
    notifications: Vec<Notification>,
    telemetry: Vec<TelemetryEntry>,
) -> DeliveryRequest {
    DeliveryRequest {
        request_id: None,
        id: request.id.clone(),
        context: request.context.clone(),
        experience_cloud: request.experience_cloud.clone(),
        property: request.property.clone(),
        notifications: (!notifications.is_empty()).then_some(notifications),
        telemetry: (!telemetry.is_empty()).then(|| Telemetry {
            entries: Some(telemetry),
            ..Default::default()
        }),
        ..Default::default()
    }
}
