//! Audiences as text, allocation ranges, and the artifact view of the demo artifact.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;

use super::audience::{allocation_range, clauses, describe, time_frame};
use super::view::{LocationKind, artifact_view};
use crate::engine::{Artifact, ArtifactProvenance, CompiledArtifact};
use crate::store::{LoadedArtifact, RefreshStatus};

pub(crate) fn loaded(json: &[u8]) -> LoadedArtifact {
    let artifact = Artifact::from_json(json).expect("artifact parses");
    let compiled =
        CompiledArtifact::compile(artifact, ArtifactProvenance::default()).expect("compiles");
    LoadedArtifact {
        compiled: Arc::new(compiled),
        etag: Some("\"abc\"".into()),
        fetched_at: SystemTime::now(),
        source: "test".into(),
        from_backup: false,
    }
}

#[test]
fn audiences_read_as_sentences() {
    let cases = [
        (json!(true), "everyone"),
        (
            json!({"and": [{"==": [{"var": "user.browserType"}, "chrome"]}, {"in": ["/shop", {"var": "page.url"}]}]}),
            "browser is chrome and page URL contains /shop",
        ),
        (
            json!({"==": ["US", {"var": "geo.country"}]}),
            "country is US",
        ),
        (
            json!({"or": [{"==": ["JP", {"var": "geo.country"}]}, {"!=": [{"var": "mbox.tier_lc"}, "gold"]}]}),
            "country is JP or mbox parameter tier is not gold",
        ),
        (
            json!({"<": [0.0, {"var": "allocation"}, 34.0]}),
            "allocation bucket is above 0.0 and below 34.0",
        ),
        (
            json!({">=": [50, {"var": "allocation"}]}),
            "allocation bucket is at most 50",
        ),
        (
            json!({"in": [{"var": "geo.city"}, ["Paris", "Lyon"]]}),
            "city is one of Paris, Lyon",
        ),
        (json!({"weird": [1]}), "{\"weird\":[1]}"),
    ];
    for (condition, text) in cases {
        assert_eq!(describe(&condition), text, "{condition}");
    }
}

#[test]
fn nested_ands_flatten_into_clauses() {
    let condition = json!({"and": [{"<": [0, {"var": "allocation"}, 50]}, {"and": [{"==": [1, 1]}, {"==": [2, 2]}]}]});
    assert_eq!(clauses(&condition).len(), 3);
    assert_eq!(clauses(&json!(true)).len(), 1);
}

#[test]
fn allocation_ranges_and_time_frames_are_read_from_conditions() {
    let both =
        json!({"and": [{"<=": [0, {"var": "allocation"}]}, {">=": [50, {"var": "allocation"}]}]});
    assert_eq!(allocation_range(&both), Some((0.0, 50.0)));
    let between = json!({"and": [{"<": [34.0, {"var": "allocation"}, 67.0]}, {"==": [1, 1]}]});
    assert_eq!(allocation_range(&between), Some((34.0, 67.0)));
    assert_eq!(allocation_range(&json!(true)), None);
    let frame =
        json!({"<=": [1_600_000_000_000_i64, {"var": "current_timestamp"}, 1_700_000_000_000_i64]});
    assert_eq!(time_frame(&frame), Some((Some(1.6e12), Some(1.7e12))));
}

#[test]
fn the_demo_artifact_shows_every_activity_with_its_ranges() {
    let loaded = loaded(include_bytes!("../../examples/demo-artifact.json"));
    let view = artifact_view(&loaded, &RefreshStatus::default(), 300);
    assert_eq!(view.provenance.polling, "every 300 s");
    let hero = view
        .location(LocationKind::Mbox, "hero-banner")
        .expect("hero-banner");
    let activity = &hero.activities[0];
    assert_eq!(activity.kind, "A/B");
    let ranges: Vec<_> = activity.experiences.iter().map(|e| e.allocation).collect();
    assert_eq!(ranges, [Some((0.0, 50.0)), Some((50.0, 100.0))]);
    assert_eq!(activity.experiences[0].audience, "everyone");
    let checkout = view
        .location(LocationKind::Mbox, "checkout-button")
        .expect("checkout");
    assert_eq!(checkout.activities[0].kind, "XT");
    assert_eq!(
        checkout.activities[0].experiences[0].audience,
        "browser is chrome"
    );
    assert!(
        view.remote_only
            .contains(&(LocationKind::Mbox, "recommendations".into()))
    );
    assert_eq!(view.activity_count, 6);
}

/// The demo's checkout-button for a Chrome visitor, decided on-device with a trace and
/// explained: the first experience wins, its browser clause matched.
#[test]
fn a_traced_decision_is_explained_clause_by_clause() {
    use super::outcome::{Verdict, outcome};
    use crate::engine::RandomIds;
    use crate::sdk::on_device::get_offers;
    use crate::sdk::options::GetOffersOptions;
    use crate::sdk::prepare::ClientSettings;

    let loaded = loaded(include_bytes!("../../examples/demo-artifact.json"));
    let view = artifact_view(&loaded, &RefreshStatus::default(), 0);
    let options: GetOffersOptions = serde_json::from_value(json!({"request": {
        "id": {"tntId": "explained-visitor"},
        "trace": {},
        "context": {"channel": "web", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},
        "execute": {"mboxes": [{"index": 0, "name": "checkout-button"}, {"index": 1, "name": "hero-banner"}]}
    }}))
    .expect("options");
    let request = options.request.as_ref().clone();
    let settings = ClientSettings {
        client: "demo",
        property_token: None,
        location_hint: None,
    };
    let decided = get_offers(
        &loaded.compiled,
        options,
        settings,
        1_700_000_000_000,
        &RandomIds,
    );
    let explained = outcome(
        &view,
        "target-global-mbox",
        None,
        &request,
        &decided.response,
    );

    let checkout = &explained.locations[0].activities[0];
    assert_eq!(checkout.winner.as_deref(), Some("Chrome users"));
    let chrome = &checkout.experiences[0];
    assert_eq!(chrome.verdict, Verdict::Won);
    assert_eq!(chrome.clauses[0].text, "browser is chrome");
    assert_eq!(chrome.clauses[0].holds, Some(true));

    let hero = &explained.locations[1].activities[0];
    let bucket = hero.bucket.expect("the A/B activity has a bucket");
    let inside: Vec<_> = hero
        .experiences
        .iter()
        .filter(|e| e.in_range == Some(true))
        .collect();
    assert_eq!(inside.len(), 1, "the bucket {bucket} falls in one range");
    assert_eq!(hero.winner.as_deref(), Some(inside[0].name.as_str()));
    assert!(!explained.offers.is_empty() && !explained.response_tokens.is_empty());
}
