//! Completing a get_offers request before it is decided, as the SDK clients do: read
//! the `mbox` cookie, fill in the visitor id, request id, property and channel, and find
//! the address to look geo up for. Pure: the clock and ids are passed in.

use std::net::IpAddr;

use super::cookies;
use super::options::GetOffersOptions;
use crate::engine::{CompiledArtifact, IdGenerator};
use crate::model::*;

/// Geo value meaning "look up the caller's own address" (no forwarded IP).
pub const UNKNOWN_IP_ADDRESS: &str = "unknownIpAddress";

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
