//! The decision explorer at `/explorer`: the loaded artifact as a page, and a form that
//! decides a request in front of you with the reasons. Served with the operational
//! endpoints (`server.admin_bind`, `server.protect_operations`) when
//! `explorer.enabled` says so; read-only, and it calls nothing outside.
//!
//! The page is server-rendered ([`page`], maud: everything from the artifact is escaped
//! by construction); its CSS and JavaScript are compiled into the binary and served
//! from `/explorer/assets/*`, so the Content-Security-Policy can forbid inline script
//! outright (`script-src 'self'`). A tried request is decided by
//! [`TargetClient::explain`]: no notification, no telemetry, no decision metric.

mod page;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::body::parse;
use super::error::ApiError;
use super::routes::method_not_allowed;
use crate::client::{GetOffersOptions, TargetClient};
use crate::explorer::outcome::outcome;
use crate::explorer::view::artifact_view;

/// The page's path.
pub const PATH: &str = "/explorer";

const CSS: &str = include_str!("explorer/explorer.css");
const JS: &str = include_str!("explorer/explorer.js");

/// Nothing inline, nothing from elsewhere: the page's own script, styles and
/// `fetch` to this origin only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Registers the explorer's routes (on the operations listener).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get(PATH).route(web::get().to(show)))
        .service(post("/explorer/try").route(web::post().to(try_request)))
        .service(get("/explorer/assets/explorer.css").route(web::get().to(css)))
        .service(get("/explorer/assets/explorer.js").route(web::get().to(js)));
}

/// A resource whose other methods answer the API's JSON 405 with `Allow`.
fn get(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req| method_not_allowed(req, "GET")))
}

fn post(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req| method_not_allowed(req, "POST")))
}

/// Whether a path is one of the explorer's (operational: see `auth::is_operational`).
pub fn is_explorer_path(path: &str) -> bool {
    path == PATH || path.starts_with("/explorer/")
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header(("content-security-policy", CSP))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body)
}

async fn show(client: web::Data<TargetClient>) -> HttpResponse {
    let config = client.config();
    let status = client.store().status();
    let view = client
        .store()
        .current()
        .map(|loaded| artifact_view(&loaded, &status, config.artifact.polling_interval_secs));
    let offers_url = match &config.server.admin_bind {
        Some(_) => format!("http://{}/v1/offers", config.server.bind),
        None => "/v1/offers".to_owned(),
    };
    html(page::page(view.as_ref(), &offers_url).into_string())
}

async fn css() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body)
}

/// The form's request: the `/v1/offers` body, and when to decide it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TryBody {
    offers: GetOffersOptions,
    /// RFC 3339 (`2026-12-08T10:00:00Z`); now when absent or empty.
    #[serde(default)]
    at: Option<String>,
}

/// `POST /explorer/try`: decides the form's request and answers the explanation as
/// an HTML fragment, with the decision itself beside it.
async fn try_request(
    client: web::Data<TargetClient>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: TryBody = parse(&body)?;
    let at_ms = body
        .at
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_time)
        .transpose()?;
    let request = body.offers.request.as_ref().clone();
    // Explained against the artifact it was decided with, even if a refresh swaps it.
    let (answer, loaded) = client.explain(body.offers, at_ms).await?;
    let view = artifact_view(&loaded, &client.store().status(), 0);
    let token = request
        .property
        .as_ref()
        .and_then(|p| p.token.as_deref())
        .or(client.config().target.property_token.as_deref())
        .filter(|t| !t.is_empty());
    let global = loaded.compiled.global_mbox();
    let explained = outcome(&view, global, token, &request, &answer);
    let fragment = page::outcome(&explained, &request, &answer).into_string();
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({"html": fragment, "response": answer})))
}

/// An RFC 3339 time as epoch milliseconds; a 400 naming the field otherwise.
fn parse_time(text: &str) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::bad_request(format!(
            "at: {text:?} is not an RFC 3339 time such as 2026-12-08T10:00:00Z"
        ))
    };
    let time = humantime::parse_rfc3339_weak(text).map_err(|_| invalid())?;
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| invalid())?
        .as_millis();
    i64::try_from(ms).map_err(|_| invalid())
}

#[cfg(test)]
mod tests;
