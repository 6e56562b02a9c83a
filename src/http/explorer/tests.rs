//! The page's HTML: artifact text is escaped wherever it lands, and the real artifact
//! renders well under a second.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::page;
use crate::engine::{Artifact, ArtifactProvenance, CompiledArtifact};
use crate::explorer::view::artifact_view;
use crate::store::{LoadedArtifact, RefreshStatus};

fn loaded(json: &[u8]) -> LoadedArtifact {
    let artifact = Artifact::from_json(json).expect("artifact parses");
    let compiled =
        CompiledArtifact::compile(artifact, ArtifactProvenance::default()).expect("compiles");
    LoadedArtifact {
        compiled: Arc::new(compiled),
        etag: None,
        fetched_at: SystemTime::now(),
        source: "test".into(),
        from_backup: false,
    }
}

fn render(json: &[u8]) -> String {
    let loaded = loaded(json);
    let view = artifact_view(&loaded, &RefreshStatus::default(), 300);
    page::page(Some(&view), "/v1/offers").into_string()
}

#[test]
fn markup_in_names_offers_and_parameters_renders_as_text() {
    let html = render(include_bytes!(
        "../../../tests/explorer/hostile-artifact.json"
    ));
    // The page's own markup has no <script> element but the external one, and no
    // attribute an artifact could have opened.
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script tag"
    );
    assert!(
        !html.contains("<img src=x"),
        "an artifact's tag became markup"
    );
    assert!(
        !html.contains("\"onerror="),
        "an artifact's quote closed an attribute"
    );
    assert!(html.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    assert!(
        html.contains("Hostile &lt;script&gt;"),
        "the activity name is shown, escaped"
    );
    assert!(
        html.contains("mbox parameter color is &lt;script&gt;"),
        "the parameter condition is shown, escaped"
    );
}

#[test]
fn the_real_artifact_renders_well_under_a_second() {
    let bytes = testkit::shared::file("real-artifact/rules.json");
    let started = Instant::now();
    let html = render(&bytes);
    let took = started.elapsed();
    eprintln!(
        "real artifact: view and page in {took:?}, {} bytes of HTML",
        html.len()
    );
    assert!(took.as_millis() < 250, "rendering took {took:?}");
    for expected in [
        "browser icon",
        "conference location",
        "hero text",
        "Buy button color",
        "34–67 %",
        "country is US",
    ] {
        assert!(html.contains(expected), "the page lacks {expected:?}");
    }
}
