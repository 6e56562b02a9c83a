//! The engine never panics, whatever the request: arbitrary JSON built from the
//! Delivery API's own field names, decided against every conformance artifact and the
//! demo artifact.

use std::path::Path;

use offerd::client::GetOffersOptions;
use offerd::engine::{Artifact, ArtifactProvenance, CompiledArtifact, RandomIds};
use offerd::sdk::on_device;
use offerd::sdk::prepare::ClientSettings;
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "request",
    "id",
    "tntId",
    "marketingCloudVisitorId",
    "thirdPartyId",
    "customerIds",
    "context",
    "address",
    "url",
    "referringUrl",
    "userAgent",
    "geo",
    "ipAddress",
    "countryCode",
    "city",
    "latitude",
    "execute",
    "prefetch",
    "mboxes",
    "views",
    "pageLoad",
    "name",
    "index",
    "parameters",
    "profileParameters",
    "property",
    "token",
    "trace",
    "targetCookie",
    "sessionId",
    "clientHints",
    "platform",
    "browserUAWithFullVersion",
    "channel",
    "notifications",
    "requestId",
    "a.b",
    "user",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("web"),
            Just("https://www.target.com.au:8080/a/b?c=d#e"),
            Just("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36"),
            Just("127.0.0.1"),
            Just("mbox-magician"),
            Just("target-global-mbox"),
            Just("contact"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn artifacts() -> Vec<CompiledArtifact> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("examples/demo-artifact.json")];
    let suite = testkit::shared::suite_dir().join("artifacts");
    let dir = std::fs::read_dir(&suite).unwrap_or_else(|e| panic!("{}: {e}", suite.display()));
    paths.extend(dir.flatten().map(|e| e.path()));
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|bytes| Artifact::from_json(&bytes).ok())
        .filter_map(|a| CompiledArtifact::compile(a, ArtifactProvenance::default()).ok())
        .collect()
}

fn decide_all(artifacts: &[CompiledArtifact], options: GetOffersOptions, now_ms: i64) {
    let settings = ClientSettings {
        client: "c",
        property_token: None,
        location_hint: Some("35"),
    };
    for artifact in artifacts {
        let answer = on_device::get_offers(artifact, options.clone(), settings, now_ms, &RandomIds);
        serde_json::to_string(&answer.response).expect("a response always serializes");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_requests_never_panic(body in json(), now_ms in -10_000_000_000_000i64..10_000_000_000_000) {
        let artifacts = artifacts();
        if let Ok(options) = serde_json::from_value::<GetOffersOptions>(body) {
            decide_all(&artifacts, options, now_ms);
        }
    }

    #[test]
    fn arbitrary_requests_inside_a_valid_envelope_never_panic(request in json()) {
        let artifacts = artifacts();
        let body = serde_json::json!({"request": request});
        if let Ok(options) = serde_json::from_value::<GetOffersOptions>(body) {
            decide_all(&artifacts, options, 1_585_098_300_000);
        }
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "\\PC{0,12}",
        Just("https://www.target.com.au:8080/a/b?c=d#e".to_string()),
        Just("Mozilla/5.0 (iPhone; CPU iPhone OS 13_2 like Mac OS X) Version/13.0 Mobile/15E148 Safari/604.1".to_string()),
        Just("mbox-magician".to_string()),
        Just("target-global-mbox".to_string()),
        Just("${campaign.id}${mbox.x}".to_string()),
    ]
}

/// Well-typed requests with hostile values: every one reaches the engine.
fn typed_request() -> impl Strategy<Value = Value> {
    let params = || prop::collection::btree_map(text(), text(), 0..4);
    let mbox = move || {
        (text(), any::<Option<i32>>(), params())
            .prop_map(|(name, index, parameters)| serde_json::json!({"name": name, "index": index, "parameters": parameters}))
    };
    let view = (prop::option::of(text()), params())
        .prop_map(|(name, parameters)| serde_json::json!({"name": name, "parameters": parameters}));
    (
        prop::collection::vec(mbox(), 0..4),
        prop::collection::vec(mbox(), 0..3),
        prop::collection::vec(view, 0..3),
        (text(), text(), text()),
        (prop::option::of(text()), any::<bool>(), any::<bool>()),
        (text(), prop::option::of(-90.0f64..90.0), prop::option::of(text())),
    )
        .prop_map(|(execute, prefetch, views, (url, referrer, ua), (tnt, page_load, trace), (ip, lat, country))| {
            let mut request = serde_json::json!({
                "id": {"tntId": tnt},
                "context": {"channel": "web", "address": {"url": url, "referringUrl": referrer}, "userAgent": ua,
                            "geo": {"ipAddress": ip, "latitude": lat, "countryCode": country}},
                "execute": {"mboxes": execute},
                "prefetch": {"mboxes": prefetch, "views": views},
            });
            if page_load {
                request["execute"]["pageLoad"] = serde_json::json!({"parameters": {"a.b": "C"}});
            }
            if trace {
                request["trace"] = serde_json::json!({});
            }
            serde_json::json!({"request": request})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn well_typed_hostile_requests_never_panic(body in typed_request(), now_ms in 0i64..4_000_000_000_000) {
        let artifacts = artifacts();
        let options: GetOffersOptions = serde_json::from_value(body).expect("typed requests deserialize");
        decide_all(&artifacts, options, now_ms);
    }
}
