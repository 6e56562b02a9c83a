//! The endpoints. Handlers parse and validate, then call the [`TargetClient`]; no
//! decisioning logic lives here.

use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use super::body::{AttributesBody, parse};
use super::delivery;
use super::error::{ApiError, DELIVERY_API_PATH};
use super::ofrep;
use super::openapi::{self, Verb};
use crate::client::{
    GetOffersOptions, RefreshOutcome, ResponseMeta, ResultNaming, SendNotificationsOptions,
    TargetClient, TargetDeliveryResponse,
};
use crate::clock::epoch_secs;
use crate::model::DecisioningMethod;
use crate::sdk::cookies::Cookie;

/// Registers every route; any other method on a known path is a JSON 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_decisions(cfg);
    configure_operations(cfg);
}

/// Decisions and notifications: the main listener.
pub fn configure_decisions(cfg: &mut web::ServiceConfig) {
    cfg.service(post("/v1/offers").route(web::post().to(offers)))
        .service(post("/v1/notifications").route(web::post().to(notifications)))
        .service(post("/v1/attributes").route(web::post().to(attributes)))
        .service(post(ofrep::FLAGS_PATH).route(web::post().to(ofrep::evaluate_flags)))
        .service(post(ofrep::FLAG_PATH).route(web::post().to(ofrep::evaluate_flag)))
        .service(post(DELIVERY_API_PATH).route(web::post().to(delivery::delivery)))
        // Target's clients build the path themselves; one with a trailing slash is the
        // same endpoint.
        .service(post("/rest/v1/delivery/").route(web::post().to(delivery::delivery)));
}

/// Health, metrics, the artifact and the OpenAPI document: the main listener, or
/// `server.admin_bind`.
pub fn configure_operations(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/v1/artifact").route(web::get().to(artifact)))
        .service(post("/v1/artifact/refresh").route(web::post().to(refresh_artifact)))
        .service(get("/health/live").route(web::get().to(live)))
        .service(get("/health/ready").route(web::get().to(ready)))
        .service(get("/metrics").route(web::get().to(metrics)))
        .service(get("/openapi.json").route(web::get().to(openapi::serve)));
}

fn post(path: &str) -> actix_web::Resource {
    documented(Verb::Post, path);
    web::resource(path).default_service(web::to(|req| method_not_allowed(req, "POST")))
}

fn get(path: &str) -> actix_web::Resource {
    documented(Verb::Get, path);
    // HEAD is not answered from the GET route (actix routes it apart): a 405 naming GET.
    web::resource(path).default_service(web::to(|req| method_not_allowed(req, "GET")))
}

/// Every route is a row of the route table the OpenAPI document is made from.
fn documented(verb: Verb, path: &str) {
    debug_assert!(
        openapi::endpoint(verb, path).is_some(),
        "{} {path} is served but not in http::openapi::ENDPOINTS",
        verb.as_str()
    );
}

pub(super) async fn method_not_allowed(req: HttpRequest, allow: &'static str) -> HttpResponse {
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this endpoint takes {allow}"),
    )
    .shaped_for(req.path());
    let mut response = actix_web::ResponseError::error_response(&error);
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    response
}

async fn offers(
    client: web::Data<TargetClient>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let options: GetOffersOptions = parse(&body)?;
    let naming = options.result_naming;
    let response = client.get_offers(options).await?;
    let method = response.meta.decisioning_method;
    let mut answer = match naming {
        ResultNaming::SnakeCase => HttpResponse::Ok().json(response),
        ResultNaming::CamelCase => HttpResponse::Ok().json(NodeSdkResult::of(&response)),
    };
    // For the access log line.
    answer.extensions_mut().insert(method);
    Ok(answer)
}

/// A get_offers result named as the Node SDK names it (`result_naming: "camelCase"`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeSdkResult<'r> {
    response: &'r crate::model::DeliveryResponse,
    target_cookie: NodeSdkCookie<'r>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_location_hint_cookie: Option<NodeSdkCookie<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    analytics_details: Option<&'r Vec<crate::model::AnalyticsResponse>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<&'r Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_tokens: Option<&'r Vec<crate::model::ResponseTokens>>,
    meta: NodeSdkMeta<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeSdkCookie<'r> {
    name: &'r str,
    value: &'r str,
    max_age: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeSdkMeta<'r> {
    decisioning_method: DecisioningMethod,
    remote_mboxes: &'r [String],
    remote_views: &'r [String],
}

