//! The options of get_offers and send_notifications, as the SDKs take them: what a
//! caller may send, not what offerd does with it ([`super::prepare`] reads them).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::*;

/// The options of `get_offers` (the body of `POST /v1/offers`): snake_case as in the
/// Python SDK, camelCase as in the Node SDK (the schema names the snake_case ones).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct GetOffersOptions {
    /// The Delivery API request to decide. Boxed, as in [`super::PreparedRequest`]: it
    /// is 3.5 KB, and moving it by value from future to future cost more than its parse.
    pub request: Box<DeliveryRequest>,
    /// The value of the visitor's `mbox` cookie (session and device ids).
    #[serde(default, alias = "targetCookie")]
    pub target_cookie: Option<String>,
    /// The value of the `mboxEdgeCluster` cookie: the edge cluster to call.
    #[serde(default, alias = "targetLocationHint")]
    pub target_location_hint: Option<String>,
    #[serde(default, alias = "consumerId")]
    pub consumer_id: Option<String>,
    /// Customer ids added to `request.id.customerIds`.
    #[serde(default, alias = "customerIds")]
    pub customer_ids: Option<Vec<CustomerId>>,
    /// Used when the cookie holds no session; a new one is made otherwise.
    #[serde(default, alias = "sessionId")]
    pub session_id: Option<String>,
    /// Overrides `target.decisioning_method` for this call.
    #[serde(default, alias = "decisioningMethod")]
    pub decisioning_method: Option<DecisioningMethod>,
    /// The Experience Cloud visitor cookie (`AMCV_...`); accepted and ignored.
    #[serde(default, alias = "visitorCookie")]
    pub visitor_cookie: Option<String>,
    /// How `POST /v1/offers` names the result's fields; get_offers itself ignores it.
    #[serde(default, alias = "resultNaming")]
    pub result_naming: ResultNaming,
}

/// The result's field names: the Python SDK's (the default) or the Node SDK's, for
/// callers moving from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum ResultNaming {
    /// `target_cookie.max_age`, `response_tokens`, `meta.decisioning_method`, ...
    #[default]
    #[serde(rename = "snake_case")]
    SnakeCase,
    /// `targetCookie.maxAge`, `responseTokens`, `meta.decisioningMethod`, ...
    #[serde(rename = "camelCase")]
    CamelCase,
}

/// The options of `send_notifications`: the same as get_offers' (as in the SDKs), with
/// `request.notifications` holding the notifications; `decisioning_method` is ignored.
pub type SendNotificationsOptions = GetOffersOptions;
