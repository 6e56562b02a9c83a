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
    /// Boxed: the request moves through the decision actor and back, and by value
    /// (3.5 KB) those moves were 12 % of a one-mbox call's CPU (memmove, perf).
    pub request: Box<DeliveryRequest>,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use serde_json::json;

    use super::*;
    use crate::engine::{Artifact, ArtifactProvenance};

    const NOW_MS: i64 = 1_600_000_000_000;

    /// Ids in order, so that what was made up can be named.
    struct Counter(AtomicU64);

    impl IdGenerator for Counter {
        fn next_id(&self) -> String {
            format!("id{}", self.0.fetch_add(1, Ordering::Relaxed))
        }
    }

    fn prepared(body: serde_json::Value, settings: ClientSettings<'_>) -> PreparedRequest {
        let options = serde_json::from_value(body).expect("test options deserialize");
        prepare(options, settings, NOW_MS, &Counter(AtomicU64::new(0)))
    }

    const BARE: ClientSettings<'static> = ClientSettings {
        client: "demo",
        property_token: None,
        location_hint: None,
    };

    #[test]
    fn the_cookie_gives_the_session_the_visitor_and_the_cluster() {
        let cookie = cookies::target_cookie("s1", Some("t1.28_0"), NOW_MS);
        let settings = ClientSettings {
            property_token: Some("p"),
            location_hint: Some("35"),
            ..BARE
        };
        let p = prepared(
            json!({"request": {}, "target_cookie": cookie.value, "session_id": "ignored"}),
            settings,
        );
        assert_eq!(p.session_id, "s1");
        assert_eq!(p.cluster.as_deref(), Some("28"));
        let id = p.request.id.as_ref().expect("a visitor id");
        assert_eq!(id.tnt_id.as_deref(), Some("t1.28_0"));
        let token = p.request.property.and_then(|p| p.token);
        assert_eq!(token.as_deref(), Some("p"));
        assert_eq!(p.request.request_id.as_deref(), Some("id0"));
        let channel = p.request.context.and_then(|c| c.channel);
        assert_eq!(channel, Some(ChannelType::Web));
    }

    #[test]
    fn a_visitor_without_ids_gets_a_tnt_id_on_the_hinted_cluster() {
        let settings = ClientSettings {
            location_hint: Some("35"),
            ..BARE
        };
        let p = prepared(json!({"request": {}}), settings);
        // Session first, then the request id, then the visitor.
        assert_eq!(p.session_id, "id0");
        assert_eq!(p.cluster.as_deref(), Some("35"));
        let tnt_id = p.request.id.and_then(|id| id.tnt_id);
        assert_eq!(tnt_id.as_deref(), Some("id2.35_0"));
    }

    #[test]
    fn an_authenticated_customer_id_is_a_visitor_id() {
        let body = json!({"request": {}, "customer_ids": [
            {"id": "c1", "integrationCode": "crm", "authenticatedState": "authenticated"}
        ]});
        let id = prepared(body, BARE).request.id.expect("a visitor id");
        assert_eq!(id.tnt_id, None);
        assert_eq!(id.customer_ids.map(|c| c.len()), Some(1));
    }

    #[test]
    fn geo_is_looked_up_only_for_an_address_without_a_location() {
        let bytes = include_bytes!("../../examples/demo-artifact.json");
        let artifact = Artifact::from_json(bytes).expect("the demo artifact loads");
        let artifact = CompiledArtifact::compile(artifact, ArtifactProvenance::default())
            .expect("the demo artifact compiles");
        assert!(artifact.artifact.geo_targeting_enabled);
        let cases = [
            (json!({"ipAddress": " 10.0.0.1"}), Some(Some("10.0.0.1"))),
            (json!({"ipAddress": UNKNOWN_IP_ADDRESS}), Some(None)),
            (json!({"ipAddress": "not an address"}), None),
            (json!({"ipAddress": "10.0.0.1", "city": "Basel"}), None),
            (json!({}), None),
        ];
        for (geo, expected) in cases {
            let p = prepared(json!({"request": {"context": {"geo": geo}}}), BARE);
            let found = geo_lookup_address(&artifact, &p.request);
            assert_eq!(found.as_ref().map(Option::as_deref), expected, "{geo}");
        }
    }

    #[test]
    fn a_found_location_fills_what_the_request_lacks() {
        let mut request: DeliveryRequest =
            serde_json::from_value(json!({"context": {"geo": {"city": "Basel", "zip": "4001"}}}))
                .expect("the test request deserializes");
        let found = Geo {
            city: Some("Zurich".into()),
            country_code: Some("CH".into()),
            ..Default::default()
        };
        apply_geo(&mut request, found);
        let geo = request.context.and_then(|c| c.geo).expect("a geo");
        assert_eq!(geo.city.as_deref(), Some("Zurich"));
        assert_eq!(geo.country_code.as_deref(), Some("CH"));
        assert_eq!(geo.zip.as_deref(), Some("4001"));
    }
}
