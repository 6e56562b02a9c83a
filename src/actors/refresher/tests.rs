use super::*;
use crate::upstream::fake_upstream::{ArtifactReply, FakeUpstream, ab_simple, with_build};
use testkit::eventually_sync;

use testkit::shared::REAL_ARTIFACT_ORG as REAL_ORG;

struct Harness {
    store: Arc<ArtifactStore>,
    telemetry: Arc<TelemetryBuffer>,
    metrics: Arc<Metrics>,
    addr: Addr<ArtifactRefresher>,
}

impl Harness {
    fn start(config: Config) -> Self {
        let store = Arc::new(ArtifactStore::new());
        let telemetry = Arc::new(TelemetryBuffer::new(true, 100));
        let metrics = Arc::new(Metrics::new());
        let addr =
            ArtifactRefresher::new(config, store.clone(), telemetry.clone(), metrics.clone())
                .start();
        Self {
            store,
            telemetry,
            metrics,
            addr,
        }
    }

    async fn loaded(&self) -> Arc<LoadedArtifact> {
        assert!(
            eventually_sync(Duration::from_secs(5), || self.store.current().is_some()).await,
            "no artifact loaded; status: {:?}",
            self.store.status()
        );
        self.store.current().unwrap()
    }

    async fn refresh_now(&self) -> RefreshOutcome {
        self.addr.send(RefreshNow).await.unwrap()
    }

    fn build(&self) -> Option<u64> {
        self.store
            .current()
            .and_then(|loaded| loaded.compiled.artifact.meta.get("build")?.as_u64())
    }

    fn refreshes(&self, result: &str) -> u64 {
        self.metrics
            .artifact_refreshes
            .with_label_values(&[result])
            .get()
    }
}

fn config(location: &str, polling_interval_secs: u64) -> Config {
    let mut config = Config::default();
    config.artifact.location = location.to_string();
    config.artifact.polling_interval_secs = polling_interval_secs;
    config.artifact.timeout_ms = 2000;
    config.target.organization_id = REAL_ORG.into();
    config
}

fn served(body: Vec<u8>, etag: &str) -> ArtifactReply {
    ArtifactReply::Artifact {
        body,
        etag: etag.into(),
    }
}

