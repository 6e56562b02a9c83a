//! The Delivery API request: who the visitor is, where they are, what to decide.

use serde::Serialize;

use super::open_object::open_object;
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;
use utoipa::ToSchema;

use super::common::*;

/// A Delivery API request (`POST /rest/v1/delivery`).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRequest {
    /// Made (a UUID) when not given. `context` is optional too: offerd completes it.
    pub request_id: Option<String>,
    pub impression_id: Option<String>,
    pub id: Option<VisitorId>,
    pub environment_id: Option<i64>,
    pub property: Option<Property>,
    pub trace: Option<Trace>,
    pub context: Option<Context>,
    pub experience_cloud: Option<ExperienceCloud>,
    pub execute: Option<ExecuteRequest>,
    pub prefetch: Option<PrefetchRequest>,
    pub telemetry: Option<Telemetry>,
    pub notifications: Option<Vec<Notification>>,
    pub qa_mode: Option<Value>,
    pub preview: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(DeliveryRequest {
    request_id: "requestId",
    impression_id: "impressionId",
    id: "id",
    environment_id: "environmentId",
    property: "property",
    trace: "trace",
    context: "context",
    experience_cloud: "experienceCloud",
    execute: "execute",
    prefetch: "prefetch",
    telemetry: "telemetry",
    notifications: "notifications",
    qa_mode: "qaMode",
    preview: "preview",
});

/// At.js property: limits which activities apply.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    pub token: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Property { token: "token" });

/// Asks for a trace of how the decision was made.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub authorization_token: Option<String>,
    pub usage: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Trace {
    authorization_token: "authorizationToken",
    usage: "usage",
});

/// Where and on what the visitor is.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// `web` when not given (Target itself requires it).
    pub channel: Option<ChannelType>,
    pub mobile_platform: Option<Value>,
    pub application: Option<Value>,
    pub screen: Option<Value>,
    pub window: Option<Value>,
    pub browser: Option<Browser>,
    pub address: Option<Address>,
    pub geo: Option<Geo>,
    pub time_offset_in_minutes: Option<f64>,
    pub user_agent: Option<String>,
    pub client_hints: Option<ClientHints>,
    pub beacon: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Context {
    channel: "channel",
    mobile_platform: "mobilePlatform",
    application: "application",
    screen: "screen",
    window: "window",
    browser: "browser",
    address: "address",
    geo: "geo",
    time_offset_in_minutes: "timeOffsetInMinutes",
    user_agent: "userAgent",
    client_hints: "clientHints",
    beacon: "beacon",
});

/// Browser details sent by at.js.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Browser {
    pub host: Option<String>,
    pub language: Option<String>,
    #[serde(rename = "webGLRenderer")]
    pub web_gl_renderer: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Browser {
    host: "host",
    language: "language",
    web_gl_renderer: "webGLRenderer",
});

/// The page URL and the referrer.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub url: Option<String>,
    pub referring_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Address {
    url: "url",
    referring_url: "referringUrl",
});

/// Geo location: given by the caller, or looked up from `ipAddress`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Geo {
    pub ip_address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub country_code: Option<String>,
    pub state_code: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Geo {
    ip_address: "ipAddress",
    latitude: "latitude",
    longitude: "longitude",
    country_code: "countryCode",
    state_code: "stateCode",
    city: "city",
    zip: "zip",
});

impl Geo {
    /// True when no location field is set (an IP alone does not count).
    pub fn has_no_location(&self) -> bool {
        self.latitude.is_none()
            && self.longitude.is_none()
            && self.country_code.is_none()
            && self.state_code.is_none()
            && self.city.is_none()
    }
}

/// User-agent client hints (Sec-CH-UA-*).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientHints {
    pub mobile: Option<bool>,
    pub model: Option<String>,
    pub platform: Option<String>,
    pub platform_version: Option<String>,
    #[serde(rename = "browserUAWithMajorVersion")]
    pub browser_ua_with_major_version: Option<String>,
    #[serde(rename = "browserUAWithFullVersion")]
    pub browser_ua_with_full_version: Option<String>,
    pub architecture: Option<String>,
    pub bitness: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(ClientHints {
    mobile: "mobile",
    model: "model",
    platform: "platform",
    platform_version: "platformVersion",
    browser_ua_with_major_version: "browserUAWithMajorVersion",
    browser_ua_with_full_version: "browserUAWithFullVersion",
    architecture: "architecture",
    bitness: "bitness",
});

