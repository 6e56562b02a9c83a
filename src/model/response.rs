//! The Delivery API response: the offers decided for each mbox, view and page load.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;
use utoipa::ToSchema;

use super::common::*;

/// A Delivery API response.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryResponse {
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub id: Option<VisitorId>,
    pub client: Option<String>,
    pub edge_host: Option<String>,
    pub execute: Option<ExecuteResponse>,
    pub prefetch: Option<PrefetchResponse>,
    pub notifications: Option<Vec<NotificationResponse>>,
    pub telemetry_server_token: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Decisions for `execute`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResponse {
    pub page_load: Option<PageLoadResponse>,
    pub mboxes: Option<Vec<MboxResponse>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Decisions for `prefetch`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrefetchResponse {
    pub views: Option<Vec<View>>,
    pub page_load: Option<PageLoadResponse>,
    pub mboxes: Option<Vec<MboxResponse>>,
    pub metrics: Option<Vec<Metric>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The page-load (global mbox) decision.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageLoadResponse {
    pub options: Option<Vec<OfferOption>>,
    pub metrics: Option<Vec<Metric>>,
    pub analytics: Option<AnalyticsResponse>,
    pub state: Option<String>,
    pub trace: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The decision for one mbox (execute or prefetch).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MboxResponse {
    pub index: Option<i64>,
    pub name: Option<String>,
    pub options: Option<Vec<OfferOption>>,
    pub metrics: Option<Vec<Metric>>,
    pub analytics: Option<AnalyticsResponse>,
    pub state: Option<String>,
    pub trace: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The decision for one view.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub name: Option<String>,
    pub key: Option<String>,
    pub options: Option<Vec<OfferOption>>,
    pub metrics: Option<Vec<Metric>>,
    pub analytics: Option<AnalyticsResponse>,
    pub state: Option<String>,
    pub trace: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An offer: content of some type, with the token that reports its display.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferOption {
    #[serde(rename = "type")]
    pub kind: Option<OptionType>,
    pub content: Option<Value>,
    pub event_token: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub response_tokens: Option<ResponseTokens>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A click or display metric and its event token.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    #[serde(rename = "type")]
    pub kind: Option<MetricType>,
    pub selector: Option<String>,
    pub event_token: Option<String>,
    pub analytics: Option<AnalyticsResponse>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The A4T payload a caller logs to Analytics itself (client-side logging).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsResponse {
    pub payload: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Target's acknowledgement of one notification.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationResponse {
    pub id: Option<String>,
    pub trace: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
