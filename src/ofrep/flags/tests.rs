//! Flag keys against the demo artifact (and one with dotted mbox names), and answers
//! made from real on-device decisions.

use serde_json::json;

use super::*;
use crate::engine::{Artifact, ArtifactProvenance, RandomIds};
use crate::ofrep::Context;
use crate::sdk::on_device;
use crate::sdk::prepare::ClientSettings;

fn compile(artifact: Value) -> CompiledArtifact {
    let artifact = Artifact::from_value(artifact).expect("the test artifact loads");
    CompiledArtifact::compile(artifact, ArtifactProvenance::default())
        .expect("the test artifact compiles")
}

fn demo_json() -> Value {
    serde_json::from_slice(include_bytes!("../../../examples/demo-artifact.json"))
        .expect("the demo artifact is JSON")
}

fn demo() -> CompiledArtifact {
    compile(demo_json())
}

/// The demo with mboxes `app` and `app.search`, each with one JSON offer.
fn dotted() -> CompiledArtifact {
    let mut artifact = demo_json();
    let rule = |mbox: &str, content: Value| {
        json!([{
            "meta": {"activity.id": 1, "activity.type": "landing", "experience.id": 0},
            "condition": true,
            "consequence": {"name": mbox, "options": [{"type": "json", "content": content}]},
        }])
    };
    let mboxes = &mut artifact["rules"]["mboxes"];
    mboxes["app"] = rule("app", json!({"search": "app's own", "theme": "dark"}));
    mboxes["app.search"] = rule("app.search", json!({"limit": 5}));
    compile(artifact)
}

fn resolve<'k>(artifact: &CompiledArtifact, key: &'k str) -> Result<FlagRef<'k>, ErrorCode> {
    Catalog::new(Some(artifact))
        .resolve(key)
        .map_err(|e| e.code)
}

#[test]
fn keys_name_an_mbox_or_one_of_its_attributes() {
    let demo = demo();
    let cases = [
        ("search-feature", Ok(FlagRef::Mbox("search-feature"))),
        (
            "search-feature.max_results",
            Ok(FlagRef::Attribute {
                mbox: "search-feature",
                key: "max_results",
            }),
        ),
        // Any known mbox is an object flag; an html one serves no value.
        ("hero-banner", Ok(FlagRef::Mbox("hero-banner"))),
        // A remote mbox's attributes are Target's to know.
        ("recommendations", Ok(FlagRef::Mbox("recommendations"))),
        (
            "recommendations.count",
            Ok(FlagRef::Attribute {
                mbox: "recommendations",
                key: "count",
            }),
        ),
        ("search-feature.nope", Err(ErrorCode::FlagNotFound)),
        ("search-feature.", Err(ErrorCode::FlagNotFound)),
        ("no-such-mbox", Err(ErrorCode::FlagNotFound)),
        ("no-such.mbox", Err(ErrorCode::FlagNotFound)),
        ("", Err(ErrorCode::FlagNotFound)),
    ];
    for (key, expected) in cases {
        assert_eq!(resolve(&demo, key), expected, "{key}");
    }
}

#[test]
fn the_longest_known_mbox_name_wins() {
    let artifact = dotted();
    assert_eq!(
        resolve(&artifact, "app.search"),
        Ok(FlagRef::Mbox("app.search"))
    );
    assert_eq!(
        resolve(&artifact, "app.search.limit"),
        Ok(FlagRef::Attribute {
            mbox: "app.search",
            key: "limit"
        })
    );
    assert_eq!(
        resolve(&artifact, "app.theme"),
        Ok(FlagRef::Attribute {
            mbox: "app",
            key: "theme"
        })
    );
    // `app.search` wins the prefix, and has no `theme`: no fallback to `app`.
    assert_eq!(
        resolve(&artifact, "app.search.theme"),
        Err(ErrorCode::FlagNotFound)
    );
}

#[test]
fn without_an_artifact_a_key_splits_at_its_first_dot() {
    let catalog = Catalog::new(None);
    assert_eq!(
        catalog.resolve("a.b.c"),
        Ok(FlagRef::Attribute {
            mbox: "a",
            key: "b.c"
        })
    );
    assert_eq!(catalog.resolve("a"), Ok(FlagRef::Mbox("a")));
    assert_eq!(catalog.resolve("a."), Ok(FlagRef::Mbox("a.")));
    assert!(catalog.bulk_mboxes().is_empty());
}

#[test]
fn bulk_decides_the_local_mboxes_whose_offers_are_json() {
    assert_eq!(
        Catalog::new(Some(&demo())).bulk_mboxes(),
        ["checkout-button", "search-feature"]
    );
}

