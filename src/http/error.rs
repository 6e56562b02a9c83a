//! The HTTP error type: every failure answers `{"error": {"code", "message"}}` (on
//! `/rest/v1/delivery`, Target's own `{"status", "message"}`), 4xx for what the caller
//! sent wrong, 5xx only for what offerd or Target did wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::client::ClientError;
use crate::upstream::UpstreamError;
use crate::warn_every::WarnEvery;

/// An error answer.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// What is logged but not told to the caller (Target's error body).
    pub detail: Option<String>,
    pub shape: ErrorShape,
}

/// How an error answer is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorShape {
    /// offerd's own endpoints: `{"error": {"code", "message"}}`.
    #[default]
    Offerd,
    /// Target's Delivery API (`UnexpectedError`): `{"status", "message"}`, so Target's
    /// clients read offerd's errors as Target's.
    Target,
}

/// The path of Target's own API, whose errors take Target's shape.
pub const DELIVERY_API_PATH: &str = "/rest/v1/delivery";

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            shape: ErrorShape::Offerd,
        }
    }

    /// The same error in Target's shape.
    pub fn target_shaped(mut self) -> Self {
        self.shape = ErrorShape::Target;
        self
    }

    /// In Target's shape when `path` is Target's API, else offerd's: for answers made
    /// outside a handler (middleware, fallbacks).
    pub fn shaped_for(self, path: &str) -> Self {
        if path.starts_with(DELIVERY_API_PATH) {
            self.target_shaped()
        } else {
            self
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

    /// Every 5xx is logged here, once ([`ApiError::log`]): 503s (overload, not ready, a
    /// full queue) at most once a second with a count, the others each time.
    fn error_response(&self) -> HttpResponse {
        self.log();
        let body = match self.shape {
            ErrorShape::Offerd => json!({"error": {"code": self.code, "message": self.message}}),
            ErrorShape::Target => json!({"status": self.status.as_u16(), "message": self.message}),
        };
        HttpResponse::build(self.status).json(body)
    }
}

impl ApiError {
    /// Logs a 5xx, once, where it is answered (OFREP answers in its own shape, so it
    /// logs through here too).
    pub(crate) fn log(&self) {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            if let Some(n) = UNAVAILABLE_WARNING.record(1, crate::clock::now_ms()) {
                tracing::warn!(code = self.code, answers = n, error = %self.message, "answered 503");
            }
        } else if self.status.is_server_error() {
            let detail = self.detail.as_deref().unwrap_or("");
            tracing::error!(status = self.status.as_u16(), code = self.code, error = %self.message, detail, "request failed");
        }
    }
}

/// 503 answers are logged at most once a second.
static UNAVAILABLE_WARNING: std::sync::LazyLock<WarnEvery> =
    std::sync::LazyLock::new(WarnEvery::default);

impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> Self {
        // Target's answer body is logged (`error_response`), never echoed to callers.
        let (message, detail) = match &err {
            ClientError::Upstream(UpstreamError::Status { status, body }) => (
                format!("Target's Delivery API answered {status}"),
                Some(body.clone()),
            ),
            other => (other.to_string(), None),
        };
        let mut error = match err {
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
            // Not a failure, and retrying cannot help: this offerd is configured not to
            // call Target, and only Target can decide the request.
            ClientError::Upstream(UpstreamError::Offline) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "upstream_offline",
                message,
            ),
            ClientError::Upstream(UpstreamError::Timeout(_)) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", message)
            }
            ClientError::Upstream(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            }
            ClientError::Internal(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        };
        error.detail = detail;
        error
    }
}
