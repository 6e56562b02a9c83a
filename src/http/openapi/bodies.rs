//! Schemas of the bodies handlers write with `json!` (`routes.rs`, `error.rs`), and of
//! the notifications body (get_offers' options with at least one notification), which
//! no Rust type describes.

use serde_json::{Value, json};
use utoipa::openapi::Schema;

/// A schema written as JSON.
pub(super) fn schema(value: Value) -> Schema {
    // Every schema written here is parsed when the unit tests build the document.
    serde_json::from_value(value).unwrap_or_else(|e| panic!("not a schema ({e})"))
}

/// The schemas, by component name.
pub(super) fn hand_written() -> [(&'static str, Value); 10] {
    let time = json!({"type": ["string", "null"], "description": "RFC 3339, milliseconds"});
    let cookie = json!({
        "type": "object",
        "required": ["name", "value", "maxAge"],
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "maxAge": {"type": "integer", "description": "Seconds"},
        },
    });
    [
        (
            "TargetDeliveryResponseCamelCase",
            json!({
                "type": "object",
                "description": "The get_offers result named as the Node SDK names it \
                    (`result_naming: \"camelCase\"`).",
                "required": ["response", "targetCookie", "meta"],
                "properties": {
                    "response": {"$ref": "#/components/schemas/DeliveryResponse"},
                    "targetCookie": cookie,
                    "targetLocationHintCookie": cookie,
                    "analyticsDetails": {"type": "array", "items": {"$ref": "#/components/schemas/AnalyticsResponse"}},
                    "trace": {"type": "array", "items": {"type": "object"}},
                    "responseTokens": {"type": "array", "items": {"type": "object"}},
                    "meta": {
                        "type": "object",
                        "required": ["decisioningMethod", "remoteMboxes", "remoteViews"],
                        "properties": {
                            "decisioningMethod": {"$ref": "#/components/schemas/DecisioningMethod"},
                            "remoteMboxes": {"type": "array", "items": {"type": "string"}},
                            "remoteViews": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            }),
        ),
        (
            "Error",
            json!({
                "type": "object",
                "description": "offerd's error answer.",
                "required": ["error"],
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "invalid_request, \
                            unauthorized, not_found, method_not_allowed, payload_too_large, \
                            not_ready, overloaded, queue_full, upstream_offline, \
                            upstream_error, upstream_timeout or internal"},
                        "message": {"type": "string"},
                    },
                }},
            }),
        ),
        (
            "SendNotificationsOptions",
            json!({"allOf": [
                {"$ref": "#/components/schemas/GetOffersOptions"},
                {
                    "type": "object",
                    "description": "`request.notifications` holds at least one notification",
                    "properties": {"request": {
                        "type": "object",
                        "required": ["notifications"],
                        "properties": {"notifications": {"type": "array", "minItems": 1}},
                    }},
                },
            ]}),
        ),
        (
            "DeliveryError",
            json!({
                "type": "object",
                "description": "Target's Delivery API error answer (UnexpectedError).",
                "required": ["status", "message"],
                "properties": {
                    "status": {"type": "integer", "format": "int32"},
                    "message": {"type": "string"},
                },
            }),
        ),
        (
            "Accepted",
            json!({
                "type": "object",
                "required": ["accepted"],
                "properties": {"accepted": {
                    "type": "integer", "minimum": 0,
                    "description": "How many notifications were queued",
                }},
            }),
        ),
        (
            "ArtifactRefresh",
            json!({
                "type": "object",
                "required": ["outcome"],
                "properties": {
                    "outcome": {"type": "string", "enum": ["updated", "unchanged"],
                                "description": "updated: a new artifact is in use; \
                                                unchanged: the source had nothing new"},
                    "version": {"type": "string",
                                "description": "The new artifact's version (updated only)"},
                },
            }),
        ),
        (
            "ArtifactStatus",
            json!({
                "type": "object",
                "required": ["loaded", "lastAttempt", "lastSuccess", "lastError", "refreshes"],
                "properties": {
                    "loaded": {"oneOf": [{"type": "null"}, {
                        "type": "object",
                        "description": "The artifact in use",
                        "required": ["version", "generatedAt", "etag", "source", "fetchedAt",
                                     "ageSeconds", "ruleCounts"],
                        "properties": {
                            "version": {"type": "string"},
                            "generatedAt": {"type": ["string", "null"],
                                            "description": "The artifact's meta.generatedAt"},
                            "etag": {"type": ["string", "null"]},
                            "source": {"type": "string", "description": "Path, URL, inline or embedded:NAME; \"backup\" for the last good artifact read from artifact.backup_dir at a start while the CDN did not answer"},
                            "fetchedAt": time,
                            "ageSeconds": {"type": "integer", "minimum": 0,
                                           "description": "Seconds since it was downloaded (a backup: since the CDN last confirmed it)"},
                            "ruleCounts": {
                                "type": "object",
                                "required": ["mboxes", "views"],
                                "properties": {
                                    "mboxes": {"type": "integer", "minimum": 0},
                                    "views": {"type": "integer", "minimum": 0},
                                },
                            },
                        },
                    }]},
                    "lastAttempt": time,
                    "lastSuccess": time,
                    "lastError": {"type": ["string", "null"]},
                    "refreshes": {
                        "type": "object",
                        "required": ["succeeded", "failed"],
                        "properties": {
                            "succeeded": {"type": "integer", "minimum": 0},
                            "failed": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            }),
        ),
        (
            "Live",
            json!({
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["live"]}},
            }),
        ),
        (
            "Readiness",
            json!({
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": ["ready", "not_ready", "draining"],
                               "description": "draining: shutting down (server.drain_delay_secs), still serving"},
                    "reason": {"type": "string", "description": "Why not ready"},
                },
            }),
        ),
        (
            "OpenApiDocument",
            json!({"type": "object", "required": ["openapi", "info", "paths"]}),
        ),
    ]
}
