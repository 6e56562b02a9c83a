//! The endpoints. Handlers parse and validate, then call the [`TargetClient`]; no
//! decisioning logic lives here.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;
use super::openapi::{self, Verb};
use crate::client::{SendNotificationsOptions, TargetClient};
use crate::engine::offers::GetOffersOptions;
use crate::model::{CustomerId, DecisioningMethod, DeliveryRequest};

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
        .service(post("/rest/v1/delivery").route(web::post().to(delivery)));
}

/// Health, metrics, the artifact and the OpenAPI document: the main listener, or
/// `server.admin_bind`.
pub fn configure_operations(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/v1/artifact").route(web::get().to(artifact)))
        .service(get("/health/live").route(web::get().to(live)))
        .service(get("/health/ready").route(web::get().to(ready)))
        .service(get("/metrics").route(web::get().to(metrics)))
        .service(get("/openapi.json").route(web::get().to(openapi::serve)));
}

fn post(path: &str) -> actix_web::Resource {
    documented(Verb::Post, path);
    web::resource(path).default_service(web::to(|| method_not_allowed("POST")))
}

fn get(path: &str) -> actix_web::Resource {
    documented(Verb::Get, path);
    // HEAD is not answered from the GET route (actix routes it apart): a 405 naming GET.
    web::resource(path).default_service(web::to(|| method_not_allowed("GET")))
}

/// Every route is a row of the route table the OpenAPI document is made from.
fn documented(verb: Verb, path: &str) {
    debug_assert!(
        openapi::endpoint(verb, path).is_some(),
        "{} {path} is served but not in http::openapi::ENDPOINTS",
        verb.as_str()
    );
}

async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this endpoint takes {allow}"),
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    response
}

/// Parses a JSON body whatever its content type (`curl -d` sends a form type), naming
/// the offending field on error.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON body at {path}: {inner}"))
        }
    })
}

async fn offers(
    client: web::Data<TargetClient>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let options: GetOffersOptions = parse(&body)?;
    let response = client.get_offers(options).await?;
    let method = response.meta.decisioning_method;
    let mut answer = HttpResponse::Ok().json(response);
    // For the access log line.
    answer.extensions_mut().insert(method);
    Ok(answer)
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

/// `POST /v1/attributes`: the mboxes to read and, optionally, the usual get_offers
/// options (a request with visitor and context).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct AttributesBody {
    /// The mboxes whose attributes to read (names not blank).
    #[schema(min_items = 1, pattern = r"\S")]
    #[serde(alias = "mboxNames")]
    mbox_names: Vec<String>,
    #[serde(default)]
    request: Option<DeliveryRequest>,
    #[serde(default, alias = "targetCookie")]
    target_cookie: Option<String>,
    #[serde(default, alias = "targetLocationHint")]
    target_location_hint: Option<String>,
    #[serde(default, alias = "sessionId")]
    session_id: Option<String>,
    #[serde(default, alias = "customerIds")]
    customer_ids: Option<Vec<CustomerId>>,
    #[serde(default, alias = "decisioningMethod")]
    decisioning_method: Option<DecisioningMethod>,
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
        request: body.request.unwrap_or_default(),
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

/// Query of the Delivery API's own endpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryQuery {
    client: Option<String>,
    session_id: Option<String>,
}

/// `POST /rest/v1/delivery`: Target's own API, so existing clients can point at
/// offerd. Notifications in the request are queued; execute/prefetch are decided.
async fn delivery(
    client: web::Data<TargetClient>,
    query: web::Query<DeliveryQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let configured = &client.config().target.client;
    if let Some(asked) = query.client.as_deref().filter(|c| c != configured) {
        return Err(ApiError::bad_request(format!(
            "client {asked:?} is not served here (this offerd serves {configured:?})"
        )));
    }
    let mut request: DeliveryRequest = parse(&body)?;
    if request.extra.contains_key("request") {
        return Err(ApiError::bad_request(
            "this endpoint takes a Delivery API request itself; get_offers options ({\"request\": ...}) go to /v1/offers",
        ));
    }
    if let Some(notifications) = request.notifications.take().filter(|n| !n.is_empty()) {
        let notify = DeliveryRequest {
            notifications: Some(notifications),
            ..request.clone()
        };
        client
            .send_notifications(SendNotificationsOptions {
                request: notify,
                session_id: query.session_id.clone(),
                ..Default::default()
            })
            .await?;
    }
    if request.execute.is_none() && request.prefetch.is_none() {
        return Ok(HttpResponse::Ok()
            .json(json!({"status": 200, "requestId": request.request_id, "client": configured})));
    }
    let options = GetOffersOptions {
        request,
        session_id: query.session_id,
        ..Default::default()
    };
    let response = client.get_offers(options).await?;
    Ok(HttpResponse::Ok().json(response.response))
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
    if client.is_ready() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .json(json!({"status": "not_ready", "reason": "no artifact loaded yet"}))
    }
}

async fn metrics(client: web::Data<TargetClient>) -> HttpResponse {
    if let Some(a) = client.store().current() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let fetched = a
            .fetched_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        client
            .metrics()
            .artifact_age
            .set(i64::try_from(now.saturating_sub(fetched)).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(client.metrics().render())
}
