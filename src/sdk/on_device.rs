//! The on-device get_offers step, pure: a prepared request decided against the compiled
//! artifact and answered as the SDK answers, with the display notifications it owes.
//! The DecisionActors run [`decide`] for the client; benches and tests call
//! [`get_offers`], the same step with the request's completion in front, so that what
//! they measure and probe is what the service runs.

use super::options::GetOffersOptions;
use super::prepare::{self, ClientSettings, PreparedRequest};
use super::response::{self, TargetDeliveryResponse};
use crate::engine::{self, CompiledArtifact, DecisionInput, IdGenerator};
use crate::model::{DecisioningMethod, Notification};

/// An on-device answer and what it owes Target.
#[derive(Debug, Clone)]
pub struct OnDevice {
    /// The request as decided, handed back: the owed notifications and the telemetry
    /// entry name its visitor, session and edge cluster.
    pub prepared: PreparedRequest,
    /// The SDK's answer.
    pub response: TargetDeliveryResponse,
    /// The display notifications owed for what was executed.
    pub notifications: Vec<Notification>,
}

/// Decides `prepared` (geo already looked up, if at all) and wraps the answer.
pub fn decide_and_answer(
    artifact: &CompiledArtifact,
    prepared: PreparedRequest,
    client: &str,
    now_ms: i64,
    ids: &dyn IdGenerator,
) -> OnDevice {
    let input = DecisionInput {
        request: &prepared.request,
        client,
        session_id: Some(&prepared.session_id),
        now_ms,
        ids,
    };
    let decision = engine::decide(artifact, &input);
    let response = response::target_delivery_response(
        &prepared,
        decision.response,
        DecisioningMethod::OnDevice,
        decision.remote,
        now_ms,
    );
    OnDevice {
        prepared,
        response,
        notifications: decision.notifications,
    }
}

/// get_offers on-device with no network: [`prepare::prepare`], then [`decide`]. This is
/// what the client runs for an on-device call, less what needs I/O or the service's
/// state: no geo lookup (as with `upstream.offline`), no decision gate, no telemetry, and
/// the notifications are returned, not handed over.
pub fn get_offers(
    artifact: &CompiledArtifact,
    options: GetOffersOptions,
    settings: ClientSettings<'_>,
    now_ms: i64,
    ids: &dyn IdGenerator,
) -> OnDevice {
    let prepared = prepare::prepare(options, settings, now_ms, ids);
    decide_and_answer(artifact, prepared, settings.client, now_ms, ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Artifact, ArtifactProvenance};

    const NOW_MS: i64 = 1_600_000_000_000;

    /// Ids in order, so that answers can be compared.
    struct Counter(std::sync::atomic::AtomicU64);

    impl IdGenerator for Counter {
        fn next_id(&self) -> String {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("id{n}")
        }
    }

    fn demo() -> CompiledArtifact {
        let bytes = include_bytes!("../../examples/demo-artifact.json");
        let artifact = Artifact::from_json(bytes).expect("the demo artifact loads");
        CompiledArtifact::compile(artifact, ArtifactProvenance::default())
            .expect("the demo artifact compiles")
    }

    fn options(body: serde_json::Value) -> GetOffersOptions {
        serde_json::from_value(body).expect("test options deserialize")
    }

    const SETTINGS: ClientSettings<'static> = ClientSettings {
        client: "demo",
        property_token: None,
        location_hint: Some("35"),
    };

    #[test]
    fn an_execute_is_answered_and_owes_its_display_notification() {
        let body = serde_json::json!({
            "request": {"execute": {"mboxes": [{"name": "hero-banner", "index": 1}]}},
            "session_id": "s1"
        });
        let ids = Counter(Default::default());
        let answer = get_offers(&demo(), options(body), SETTINGS, NOW_MS, &ids);

        let mboxes = answer.response.response.execute.and_then(|e| e.mboxes);
        let names: Vec<_> = mboxes.iter().flatten().map(|m| m.name.clone()).collect();
        assert_eq!(names, [Some("hero-banner".to_string())]);
        assert_eq!(answer.notifications.len(), 1);
        assert_eq!(answer.prepared.session_id, "s1");
        assert_eq!(answer.prepared.cluster.as_deref(), Some("35"));
        assert_eq!(
            answer.response.meta.decisioning_method,
            DecisioningMethod::OnDevice
        );
        assert!(
            answer
                .response
                .target_cookie
                .value
                .starts_with("session#s1#")
        );
    }

    #[test]
    fn get_offers_is_prepare_then_decide() {
        let body = serde_json::json!({
            "request": {"prefetch": {"mboxes": [{"name": "hero-banner", "index": 1}]}}
        });
        let artifact = demo();
        let ids = Counter(Default::default());
        let whole = get_offers(&artifact, options(body.clone()), SETTINGS, NOW_MS, &ids);
        let ids = Counter(Default::default());
        let prepared = prepare::prepare(options(body), SETTINGS, NOW_MS, &ids);
        let steps = decide_and_answer(&artifact, prepared, "demo", NOW_MS, &ids);

        assert!(whole.notifications.is_empty(), "a prefetch owes nothing");
        assert_eq!(
            serde_json::to_value(&whole.response).expect("serializes"),
            serde_json::to_value(&steps.response).expect("serializes")
        );
    }
}
