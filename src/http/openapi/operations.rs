//! The operation of each route: what it takes, what it answers, how it fails.

use utoipa::ToSchema;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Header, ObjectBuilder, Ref, RefOr, Required, Schema, Type};

use crate::client::{Attributes, GetOffersOptions, TargetDeliveryResponse};
use crate::config::Config;
use crate::http::body::AttributesBody;
use crate::model::{DeliveryRequest, DeliveryResponse};

pub(super) fn schema_ref(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// A request body of `schema`, as JSON (offerd reads it whatever the content type).
pub(super) fn json_body(schema: RefOr<Schema>) -> Option<RequestBody> {
    let content = ContentBuilder::new().schema(Some(schema)).build();
    Some(
        RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", content)
            .build(),
    )
}

/// A response, with the `X-Request-Id` every response carries.
fn reply(description: &str, content_type: &str, schema: RefOr<Schema>) -> Response {
    let request_id = Header::new(ObjectBuilder::new().schema_type(Type::String));
    ResponseBuilder::new()
        .description(description)
        .header("X-Request-Id", request_id)
        .content(
            content_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

pub(super) fn json_reply(description: &str, schema: RefOr<Schema>) -> Response {
    reply(description, "application/json", schema)
}

/// An error answer in offerd's `{"error": {"code", "message"}}`.
pub(super) fn error(description: &str) -> Response {
    json_reply(description, schema_ref("Error"))
}

/// An error answer in the shape `path` answers errors in: Target's `{status, message}`
/// on Target's own API, offerd's elsewhere.
pub(super) fn error_for(path: &str, description: &str) -> Response {
    if path.starts_with(crate::http::error::DELIVERY_API_PATH) {
        json_reply(description, delivery_error())
    } else {
        error(description)
    }
}

/// What can go wrong on a decision endpoint, answered with `body` (also the 413, which
/// actix answers before any handler and offerd reshapes).
fn decision_errors(mut op: OperationBuilder, body: fn() -> RefOr<Schema>) -> OperationBuilder {
    for (status, description) in [
        (
            "400",
            "The body is not what the endpoint takes (`invalid_request`)",
        ),
        (
            "422",
            "Only Target can decide this request (server-side asked, or a remote mbox in \
             hybrid mode), and `upstream.offline` is set (`upstream_offline`)",
        ),
        ("500", "offerd failed (`internal`)"),
        ("502", "Target's Delivery API failed (`upstream_error`)"),
        (
            "503",
            "Retry later: `overloaded`, `not_ready` (no artifact yet) or `queue_full`",
        ),
        (
            "504",
            "Target's Delivery API timed out (`upstream_timeout`)",
        ),
    ] {
        op = op.response(status, json_reply(description, body()));
    }
    op.response(
        "413",
        json_reply("The body is larger than `server.max_body_bytes`", body()),
    )
}

pub(super) fn operation(id: &str, summary: &str, description: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
        .description(Some(description))
}

pub(super) fn offers(_: &Config) -> OperationBuilder {
    let op = operation(
        "getOffers",
        "Decide offers (the SDKs' getOffers)",
        "Decides the request's execute and prefetch mboxes, views and page load, \
         on-device, server-side or hybrid. Option names are accepted in snake_case and \
         camelCase.",
    )
    .request_body(json_body(schema_ref(&GetOffersOptions::name())))
    .response(
        "200",
        json_reply(
            "The SDK's TargetDeliveryResponse: snake_case, or the Node SDK's names with \
             `result_naming: \"camelCase\"`",
            super::bodies::schema(serde_json::json!({"oneOf": [
                {"$ref": format!("#/components/schemas/{}", TargetDeliveryResponse::name())},
                {"$ref": "#/components/schemas/TargetDeliveryResponseCamelCase"},
            ]}))
            .into(),
        ),
    );
    decision_errors(op, || schema_ref("Error"))
}

pub(super) fn notifications(_: &Config) -> OperationBuilder {
    let op = operation(
        "sendNotifications",
        "Send notifications (the SDKs' sendNotifications)",
        "Queues `request.notifications` for Target, merged in batches; the answer does \
         not wait for Target.",
    )
    .request_body(json_body(schema_ref("SendNotificationsOptions")))
    .response("202", json_reply("Queued", schema_ref("Accepted")));
    decision_errors(op, || schema_ref("Error"))
}

pub(super) fn attributes(_: &Config) -> OperationBuilder {
    let op = operation(
        "getAttributes",
        "Feature-flag attributes (the SDKs' getAttributes)",
        "Decides the named mboxes and returns their JSON offers' attributes by mbox.",
    )
    .request_body(json_body(schema_ref(&AttributesBody::name())))
    .response(
        "200",
        json_reply("Attributes by mbox name", schema_ref(&Attributes::name())),
    );
    decision_errors(op, || schema_ref("Error"))
}

/// The error answers of `/rest/v1/delivery`: Target's own `{status, message}`, or
/// offerd's `{"error": ...}` for what is refused before the handler (401, 413).
fn delivery_error() -> RefOr<Schema> {
    schema_ref("DeliveryError")
}

pub(super) fn delivery(config: &Config) -> OperationBuilder {
    let query = |name: &str, required: bool, description: &str, schema: ObjectBuilder| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(if required {
                Required::True
            } else {
                Required::False
            })
            .description(Some(description))
            .schema(Some(schema.schema_type(Type::String)))
            .build()
    };
    let op = operation(
        "execute",
        "Target's Delivery API",
        "Target's own endpoint, so existing clients can point at offerd: a Delivery API \
         request in, a Delivery API response out, errors as Target's `{status, message}`. \
         Notifications in the request are queued and answered with their ids; execute and \
         prefetch are decided. `client` (as at.js sends it) or `imsOrgId` (as the SDKs \
         do) must name the caller. The body is JSON, sent as `application/json` or as \
         `text/plain` (browsers' beacons).",
    )
    .parameter(query(
        "client",
        false,
        "Target client code; when given, the one this offerd serves (`target.client`).",
        ObjectBuilder::new().enum_values(Some([config.target.client.as_str()])),
    ))
    .parameter(query(
        "imsOrgId",
        false,
        "IMS organization id; when given, the one this offerd serves \
         (`target.organization_id`).",
        ObjectBuilder::new().enum_values(Some([config.target.organization_id.as_str()])),
    ))
    .parameter(query(
        "sessionId",
        true,
        "The visitor's session, kept across the session's requests: 1 to 128 printable \
         characters, without spaces, `?` or `/`.",
        ObjectBuilder::new()
            .min_length(Some(1))
            .max_length(Some(128))
            .pattern(Some(r"^[^\s?/]+$")),
    ))
    .request_body(json_body(schema_ref(&DeliveryRequest::name())))
    .response(
        "200",
        json_reply(
            "The Delivery API response",
            schema_ref(&DeliveryResponse::name()),
        ),
    )
    .response(
        "204",
        ResponseBuilder::new()
            .description("A beacon (`context.beacon: true`): done, no body")
            .build(),
    )
    .response(
        "415",
        json_reply(
            "The body is not sent as `application/json` or `text/plain`",
            delivery_error(),
        ),
    );
    decision_errors(op, delivery_error)
}

pub(super) fn artifact(_: &Config) -> OperationBuilder {
    operation(
        "getArtifact",
        "The loaded rules artifact",
        "Version, generatedAt, ETag, source, age and rule counts of the artifact in use, \
         and the outcome of the refreshes.",
    )
    .response(
        "200",
        json_reply("The artifact's status", schema_ref("ArtifactStatus")),
    )
}

pub(super) fn artifact_refresh(_: &Config) -> OperationBuilder {
    operation(
        "refreshArtifact",
        "Download the artifact now",
        "Fetches the artifact outside the polling schedule (a conditional request, as a \
         poll) and answers once it is in use or known unchanged: for a deploy hook, after \
         publishing an activity. A refresh already running is followed by a new one.",
    )
    .response(
        "200",
        json_reply("The refresh's outcome", schema_ref("ArtifactRefresh")),
    )
    .response(
        "409",
        error("No artifact is polled: server-side mode, or shutting down"),
    )
    .response(
        "502",
        error("The download failed; the artifact in use stays"),
    )
}

pub(super) fn live(_: &Config) -> OperationBuilder {
    operation("live", "Liveness", "200 while offerd runs.")
        .response("200", json_reply("Live", schema_ref("Live")))
}

pub(super) fn ready(_: &Config) -> OperationBuilder {
    operation(
        "ready",
        "Readiness",
        "200 once offerd can decide: an artifact is loaded (at once in server-side mode).",
    )
    .response("200", json_reply("Ready", schema_ref("Readiness")))
    .response(
        "503",
        json_reply(
            "Not ready yet, or draining before a shutdown",
            schema_ref("Readiness"),
        ),
    )
}

pub(super) fn metrics(_: &Config) -> OperationBuilder {
    let text = ObjectBuilder::new().schema_type(Type::String).build();
    operation(
        "metrics",
        "Prometheus metrics",
        "The Prometheus text exposition format (version 0.0.4).",
    )
    .response("200", reply("Metrics", "text/plain", text.into()))
}

pub(super) fn openapi(_: &Config) -> OperationBuilder {
    operation(
        "openapi",
        "This document",
        "The OpenAPI 3.1 document of offerd's HTTP API, as this server is configured.",
    )
    .response(
        "200",
        json_reply("An OpenAPI document", schema_ref("OpenApiDocument")),
    )
}
