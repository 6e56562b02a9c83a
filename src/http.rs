//! The HTTP surface (actix-web): routes, their OpenAPI document, the error type, and
//! the middleware that gives every request an id, a tracing span, a count and a
//! latency observation.

pub mod access_log;
mod auth;
mod body;
mod delivery;
pub mod error;
pub mod explorer;
mod ofrep;
pub mod openapi;
mod probe;
pub mod routes;

pub use probe::probe;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next, from_fn};
use actix_web::{App, HttpServer, web};
use tracing::Instrument;

use crate::client::TargetClient;
use crate::engine::{IdGenerator, RandomIds};
use crate::model::DecisioningMethod;
use crate::otel;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routes {
    /// Decisions and, unless `server.admin_bind` is set, operations too.
    Main { with_operations: bool },
    /// Operations only (`server.admin_bind`).
    Admin,
}

/// Builds the HTTP server on an already-bound listener (tests bind 127.0.0.1:0). With
/// `server.admin_bind` set it serves decisions only; see [`serve_admin`].
pub fn serve(client: TargetClient, listener: TcpListener) -> std::io::Result<Server> {
    let with_operations = matches!(client.config().admin_addr(), Ok(None));
    build(client, listener, Routes::Main { with_operations })
}

/// The admin server (`server.admin_bind`): `/metrics`, `/health/*`, `/v1/artifact`,
/// `/openapi.json`.
pub fn serve_admin(client: TargetClient, listener: TcpListener) -> std::io::Result<Server> {
    build(client, listener, Routes::Admin)
}

fn build(client: TargetClient, listener: TcpListener, routes: Routes) -> std::io::Result<Server> {
    let config = client.config().clone();
    let workers = match (routes, config.server.workers) {
        (Routes::Admin, _) => 1,
        (_, 0) => std::thread::available_parallelism().map_or(2, usize::from),
        (_, n) => n,
    };
    let max_body = config.server.max_body_bytes;
    // The explorer is an HTML page and its form, not part of the JSON API: it is not a
    // row of the OpenAPI route table, and is served only where operations are.
    let explorer = config.explorer.is_enabled(&config.artifact);
    let data = web::Data::new(client);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::QueryConfig::default().error_handler(bad_query))
            .wrap(from_fn(auth::authorize))
            .wrap(from_fn(observe))
            .wrap(ErrorHandlers::new().handler(StatusCode::PAYLOAD_TOO_LARGE, too_large))
            .configure(|cfg| match routes {
                Routes::Main { with_operations } => {
                    routes::configure_decisions(cfg);
                    if with_operations {
                        routes::configure_operations(cfg);
                        if explorer {
                            explorer::configure(cfg);
                        }
                    }
                }
                Routes::Admin => {
                    routes::configure_operations(cfg);
                    if explorer {
                        explorer::configure(cfg);
                    }
                }
            })
            .default_service(web::to(not_found))
    })
    .workers(workers)
    // offerd's own Supervisor owns the shutdown order, so actix must not stop the
    // System on a signal before the batcher has drained.
    .disable_signals()
    .shutdown_timeout(config.server.shutdown_grace_secs)
    .listen(listener)?
    .run();
    Ok(server)
}

/// actix-web answers an oversized body itself, in plain text; answer in JSON like
/// every other error (keeping the request id).
fn too_large<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let error = error::ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the body is larger than server.max_body_bytes",
    )
    .shaped_for(res.request().path());
    let (req, plain) = res.into_parts();
    let mut json = actix_web::ResponseError::error_response(&error);
    if let Some(id) = plain.headers().get(REQUEST_ID) {
        json.headers_mut().insert(REQUEST_ID, id.clone());
    }
    let res = ServiceResponse::new(req, json);
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

/// actix-web answers a query it cannot parse in plain text; answer in JSON.
fn bad_query(
    err: actix_web::error::QueryPayloadError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    error::ApiError::bad_request(format!("invalid query string: {err}"))
        .shaped_for(req.path())
        .into()
}

async fn not_found(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see the README for the API",
    )
    .shaped_for(req.path()))
}

/// A request's headers as a carrier of the caller's trace context (`traceparent`).
struct RequestHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl opentelemetry::propagation::Extractor for RequestHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Request id (taken from `X-Request-Id` or made), one span per request, per-endpoint
/// count and latency, and the access log line (`log.access`; no visitor ids in it).
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| RandomIds.next_id(), str::to_string);
    let endpoint = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    // A known method or "other": a label must not take whatever a caller sends.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    };
    let client = req.app_data::<web::Data<TargetClient>>();
    let metrics = client.map(|client| client.metrics().clone());
    let access_log = client.is_some_and(|client| client.config().log.access)
        && tracing::enabled!(tracing::Level::INFO);
    let span =
        tracing::info_span!("request", %request_id, method = %req.method(), endpoint = %endpoint);
    let (server_span, trace) = otel::server_span(method, &endpoint, &RequestHeaders(req.headers()));
    let draining = client.is_some_and(|client| client.is_draining());
    let serve = next
        .call(req)
        .instrument(span.clone())
        .instrument(server_span.clone());
    let mut res = otel::in_request(trace, serve).await?;
    if draining {
        // Shutting down: this answer closes its connection, so a keep-alive client's
        // next request opens a new one, which the balancer sends to another replica.
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    let status = res.status();
    otel::record_status(&server_span, status.as_u16());
    if let Some(metrics) = metrics {
        metrics
            .http_requests
            .with_label_values(&[endpoint.as_str(), method, status.as_str()])
            .inc();
        metrics
            .http_latency
            .with_label_values(&[endpoint.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    if access_log {
        let decisioning_method = res
            .response()
            .extensions()
            .get::<DecisioningMethod>()
            .map_or("", |method| method.as_str());
        span.in_scope(|| {
            access_log::record(&access_log::AccessLine {
                request_id: &request_id,
                method,
                endpoint: &endpoint,
                path: res.request().path(),
                status: status.as_u16(),
                duration: started.elapsed(),
                decisioning_method,
            });
        });
    }
    Ok(res)
}
