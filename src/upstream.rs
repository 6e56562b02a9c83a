//! Clients for what offerd talks to over the network: Target's Delivery API
//! ([`delivery`]), the artifact CDN or file ([`artifact_source`]) and the geo endpoint
//! ([`geo`]). All errors are [`UpstreamError`], which knows whether a retry can help.
//! Each client is built from one [`egress::Egress`]: the CA certificates trusted and
//! the proxy taken on the way to Target.

pub mod artifact_source;
pub mod delivery;
pub mod direct_h2;
pub mod egress;
pub mod geo;

#[cfg(test)]
pub(crate) mod fake_upstream;

/// A failure talking to an upstream.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("upstream answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unreadable upstream answer: {0}")]
    Decode(String),
    #[error("{0}")]
    Other(String),
    /// `upstream.offline` is set: offerd makes no call to Target (the demo).
    #[error("upstream.offline is set: offerd does not call Target")]
    Offline,
}

/// Records how a call to Target ended on its span (see [`crate::otel::client_span`]).
pub(crate) fn record_outcome<T>(span: &tracing::Span, result: &Result<T, UpstreamError>) {
    match result {
        Ok(_) => crate::otel::record_status(span, 200),
        Err(UpstreamError::Status { status, .. }) => crate::otel::record_status(span, *status),
        Err(_) => crate::otel::record_error(span),
    }
}

/// `error` and its causes, `": "`-joined: a transport error's top line alone rarely
/// says what happened ("error sending request"), its last cause does.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

impl UpstreamError {
    /// Connection errors, timeouts and 5xx (and 429) may succeed later; other 4xx and
    /// unreadable answers will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Connect(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Decode(_) | Self::Other(_) | Self::Offline => false,
        }
    }
}
