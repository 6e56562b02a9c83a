//! An OFREP body's evaluation context as get_attributes' options: who the visitor is
//! (`targetingKey` is the tntId unless `marketingCloudVisitorId` or `thirdPartyId` is
//! given, the ids Target allocates on), the request fields Target's rules read (address,
//! user agent, geo, property, channel), and every other key as an mbox parameter. The
//! table in README.md ("OpenFeature (OFREP)") is this file.

use serde_json::{Map, Value};

use super::{ErrorCode, EvaluationError};
use crate::client::GetOffersOptions;
use crate::model::{
    Address, ChannelType, Context as RequestContext, DeliveryRequest, ExecuteRequest, Geo,
    MboxRequest, Property, VisitorId,
};

/// An evaluation context, checked: the visitor, the request fields and the mbox
/// parameters, ready to ask for any mboxes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    id: VisitorId,
    context: RequestContext,
    property_token: Option<String>,
    parameters: Map<String, Value>,
}

/// Context keys that name a visitor id instead of a parameter.
const TARGETING_KEY: &str = "targetingKey";
const MCID: &str = "marketingCloudVisitorId";
const THIRD_PARTY_ID: &str = "thirdPartyId";

/// Parses a single-flag body (`{"context": {...}}`).
pub fn parse(body: &[u8]) -> Result<Context, EvaluationError> {
    Context::from_map(&context_of(body)?)
}

/// The `context` object of a body. A body without one (the Python provider sends `{}`
/// when the caller gave no context) has an empty context, so the answer names what is
/// missing: the targeting key.
fn context_of(body: &[u8]) -> Result<Map<String, Value>, EvaluationError> {
    let parse_error = |details: String| EvaluationError::new(ErrorCode::ParseError, details);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(parse_error(
            "the body must be a JSON object: {\"context\": {...}}".into(),
        ));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| parse_error(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut body) = body else {
        return Err(EvaluationError::new(
            ErrorCode::InvalidContext,
            "the body must be a JSON object: {\"context\": {...}}",
        ));
    };
    match body.remove("context") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(context)) => Ok(context),
        Some(_) => Err(EvaluationError::new(
            ErrorCode::InvalidContext,
            "context must be a JSON object",
        )),
    }
}

