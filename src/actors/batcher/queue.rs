//! The Batcher's queue entries: the merge [`Key`], the notifications [`Pending`] under
//! one key, and the [`Job`]s (upstream requests) a flush cuts from them. Plain data,
//! no actor state.

use crate::model::{DeliveryRequest, Notification};

use super::Outbound;

/// Merge key: the Delivery API takes one visitor and one session per request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// `request.id` as JSON: every id field takes part.
    visitor: String,
    session_id: String,
    cluster: Option<String>,
}

/// The notifications of one key and the newest request around them.
pub(super) struct Pending {
    pub(super) template: DeliveryRequest,
    pub(super) notifications: Vec<Notification>,
}

/// One upstream request, ready to send.
pub(super) struct Job {
    pub(super) request: DeliveryRequest,
    pub(super) session_id: String,
    pub(super) cluster: Option<String>,
    pub(super) notifications: usize,
    pub(super) telemetry: usize,
}

impl Key {
    pub(super) fn of(outbound: &Outbound) -> Self {
        let id = &outbound.request.id;
        Self {
            // Serializing plain data cannot fail; Debug is an equally distinct fallback.
            visitor: serde_json::to_string(id).unwrap_or_else(|_| format!("{id:?}")),
            session_id: outbound.session_id.clone(),
            cluster: outbound.cluster.clone(),
        }
    }
}

impl Pending {
    /// Adds notifications; the newest request's fields win, but a missing one does not
    /// erase what an earlier request of the same visitor gave.
    pub(super) fn merge(&mut self, newer: DeliveryRequest, notifications: Vec<Notification>) {
        let older = std::mem::replace(&mut self.template, newer);
        let t = &mut self.template;
        t.context = t.context.take().or(older.context);
        t.experience_cloud = t.experience_cloud.take().or(older.experience_cloud);
        t.property = t.property.take().or(older.property);
        self.notifications.extend(notifications);
    }

    /// Moves notifications into requests of at most `max`; `only_full` keeps a
    /// remainder smaller than `max` queued so it can merge further.
    pub(super) fn split(&mut self, key: &Key, max: usize, only_full: bool, out: &mut Vec<Job>) {
        while self.notifications.len() >= max || (!only_full && !self.notifications.is_empty()) {
            let n = self.notifications.len().min(max);
            let chunk: Vec<Notification> = self.notifications.drain(..n).collect();
            out.push(Job::new(
                &self.template,
                Some(chunk),
                &key.session_id,
                &key.cluster,
            ));
        }
    }
}

impl Job {
    /// A notification request for `template`'s visitor; execute, prefetch and other
    /// decision fields are never copied, so a notification cannot trigger a decision.
    pub(super) fn new(
        template: &DeliveryRequest,
        notifications: Option<Vec<Notification>>,
        session_id: &str,
        cluster: &Option<String>,
    ) -> Self {
        let count = notifications.as_ref().map_or(0, Vec::len);
        let request = DeliveryRequest {
            request_id: Some(uuid::Uuid::new_v4().to_string()),
            id: template.id.clone(),
            environment_id: template.environment_id,
            property: template.property.clone(),
            context: template.context.clone(),
            experience_cloud: template.experience_cloud.clone(),
            qa_mode: template.qa_mode.clone(),
            notifications,
            ..Default::default()
        };
        Self {
            request,
            session_id: session_id.to_string(),
            cluster: cluster.clone(),
            notifications: count,
            telemetry: 0,
        }
    }
}
