//! The get_offers step around a decision, as the SDK client does it: read the cookies,
//! complete the request (visitor id, request id, property, geo), and turn a Delivery API
//! response into the SDK's `TargetDeliveryResponse`. Pure, like the rest of the engine.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::IdGenerator;
use super::compiled::CompiledArtifact;
use super::dependency::RemoteDependency;
use crate::client::cookies::{self, Cookie};
use crate::model::*;

/// Geo value meaning "look up the caller's own address" (no forwarded IP).
pub const UNKNOWN_IP_ADDRESS: &str = "unknownIpAddress";

/// The options of `get_offers` (the body of `POST /v1/offers`): snake_case as in the
/// Python SDK, camelCase as in the Node SDK (the schema names the snake_case ones).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct GetOffersOptions {
    /// The Delivery API request to decide.
    pub request: DeliveryRequest,
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

/// Client-wide settings a request is completed with.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings<'a> {
    pub client: &'a str,
    pub property_token: Option<&'a str>,
    /// The edge cluster learned or configured, used when the request names none.
    pub location_hint: Option<&'a str>,
}

/// A request ready to decide, with the session and edge cluster it belongs to.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub request: DeliveryRequest,
    pub session_id: String,
    /// Edge cluster from the device id, else the location hint.
    pub cluster: Option<String>,
}

/// Completes a get_offers request as the SDKs do before deciding.
pub fn prepare(
    options: GetOffersOptions,
    settings: ClientSettings<'_>,
    now_ms: i64,
    ids: &dyn IdGenerator,
) -> PreparedRequest {
    let cookie = cookies::parse_target_cookie(
        options.target_cookie.as_deref(),
        now_ms.div_euclid(1000) + 1,
    );
    let hint = options
        .target_location_hint
        .as_deref()
        .or(settings.location_hint);
    let cluster = cookies::cluster_from_device_id(cookie.device_id.as_deref())
        .or_else(|| hint.filter(|h| !h.is_empty()).map(str::to_string));
    let session_id = cookie
        .session_id
        .or(options.session_id.filter(|s| !s.is_empty()))
        .unwrap_or_else(|| ids.next_id());

    let mut request = options.request;
    if request
        .property
        .as_ref()
        .and_then(|p| p.token.as_ref())
        .is_none()
    {
        request.property = settings.property_token.map(|token| Property {
            token: Some(token.to_string()),
            ..Default::default()
        });
    }
    if request.request_id.as_deref().is_none_or(str::is_empty) {
        request.request_id = Some(ids.next_id());
    }
    let id = request.id.take().unwrap_or_default();
    request.id = Some(complete_visitor_id(
        id,
        cookie.device_id,
        options.customer_ids,
        hint,
        ids,
    ));
    let context = request.context.get_or_insert_with(Default::default);
    context.channel.get_or_insert(ChannelType::Web);
    // An address that is neither an IP nor the "look me up" marker is dropped.
    if let Some(geo) = context.geo.as_mut()
        && geo
            .ip_address
            .as_deref()
            .is_some_and(|ip| !is_lookup_address(ip))
    {
        geo.ip_address = None;
    }
    PreparedRequest {
        request,
        session_id,
        cluster,
    }
}

/// The visitor id: the cookie's device id as tntId when none is given, and a new
/// tntId (on the learned cluster) when the visitor has no id at all.
fn complete_visitor_id(
    mut id: VisitorId,
    device_id: Option<String>,
    customer_ids: Option<Vec<CustomerId>>,
    hint: Option<&str>,
    ids: &dyn IdGenerator,
) -> VisitorId {
    let blank = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
    if blank(&id.tnt_id) {
        id.tnt_id = device_id;
    }
    if let Some(extra) = customer_ids.filter(|c| !c.is_empty()) {
        let mut merged = extra;
        merged.extend(id.customer_ids.take().unwrap_or_default());
        id.customer_ids = Some(merged);
    }
    let authenticated = id.customer_ids.iter().flatten().any(|c| {
        c.authenticated_state == Some(AuthenticatedState::Authenticated)
            && c.id.as_deref().is_some_and(|i| !i.is_empty())
    });
    if blank(&id.tnt_id)
        && blank(&id.marketing_cloud_visitor_id)
        && blank(&id.third_party_id)
        && !authenticated
    {
        let suffix = hint
            .filter(|h| !h.trim().is_empty())
            .map(|h| format!(".{h}_0"))
            .unwrap_or_default();
        id.tnt_id = Some(format!("{}{suffix}", ids.next_id()));
    }
    id
}