impl Context {
    /// Maps an evaluation context; see the module docs.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, EvaluationError> {
        let mut out = Self {
            context: RequestContext {
                channel: Some(ChannelType::Web),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut targeting_key = None;
        for (key, value) in map {
            if value.is_null() {
                // An unset attribute: as if the key were absent.
                continue;
            }
            match key.as_str() {
                TARGETING_KEY => targeting_key = Some(text(key, value)?),
                MCID => out.id.marketing_cloud_visitor_id = Some(text(key, value)?),
                THIRD_PARTY_ID => out.id.third_party_id = Some(text(key, value)?),
                "url" => address(&mut out.context).url = Some(text(key, value)?),
                "referrer" => address(&mut out.context).referring_url = Some(text(key, value)?),
                "userAgent" => out.context.user_agent = Some(text(key, value)?),
                "ipAddress" => geo(&mut out.context).ip_address = Some(text(key, value)?),
                "latitude" => geo(&mut out.context).latitude = Some(number(key, value)?),
                "longitude" => geo(&mut out.context).longitude = Some(number(key, value)?),
                "countryCode" => geo(&mut out.context).country_code = Some(text(key, value)?),
                "stateCode" => geo(&mut out.context).state_code = Some(text(key, value)?),
                "city" => geo(&mut out.context).city = Some(text(key, value)?),
                "zip" => geo(&mut out.context).zip = Some(text(key, value)?),
                "propertyToken" => out.property_token = Some(text(key, value)?),
                "channel" => out.context.channel = Some(channel(value)?),
                _ => {
                    if value.is_object() || value.is_array() {
                        return Err(invalid(format!(
                            "context.{key} must be a string, number or boolean: it becomes \
                             an mbox parameter"
                        )));
                    }
                    out.parameters.insert(key.clone(), value.clone());
                }
            }
        }
        let named = out.id.marketing_cloud_visitor_id.is_some() || out.id.third_party_id.is_some();
        match targeting_key {
            // Target allocates on these before the tntId: the same visitor as in
            // /v1/attributes and /v1/offers when the caller names them there.
            _ if named => {}
            Some(key) => out.id.tnt_id = Some(key),
            None => {
                return Err(EvaluationError::new(
                    ErrorCode::TargetingKeyMissing,
                    "context.targetingKey (the visitor's tntId) is missing; or name the \
                     visitor with marketingCloudVisitorId or thirdPartyId",
                ));
            }
        }
        Ok(out)
    }

    /// get_attributes' options for `mboxes`, each asked for in `execute` (so that the
    /// answer owes the display notification /v1/attributes owes) with the parameters.
    pub fn options_for(&self, mboxes: &[&str]) -> GetOffersOptions {
        let parameters = (!self.parameters.is_empty()).then(|| self.parameters.clone());
        let mboxes = mboxes
            .iter()
            .zip(1..)
            .map(|(name, index)| MboxRequest {
                name: Some((*name).to_string()),
                index: Some(index),
                parameters: parameters.clone(),
                ..Default::default()
            })
            .collect();
        let request = DeliveryRequest {
            id: Some(self.id.clone()),
            context: Some(self.context.clone()),
            property: self.property_token.clone().map(|token| Property {
                token: Some(token),
                ..Default::default()
            }),
            execute: Some(ExecuteRequest {
                mboxes: Some(mboxes),
                ..Default::default()
            }),
            ..Default::default()
        };
        GetOffersOptions {
            request: Box::new(request),
            ..Default::default()
        }
    }
}

fn invalid(details: String) -> EvaluationError {
    EvaluationError::new(ErrorCode::InvalidContext, details)
}

fn text(key: &str, value: &Value) -> Result<String, EvaluationError> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(invalid(format!("context.{key} is blank"))),
        _ => Err(invalid(format!("context.{key} must be a string"))),
    }
}

fn number(key: &str, value: &Value) -> Result<f64, EvaluationError> {
    value
        .as_f64()
        .ok_or_else(|| invalid(format!("context.{key} must be a number")))
}

fn channel(value: &Value) -> Result<ChannelType, EvaluationError> {
    match value.as_str() {
        Some("web") => Ok(ChannelType::Web),
        Some("mobile") => Ok(ChannelType::Mobile),
        _ => Err(invalid(
            "context.channel must be \"web\" or \"mobile\"".into(),
        )),
    }
}

fn address(context: &mut RequestContext) -> &mut Address {
    context.address.get_or_insert_with(Default::default)
}

