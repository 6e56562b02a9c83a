//! Which way a get_offers call is decided: on-device from the loaded artifact, or by
//! Target's edge (server-side, or hybrid when the artifact cannot answer all of it).

use std::sync::Arc;

use super::ClientError;
use crate::engine::remote_dependency;
use crate::model::DecisioningMethod;
use crate::sdk::prepare::PreparedRequest;
use crate::store::LoadedArtifact;

/// Where a call is decided.
pub(super) enum Route {
    /// Here, against this artifact.
    OnDevice(Arc<LoadedArtifact>),
    /// At Target's edge; the artifact, when one is loaded, names what it could not
    /// have decided.
    Edge(Option<Arc<LoadedArtifact>>),
}

/// Routes `prepared` for `method`; on-device without an artifact is not ready yet.
pub(super) fn route(
    method: DecisioningMethod,
    artifact: Option<Arc<LoadedArtifact>>,
    prepared: &PreparedRequest,
) -> Result<Route, ClientError> {
    match (method, artifact) {
        (DecisioningMethod::ServerSide, artifact) => Ok(Route::Edge(artifact)),
        (DecisioningMethod::OnDevice, None) => Err(ClientError::NotReady),
        (DecisioningMethod::OnDevice, Some(a)) => Ok(Route::OnDevice(a)),
        (DecisioningMethod::Hybrid, None) => Ok(Route::Edge(None)),
        (DecisioningMethod::Hybrid, Some(a)) => {
            if remote_dependency(&a.compiled, &prepared.request).remote_needed() {
                Ok(Route::Edge(Some(a)))
            } else {
                Ok(Route::OnDevice(a))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::engine::{Artifact, ArtifactProvenance, CompiledArtifact};

    fn demo() -> Arc<LoadedArtifact> {
        let bytes = include_bytes!("../../examples/demo-artifact.json");
        let artifact = Artifact::from_json(bytes).expect("the demo artifact loads");
        Arc::new(LoadedArtifact {
            compiled: Arc::new(
                CompiledArtifact::compile(artifact, ArtifactProvenance::default())
                    .expect("the demo artifact compiles"),
            ),
            etag: None,
            fetched_at: SystemTime::now(),
            source: "test".into(),
            from_backup: false,
        })
    }

    fn asking_for(mbox: &str) -> PreparedRequest {
        let request = serde_json::json!({"execute": {"mboxes": [{"name": mbox, "index": 1}]}});
        PreparedRequest {
            request: serde_json::from_value(request).expect("the test request deserializes"),
            session_id: "s".into(),
            cluster: None,
        }
    }

    #[test]
    fn each_method_routes_as_the_sdks_do() {
        use DecisioningMethod::*;
        // "recommendations" is the demo's server-side-only mbox.
        let cases = [
            (OnDevice, true, "hero-banner", Some("on-device")),
            (OnDevice, true, "recommendations", Some("on-device")),
            (OnDevice, false, "hero-banner", None),
            (ServerSide, true, "hero-banner", Some("edge")),
            (ServerSide, false, "hero-banner", Some("edge")),
            (Hybrid, true, "hero-banner", Some("on-device")),
            (Hybrid, true, "recommendations", Some("edge")),
            (Hybrid, false, "hero-banner", Some("edge")),
        ];
        for (method, loaded, mbox, expected) in cases {
            let artifact = loaded.then(demo);
            let routed = match route(method, artifact, &asking_for(mbox)) {
                Ok(Route::OnDevice(_)) => Some("on-device"),
                Ok(Route::Edge(_)) => Some("edge"),
                Err(ClientError::NotReady) => None,
                Err(other) => panic!("{method:?} {mbox}: {other}"),
            };
            assert_eq!(routed, expected, "{method:?}, loaded {loaded}, {mbox}");
        }
    }
}
