use std::time::Duration;

use super::*;
use crate::upstream::fake_upstream::{ArtifactReply, FakeUpstream};

const TIMEOUT: Duration = Duration::from_secs(5);

fn config_at(location: &str) -> Config {
    let mut config = Config::default();
    config.artifact.location = location.to_string();
    config
}

#[test]
fn the_configuration_picks_the_source() {
    let mut config = config_at("https://cdn.example/acme/production/v1/rules.bin");
    let http = ArtifactSource::from_config(&config);
    assert_eq!(
        http,
        ArtifactSource::Http("https://cdn.example/acme/production/v1/rules.bin".into())
    );
    assert_eq!(http.format("auto"), ArtifactFormat::Binary);
    assert_eq!(http.format("json"), ArtifactFormat::Json);

    config.artifact.payload = Some("{\"version\":\"1.0.0\"}".into());
    let inline = ArtifactSource::from_config(&config);
    assert!(matches!(inline, ArtifactSource::Inline(_)));
    assert_eq!(inline.describe(), "inline");
    assert_eq!(inline.format("bin"), ArtifactFormat::Json);

    let file = ArtifactSource::from_config(&config_at("file:///srv/rules/rules.json"));
    assert_eq!(file, ArtifactSource::File("/srv/rules/rules.json".into()));
    assert_eq!(file.describe(), "/srv/rules/rules.json");
    let plain = ArtifactSource::from_config(&config_at("examples/demo-artifact.json"));
    assert_eq!(
        plain,
        ArtifactSource::File("examples/demo-artifact.json".into())
    );
    assert_eq!(plain.format("auto"), ArtifactFormat::Json);
    assert_eq!(plain.format("bin"), ArtifactFormat::Binary);

    // No location: the CDN URL built from the client.
    let mut cdn = config_at("");
    cdn.target.client = "acme".into();
    assert_eq!(
        ArtifactSource::from_config(&cdn).describe(),
        "https://assets.adobetarget.com/acme/production/v1/rules.json"
    );
}

#[actix_rt::test]
async fn a_file_is_read_again_only_when_it_changes() {
    let dir = std::env::temp_dir().join(format!("offerd-src-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.json");
    std::fs::write(&path, b"{\"version\":\"1.0.0\"}").unwrap();
    let fetcher = ArtifactFetcher::new(
        ArtifactSource::File(path.clone()),
        TIMEOUT,
        &Egress::default(),
    );

    let Fetched::New { bytes, etag } = fetcher.fetch(None).await.unwrap() else {
        panic!("first read must be new");
    };
    assert_eq!(bytes, b"{\"version\":\"1.0.0\"}");
    let etag = etag.unwrap();
    assert_eq!(
        fetcher.fetch(Some(&etag)).await.unwrap(),
        Fetched::Unchanged
    );

    // A different length changes the fingerprint even within one mtime tick.
    std::fs::write(&path, b"{\"version\":\"1.0.1\"}  ").unwrap();
    assert!(matches!(
        fetcher.fetch(Some(&etag)).await.unwrap(),
        Fetched::New { .. }
    ));

    let capped = ArtifactFetcher::new(ArtifactSource::File(path), TIMEOUT, &Egress::default())
        .with_max_bytes(4);
    let err = capped.fetch(None).await.unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");

    let missing = ArtifactFetcher::new(
        ArtifactSource::File(dir.join("nope.json")),
        TIMEOUT,
        &Egress::default(),
    );
    let err = missing.fetch(None).await.unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_rt::test]
async fn http_uses_the_etag_and_maps_failures() {
    let upstream = FakeUpstream::start(ArtifactReply::Artifact {
        body: b"{\"version\":\"1.0.0\"}".to_vec(),
        etag: "\"v1\"".into(),
    })
    .await;
    let url = format!("{}/rules.json", upstream.base);
    let fetcher = ArtifactFetcher::new(
        ArtifactSource::Http(url.clone()),
        TIMEOUT,
        &Egress::default(),
    );

    let fetched = fetcher.fetch(None).await.unwrap();
    assert_eq!(
        fetched,
        Fetched::New {
            bytes: b"{\"version\":\"1.0.0\"}".to_vec(),
            etag: Some("\"v1\"".into())
        }
    );
    assert_eq!(
        fetcher.fetch(Some("\"v1\"")).await.unwrap(),
        Fetched::Unchanged
    );
    assert_eq!(upstream.not_modified(), 1);
    assert!(matches!(
        fetcher.fetch(Some("\"v0\"")).await.unwrap(),
        Fetched::New { .. }
    ));

    let capped = ArtifactFetcher::new(
        ArtifactSource::Http(url.clone()),
        TIMEOUT,
        &Egress::default(),
    )
    .with_max_bytes(8);
    let err = capped.fetch(None).await.unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");

    upstream.set_artifact(ArtifactReply::Status(500));
    let err = fetcher.fetch(Some("\"v1\"")).await.unwrap_err();
    assert!(
        matches!(err, UpstreamError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[actix_rt::test]
async fn an_unreachable_cdn_is_a_connect_error() {
    // Bind then drop a listener: the port is (very likely) closed afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/rules.json");
    let fetcher = ArtifactFetcher::new(ArtifactSource::Http(url), TIMEOUT, &Egress::default());
    let err = fetcher.fetch(None).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Connect(_)), "{err:?}");
}

#[actix_rt::test]
async fn an_inline_payload_is_new_once() {
    let fetcher = ArtifactFetcher::new(
        ArtifactSource::Inline("{}".into()),
        TIMEOUT,
        &Egress::default(),
    );
    let Fetched::New { bytes, etag } = fetcher.fetch(None).await.unwrap() else {
        panic!("first read must be new");
    };
    assert_eq!(bytes, b"{}");
    assert_eq!(
        fetcher.fetch(etag.as_deref()).await.unwrap(),
        Fetched::Unchanged
    );
}
