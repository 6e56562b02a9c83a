//! The OpenFeature Remote Evaluation Protocol (OFREP, v0.3.0) over Target's decisions,
//! pure: what an evaluation asks for ([`context`]: the OpenFeature evaluation context as
//! get_attributes' options), which mbox and attribute a flag key names, and the OFREP
//! answer made from the decided attributes ([`flags`]). The HTTP adapter is
//! `http/ofrep.rs`; the decision itself is `TargetClient::get_attributes`, so an
//! evaluation owes Target the same display notification as `/v1/attributes`.
//!
//! ```text
//! {"context": {...}} --context::parse--> Evaluation context
//!     --context::options_for(mboxes)--> GetOffersOptions --get_attributes--> attributes
//! flag key --flags::Catalog::resolve--> FlagRef (mbox, attribute?)
//! attributes + response --flags::evaluate--> {key, value?, reason, variant, metadata}
//! ```

pub mod context;
pub mod flags;

pub use context::{Context, parse};
pub use flags::{BulkAnswer, Catalog, Evaluation, FlagRef, Reason};

/// An OFREP error code (`errorCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not JSON.
    ParseError,
    /// No `targetingKey` (and no other visitor id) in the context.
    TargetingKeyMissing,
    /// The context holds a value offerd cannot use.
    InvalidContext,
    /// Anything else: a remote mbox offerd cannot have decided, Target failing.
    General,
    /// No mbox or attribute of that name.
    FlagNotFound,
}

impl ErrorCode {
    /// The code as OFREP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParseError => "PARSE_ERROR",
            Self::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            Self::InvalidContext => "INVALID_CONTEXT",
            Self::General => "GENERAL",
            Self::FlagNotFound => "FLAG_NOT_FOUND",
        }
    }
}

/// Why an evaluation failed before or after the decision (not Target's or offerd's
/// own failures, which stay `ClientError`s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {details}", code.as_str())]
pub struct EvaluationError {
    pub code: ErrorCode,
    /// `errorDetails`: what to fix, for the caller's logs.
    pub details: String,
}

impl EvaluationError {
    pub(crate) fn new(code: ErrorCode, details: impl Into<String>) -> Self {
        Self {
            code,
            details: details.into(),
        }
    }
}
