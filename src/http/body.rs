//! Request bodies as the handlers read them: any JSON body, parsed with the failing
//! field named in the 400, and the body of `POST /v1/attributes`. A leaf of the HTTP
//! layer: the handlers and the OpenAPI document both read it.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::model::{CustomerId, DecisioningMethod, DeliveryRequest};

/// Parses a JSON body whatever its content type (`curl -d` sends a form type), naming
/// the offending field on error.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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

/// `POST /v1/attributes`: the mboxes to read and, optionally, the usual get_offers
/// options (a request with visitor and context).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct AttributesBody {
    /// The mboxes whose attributes to read (names not blank).
    #[schema(min_items = 1, pattern = r"\S")]
    #[serde(alias = "mboxNames")]
    pub(super) mbox_names: Vec<String>,
    #[serde(default)]
    pub(super) request: Option<DeliveryRequest>,
    #[serde(default, alias = "targetCookie")]
    pub(super) target_cookie: Option<String>,
    #[serde(default, alias = "targetLocationHint")]
    pub(super) target_location_hint: Option<String>,
    #[serde(default, alias = "sessionId")]
    pub(super) session_id: Option<String>,
    #[serde(default, alias = "customerIds")]
    pub(super) customer_ids: Option<Vec<CustomerId>>,
    #[serde(default, alias = "decisioningMethod")]
    pub(super) decisioning_method: Option<DecisioningMethod>,
}
