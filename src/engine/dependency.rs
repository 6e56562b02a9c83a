//! Which requested mboxes and views cannot be decided on-device: the artifact marks them
//! remote (server-side-only activities) or does not know them at all.

use std::collections::HashMap;

use serde::Serialize;

use super::artifact::DEFAULT_GLOBAL_MBOX;
use super::compiled::CompiledArtifact;
use crate::model::DeliveryRequest;

/// What part of a request needs Target's edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteDependency {
    pub remote_mboxes: Vec<String>,
    pub remote_views: Vec<String>,
}

impl RemoteDependency {
    /// True when an on-device answer would be partial.
    pub fn remote_needed(&self) -> bool {
        !self.remote_mboxes.is_empty() || !self.remote_views.is_empty()
    }
}

/// Computes the remote dependency of `request` as the SDKs do. A page load counts as a
/// request for Target's default global mbox; a view request without a name asks for
/// every view, so every remote view is needed.
pub fn remote_dependency(
    artifact: &CompiledArtifact,
    request: &DeliveryRequest,
) -> RemoteDependency {
    let a = &artifact.artifact;
    let mut mboxes = requested_mbox_names(request);
    if has_page_load(request) {
        push_unique(&mut mboxes, DEFAULT_GLOBAL_MBOX);
    }
    let mut remote_mboxes = in_artifact_order(&mboxes, &artifact.remote_mboxes);
    for name in mboxes
        .iter()
        .filter(|m| !artifact.local_mboxes.contains(*m))
    {
        push_unique(&mut remote_mboxes, name);
    }

    let views = requested_view_names(request);
    let mut remote_views = Vec::new();
    if views.is_empty() && has_view_request(request) {
        for name in &a.remote_views {
            push_unique(&mut remote_views, name);
        }
    } else {
        remote_views = in_artifact_order(&views, &artifact.remote_views);
        for name in views.iter().filter(|v| !artifact.local_views.contains(*v)) {
            push_unique(&mut remote_views, name);
        }
    }
    RemoteDependency {
        remote_mboxes,
        remote_views,
    }
}

/// The requested names (distinct) that `positions` holds, in the artifact's order, as
/// filtering the artifact's list by the request gives them, at the cost of the request's
/// size rather than the artifact's.
fn in_artifact_order(requested: &[String], positions: &HashMap<String, usize>) -> Vec<String> {
    let mut found: Vec<(usize, &String)> = requested
        .iter()
        .filter_map(|name| positions.get(name).map(|&at| (at, name)))
        .collect();
    found.sort_unstable_by_key(|&(at, _)| at);
    found.into_iter().map(|(_, name)| name.clone()).collect()
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

fn requested_mbox_names(request: &DeliveryRequest) -> Vec<String> {
    let prefetch = request.prefetch.as_ref().and_then(|p| p.mboxes.as_ref());
    let execute = request.execute.as_ref().and_then(|e| e.mboxes.as_ref());
    let mut names = Vec::new();
    for mbox in prefetch.into_iter().chain(execute).flatten() {
        if let Some(name) = &mbox.name {
            push_unique(&mut names, name);
        }
    }
    names
}

fn requested_view_names(request: &DeliveryRequest) -> Vec<String> {
    let mut names = Vec::new();
    let views = request.prefetch.as_ref().and_then(|p| p.views.as_ref());
    for view in views.into_iter().flatten() {
        if let Some(name) = &view.name {
            push_unique(&mut names, name);
        }
    }
    names
}

fn has_view_request(request: &DeliveryRequest) -> bool {
    request.prefetch.as_ref().is_some_and(|p| p.views.is_some())
}

fn has_page_load(request: &DeliveryRequest) -> bool {
    request
        .execute
        .as_ref()
        .is_some_and(|e| e.page_load.is_some())
        || request
            .prefetch
            .as_ref()
            .is_some_and(|p| p.page_load.is_some())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::{Artifact, ArtifactProvenance};

    fn artifact() -> CompiledArtifact {
        let artifact = Artifact::from_value(json!({
            "version": "1.0.0",
            "remoteMboxes": ["r2", "r1", "r3", "r1"],
            "localMboxes": ["l1", "target-global-mbox"],
            "remoteViews": ["v2", "v1"],
            "localViews": ["home"],
            "rules": {}
        }))
        .expect("artifact");
        CompiledArtifact::compile(artifact, ArtifactProvenance::default()).expect("compiles")
    }

    fn request(value: serde_json::Value) -> DeliveryRequest {
        serde_json::from_value(value).expect("request")
    }

    #[test]
    fn remote_names_come_in_artifact_order_then_unknown_names_in_request_order() {
        let artifact = artifact();
        let cases = [
            (
                json!({"execute": {"mboxes": [{"name": "r1"}, {"name": "x"}, {"name": "r2"},
                                              {"name": "l1"}, {"name": "r1"}]}}),
                vec!["r2", "r1", "x"],
                vec![],
            ),
            (
                json!({"prefetch": {"mboxes": [{"name": "l1"}],
                                    "views": [{"name": "v1"}, {"name": "nope"}, {"name": "v2"}]}}),
                vec![],
                vec!["v2", "v1", "nope"],
            ),
            (
                json!({"prefetch": {"views": [{}]}}),
                vec![],
                vec!["v2", "v1"],
            ),
            (
                json!({"execute": {"pageLoad": {}, "mboxes": [{"name": "r3"}]}}),
                vec!["r3"],
                vec![],
            ),
        ];
        for (body, mboxes, views) in cases {
            let remote = remote_dependency(&artifact, &request(body.clone()));
            assert_eq!(remote.remote_mboxes, mboxes, "{body}");
            assert_eq!(remote.remote_views, views, "{body}");
        }
    }
}
