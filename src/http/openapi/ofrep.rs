//! The OFREP operations and their bodies, after OFREP v0.3.0's own document
//! (`open-feature/protocol`, `service/openapi.yaml`), narrowed to what offerd answers:
//! its reasons add `DEFAULT` (no activity served a value: the code default applies), and
//! its errors carry a key (single flag) or not (bulk).

use serde_json::{Value, json};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use super::operations::{json_body, json_reply, operation, schema_ref};
use crate::config::Config;

/// The component schemas.
pub(super) fn schemas() -> [(&'static str, Value); 5] {
    let metadata = json!({
        "type": "object",
        "description": "Activity and experience ids and names (as Target's response tokens \
            name them, when the artifact exposes them) and `decisioningMethod`.",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    });
    let evaluation = json!({
        "type": "object",
        "description": "A flag's value, or no `value`: use the code default (OFREP's \
            codeDefaultFlag, with reason DEFAULT).",
        "required": ["key", "reason", "variant"],
        "properties": {
            "key": {"type": "string"},
            "value": {"type": ["boolean", "string", "number", "object", "array"]},
            "reason": {"type": "string", "enum": ["SPLIT", "TARGETING_MATCH", "DEFAULT"]},
            "variant": {"type": "string", "description": "The experience (its name, else its id)"},
            "metadata": metadata,
        },
    });
    let failure = |codes: &[&str], key: bool| {
        let mut failure = json!({
            "type": "object",
            "required": ["errorCode", "errorDetails"],
            "properties": {
                "errorCode": {"type": "string", "enum": codes},
                "errorDetails": {"type": "string"},
            },
        });
        if key {
            failure["required"] = json!(["key", "errorCode", "errorDetails"]);
            failure["properties"]["key"] = json!({"type": "string"});
        }
        failure
    };
    let text =
        |description: &str| json!({"type": "string", "pattern": r"\S", "description": description});
    let evaluation_codes = [
        "PARSE_ERROR",
        "TARGETING_KEY_MISSING",
        "INVALID_CONTEXT",
        "GENERAL",
        "FLAG_NOT_FOUND",
    ];
    [
        (
            "OfrepEvaluationRequest",
            json!({
                "type": "object",
                "description": "The evaluation context; see the README's mapping table. Without \
                    `targetingKey` (and without `marketingCloudVisitorId` or `thirdPartyId`) \
                    the answer is TARGETING_KEY_MISSING.",
                "required": ["context"],
                "properties": {"context": {
                    "type": "object",
                    "required": ["targetingKey"],
                    "properties": {
                        "targetingKey": text("The visitor's tntId"),
                        "marketingCloudVisitorId": text("Target allocates on it before the tntId"),
                        "thirdPartyId": text("Target allocates on it before the tntId"),
                        "url": text("context.address.url"),
                        "referrer": text("context.address.referringUrl"),
                        "userAgent": text("context.userAgent"),
                        "ipAddress": text("context.geo.ipAddress"),
                        "latitude": {"type": "number"},
                        "longitude": {"type": "number"},
                        "countryCode": text("context.geo.countryCode"),
                        "stateCode": text("context.geo.stateCode"),
                        "city": text("context.geo.city"),
                        "zip": text("context.geo.zip"),
                        "propertyToken": text("property.token"),
                        "channel": {"type": "string", "enum": ["web", "mobile"]},
                    },
                    "additionalProperties": {
                        "description": "An mbox parameter (null: as absent)",
                        "type": ["string", "number", "boolean", "null"],
                    },
                }},
            }),
        ),
        ("OfrepEvaluation", evaluation),
        (
            "OfrepBulkEvaluation",
            json!({
                "type": "object",
                "required": ["flags"],
                "properties": {"flags": {"type": "array", "items": {"oneOf": [
                    {"$ref": "#/components/schemas/OfrepEvaluation"},
                    {"$ref": "#/components/schemas/OfrepFailure"},
                ]}}},
            }),
        ),
        ("OfrepFailure", failure(&evaluation_codes, true)),
        ("OfrepBulkFailure", failure(&evaluation_codes, false)),
    ]
}

/// The error answers both operations share, in `body`'s shape.
fn errors(mut op: OperationBuilder, body: &str) -> OperationBuilder {
    let retry_after = || {
        let header = utoipa::openapi::Header::new(ObjectBuilder::new().schema_type(Type::String));
        utoipa::openapi::response::ResponseBuilder::new()
            .header("Retry-After", header)
            .header(
                "X-Request-Id",
                utoipa::openapi::Header::new(ObjectBuilder::new().schema_type(Type::String)),
            )
    };
    for (status, description) in [
        (
            "400",
            "PARSE_ERROR (not JSON), TARGETING_KEY_MISSING, INVALID_CONTEXT, or GENERAL \
             (a remote mbox while offerd decides on-device or `upstream.offline` is set)",
        ),
        ("500", "offerd failed (GENERAL)"),
        ("502", "Target's Delivery API failed (GENERAL)"),
        ("504", "Target's Delivery API timed out (GENERAL)"),
    ] {
        op = op.response(status, json_reply(description, schema_ref(body)));
    }
    for (status, description) in [
        (
            "429",
            "Overloaded (every decision slot taken, or the notification queue full): retry \
             after `Retry-After` seconds",
        ),
        (
            "503",
            "No artifact loaded yet: retry after `Retry-After` seconds",
        ),
    ] {
        let content = utoipa::openapi::ContentBuilder::new()
            .schema(Some(schema_ref(body)))
            .build();
        let reply = retry_after()
            .description(description)
            .content("application/json", content)
            .build();
        op = op.response(status, reply);
    }
    op.response(
        "413",
        json_reply(
            "The body is larger than `server.max_body_bytes`",
            schema_ref("Error"),
        ),
    )
}

pub(super) fn flag(_: &Config) -> OperationBuilder {
    let key = ParameterBuilder::new()
        .name("key")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(
            "`<mbox>` (the mbox's JSON offers, an object) or `<mbox>.<attribute>`; the \
             longest mbox name the artifact knows wins",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    let op = operation(
        "evaluateFlag",
        "OpenFeature: evaluate one flag (OFREP)",
        "Decides the flag's mbox for the context's visitor, as `/v1/attributes` does (the \
         same display notification is owed), and answers OFREP's evaluation.",
    )
    .parameter(key)
    .request_body(json_body(schema_ref("OfrepEvaluationRequest")))
    .response(
        "200",
        json_reply("The flag's evaluation", schema_ref("OfrepEvaluation")),
    )
    .response(
        "404",
        json_reply(
            "FLAG_NOT_FOUND: no such mbox, or no such attribute in its JSON offers",
            schema_ref("OfrepFailure"),
        ),
    );
    errors(op, "OfrepFailure")
}

pub(super) fn flags(_: &Config) -> OperationBuilder {
    let if_none_match = ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The ETag of an earlier answer: a 304 if the flags are the same",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    let ok = {
        let string =
            || utoipa::openapi::Header::new(ObjectBuilder::new().schema_type(Type::String));
        utoipa::openapi::response::ResponseBuilder::new()
            .description("Every flag of the local mboxes whose offers are JSON, from one decision")
            .header("ETag", string())
            .header("X-Request-Id", string())
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(schema_ref("OfrepBulkEvaluation")))
                    .build(),
            )
            .build()
    };
    let not_modified = utoipa::openapi::response::ResponseBuilder::new()
        .description("Not modified: the flags are those of the `If-None-Match` ETag")
        .build();
    let op = operation(
        "evaluateFlagsBulk",
        "OpenFeature: evaluate every flag (OFREP bulk)",
        "Decides every local mbox whose offers are JSON in one decision and answers each as \
         an object flag and each of its attributes as a flag, with an ETag.",
    )
    .parameter(if_none_match)
    .request_body(json_body(schema_ref("OfrepEvaluationRequest")))
    .response("200", ok)
    .response("304", not_modified);
    errors(op, "OfrepBulkFailure")
}

/// Every schema here parses.
#[cfg(test)]
#[test]
fn the_schemas_parse() {
    for (_, value) in schemas() {
        let _ = super::bodies::schema(value);
    }
}
