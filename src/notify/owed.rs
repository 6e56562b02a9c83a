//! Notifications owed to Target, in the compact form the client hands over, the spool
//! stores and the Batcher queues: one [`Owed`] per call, its JSON kept as bytes.
//!
//! Why bytes: a queued notification used to hold a clone of its request's typed
//! context tree (a few KiB each with a full queue). Here the visitor, the rest of the
//! request around the notifications (the envelope) and each notification are
//! serialized once, on the caller's thread, and spliced into the upstream body by
//! [`request_body`] without being parsed again. The same bytes are the spool record.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_with::skip_serializing_none;

use crate::model::{
    Context, DeliveryRequest, ExperienceCloud, Notification, Property, TelemetryEntry,
};

/// What one call owes Target: its notifications for one visitor, session and edge
/// cluster (the Delivery API takes one of each per request). Also the spool record,
/// hence the short field names on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Owed {
    /// The Target session (`sessionId` query parameter).
    #[serde(rename = "s")]
    pub session_id: String,
    /// The edge cluster (`mboxEdgeCluster`), if known.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `request.id` (the visitor) as JSON; `None` when the call had none.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<Box<RawValue>>,
    /// The envelope: `context`, `experienceCloud`, `property`, `environmentId` and
    /// `qaMode` of the call, as one JSON object.
    #[serde(rename = "e")]
    pub envelope: Box<RawValue>,
    /// Each notification as JSON, ids included: a retry resends these exact bytes.
    #[serde(rename = "n")]
    pub notifications: Vec<Box<RawValue>>,
    /// When the call owed them, in ms since the epoch: the retry age budget and the
    /// oldest-age gauge start here.
    #[serde(rename = "t")]
    pub owed_at_ms: i64,
}

/// The request fields a notification request carries besides `id` and
/// `notifications`. Decision fields (execute, prefetch) are never copied, so a
/// notification request cannot trigger a decision.
#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    environment_id: Option<i64>,
    property: Option<&'a Property>,
    context: Option<&'a Context>,
    experience_cloud: Option<&'a ExperienceCloud>,
    qa_mode: Option<&'a serde_json::Value>,
}

impl Owed {
    /// The compact form of `notifications` owed for `request`'s visitor. Fails only if
    /// a value cannot be serialized (a non-finite number a caller smuggled in).
    pub fn new(
        request: &DeliveryRequest,
        notifications: &[Notification],
        session_id: &str,
        cluster: Option<&str>,
        owed_at_ms: i64,
    ) -> Result<Self, serde_json::Error> {
        let envelope = Envelope {
            environment_id: request.environment_id,
            property: request.property.as_ref(),
            context: request.context.as_ref(),
            experience_cloud: request.experience_cloud.as_ref(),
            qa_mode: request.qa_mode.as_ref(),
        };
        let visitor = request
            .id
            .as_ref()
            .map(serde_json::value::to_raw_value)
            .transpose()?;
        let notifications = notifications
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            session_id: session_id.to_owned(),
            cluster: cluster.filter(|c| !c.is_empty()).map(str::to_owned),
            visitor,
            envelope: serde_json::value::to_raw_value(&envelope)?,
            notifications,
            owed_at_ms,
        })
    }

    /// The spool record: this value as JSON.
    pub fn to_record(&self) -> Vec<u8> {
        // Every field is a string, a number or already-valid JSON: cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a spool record back.
    pub fn from_record(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The body of a notification request: `{"requestId", "id", <envelope fields>,
/// "notifications": [...], "telemetry": {"entries": [...]}}`, spliced from bytes.
pub fn request_body(
    request_id: &str,
    visitor: Option<&RawValue>,
    envelope: &RawValue,
    notifications: &[&RawValue],
    telemetry: &[TelemetryEntry],
) -> Vec<u8> {
    let size = envelope.get().len()
        + notifications
            .iter()
            .map(|n| n.get().len() + 1)
            .sum::<usize>()
        + 128;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"requestId\":");
    // A uuid needs no escaping, but a caller's own request id might.
    body.extend_from_slice(&serde_json::to_vec(request_id).unwrap_or_else(|_| b"\"\"".to_vec()));
    if let Some(visitor) = visitor {
        body.extend_from_slice(b",\"id\":");
        body.extend_from_slice(visitor.get().as_bytes());
    }
    let fields = object_fields(envelope.get());
    if !fields.is_empty() {
        body.push(b',');
        body.extend_from_slice(fields.as_bytes());
    }
    if !notifications.is_empty() {
        body.extend_from_slice(b",\"notifications\":[");
        for (i, notification) in notifications.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(notification.get().as_bytes());
        }
        body.push(b']');
    }
    if !telemetry.is_empty() {
        body.extend_from_slice(b",\"telemetry\":{\"entries\":");
        // Typed telemetry entries serialize without fail.
        body.extend_from_slice(&serde_json::to_vec(telemetry).unwrap_or_else(|_| b"[]".to_vec()));
        body.push(b'}');
    }
    body.push(b'}');
    body
}

