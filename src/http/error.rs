//! The HTTP error type: every failure answers `{"error": {"code", "message"}}`, 4xx for
//! what the caller sent wrong, 5xx only for what offerd or Target did wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::client::ClientError;
use crate::upstream::UpstreamError;

/// An error answer.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 for a body that is not what the endpoint takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({
            "error": {"code": self.code, "message": self.message}
        }))
    }
}

impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> Self {
        let message = err.to_string();
        match err {
            ClientError::InvalidRequest(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
            }
            ClientError::NotReady => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
            }
            ClientError::Overloaded => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
            }
            ClientError::QueueFull => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full", message)
            }
            ClientError::Upstream(UpstreamError::Offline) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "upstream_offline", message)
            }
            ClientError::Upstream(UpstreamError::Timeout(_)) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", message)
            }
            ClientError::Upstream(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            }
            ClientError::Internal(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}
