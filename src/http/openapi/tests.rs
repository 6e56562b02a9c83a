use serde_json::Value;

use super::*;
use crate::http::auth::is_operational;

fn as_json(config: &Config) -> Value {
    serde_json::to_value(document(config)).unwrap()
}

fn with_tokens(protect_operations: bool) -> Config {
    let mut config = Config::default();
    config.server.auth_tokens = vec!["t".into()];
    config.server.protect_operations = protect_operations;
    config
}

/// Every `$ref` in `value`.
fn refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                into.push(r.clone());
            }
            map.values().for_each(|v| refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, into)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_with_one_operation_per_route() {
    let doc = as_json(&Config::default());
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), ENDPOINTS.len(), "one path per route");
    for endpoint in ENDPOINTS {
        let item = paths[endpoint.path].as_object().unwrap();
        assert_eq!(item.len(), 1, "{}: one method", endpoint.path);
        let operation = &item[&endpoint.verb.as_str().to_lowercase()];
        assert_eq!(operation["tags"][0], endpoint.listener.tag());
        assert!(operation.get("security").is_none(), "open without tokens");
        assert!(operation["operationId"].is_string());
        assert!(!operation["responses"].as_object().unwrap().is_empty());
    }
}

#[test]
fn every_reference_resolves() {
    let doc = as_json(&with_tokens(true));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "{found:?}");
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
}

#[test]
fn the_bearer_requirement_follows_the_configuration() {
    for (server, decisions, operations) in [
        (with_tokens(false), true, false),
        (with_tokens(true), true, true),
    ] {
        let doc = as_json(&server);
        for endpoint in ENDPOINTS {
            let item = &doc["paths"][endpoint.path];
            let operation = item.as_object().unwrap().values().next().unwrap();
            let expected = match endpoint.listener {
                Listener::Decisions => decisions,
                Listener::Operations => operations,
            };
            let secured = operation.get("security").is_some();
            assert_eq!(secured, expected, "{}", endpoint.path);
            assert_eq!(operation["responses"].get("401").is_some(), expected);
        }
    }
}

#[test]
fn the_auth_middleware_tells_operations_apart_as_the_table_does() {
    for endpoint in ENDPOINTS {
        assert_eq!(
            is_operational(endpoint.path),
            endpoint.listener == Listener::Operations,
            "{}",
            endpoint.path
        );
    }
}

#[test]
fn the_model_types_keep_their_wire_names_and_extra_fields() {
    let doc = as_json(&Config::default());
    let schemas = &doc["components"]["schemas"];
    let request = &schemas["DeliveryRequest"];
    assert!(request["properties"]["requestId"].is_object(), "{request}");
    assert!(request["properties"].get("extra").is_none());
    assert!(request.get("additionalProperties").is_some(), "{request}");
    let options = &schemas["GetOffersOptions"];
    assert_eq!(options["required"], serde_json::json!(["request"]));
    let method = &schemas["DecisioningMethod"]["enum"];
    assert_eq!(
        method,
        &serde_json::json!(["server-side", "on-device", "hybrid"])
    );
}