/// Analytics and Audience Manager integration.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceCloud {
    pub audience_manager: Option<AudienceManager>,
    pub analytics: Option<AnalyticsRequest>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(ExperienceCloud {
    audience_manager: "audienceManager",
    analytics: "analytics",
});

/// Audience Manager location hint and blob.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudienceManager {
    pub location_hint: Option<i64>,
    pub blob: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(AudienceManager {
    location_hint: "locationHint",
    blob: "blob",
});

/// Analytics for Target (A4T) settings of a request.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsRequest {
    pub supplemental_data_id: Option<String>,
    pub logging: Option<LoggingType>,
    pub tracking_server: Option<String>,
    pub tracking_server_secure: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(AnalyticsRequest {
    supplemental_data_id: "supplementalDataId",
    logging: "logging",
    tracking_server: "trackingServer",
    tracking_server_secure: "trackingServerSecure",
});

/// What to decide and send now (counted as an impression).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteRequest {
    pub page_load: Option<RequestDetails>,
    pub mboxes: Option<Vec<MboxRequest>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(ExecuteRequest {
    page_load: "pageLoad",
    mboxes: "mboxes",
});

/// What to decide ahead of display (the caller notifies when shown).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrefetchRequest {
    pub views: Option<Vec<ViewRequest>>,
    pub page_load: Option<RequestDetails>,
    pub mboxes: Option<Vec<MboxRequest>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(PrefetchRequest {
    views: "views",
    page_load: "pageLoad",
    mboxes: "mboxes",
});

/// Details common to page-load, mbox and view requests.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestDetails {
    pub address: Option<Address>,
    pub parameters: Option<Map<String, Value>>,
    pub profile_parameters: Option<Map<String, Value>>,
    pub order: Option<Value>,
    pub product: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(RequestDetails {
    address: "address",
    parameters: "parameters",
    profile_parameters: "profileParameters",
    order: "order",
    product: "product",
});

/// A regional mbox to decide.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MboxRequest {
    pub index: Option<i64>,
    /// Required, not blank (offerd answers 400 otherwise).
    #[schema(required = true, nullable = false, pattern = r"\S")]
    pub name: Option<String>,
    pub address: Option<Address>,
    pub parameters: Option<Map<String, Value>>,
    pub profile_parameters: Option<Map<String, Value>>,
    pub order: Option<Value>,
    pub product: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(MboxRequest {
    index: "index",
    name: "name",
    address: "address",
    parameters: "parameters",
    profile_parameters: "profileParameters",
    order: "order",
    product: "product",
});

/// A view (single-page-app state) to prefetch; no name means every view.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViewRequest {
    pub name: Option<String>,
    pub key: Option<String>,
    pub address: Option<Address>,
    pub parameters: Option<Map<String, Value>>,
    pub profile_parameters: Option<Map<String, Value>>,
    pub order: Option<Value>,
    pub product: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(ViewRequest {
    name: "name",
    key: "key",
    address: "address",
    parameters: "parameters",
    profile_parameters: "profileParameters",
    order: "order",
    product: "product",
});