/// The inside of a JSON object's text, `{"a":1}` -> `"a":1`; empty for `{}` or for
/// anything that is not an object.
fn object_fields(object: &str) -> &str {
    object
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .map(str::trim)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn request() -> DeliveryRequest {
        serde_json::from_value(json!({
            "id": {"tntId": "t-1", "marketingCloudVisitorId": "m-1"},
            "context": {"channel": "web", "address": {"url": "https://x.example/"}},
            "property": {"token": "p"},
            "execute": {"mboxes": [{"name": "a", "index": 1}]}
        }))
        .unwrap()
    }

    fn notification(id: &str) -> Notification {
        serde_json::from_value(json!({
            "id": id, "type": "display", "timestamp": 1,
            "mbox": {"name": "a"}, "tokens": ["tok"]
        }))
        .unwrap()
    }

    #[test]
    fn the_spliced_body_is_the_notification_request() {
        let owed = Owed::new(
            &request(),
            &[notification("n1"), notification("n2")],
            "s",
            Some("35"),
            7,
        )
        .unwrap();
        let items: Vec<&RawValue> = owed.notifications.iter().map(AsRef::as_ref).collect();
        let body = request_body("r-1", owed.visitor.as_deref(), &owed.envelope, &items, &[]);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({
                "requestId": "r-1",
                "id": {"tntId": "t-1", "marketingCloudVisitorId": "m-1"},
                "property": {"token": "p"},
                "context": {"channel": "web", "address": {"url": "https://x.example/"}},
                "notifications": [
                    {"id": "n1", "type": "display", "timestamp": 1, "mbox": {"name": "a"}, "tokens": ["tok"]},
                    {"id": "n2", "type": "display", "timestamp": 1, "mbox": {"name": "a"}, "tokens": ["tok"]}
                ]
            })
        );
    }

    #[test]
    fn an_empty_envelope_and_telemetry_still_make_valid_json() {
        let owed = Owed::new(&DeliveryRequest::default(), &[], "s", None, 0).unwrap();
        let telemetry = [TelemetryEntry {
            request_id: Some("q".into()),
            ..Default::default()
        }];
        let body = request_body("r", None, &owed.envelope, &[], &telemetry);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"requestId": "r", "telemetry": {"entries": [{"requestId": "q"}]}})
        );
    }

    #[test]
    fn records_round_trip() {
        let owed = Owed::new(&request(), &[notification("n1")], "s", None, 42).unwrap();
        let back = Owed::from_record(&owed.to_record()).unwrap();
        assert_eq!(back.session_id, "s");
        assert_eq!(back.cluster, None);
        assert_eq!(back.owed_at_ms, 42);
        assert_eq!(back.notifications[0].get(), owed.notifications[0].get());
        assert_eq!(back.envelope.get(), owed.envelope.get());
    }
}