fn is_lookup_address(ip: &str) -> bool {
    ip == UNKNOWN_IP_ADDRESS || ip.trim().parse::<IpAddr>().is_ok()
}

/// The address to look geo up for, when the artifact targets geo and the request
/// carries an IP but no location. `Some(None)` asks for the caller's own address.
pub fn geo_lookup_address(
    artifact: &CompiledArtifact,
    request: &DeliveryRequest,
) -> Option<Option<String>> {
    if !artifact.artifact.geo_targeting_enabled {
        return None;
    }
    let geo = request.context.as_ref()?.geo.as_ref()?;
    let ip = geo.ip_address.as_deref()?;
    if !geo.has_no_location() || !is_lookup_address(ip) {
        return None;
    }
    Some((ip != UNKNOWN_IP_ADDRESS).then(|| ip.trim().to_string()))
}

/// Reads the geo endpoint's answer: header-named fields (`x-geo-city`, ...).
pub fn geo_from_payload(payload: &serde_json::Value) -> Geo {
    let text = |key: &str| match payload.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let number = |key: &str| match payload.get(key) {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => js_parse_float(s),
        _ => None,
    };
    Geo {
        latitude: number("x-geo-latitude"),
        longitude: number("x-geo-longitude"),
        country_code: text("x-geo-country-code"),
        state_code: text("x-geo-region-code"),
        city: text("x-geo-city"),
        zip: text("x-geo-zip"),
        ..Default::default()
    }
}

/// JavaScript's `parseFloat` for the plain decimal forms the geo endpoint returns.
fn js_parse_float(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse::<f64>().ok()
}

/// Merges a looked-up location into the request's geo.
pub fn apply_geo(request: &mut DeliveryRequest, found: Geo) {
    let context = request.context.get_or_insert_with(Default::default);
    let geo = context.geo.get_or_insert_with(Default::default);
    geo.latitude = found.latitude.or(geo.latitude);
    geo.longitude = found.longitude.or(geo.longitude);
    geo.country_code = found.country_code.or(geo.country_code.take());
    geo.state_code = found.state_code.or(geo.state_code.take());
    geo.city = found.city.or(geo.city.take());
    geo.zip = found.zip.or(geo.zip.take());
}

/// How a response was decided, and what could not be decided on-device.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResponseMeta {
    pub decisioning_method: DecisioningMethod,
    pub remote_mboxes: Vec<String>,
    pub remote_views: Vec<String>,
}

/// The result of get_offers: the SDK's `TargetDeliveryResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetDeliveryResponse {
    pub response: DeliveryResponse,
    pub target_cookie: Cookie,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_location_hint_cookie: Option<Cookie>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytics_details: Option<Vec<AnalyticsResponse>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub response_tokens: Option<Vec<ResponseTokens>>,
    pub meta: ResponseMeta,
}

