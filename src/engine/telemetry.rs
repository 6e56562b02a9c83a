//! Telemetry entries the SDKs send to Target with their next upstream request: one per
//! decision (what was asked, how long it took) and one per artifact download.

use crate::model::{
    DecisioningMethod, DeliveryRequest, ExecutionMode, TelemetryEntry, TelemetryFeatures,
};

/// The entry of one get_offers call.
pub fn decision_entry(
    request: &DeliveryRequest,
    method: DecisioningMethod,
    mode: ExecutionMode,
    execution_ms: f64,
    parsing_ms: f64,
    now_ms: i64,
) -> TelemetryEntry {
    TelemetryEntry {
        request_id: request.request_id.clone(),
        timestamp: Some(now_ms),
        mode: Some(mode),
        execution: Some(round_ms(execution_ms)),
        parsing: Some(round_ms(parsing_ms)),
        features: Some(features(request, method)),
        ..Default::default()
    }
}

/// The entry of one artifact download.
pub fn artifact_entry(request_id: String, execution_ms: f64, now_ms: i64) -> TelemetryEntry {
    TelemetryEntry {
        request_id: Some(request_id),
        timestamp: Some(now_ms),
        execution: Some(round_ms(execution_ms)),
        ..Default::default()
    }
}

/// What the request asked for; counts of zero are left out, as the SDKs do.
pub fn features(request: &DeliveryRequest, method: DecisioningMethod) -> TelemetryFeatures {
    let execute = request.execute.as_ref();
    let prefetch = request.prefetch.as_ref();
    let count = |n: usize| (n > 0).then_some(n as u64);
    TelemetryFeatures {
        decisioning_method: Some(method),
        execute_mbox_count: count(execute.and_then(|e| e.mboxes.as_ref()).map_or(0, Vec::len)),
        execute_page_load: execute.and_then(|e| e.page_load.as_ref()).map(|_| true),
        prefetch_mbox_count: count(prefetch.and_then(|p| p.mboxes.as_ref()).map_or(0, Vec::len)),
        prefetch_page_load: prefetch.and_then(|p| p.page_load.as_ref()).map(|_| true),
        prefetch_view_count: count(prefetch.and_then(|p| p.views.as_ref()).map_or(0, Vec::len)),
        ..Default::default()
    }
}

/// Durations go upstream with two decimals, like the SDKs' `formatDecimal`.
fn round_ms(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn features_count_what_was_asked() {
        let request: DeliveryRequest = serde_json::from_value(json!({
            "requestId": "r",
            "prefetch": {"mboxes": [{"name": "a"}], "views": [{}, {}]},
            "execute": {"pageLoad": {}}
        }))
        .unwrap();
        let entry = decision_entry(
            &request,
            DecisioningMethod::OnDevice,
            ExecutionMode::Local,
            1.234,
            0.5,
            7,
        );
        assert_eq!(
            serde_json::to_value(entry).unwrap(),
            json!({"requestId": "r", "timestamp": 7, "mode": "local", "execution": 1.23, "parsing": 0.5,
                   "features": {"decisioningMethod": "on-device", "executePageLoad": true,
                                "prefetchMboxCount": 1, "prefetchViewCount": 2}})
        );
    }
}