/// An on-device decision of `mboxes` for `context`, as get_attributes makes it.
fn decide(
    artifact: &CompiledArtifact,
    context: Value,
    mboxes: &[&str],
) -> (Map<String, Value>, TargetDeliveryResponse) {
    let context = Context::from_map(context.as_object().expect("an object")).expect("valid");
    let settings = ClientSettings {
        client: "demo",
        property_token: None,
        location_hint: None,
    };
    let answer = on_device::get_offers(
        artifact,
        context.options_for(mboxes),
        settings,
        1_700_000_000_000,
        &RandomIds,
    );
    let attributes = crate::client::attributes_of(&answer.response.response);
    (attributes, answer.response)
}

#[test]
fn an_attribute_answers_with_the_experience_the_visitor_is_in() {
    let artifact = demo();
    let catalog = Catalog::new(Some(&artifact));
    let mut seen = std::collections::BTreeSet::new();
    for visitor in 0..40 {
        let context = json!({"targetingKey": format!("visitor-{visitor}")});
        let (attributes, response) = decide(&artifact, context, &["search-feature"]);
        let flag = catalog
            .resolve("search-feature.max_results")
            .expect("known");
        let answer = catalog
            .evaluate("search-feature.max_results", flag, &attributes, &response)
            .expect("evaluated");
        let expected = attributes["search-feature"]["max_results"].clone();
        assert_eq!(answer.value, Some(expected));
        // The demo's search flag is an A/B test.
        assert_eq!(answer.reason, Reason::Split);
        assert!(["Search on", "Search off"].contains(&answer.variant.as_str()));
        assert_eq!(answer.metadata["activity.id"], json!(900003));
        assert_eq!(answer.metadata["decisioningMethod"], json!("on-device"));
        seen.insert(answer.variant);
    }
    assert_eq!(seen.len(), 2, "40 visitors land in both experiences");
}

#[test]
fn experience_targeting_is_a_targeting_match_and_an_object_flag_is_the_offer() {
    let artifact = demo();
    let catalog = Catalog::new(Some(&artifact));
    let context = json!({"targetingKey": "v", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"});
    let (attributes, response) = decide(&artifact, context, &["checkout-button"]);
    let answer = catalog
        .evaluate(
            "checkout-button",
            FlagRef::Mbox("checkout-button"),
            &attributes,
            &response,
        )
        .expect("evaluated");
    assert_eq!(answer.value.as_ref(), attributes.get("checkout-button"));
    assert!(answer.value.as_ref().is_some_and(Value::is_object));
    assert_eq!(answer.reason, Reason::TargetingMatch);
}

#[test]
fn no_json_offer_is_the_code_default() {
    let artifact = demo();
    let catalog = Catalog::new(Some(&artifact));
    let (attributes, response) = decide(&artifact, json!({"targetingKey": "v"}), &["hero-banner"]);
    let answer = catalog
        .evaluate(
            "hero-banner",
            FlagRef::Mbox("hero-banner"),
            &attributes,
            &response,
        )
        .expect("evaluated");
    assert_eq!(answer.value, None);
    assert_eq!(answer.reason, Reason::Default);
    let body = serde_json::to_value(&answer).expect("serializes");
    assert!(body.get("value").is_none(), "{body}");
}

#[test]
fn a_remote_mbox_decided_on_device_is_a_general_error() {
    let artifact = demo();
    let catalog = Catalog::new(Some(&artifact));
    let (attributes, response) = decide(
        &artifact,
        json!({"targetingKey": "v"}),
        &["recommendations"],
    );
    let error = catalog
        .evaluate(
            "recommendations",
            FlagRef::Mbox("recommendations"),
            &attributes,
            &response,
        )
        .expect_err("only Target decides it");
    assert_eq!(error.code, ErrorCode::General);
    assert!(error.details.contains("hybrid"), "{}", error.details);
}

#[test]
fn bulk_answers_every_flag_of_the_decision() {
    let artifact = demo();
    let catalog = Catalog::new(Some(&artifact));
    let mboxes = catalog.bulk_mboxes();
    let (attributes, response) = decide(&artifact, json!({"targetingKey": "v9"}), &mboxes);
    let answer = serde_json::to_value(catalog.bulk(&attributes, &response)).expect("serializes");
    let keys: Vec<&str> = answer["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "checkout-button",
            "checkout-button.color",
            "checkout-button.label",
            "search-feature",
            "search-feature.search_enabled",
            "search-feature.search_provider",
            "search-feature.max_results",
        ]
    );
    assert_eq!(
        answer["flags"][6]["value"],
        attributes["search-feature"]["max_results"]
    );
}
