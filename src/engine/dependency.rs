//! Which requested mboxes and views cannot be decided on-device: the artifact marks them
//! remote (server-side-only activities) or does not know them at all.

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
    let mut remote_mboxes = Vec::new();
    for name in a.remote_mboxes.iter().filter(|m| mboxes.contains(m)) {
        push_unique(&mut remote_mboxes, name);
    }
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
        for name in a.remote_views.iter().filter(|v| views.contains(v)) {
            push_unique(&mut remote_views, name);
        }
        for name in views.iter().filter(|v| !artifact.local_views.contains(*v)) {
            push_unique(&mut remote_views, name);
        }
    }
    RemoteDependency {
        remote_mboxes,
        remote_views,
    }
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
