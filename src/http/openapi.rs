//! The OpenAPI 3.1 document of offerd's HTTP API, served at `GET /openapi.json` on the
//! operations listener (beside `/metrics`).
//!
//! [`ENDPOINTS`] is the route table: one row per route, with its listener and its
//! operation. `routes::post`/`get` refuse (in debug builds) to register a route that is
//! not in it, and `tests/service/openapi.rs` checks that every route in the document is
//! served, on its listener, so the two cannot drift.
//!
//! The schemas come from the types the handlers parse and answer (`#[derive(ToSchema)]`
//! in `model/`, `sdk/options.rs`, `sdk/response.rs`, `client/attributes.rs`,
//! `routes.rs`); the few bodies a handler writes with `json!` are described in
//! `bodies.rs`, the operations in `operations.rs`. The document follows
//! the server's configuration: the bearer requirement (and its 401) appears where
//! `server.auth_tokens` applies.

mod bodies;
mod ofrep;
mod operations;

use actix_web::{HttpResponse, web};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, RefOr, Schema,
    Tag,
};

use super::body::AttributesBody;
use crate::client::{Attributes, GetOffersOptions, TargetClient, TargetDeliveryResponse};
use crate::config::Config;
use crate::model::{DeliveryRequest, DeliveryResponse};
use operations::{artifact, artifact_refresh, attributes, delivery, live, metrics};
use operations::{notifications, offers, openapi, ready};

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
#[rustfmt::skip] // one row per line
pub const ENDPOINTS: &[Endpoint] = &[
    route(Verb::Post, "/v1/offers", Listener::Decisions, offers),
    route(Verb::Post, "/v1/notifications", Listener::Decisions, notifications),
    route(Verb::Post, "/v1/attributes", Listener::Decisions, attributes),
    route(Verb::Post, "/ofrep/v1/evaluate/flags", Listener::Decisions, ofrep::flags),
    route(Verb::Post, "/ofrep/v1/evaluate/flags/{key}", Listener::Decisions, ofrep::flag),
    route(Verb::Post, "/rest/v1/delivery", Listener::Decisions, delivery),
    route(Verb::Post, "/rest/v1/delivery/", Listener::Decisions, delivery),
    route(Verb::Get, "/v1/artifact", Listener::Operations, artifact),
    route(
        Verb::Post,
        "/v1/artifact/refresh",
        Listener::Operations,
        artifact_refresh,
    ),
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
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
            if endpoint.path.starts_with(super::auth::OFREP_PREFIX) {
                operation =
                    operation.security(SecurityRequirement::new("apiKey", Vec::<String>::new()));
            }
            operation = operation.response(
                "401",
                operations::error_for(
                    endpoint.path,
                    "No token, or not one of `server.auth_tokens`",
                ),
            );
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
    for (name, schema) in bodies::hand_written().into_iter().chain(ofrep::schemas()) {
        schemas.push((name.to_string(), bodies::schema(schema).into()));
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
        .security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "One of `server.auth_tokens`, as OFREP's providers send it: the OFREP \
                 endpoints take it beside a bearer.",
            ))),
        )
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

#[cfg(test)]
mod tests;
