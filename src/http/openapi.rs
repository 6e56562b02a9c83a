//! The OpenAPI 3.1 document of offerd's HTTP API, served at `GET /openapi.json` on the
//! operations listener (beside `/metrics`).
//!
//! [`ENDPOINTS`] is the route table: one row per route, with its listener and its
//! operation. `routes::post`/`get` refuse (in debug builds) to register a route that is
//! not in it, and `tests/service/openapi.rs` checks that every route in the document is
//! served, on its listener, so the two cannot drift.
//!
//! The schemas come from the types the handlers parse and answer (`#[derive(ToSchema)]`
//! in `model/`, `engine/offers.rs`, `client/attributes.rs`, `routes.rs`); the few bodies
//! a handler writes with `json!` are described in [`hand_written`]. The document follows
//! the server's configuration: the bearer requirement (and its 401) appears where
//! `server.auth_tokens` applies.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, Header, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathItem, PathsBuilder, Ref, RefOr, Required, Schema, Tag, Type,
};

use super::routes::AttributesBody;
use crate::client::{Attributes, TargetClient};
use crate::config::Config;
use crate::engine::offers::{GetOffersOptions, TargetDeliveryResponse};
use crate::model::{DeliveryRequest, DeliveryResponse};

/// Which listener serves a route; also its tag in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Decisions and notifications: `server.bind`.
    Decisions,
    /// Health, metrics, the artifact and this document: `server.bind`, or
    /// `server.admin_bind` when it is set.
    Operations,
}

impl Listener {
    /// The tag of its operations.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Decisions => "decisions",
            Self::Operations => "operations",
        }
    }
}

/// The methods offerd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    /// The method's name, as in `Allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// One route: what `routes.rs` registers and the document describes.
pub struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
    pub listener: Listener,
    /// Its operation, without the tag, the security and the 401 (added from config).
    operation: fn(&Config) -> OperationBuilder,
}

/// Every route offerd serves.
pub const ENDPOINTS: &[Endpoint] = &[
    route(Verb::Post, "/v1/offers", Listener::Decisions, offers),
    route(
        Verb::Post,
        "/v1/notifications",
        Listener::Decisions,
        notifications,
    ),
    route(
        Verb::Post,
        "/v1/attributes",
        Listener::Decisions,
        attributes,
    ),
    route(
        Verb::Post,
        "/rest/v1/delivery",
        Listener::Decisions,
        delivery,
    ),
    route(Verb::Get, "/v1/artifact", Listener::Operations, artifact),
    route(Verb::Get, "/health/live", Listener::Operations, live),
    route(Verb::Get, "/health/ready", Listener::Operations, ready),
    route(Verb::Get, "/metrics", Listener::Operations, metrics),
    route(Verb::Get, "/openapi.json", Listener::Operations, openapi),
];

const fn route(
    verb: Verb,
    path: &'static str,
    listener: Listener,
    operation: fn(&Config) -> OperationBuilder,
) -> Endpoint {
    Endpoint {
        verb,
        path,
        listener,
        operation,
    }
}

/// The row for `verb path`, if offerd serves it.
pub fn endpoint(verb: Verb, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.verb == verb && e.path == path)
}

/// `GET /openapi.json`.
pub(super) async fn serve(client: web::Data<TargetClient>) -> HttpResponse {
    HttpResponse::Ok().json(document(client.config()))
}

/// The document for a server configured with `config`.
pub fn document(config: &Config) -> OpenApi {
    let server = &config.server;
    let mut paths = PathsBuilder::new();
    for endpoint in ENDPOINTS {
        let protected = !server.auth_tokens.is_empty()
            && (endpoint.listener == Listener::Decisions || server.protect_operations);
        let mut operation = (endpoint.operation)(config).tag(endpoint.listener.tag());
        if protected {
            operation = operation
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .response("401", error("No token, or not one of `server.auth_tokens`"));
        }
        let method = match endpoint.verb {
            Verb::Get => HttpMethod::Get,
            Verb::Post => HttpMethod::Post,
        };
        paths = paths.path(endpoint.path, PathItem::new(method, operation));
    }
    let mut schemas = Vec::new();
    collect::<GetOffersOptions>(&mut schemas);
    collect::<TargetDeliveryResponse>(&mut schemas);
    collect::<AttributesBody>(&mut schemas);
    collect::<Attributes>(&mut schemas);
    collect::<DeliveryRequest>(&mut schemas);
    collect::<DeliveryResponse>(&mut schemas);
    for (name, schema) in hand_written() {
        let schema: Schema = serde_json::from_value(schema)
            .unwrap_or_else(|e| panic!("the hand-written schema {name} is a schema: {e}"));
        schemas.push((name.to_string(), schema.into()));
    }
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "One of `server.auth_tokens`. Needed on the decision endpoints when tokens are \
             configured, and on the operational ones too with `server.protect_operations`.",
        ))
        .build();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme("bearer", SecurityScheme::Http(bearer))
        .build();
    let tag = |listener: Listener, description: &str| {
        let mut tag = Tag::new(listener.tag());
        tag.description = Some(description.to_string());
        tag
    };
    let info = InfoBuilder::new()
        .title("offerd")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "An Adobe Target-compatible decisioning service: the Target SDKs' getOffers, \
             sendNotifications and getAttributes over HTTP, and Target's own Delivery API. \
             Every answer carries `X-Request-Id` (the caller's, or a new one). A wrong \
             method on a known path is a 405 with `Allow`.",
        ))
        .build();
    OpenApiBuilder::new()
        .info(info)
        .paths(paths.build())
        .components(Some(components))
        .tags(Some([
            tag(
                Listener::Decisions,
                "Decisions and notifications: `server.bind`.",
            ),
            tag(
                Listener::Operations,
                "Health, metrics, the artifact and this document: `server.bind`, or \
                 `server.admin_bind` when it is set.",
            ),
        ]))
        .build()
}