fn geo(context: &mut RequestContext) -> &mut Geo {
    context.geo.get_or_insert_with(Default::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request_of(context: Value, mboxes: &[&str]) -> Value {
        let body = json!({ "context": context }).to_string();
        let context = parse(body.as_bytes()).expect("a valid context");
        serde_json::to_value(context.options_for(mboxes).request).expect("serializes")
    }

    fn error_of(body: &str) -> EvaluationError {
        parse(body.as_bytes()).expect_err("an invalid body")
    }

    #[test]
    fn the_targeting_key_is_the_tnt_id() {
        let request = request_of(json!({"targetingKey": "v1"}), &["flags"]);
        assert_eq!(request["id"], json!({"tntId": "v1"}));
        assert_eq!(request["context"], json!({"channel": "web"}));
        assert_eq!(
            request["execute"]["mboxes"],
            json!([{"index": 1, "name": "flags"}])
        );
    }

    #[test]
    fn target_allocates_on_the_marketing_cloud_or_third_party_id_when_given() {
        let request = request_of(
            json!({"targetingKey": "v1", "marketingCloudVisitorId": "ecid"}),
            &["f"],
        );
        assert_eq!(request["id"], json!({"marketingCloudVisitorId": "ecid"}));
        let request = request_of(json!({"thirdPartyId": "crm-7"}), &["f"]);
        assert_eq!(request["id"], json!({"thirdPartyId": "crm-7"}));
    }

    #[test]
    fn request_fields_map_and_every_other_key_is_an_mbox_parameter() {
        let request = request_of(
            json!({
                "targetingKey": "v1",
                "url": "https://shop.example/a",
                "referrer": "https://search.example/",
                "userAgent": "Mozilla/5.0 Chrome/120",
                "ipAddress": "192.0.2.1",
                "latitude": 37.5,
                "longitude": -122.25,
                "countryCode": "US",
                "stateCode": "CA",
                "city": "SAN FRANCISCO",
                "zip": "94107",
                "propertyToken": "p-1",
                "channel": "mobile",
                "plan": "gold",
                "age": 42,
                "beta": true,
                "unset": null,
            }),
            &["a", "b"],
        );
        assert_eq!(
            request["context"],
            json!({
                "channel": "mobile",
                "address": {"url": "https://shop.example/a", "referringUrl": "https://search.example/"},
                "geo": {"ipAddress": "192.0.2.1", "latitude": 37.5, "longitude": -122.25,
                        "countryCode": "US", "stateCode": "CA", "city": "SAN FRANCISCO", "zip": "94107"},
                "userAgent": "Mozilla/5.0 Chrome/120",
            })
        );
        assert_eq!(request["property"], json!({"token": "p-1"}));
        let parameters = json!({"plan": "gold", "age": 42, "beta": true});
        assert_eq!(
            request["execute"]["mboxes"],
            json!([
                {"index": 1, "name": "a", "parameters": parameters},
                {"index": 2, "name": "b", "parameters": parameters},
            ])
        );
    }

    #[test]
    fn a_missing_targeting_key_is_named() {
        for body in [
            r#"{"context": {}}"#,
            r#"{"context": null}"#,
            "{}",
            r#"{"context": {"plan": "gold"}}"#,
            r#"{"context": {"targetingKey": null}}"#,
        ] {
            assert_eq!(
                error_of(body).code,
                ErrorCode::TargetingKeyMissing,
                "{body}"
            );
        }
    }

    #[test]
    fn bad_bodies_and_values_are_told_apart() {
        let cases = [
            ("", ErrorCode::ParseError),
            ("  ", ErrorCode::ParseError),
            ("{", ErrorCode::ParseError),
            ("not json", ErrorCode::ParseError),
            ("[]", ErrorCode::InvalidContext),
            ("42", ErrorCode::InvalidContext),
            (r#"{"context": []}"#, ErrorCode::InvalidContext),
            (r#"{"context": "v1"}"#, ErrorCode::InvalidContext),
            (
                r#"{"context": {"targetingKey": 7}}"#,
                ErrorCode::InvalidContext,
            ),
            (
                r#"{"context": {"targetingKey": " "}}"#,
                ErrorCode::InvalidContext,
            ),
            (
                r#"{"context": {"targetingKey": "v", "url": 3}}"#,
                ErrorCode::InvalidContext,
            ),
            (
                r#"{"context": {"targetingKey": "v", "latitude": "north"}}"#,
                ErrorCode::InvalidContext,
            ),
            (
                r#"{"context": {"targetingKey": "v", "channel": "tv"}}"#,
                ErrorCode::InvalidContext,
            ),
            (
                r#"{"context": {"targetingKey": "v", "cart": {"items": 2}}}"#,
                ErrorCode::InvalidContext,
            ),
            (
                r#"{"context": {"targetingKey": "v", "tags": ["a"]}}"#,
                ErrorCode::InvalidContext,
            ),
        ];
        for (body, code) in cases {
            let error = error_of(body);
            assert_eq!(error.code, code, "{body}: {error}");
            assert!(!error.details.is_empty());
        }
    }
}
