//! Types shared by Delivery API requests and responses: visitor ids and the enums.

use serde::{Deserialize, Serialize};

use super::open_object::open_object;
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;
use utoipa::ToSchema;

/// The visitor's ids: Target's own (tntId), a third party's, the ECID and customer ids.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorId {
    pub tnt_id: Option<String>,
    pub third_party_id: Option<String>,
    pub marketing_cloud_visitor_id: Option<String>,
    pub customer_ids: Option<Vec<CustomerId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(VisitorId {
    tnt_id: "tntId",
    third_party_id: "thirdPartyId",
    marketing_cloud_visitor_id: "marketingCloudVisitorId",
    customer_ids: "customerIds",
});

/// A customer id as the Experience Cloud visitor service knows it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerId {
    pub id: Option<String>,
    pub integration_code: Option<String>,
    pub authenticated_state: Option<AuthenticatedState>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_object!(CustomerId {
    id: "id",
    integration_code: "integrationCode",
    authenticated_state: "authenticatedState",
});

/// Whether a customer id belongs to a logged-in visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticatedState {
    Unknown,
    Authenticated,
    LoggedOut,
}

/// The channel a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    Mobile,
    Web,
}

/// Notification and metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Click,
    Display,
}

/// What an offer option holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    Html,
    Json,
    Redirect,
    Dynamic,
    Actions,
}

/// Where Analytics for Target (A4T) hits are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoggingType {
    ServerSide,
    ClientSide,
}

/// How a decision is made: by Target's edge, by offerd from the artifact, or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisioningMethod {
    ServerSide,
    OnDevice,
    Hybrid,
}

impl DecisioningMethod {
    /// The wire name, as in `meta.decisioningMethod` and telemetry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerSide => "server-side",
            Self::OnDevice => "on-device",
            Self::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for DecisioningMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "server-side" => Ok(Self::ServerSide),
            "on-device" => Ok(Self::OnDevice),
            "hybrid" => Ok(Self::Hybrid),
            other => Err(format!(
                "unknown decisioning method {other:?} (expected on-device, server-side or hybrid)"
            )),
        }
    }
}

/// Where a telemetry entry's decision ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    Edge,
    Local,
}

/// Mobile device kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Phone,
    Tablet,
}

/// Mobile operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MobilePlatformType {
    Android,
    Ios,
}

/// Screen orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScreenOrientationType {
    Portrait,
    Landscape,
}

/// Response tokens of an option: `activity.id`, `geo.city`, ... to any JSON value.
/// Shared, not copied: a rule's options and the result's `response_tokens` list hold the
/// same map.
pub type ResponseTokens = std::sync::Arc<Map<String, Value>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_accept_every_spec_value() {
        for v in ["mobile", "web"] {
            serde_json::from_value::<ChannelType>(Value::from(v)).unwrap();
        }
        for v in ["html", "json", "redirect", "dynamic", "actions"] {
            serde_json::from_value::<OptionType>(Value::from(v)).unwrap();
        }
        for v in ["server-side", "on-device", "hybrid"] {
            let m: DecisioningMethod = serde_json::from_value(Value::from(v)).unwrap();
            assert_eq!(m.as_str(), v);
            assert_eq!(v.parse::<DecisioningMethod>().unwrap(), m);
        }
        for v in ["unknown", "authenticated", "logged_out"] {
            serde_json::from_value::<AuthenticatedState>(Value::from(v)).unwrap();
        }
        for v in ["server_side", "client_side"] {
            serde_json::from_value::<LoggingType>(Value::from(v)).unwrap();
        }
        for v in ["click", "display"] {
            serde_json::from_value::<MetricType>(Value::from(v)).unwrap();
        }
        for v in ["edge", "local"] {
            serde_json::from_value::<ExecutionMode>(Value::from(v)).unwrap();
        }
        assert!(serde_json::from_value::<OptionType>(Value::from("xml")).is_err());
    }

    #[test]
    fn unknown_visitor_fields_survive_a_round_trip() {
        let raw = serde_json::json!({"tntId": "a.28_0", "futureId": {"x": 1}});
        let id: VisitorId = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), raw);
    }
}
