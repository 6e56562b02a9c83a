//! Optional bearer tokens (`server.auth_tokens`): required on the decision endpoints
//! and, with `server.protect_operations`, on the operational ones. Compared in constant
//! time and never logged; a missing or wrong token is a JSON 401.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::client::TargetClient;

/// OFREP's routes, which also take `X-API-Key`.
pub const OFREP_PREFIX: &str = "/ofrep/";

/// The operational endpoints; everything else decides or takes notifications.
pub fn is_operational(path: &str) -> bool {
    path == "/metrics"
        || path == "/v1/artifact"
        || path == "/v1/artifact/refresh"
        || path == "/openapi.json"
        || path.starts_with("/health/")
        || super::explorer::is_explorer_path(path)
}

/// Lets a request through when no token is needed for its path or it carries one of
/// the configured tokens.
pub async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let allowed = match req.app_data::<web::Data<TargetClient>>() {
        Some(client) => {
            let server = &client.config().server;
            let needed = !server.auth_tokens.is_empty()
                && (server.protect_operations || !is_operational(req.path()));
            !needed || carries_a_token(&req, &server.auth_tokens)
        }
        None => true,
    };
    if allowed {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let message = if req.path().starts_with(OFREP_PREFIX) {
        "this endpoint needs `Authorization: Bearer <token>` or `X-API-Key: <token>` with a \
         token from server.auth_tokens"
    } else {
        "this endpoint needs `Authorization: Bearer <token>` with a token from server.auth_tokens"
    };
    let error =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).shaped_for(req.path());
    let mut response = error.error_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Ok(req.into_response(response).map_into_right_body())
}

/// OFREP's providers send a token as a bearer or as `X-API-Key` (the protocol's two
/// schemes); offerd's own endpoints take bearers only.
const API_KEY: HeaderName = HeaderName::from_static("x-api-key");

fn carries_a_token(req: &ServiceRequest, tokens: &[String]) -> bool {
    let header = |name: &HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let bearer = header(&AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
    let api_key = if req.path().starts_with(OFREP_PREFIX) {
        header(&API_KEY)
    } else {
        None
    };
    [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|given| is_a_token(given.trim(), tokens))
}

fn is_a_token(given: &str, tokens: &[String]) -> bool {
    // Every token is compared, so the time taken does not tell which one matched.
    tokens.iter().fold(false, |matched, token| {
        matched | bool::from(given.as_bytes().ct_eq(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operational_paths_are_told_apart() {
        assert!(is_operational("/metrics"));
        assert!(is_operational("/health/ready"));
        assert!(is_operational("/v1/artifact"));
        assert!(is_operational("/openapi.json"));
        assert!(is_operational("/explorer"));
        assert!(is_operational("/explorer/try"));
        assert!(!is_operational("/explorerx"));
        assert!(!is_operational("/v1/offers"));
        assert!(!is_operational("/rest/v1/delivery"));
    }
}