/// A display or click notification.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Required, not empty, as `type` and `timestamp` are (offerd answers 400 otherwise).
    #[schema(required = true, nullable = false, min_length = 1)]
    pub id: Option<String>,
    pub impression_id: Option<String>,
    #[serde(rename = "type")]
    #[schema(required = true, nullable = false)]
    pub kind: Option<MetricType>,
    /// Milliseconds since the epoch.
    #[schema(required = true, nullable = false)]
    pub timestamp: Option<i64>,
    pub tokens: Option<Vec<String>>,
    pub mbox: Option<NotificationMbox>,
    pub view: Option<NotificationView>,
    pub page_load: Option<NotificationPageLoad>,
    pub address: Option<Address>,
    pub parameters: Option<Map<String, Value>>,
    pub profile_parameters: Option<Map<String, Value>>,
    pub order: Option<Value>,
    pub product: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Notification {
    id: "id",
    impression_id: "impressionId",
    kind: "type",
    timestamp: "timestamp",
    tokens: "tokens",
    mbox: "mbox",
    view: "view",
    page_load: "pageLoad",
    address: "address",
    parameters: "parameters",
    profile_parameters: "profileParameters",
    order: "order",
    product: "product",
});

/// The mbox a notification is about.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationMbox {
    pub name: Option<String>,
    pub state: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(NotificationMbox {
    name: "name",
    state: "state",
});

/// The view a notification is about.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub name: Option<String>,
    pub key: Option<String>,
    pub state: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(NotificationView {
    name: "name",
    key: "key",
    state: "state",
});

/// The page load a notification is about.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPageLoad {
    pub state: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(NotificationPageLoad { state: "state" });

/// SDK performance telemetry that rides along with requests to Target.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Telemetry {
    pub entries: Option<Vec<TelemetryEntry>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(Telemetry { entries: "entries" });

/// One telemetry entry: a decision or an artifact download.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryEntry {
    pub request_id: Option<String>,
    pub timestamp: Option<i64>,
    pub mode: Option<ExecutionMode>,
    pub execution: Option<f64>,
    pub parsing: Option<f64>,
    pub features: Option<TelemetryFeatures>,
    pub request: Option<TelemetryRequest>,
    pub telemetry_server_token: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(TelemetryEntry {
    request_id: "requestId",
    timestamp: "timestamp",
    mode: "mode",
    execution: "execution",
    parsing: "parsing",
    features: "features",
    request: "request",
    telemetry_server_token: "telemetryServerToken",
});

/// What a decision asked for, in counts.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryFeatures {
    pub decisioning_method: Option<DecisioningMethod>,
    pub execute_mbox_count: Option<u64>,
    pub execute_page_load: Option<bool>,
    pub prefetch_mbox_count: Option<u64>,
    pub prefetch_page_load: Option<bool>,
    pub prefetch_view_count: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(TelemetryFeatures {
    decisioning_method: "decisioningMethod",
    execute_mbox_count: "executeMboxCount",
    execute_page_load: "executePageLoad",
    prefetch_mbox_count: "prefetchMboxCount",
    prefetch_page_load: "prefetchPageLoad",
    prefetch_view_count: "prefetchViewCount",
});

