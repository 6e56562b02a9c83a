use super::*;
use crate::upstream::fake_upstream::{ArtifactReply, FakeUpstream, GeoReply, sample_geo};

async fn setup(capacity: usize) -> (FakeUpstream, GeoClient, Arc<Metrics>) {
    let upstream = FakeUpstream::start(ArtifactReply::Status(404)).await;
    let config = GeoConfig {
        url: format!("{}/geo", upstream.base),
        cache_ttl_secs: 3600,
        cache_capacity: capacity,
        timeout_ms: 500,
    };
    let metrics = Arc::new(Metrics::new());
    let client = GeoClient::new(&config, &Egress::default(), metrics.clone()).unwrap();
    (upstream, client, metrics)
}

fn counted(metrics: &Metrics, result: &str) -> u64 {
    metrics.geo_lookups.with_label_values(&[result]).get()
}

#[actix_rt::test]
async fn a_cached_answer_saves_the_second_call() {
    let (upstream, client, metrics) = setup(100).await;
    let geo = client.lookup(Some("203.0.113.7")).await.unwrap();
    assert_eq!(geo.city.as_deref(), Some("SAN FRANCISCO"));
    assert_eq!(geo.latitude, Some(37.75));
    assert_eq!(geo.longitude, Some(-122.4));
    assert_eq!(geo.state_code.as_deref(), Some("CA"));
    assert_eq!(
        upstream.last_forwarded_for().as_deref(),
        Some("203.0.113.7")
    );

    let again = client.lookup(Some(" 203.0.113.7 ")).await.unwrap();
    assert_eq!(again, geo);
    assert_eq!(upstream.geo_hits(), 1);
    assert_eq!(counted(&metrics, "miss"), 1);
    assert_eq!(counted(&metrics, "hit"), 1);

    // No address: the caller's own, sent without the header, cached apart.
    client.lookup(None).await.unwrap();
    assert_eq!(upstream.last_forwarded_for(), None);
    assert_eq!(upstream.geo_hits(), 2);
}

#[actix_rt::test]
async fn failures_are_returned_counted_and_not_cached() {
    let (upstream, client, metrics) = setup(100).await;
    upstream.set_geo(GeoReply::Status(500));
    let err = client.lookup(Some("198.51.100.1")).await.unwrap_err();
    assert!(
        matches!(err, UpstreamError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(counted(&metrics, "failure"), 1);
    assert_eq!(client.cached(), 0);

    upstream.set_geo(GeoReply::Json(serde_json::json!("not an object")));
    // A JSON answer without geo fields is an empty location, not an error.
    assert!(client.lookup(Some("198.51.100.1")).await.is_ok());

    upstream.set_geo(GeoReply::Slow(sample_geo(), Duration::from_secs(2)));
    let err = client.lookup(Some("198.51.100.2")).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Timeout(500)), "{err:?}");

    let hits = upstream.geo_hits();
    assert!(client.lookup(Some("not-an-ip")).await.is_err());
    assert_eq!(
        upstream.geo_hits(),
        hits,
        "a bad address never goes upstream"
    );
    assert_eq!(counted(&metrics, "failure"), 3);
}

#[actix_rt::test]
async fn an_expired_answer_is_fetched_again() {
    let (upstream, client, metrics) = setup(100).await;
    let client = client.with_cache_ttl(Duration::from_millis(100));
    client.lookup(Some("192.0.2.1")).await.unwrap();
    client.lookup(Some("192.0.2.1")).await.unwrap();
    assert_eq!(upstream.geo_hits(), 1);

    actix_rt::time::sleep(Duration::from_millis(150)).await;
    client.lookup(Some("192.0.2.1")).await.unwrap();
    assert_eq!(upstream.geo_hits(), 2);
    assert_eq!(counted(&metrics, "miss"), 2);
    assert_eq!(counted(&metrics, "hit"), 1);
}

#[actix_rt::test]
async fn the_cache_stays_within_its_capacity() {
    let (upstream, client, _metrics) = setup(2).await;
    for ip in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
        client.lookup(Some(ip)).await.unwrap();
        assert!(client.cached() <= 2);
    }
    assert_eq!(upstream.geo_hits(), 4);
    // The newest address was kept.
    client.lookup(Some("192.0.2.4")).await.unwrap();
    assert_eq!(upstream.geo_hits(), 4);

    let (upstream, client, _metrics) = setup(0).await;
    client.lookup(Some("192.0.2.1")).await.unwrap();
    client.lookup(Some("192.0.2.1")).await.unwrap();
    assert_eq!(upstream.geo_hits(), 2, "capacity 0 turns caching off");
}