/// Wraps a Delivery API response (on-device or from Target's edge) for the caller.
pub fn target_delivery_response(
    prepared: &PreparedRequest,
    response: DeliveryResponse,
    decisioning_method: DecisioningMethod,
    remote: RemoteDependency,
    now_ms: i64,
) -> TargetDeliveryResponse {
    let tnt_id = response.id.as_ref().and_then(|id| id.tnt_id.as_deref());
    let edge_cluster = cookies::cluster_from_edge_host(response.edge_host.as_deref());
    let cluster = prepared.cluster.clone().or(edge_cluster);
    let parts = ResponseParts::of(&response);
    TargetDeliveryResponse {
        target_cookie: cookies::target_cookie(&prepared.session_id, tnt_id, now_ms),
        target_location_hint_cookie: cookies::location_hint_cookie(cluster.as_deref()),
        analytics_details: non_empty(parts.analytics()),
        trace: non_empty(parts.traces()),
        response_tokens: non_empty(parts.response_tokens()),
        meta: ResponseMeta {
            decisioning_method,
            remote_mboxes: remote.remote_mboxes,
            remote_views: remote.remote_views,
        },
        response,
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// The decided parts of a response in the SDKs' order: execute page load, execute
/// mboxes, prefetch page load, prefetch views, prefetch mboxes.
/// Analytics, trace and options of one decided mbox, view or page load.
type Part<'r> = (
    Option<&'r AnalyticsResponse>,
    Option<&'r serde_json::Value>,
    Option<&'r Vec<OfferOption>>,
);

struct ResponseParts<'r> {
    parts: Vec<Part<'r>>,
}

impl<'r> ResponseParts<'r> {
    fn of(response: &'r DeliveryResponse) -> Self {
        let mut parts = Vec::new();
        let execute = response.execute.as_ref();
        let prefetch = response.prefetch.as_ref();
        let page =
            |p: &'r PageLoadResponse| (p.analytics.as_ref(), p.trace.as_ref(), p.options.as_ref());
        let mbox =
            |m: &'r MboxResponse| (m.analytics.as_ref(), m.trace.as_ref(), m.options.as_ref());
        parts.extend(execute.and_then(|e| e.page_load.as_ref()).map(page));
        parts.extend(
            execute
                .and_then(|e| e.mboxes.as_ref())
                .into_iter()
                .flatten()
                .map(mbox),
        );
        parts.extend(prefetch.and_then(|p| p.page_load.as_ref()).map(page));
        let views = prefetch
            .and_then(|p| p.views.as_ref())
            .into_iter()
            .flatten();
        parts.extend(views.map(|v| (v.analytics.as_ref(), v.trace.as_ref(), v.options.as_ref())));
        parts.extend(
            prefetch
                .and_then(|p| p.mboxes.as_ref())
                .into_iter()
                .flatten()
                .map(mbox),
        );
        Self { parts }
    }

    fn analytics(&self) -> Vec<AnalyticsResponse> {
        let non_empty = |a: &&AnalyticsResponse| {
            a.payload.as_ref().is_some_and(|p| !p.is_empty()) || !a.extra.is_empty()
        };
        self.parts
            .iter()
            .filter_map(|p| p.0)
            .filter(non_empty)
            .cloned()
            .collect()
    }

    fn traces(&self) -> Vec<serde_json::Value> {
        let non_empty = |t: &&serde_json::Value| t.as_object().is_some_and(|o| !o.is_empty());
        self.parts
            .iter()
            .filter_map(|p| p.1)
            .filter(non_empty)
            .cloned()
            .collect()
    }

    fn response_tokens(&self) -> Vec<ResponseTokens> {
        let options = self.parts.iter().filter_map(|p| p.2).flatten();
        options
            .filter_map(|o| o.response_tokens.clone())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// The notification request a decision owes Target: the visitor, their context, the
/// display notifications and any telemetry riding along.
pub fn notification_request(
    request: &DeliveryRequest,
    notifications: Vec<Notification>,
    telemetry: Vec<TelemetryEntry>,
) -> DeliveryRequest {
    DeliveryRequest {
        request_id: None,
        id: request.id.clone(),
        context: request.context.clone(),
        experience_cloud: request.experience_cloud.clone(),
        property: request.property.clone(),
        notifications: (!notifications.is_empty()).then_some(notifications),
        telemetry: (!telemetry.is_empty()).then(|| Telemetry {
            entries: Some(telemetry),
            ..Default::default()
        }),
        ..Default::default()
    }
}