/// Network timings of a request to Target.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryRequest {
    pub dns: Option<f64>,
    pub tls: Option<f64>,
    pub time_to_first_byte: Option<f64>,
    pub download: Option<f64>,
    pub response_size: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(TelemetryRequest {
    dns: "dns",
    tls: "tls",
    time_to_first_byte: "timeToFirstByte",
    download: "download",
    response_size: "responseSize",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_without_losing_unknown_fields() {
        let raw = serde_json::json!({
            "requestId": "r1",
            "id": {"tntId": "t.28_0"},
            "context": {"channel": "web", "address": {"url": "http://a/", "x": 1},
                        "newThing": [1, 2], "geo": {"ipAddress": "1.2.3.4"}},
            "execute": {"mboxes": [{"name": "m", "index": 1, "parameters": {"a": "b"}, "future": true}]},
            "prefetch": {"views": [{"name": "v"}], "pageLoad": {}},
            "notifications": [{"id": "n", "type": "display", "timestamp": 1, "tokens": ["t"],
                               "mbox": {"name": "m"}}],
            "somethingNew": {"deep": {"er": null}}
        });
        let req: DeliveryRequest = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), raw);
    }

    #[test]
    fn every_object_parses_its_fields_under_their_serialized_names() {
        use crate::model::open_object::tests::fields_match_schema;
        fields_match_schema::<DeliveryRequest>(DeliveryRequest::FIELDS);
        fields_match_schema::<Property>(Property::FIELDS);
        fields_match_schema::<Trace>(Trace::FIELDS);
        fields_match_schema::<Context>(Context::FIELDS);
        fields_match_schema::<Browser>(Browser::FIELDS);
        fields_match_schema::<Address>(Address::FIELDS);
        fields_match_schema::<Geo>(Geo::FIELDS);
        fields_match_schema::<ClientHints>(ClientHints::FIELDS);
        fields_match_schema::<ExperienceCloud>(ExperienceCloud::FIELDS);
        fields_match_schema::<AudienceManager>(AudienceManager::FIELDS);
        fields_match_schema::<AnalyticsRequest>(AnalyticsRequest::FIELDS);
        fields_match_schema::<ExecuteRequest>(ExecuteRequest::FIELDS);
        fields_match_schema::<PrefetchRequest>(PrefetchRequest::FIELDS);
        fields_match_schema::<RequestDetails>(RequestDetails::FIELDS);
        fields_match_schema::<MboxRequest>(MboxRequest::FIELDS);
        fields_match_schema::<ViewRequest>(ViewRequest::FIELDS);
        fields_match_schema::<Notification>(Notification::FIELDS);
        fields_match_schema::<NotificationMbox>(NotificationMbox::FIELDS);
        fields_match_schema::<NotificationView>(NotificationView::FIELDS);
        fields_match_schema::<NotificationPageLoad>(NotificationPageLoad::FIELDS);
        fields_match_schema::<Telemetry>(Telemetry::FIELDS);
        fields_match_schema::<TelemetryEntry>(TelemetryEntry::FIELDS);
        fields_match_schema::<TelemetryFeatures>(TelemetryFeatures::FIELDS);
        fields_match_schema::<TelemetryRequest>(TelemetryRequest::FIELDS);
        fields_match_schema::<VisitorId>(VisitorId::FIELDS);
        fields_match_schema::<CustomerId>(CustomerId::FIELDS);
    }

    #[test]
    fn unknown_fields_at_every_level_are_kept_and_escaped_keys_read() {
        let body = br#"{"re\u0071uestId": "r", "context": {"addr\u0065ss": {"url": "u"},
            "geo": {"city": "c", "more": 1}}, "id": {"tntId": "t", "x": [1]},
            "execute": {"mboxes": [{"name": "m", "y": {"z": 2}}]}, "w": null}"#;
        let req: DeliveryRequest = serde_json::from_slice(body).unwrap();
        assert_eq!(req.request_id.as_deref(), Some("r"));
        let context = req.context.as_ref().unwrap();
        assert_eq!(context.address.as_ref().unwrap().url.as_deref(), Some("u"));
        assert_eq!(context.geo.as_ref().unwrap().extra["more"], 1);
        assert_eq!(req.id.as_ref().unwrap().extra["x"], serde_json::json!([1]));
        let mboxes = req.execute.as_ref().unwrap().mboxes.as_ref().unwrap();
        assert_eq!(mboxes[0].extra["y"], serde_json::json!({"z": 2}));
        assert_eq!(req.extra["w"], Value::Null);
    }

    #[test]
    fn a_field_given_twice_keeps_its_last_value_and_null_is_absent() {
        let req: DeliveryRequest =
            serde_json::from_str(r#"{"requestId": "a", "requestId": "b", "impressionId": null}"#)
                .unwrap();
        assert_eq!(req.request_id.as_deref(), Some("b"));
        assert_eq!(req.impression_id, None);
        assert!(req.extra.is_empty());
    }

    #[test]
    fn a_wrong_type_names_the_object() {
        let err = serde_json::from_str::<DeliveryRequest>(r#"{"context": "web"}"#).unwrap_err();
        assert!(err.to_string().contains("struct Context"), "{err}");
        let err = serde_json::from_str::<DeliveryRequest>(r#"{"requestId": 7}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    #[test]
    fn a_bad_enum_value_is_rejected() {
        let raw = serde_json::json!({"context": {"channel": "fax"}});
        assert!(serde_json::from_value::<DeliveryRequest>(raw).is_err());
    }
}
