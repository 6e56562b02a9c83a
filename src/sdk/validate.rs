//! What a get_offers or send_notifications call must hold before anything is decided
//! or queued: the same checks the SDKs make, as 400s instead of thrown errors.

use crate::model::{DeliveryRequest, ExecuteRequest, PrefetchRequest};

/// Why a request cannot be decided or queued, in words for the caller (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

/// `{}`: no field at all (JSON `null` fields read as absent).
fn is_empty_execute(execute: &ExecuteRequest) -> bool {
    execute.page_load.is_none() && execute.mboxes.is_none() && execute.extra.is_empty()
}

fn is_empty_prefetch(prefetch: &PrefetchRequest) -> bool {
    prefetch.page_load.is_none()
        && prefetch.views.is_none()
        && prefetch.mboxes.is_none()
        && prefetch.extra.is_empty()
}

pub fn validate_request(request: &DeliveryRequest) -> Result<(), InvalidRequest> {
    let invalid = |msg: &str| Err(InvalidRequest(msg.to_string()));
    // As the Node SDK checks: an empty `execute: {}` or `prefetch: {}` is fine (the SDK
    // itself sends one when it has filtered out an invalid mbox); one that names fields
    // but nothing to decide is not.
    if let Some(execute) = &request.execute
        && !is_empty_execute(execute)
        && execute.page_load.is_none()
        && execute.mboxes.as_ref().is_none_or(Vec::is_empty)
    {
        return invalid("request.execute must hold pageLoad or at least one mbox");
    }
    if let Some(prefetch) = &request.prefetch
        && !is_empty_prefetch(prefetch)
        && prefetch.page_load.is_none()
        && prefetch.views.as_ref().is_none_or(Vec::is_empty)
        && prefetch.mboxes.as_ref().is_none_or(Vec::is_empty)
    {
        return invalid("request.prefetch must hold pageLoad, views or at least one mbox");
    }
    let execute = request.execute.as_ref().and_then(|e| e.mboxes.as_ref());
    let prefetch = request.prefetch.as_ref().and_then(|p| p.mboxes.as_ref());
    for (i, mbox) in execute
        .into_iter()
        .flatten()
        .chain(prefetch.into_iter().flatten())
        .enumerate()
    {
        if mbox.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(InvalidRequest(format!("mbox #{i} has no name")));
        }
    }
    Ok(())
}

pub fn validate_notifications(request: &DeliveryRequest) -> Result<(), InvalidRequest> {
    for (i, n) in request.notifications.iter().flatten().enumerate() {
        let problem = if n.id.as_deref().is_none_or(str::is_empty) {
            Some("id")
        } else if n.timestamp.is_none() {
            Some("timestamp")
        } else if n.kind.is_none() {
            Some("type")
        } else {
            None
        };
        if let Some(field) = problem {
            return Err(InvalidRequest(format!(
                "notifications[{i}].{field} is required"
            )));
        }
    }
    Ok(())
}