impl<'r> NodeSdkResult<'r> {
    fn of(result: &'r TargetDeliveryResponse) -> Self {
        let cookie = |c: &'r Cookie| NodeSdkCookie {
            name: &c.name,
            value: &c.value,
            max_age: c.max_age,
        };
        let ResponseMeta {
            decisioning_method,
            remote_mboxes,
            remote_views,
        } = &result.meta;
        Self {
            response: &result.response,
            target_cookie: cookie(&result.target_cookie),
            target_location_hint_cookie: result.target_location_hint_cookie.as_ref().map(cookie),
            analytics_details: result.analytics_details.as_ref(),
            trace: result.trace.as_ref(),
            response_tokens: result.response_tokens.as_ref(),
            meta: NodeSdkMeta {
                decisioning_method: *decisioning_method,
                remote_mboxes,
                remote_views,
            },
        }
    }
}

async fn notifications(
    client: web::Data<TargetClient>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let options: SendNotificationsOptions = parse(&body)?;
    let count = options.request.notifications.as_ref().map_or(0, Vec::len);
    client.send_notifications(options).await?;
    Ok(HttpResponse::Accepted().json(json!({"accepted": count})))
}

async fn attributes(
    client: web::Data<TargetClient>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: AttributesBody = parse(&body)?;
    if body.mbox_names.is_empty() {
        return Err(ApiError::bad_request(
            "mbox_names must name at least one mbox",
        ));
    }
    let options = GetOffersOptions {
        request: Box::new(body.request.unwrap_or_default()),
        target_cookie: body.target_cookie,
        target_location_hint: body.target_location_hint,
        session_id: body.session_id,
        customer_ids: body.customer_ids,
        decisioning_method: body.decisioning_method,
        ..Default::default()
    };
    let attributes = client.get_attributes(&body.mbox_names, options).await?;
    Ok(HttpResponse::Ok().json(attributes))
}

/// `POST /v1/artifact/refresh`: download the artifact now (see its OpenAPI operation).
async fn refresh_artifact(client: web::Data<TargetClient>) -> Result<HttpResponse, ApiError> {
    match client.refresh_artifact().await {
        Some(RefreshOutcome::Updated { version }) => {
            Ok(HttpResponse::Ok().json(json!({"outcome": "updated", "version": version})))
        }
        Some(RefreshOutcome::Unchanged) => {
            Ok(HttpResponse::Ok().json(json!({"outcome": "unchanged"})))
        }
        Some(RefreshOutcome::Failed(error)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "artifact_refresh_failed",
            format!("the artifact download failed, the one in use stays: {error}"),
        )),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_artifact_polled",
            "no artifact is polled: offerd decides server-side, or is shutting down",
        )),
    }
}

async fn artifact(client: web::Data<TargetClient>) -> HttpResponse {
    let status = client.store().status();
    let secs = |t: Option<SystemTime>| t.map(|t| humantime::format_rfc3339_millis(t).to_string());
    let current = client.store().current();
    let loaded = current.as_ref().map(|a| {
        let (mboxes, views) = a.compiled.rule_counts();
        let age = SystemTime::now()
            .duration_since(a.fetched_at)
            .map_or(0, |d| d.as_secs());
        json!({
            "version": a.compiled.artifact.version,
            "generatedAt": a.compiled.artifact.meta.get("generatedAt"),
            "etag": a.etag,
            "source": a.source,
            "fetchedAt": secs(Some(a.fetched_at)),
            "ageSeconds": age,
            "ruleCounts": {"mboxes": mboxes, "views": views},
        })
    });
    HttpResponse::Ok().json(json!({
        "loaded": loaded,
        "lastAttempt": secs(status.last_attempt),
        "lastSuccess": secs(status.last_success),
        "lastError": status.last_error,
        "refreshes": {"succeeded": status.successes, "failed": status.failures},
    }))
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

async fn ready(client: web::Data<TargetClient>) -> HttpResponse {
    if client.is_draining() {
        // First sign of a shutdown: balancers stop sending here while it still serves.
        HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .json(json!({"status": "draining", "reason": "shutting down"}))
    } else if client.is_ready() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .json(json!({"status": "not_ready", "reason": "no artifact loaded yet"}))
    }
}

async fn metrics(client: web::Data<TargetClient>) -> HttpResponse {
    if let Some(a) = client.store().current() {
        let now = epoch_secs(SystemTime::now());
        let fetched = epoch_secs(a.fetched_at);
        client
            .metrics()
            .artifact_age
            .set(now.saturating_sub(fetched).max(0));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(client.metrics().render())
}