#[actix_rt::test]
async fn a_file_artifact_is_loaded_counted_and_traced() {
    let artifact = ab_simple();
    let path = std::env::temp_dir().join(format!("offerd-refresher-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, &artifact).unwrap();
    let app = Harness::start(config(path.to_str().unwrap(), 0));

    let loaded = app.loaded().await;
    assert_eq!(loaded.compiled.artifact.version, "1.0.0");
    assert_eq!(loaded.source, path.display().to_string());
    assert_eq!(app.refreshes("success"), 1);
    assert_eq!(
        app.metrics
            .artifact_info
            .with_label_values(&["1.0.0"])
            .get(),
        1
    );
    assert!(app.metrics.artifact_loaded_at.get() > 0);
    assert_eq!(app.telemetry.take(10).len(), 1, "one entry per download");
    assert_eq!(loaded.compiled.trace["artifactRetrievalCount"], 1);
    assert_eq!(loaded.compiled.trace["pollingHalted"], true);

    // Same file: the fingerprint matches, nothing is re-read.
    assert_eq!(app.refresh_now().await, RefreshOutcome::Unchanged);
    assert_eq!(app.refreshes("not_modified"), 1);
    std::fs::remove_file(&path).unwrap();
}

#[actix_rt::test]
async fn http_polls_with_the_etag_and_a_304_is_unchanged() {
    let artifact = ab_simple();
    let upstream = FakeUpstream::start(served(artifact, "\"v1\"")).await;
    let app = Harness::start(config(&format!("{}/rules.json", upstream.base), 0));

    let loaded = app.loaded().await;
    assert_eq!(loaded.etag.as_deref(), Some("\"v1\""));
    assert_eq!(app.refresh_now().await, RefreshOutcome::Unchanged);
    assert_eq!(upstream.not_modified(), 1);
    let status = app.store.status();
    assert_eq!((status.successes, status.failures), (2, 0));
    assert_eq!(app.refreshes("not_modified"), 1);
    assert_eq!(app.telemetry.len(), 1, "a 304 is no download");
}

#[actix_rt::test]
async fn a_new_artifact_is_picked_up_on_the_next_poll() {
    let artifact = ab_simple();
    let upstream = FakeUpstream::start(served(with_build(&artifact, 1), "\"b1\"")).await;
    let app = Harness::start(config(&format!("{}/rules.json", upstream.base), 1));
    app.loaded().await;
    assert_eq!(app.build(), Some(1));

    upstream.set_artifact(served(with_build(&artifact, 2), "\"b2\""));
    assert!(eventually_sync(Duration::from_secs(5), || app.build() == Some(2)).await);
    let loaded = app.store.current().unwrap();
    assert_eq!(loaded.etag.as_deref(), Some("\"b2\""));
    assert_eq!(loaded.compiled.trace["artifactRetrievalCount"], 2);
    assert_eq!(loaded.compiled.trace["pollingInterval"], 1000);
}

#[actix_rt::test]
async fn garbage_and_errors_keep_the_last_good_artifact() {
    let artifact = ab_simple();
    let upstream = FakeUpstream::start(served(with_build(&artifact, 1), "\"b1\"")).await;
    let app = Harness::start(config(&format!("{}/rules.json", upstream.base), 0));
    app.loaded().await;

    upstream.set_artifact(ArtifactReply::Garbage);
    let RefreshOutcome::Failed(error) = app.refresh_now().await else {
        panic!("garbage must fail");
    };
    assert!(error.contains("invalid artifact"), "{error}");
    assert_eq!(app.build(), Some(1));
    assert_eq!(
        app.store.status().last_error.as_deref(),
        Some(error.as_str())
    );

    upstream.set_artifact(ArtifactReply::Status(500));
    let RefreshOutcome::Failed(error) = app.refresh_now().await else {
        panic!("a 500 must fail");
    };
    assert!(error.contains("500"), "{error}");
    assert_eq!(app.build(), Some(1));
    assert_eq!(app.store.status().failures, 2);
    assert_eq!(app.refreshes("failure"), 2);

    // Back to the artifact already loaded: a 304 clears the error.
    upstream.set_artifact(served(with_build(&artifact, 1), "\"b1\""));
    assert_eq!(app.refresh_now().await, RefreshOutcome::Unchanged);
    assert_eq!(app.store.status().last_error, None);
}

#[actix_rt::test]
async fn the_real_rules_bin_decodes_over_http() {
    let bin = testkit::shared::file("real-artifact/rules.bin");
    let upstream = FakeUpstream::start(served(bin, "\"bin\"")).await;
    let location = format!("{}/rules.bin", upstream.base);
    let app = Harness::start(config(&location, 0));

    let loaded = app.loaded().await;
    assert_eq!(loaded.compiled.artifact.version, "1.0.0");
    assert!(loaded.compiled.rule_counts().0 > 0);
    // meta.generatedAt = 2020-08-01T05:48:44.644Z
    assert_eq!(app.metrics.artifact_generated_at.get(), 1_596_260_924);

    // The wrong organization id cannot decode it.
    let mut wrong = config(&location, 0);
    wrong.target.organization_id = "000000000000000000000000@AdobeOrg".into();
    let app = Harness::start(wrong);
    let outcome = app.refresh_now().await;
    assert!(matches!(outcome, RefreshOutcome::Failed(_)), "{outcome:?}");
    assert!(app.store.current().is_none());
}

#[actix_rt::test]
async fn an_inline_payload_is_loaded_once() {
    let artifact = ab_simple();
    let mut config = config("ignored.json", 1);
    config.artifact.payload = Some(String::from_utf8(artifact).unwrap());
    let app = Harness::start(config);
    let loaded = app.loaded().await;
    assert_eq!(loaded.source, "inline");
    assert_eq!(loaded.compiled.trace["artifactLocation"], "N/A");
    assert_eq!(app.refresh_now().await, RefreshOutcome::Unchanged);
}

#[actix_rt::test]
async fn a_failed_first_load_is_retried_before_the_next_poll() {
    let artifact = ab_simple();
    let upstream = FakeUpstream::start(ArtifactReply::Status(503)).await;
    let app = Harness::start(config(&format!("{}/rules.json", upstream.base), 300));
    assert!(eventually_sync(Duration::from_secs(3), || app.store.status().failures >= 1).await);
    assert!(app.store.current().is_none());

    upstream.set_artifact(served(artifact, "\"v1\""));
    // The first retry comes after 1 s, the second 2 s later: well before 300 s.
    app.loaded().await;
    assert!(app.refreshes("failure") >= 1);
}

#[actix_rt::test]
async fn concurrent_refreshes_never_overlap_and_all_get_an_answer() {
    let artifact = ab_simple();
    let upstream = FakeUpstream::start(served(artifact, "\"v1\"")).await;
    let app = Harness::start(config(&format!("{}/rules.json", upstream.base), 0));
    let outcomes = futures_util::future::join_all((0..4).map(|_| app.addr.send(RefreshNow))).await;
    for outcome in outcomes {
        let outcome = outcome.unwrap();
        assert!(!matches!(outcome, RefreshOutcome::Failed(_)), "{outcome:?}");
    }
    // The start-up refresh plus, at most, one for each wave of callers.
    assert!(
        upstream.artifact_hits() <= 3,
        "{}",
        upstream.artifact_hits()
    );
    assert_eq!(app.store.status().failures, 0);
}
