//! OFREP's endpoints, `POST /ofrep/v1/evaluate/flags/{key}` and `POST
//! /ofrep/v1/evaluate/flags` (bulk, with an ETag): parse the context and resolve the key
//! ([`crate::ofrep`], pure), decide with `get_attributes`, answer. Failures answer in
//! OFREP's shape, `{key, errorCode, errorDetails}`, because that is what OpenFeature's
//! providers read; overload is a 429 with `Retry-After`, the one status the providers
//! back off on.

use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error::ApiError;
use crate::client::{ClientError, TargetClient};
use crate::ofrep::{self, Catalog, ErrorCode, Evaluation, EvaluationError};
use crate::upstream::UpstreamError;

/// The single-flag route.
pub const FLAG_PATH: &str = "/ofrep/v1/evaluate/flags/{key}";
/// The bulk route.
pub const FLAGS_PATH: &str = "/ofrep/v1/evaluate/flags";

/// Seconds a caller is told to wait when offerd is overloaded or not ready: decisions
/// take milliseconds, so a slot frees up well within one.
const RETRY_AFTER_SECS: &str = "1";

/// `POST /ofrep/v1/evaluate/flags/{key}`.
pub(super) async fn evaluate_flag(
    client: web::Data<TargetClient>,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let key = key.into_inner();
    match evaluate(&client, &key, &body).await {
        Ok(evaluation) => HttpResponse::Ok().json(evaluation),
        Err(failure) => failure.answer(Some(&key)),
    }
}

async fn evaluate(client: &TargetClient, key: &str, body: &[u8]) -> Result<Evaluation, Failure> {
    let context = ofrep::parse(body)?;
    let artifact = client.store().current();
    let catalog = Catalog::new(artifact.as_ref().map(|a| &*a.compiled));
    let flag = catalog.resolve(key)?;
    let options = context.options_for(&[flag.mbox()]);
    // The mbox is in the request already: get_attributes has nothing to add.
    let decided = client.get_attributes(&[], options).await?;
    Ok(catalog.evaluate(key, flag, &decided.attributes, &decided.response)?)
}

/// `POST /ofrep/v1/evaluate/flags`: every flag in one decision; a 304 when the caller's
/// `If-None-Match` names the answer's ETag.
pub(super) async fn evaluate_flags(
    client: web::Data<TargetClient>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let answer = match evaluate_all(&client, &body).await {
        Ok(answer) => answer,
        Err(failure) => return failure.answer(None),
    };
    // The ETag is the answer's own hash: the same flags for the same context (and
    // artifact) give the same tag, whatever else changed.
    let hash = murmur3::murmur3_x64_128(&mut answer.as_slice(), 0).unwrap_or_default();
    let etag = format!("\"{hash:032x}\"");
    let Ok(etag_value) = HeaderValue::from_str(&etag) else {
        // Hex digits in quotes always make a header value: offerd's bug if not.
        return Failure::Client(ClientError::Internal(format!(
            "ETag {etag} is no header value"
        )))
        .answer(None);
    };
    if matches_etag(&req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((ETAG, etag_value))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((ETAG, etag_value))
        .body(answer)
}

/// The bulk answer, serialized.
async fn evaluate_all(client: &TargetClient, body: &[u8]) -> Result<Vec<u8>, Failure> {
    let context = ofrep::parse(body)?;
    let artifact = client.store().current();
    let catalog = Catalog::new(artifact.as_ref().map(|a| &*a.compiled));
    let mboxes = catalog.bulk_mboxes();
    let answer = if mboxes.is_empty() {
        // Nothing to decide (no artifact yet in server-side mode, or no flag mboxes).
        ofrep::BulkAnswer { flags: Vec::new() }
    } else {
        let decided = client
            .get_attributes(&[], context.options_for(&mboxes))
            .await?;
        catalog.bulk(&decided.attributes, &decided.response)
    };
    serde_json::to_vec(&answer)
        .map_err(|e| Failure::Client(ClientError::Internal(format!("bulk answer: {e}"))))
}

/// Whether `If-None-Match` lists `etag` (weakly compared, as for GET) or is `*`.
fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Why an evaluation failed.
#[derive(Debug)]
enum Failure {
    Evaluation(EvaluationError),
    Client(ClientError),
}

impl From<EvaluationError> for Failure {
    fn from(error: EvaluationError) -> Self {
        Self::Evaluation(error)
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

impl Failure {
    /// The answer: `{key, errorCode, errorDetails}` (no key for the bulk endpoint).
    fn answer(self, key: Option<&str>) -> HttpResponse {
        let (status, code, details) = match self {
            Self::Evaluation(error) => {
                let status = match error.code {
                    ErrorCode::FlagNotFound => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, error.code, error.details)
            }
            Self::Client(ClientError::InvalidRequest(details)) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidContext, details)
            }
            // Not retryable and not offerd's failure: this offerd is configured not to
            // call Target, and only Target can decide the flag's mbox.
            Self::Client(ClientError::Upstream(UpstreamError::Offline)) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::General,
                "only Target can decide this flag's mbox (a remote mbox), and \
                 upstream.offline is set: offerd calls no Target"
                    .to_string(),
            ),
            Self::Client(error) => {
                let error = ApiError::from(error);
                error.log();
                let status = match error.code {
                    "overloaded" | "queue_full" => StatusCode::TOO_MANY_REQUESTS,
                    _ => error.status,
                };
                (status, ErrorCode::General, error.message)
            }
        };
        let body = match key {
            Some(key) => json!({"key": key, "errorCode": code.as_str(), "errorDetails": details}),
            None => json!({"errorCode": code.as_str(), "errorDetails": details}),
        };
        let mut answer = HttpResponse::build(status);
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            answer.insert_header((RETRY_AFTER, RETRY_AFTER_SECS));
        }
        answer.json(body)
    }
}