/// Adds `T`'s schema and every schema it refers to.
fn collect<T: ToSchema>(into: &mut Vec<(String, RefOr<Schema>)>) {
    into.push((T::name().into_owned(), T::schema()));
    T::schemas(into);
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// A request body of `schema`, as JSON (offerd reads it whatever the content type).
fn json_body(schema: RefOr<Schema>) -> Option<utoipa::openapi::request_body::RequestBody> {
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

fn json_reply(description: &str, schema: RefOr<Schema>) -> Response {
    reply(description, "application/json", schema)
}

/// An error answer in offerd's `{"error": {"code", "message"}}`.
fn error(description: &str) -> Response {
    json_reply(description, schema_ref("Error"))
}

/// What can go wrong on a decision endpoint, answered with `schema`.
fn decision_errors(op: OperationBuilder, schema: fn() -> RefOr<Schema>) -> OperationBuilder {
    let answer = |description: &str| json_reply(description, schema());
    op.response(
        "400",
        answer("The body is not what the endpoint takes (`invalid_request`)"),
    )
    .response(
        "413",
        error("The body is larger than `server.max_body_bytes`"),
    )
    .response(
        "422",
        answer(
            "Only Target can decide this request (server-side asked, or a remote mbox \
                 in hybrid mode), and `upstream.offline` is set (`upstream_offline`)",
        ),
    )
    .response("500", answer("offerd failed (`internal`)"))
    .response(
        "502",
        answer("Target's Delivery API failed (`upstream_error`)"),
    )
    .response(
        "503",
        answer("Retry later: `overloaded`, `not_ready` (no artifact yet) or `queue_full`"),
    )
    .response(
        "504",
        answer("Target's Delivery API timed out (`upstream_timeout`)"),
    )
}

fn operation(id: &str, summary: &str, description: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
        .description(Some(description))
}

fn offers(_: &Config) -> OperationBuilder {
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
            "The SDK's TargetDeliveryResponse",
            schema_ref(&TargetDeliveryResponse::name()),
        ),
    );
    decision_errors(op, || schema_ref("Error"))
}

fn notifications(_: &Config) -> OperationBuilder {
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

fn attributes(_: &Config) -> OperationBuilder {
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
    let any_of = json!({"anyOf": [
        {"$ref": "#/components/schemas/DeliveryError"},
        {"$ref": "#/components/schemas/Error"},
    ]});
    serde_json::from_value::<Schema>(any_of)
        .expect("an anyOf of two references")
        .into()
}

fn delivery(config: &Config) -> OperationBuilder {
    let query = |name: &str, description: &str, schema: ObjectBuilder| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema.schema_type(Type::String)))
            .build()
    };
    let op = operation(
        "execute",
        "Target's Delivery API",
        "Target's own endpoint, so existing clients can point at offerd: a Delivery API \
         request in, a Delivery API response out. Notifications in the request are queued; \
         execute and prefetch are decided.",
    )
    .parameter(query(
        "client",
        "Target client code; when given, the one this offerd serves (`target.client`).",
        ObjectBuilder::new().enum_values(Some([config.target.client.as_str()])),
    ))
    .parameter(query(
        "sessionId",
        "The visitor's session, kept across the session's requests.",
        ObjectBuilder::new(),
    ))
    .request_body(json_body(schema_ref(&DeliveryRequest::name())))
    .response(
        "200",
        json_reply(
            "The Delivery API response",
            schema_ref(&DeliveryResponse::name()),
        ),
    );
    decision_errors(op, delivery_error)
}

fn artifact(_: &Config) -> OperationBuilder {
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

fn live(_: &Config) -> OperationBuilder {
    operation("live", "Liveness", "200 while offerd runs.")
        .response("200", json_reply("Live", schema_ref("Live")))
}

fn ready(_: &Config) -> OperationBuilder {
    operation(
        "ready",
        "Readiness",
        "200 once offerd can decide: an artifact is loaded (at once in server-side mode).",
    )
    .response("200", json_reply("Ready", schema_ref("Readiness")))
    .response("503", json_reply("Not ready yet", schema_ref("Readiness")))
}

fn metrics(_: &Config) -> OperationBuilder {
    let text = json!({"type": "string"});
    let text: Schema = serde_json::from_value(text).expect("a string schema");
    operation(
        "metrics",
        "Prometheus metrics",
        "The Prometheus text exposition format (version 0.0.4).",
    )
    .response("200", reply("Metrics", "text/plain", text.into()))
}

fn openapi(_: &Config) -> OperationBuilder {
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

/// Schemas of the bodies handlers write with `json!` (routes.rs, error.rs), and of the
/// notifications body: get_offers' options holding at least one notification.
fn hand_written() -> [(&'static str, Value); 8] {
    let time = json!({"type": ["string", "null"], "description": "RFC 3339, milliseconds"});
    [
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
                            "source": {"type": "string", "description": "Path, URL, inline or embedded:NAME"},
                            "fetchedAt": time,
                            "ageSeconds": {"type": "integer", "minimum": 0},
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
                    "status": {"type": "string", "enum": ["ready", "not_ready"]},
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

#[cfg(test)]
mod tests;
