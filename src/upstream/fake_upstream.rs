//! Test only: a fake artifact CDN and geo endpoint on `127.0.0.1:0`, whose answers a
//! test switches at will and whose hits it counts. Used by the artifact source, geo
//! and refresher tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header::{ETAG, IF_NONE_MATCH};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// What `/rules.json` and `/rules.bin` answer.
#[derive(Debug, Clone)]
pub(crate) enum ArtifactReply {
    /// 200 with this body and ETag; 304 when `If-None-Match` names the ETag.
    Artifact { body: Vec<u8>, etag: String },
    /// 200 with bytes that are no artifact.
    Garbage,
    /// This status with a short body.
    Status(u16),
}

/// What `/geo` answers.
#[derive(Debug, Clone)]
pub(crate) enum GeoReply {
    Json(Value),
    Status(u16),
    /// The JSON, after a delay (timeouts).
    Slow(Value, Duration),
}

struct Shared {
    artifact: Mutex<ArtifactReply>,
    geo: Mutex<GeoReply>,
    artifact_hits: AtomicUsize,
    not_modified: AtomicUsize,
    geo_hits: AtomicUsize,
    last_forwarded_for: Mutex<Option<String>>,
}

/// A running fake upstream.
pub(crate) struct FakeUpstream {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Arc<Shared>,
}

impl FakeUpstream {
    /// Starts the server on the current actix system.
    pub async fn start(artifact: ArtifactReply) -> Self {
        let shared = Arc::new(Shared {
            artifact: Mutex::new(artifact),
            geo: Mutex::new(GeoReply::Json(sample_geo())),
            artifact_hits: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            geo_hits: AtomicUsize::new(0),
            last_forwarded_for: Mutex::new(None),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/rules.json", web::get().to(artifact_route))
                .route("/rules.bin", web::get().to(artifact_route))
                .route("/geo", web::get().to(geo_route))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the fake upstream");
        let addr = server.addrs()[0];
        actix_rt::spawn(server.run());
        Self {
            base: format!("http://{addr}"),
            shared,
        }
    }

    pub fn set_artifact(&self, reply: ArtifactReply) {
        *self.shared.artifact.lock().unwrap() = reply;
    }

    pub fn set_geo(&self, reply: GeoReply) {
        *self.shared.geo.lock().unwrap() = reply;
    }

    /// Artifact requests received (304s included).
    pub fn artifact_hits(&self) -> usize {
        self.shared.artifact_hits.load(Ordering::SeqCst)
    }

    /// Artifact requests answered 304.
    pub fn not_modified(&self) -> usize {
        self.shared.not_modified.load(Ordering::SeqCst)
    }

    pub fn geo_hits(&self) -> usize {
        self.shared.geo_hits.load(Ordering::SeqCst)
    }

    pub fn last_forwarded_for(&self) -> Option<String> {
        self.shared.last_forwarded_for.lock().unwrap().clone()
    }
}

async fn artifact_route(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    shared.artifact_hits.fetch_add(1, Ordering::SeqCst);
    let reply = shared.artifact.lock().unwrap().clone();
    match reply {
        ArtifactReply::Artifact { body, etag } => {
            let sent = req
                .headers()
                .get(IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok());
            if sent == Some(etag.as_str()) {
                shared.not_modified.fetch_add(1, Ordering::SeqCst);
                return HttpResponse::NotModified()
                    .insert_header((ETAG, etag))
                    .finish();
            }
            HttpResponse::Ok().insert_header((ETAG, etag)).body(body)
        }
        ArtifactReply::Garbage => HttpResponse::Ok().body("<html>not an artifact</html>"),
        ArtifactReply::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .body("upstream trouble")
        }
    }
}

async fn geo_route(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    shared.geo_hits.fetch_add(1, Ordering::SeqCst);
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    *shared.last_forwarded_for.lock().unwrap() = forwarded;
    let reply = shared.geo.lock().unwrap().clone();
    match reply {
        GeoReply::Json(body) => HttpResponse::Ok().json(body),
        GeoReply::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .body("geo trouble")
        }
        GeoReply::Slow(body, delay) => {
            actix_rt::time::sleep(delay).await;
            HttpResponse::Ok().json(body)
        }
    }
}

/// The geo endpoint's answer for a San Francisco address.
pub(crate) fn sample_geo() -> Value {
    serde_json::json!({
        "x-geo-longitude": -122.4,
        "x-geo-latitude": 37.75,
        "x-geo-city": "SAN FRANCISCO",
        "x-geo-region-code": "CA",
        "x-geo-country-code": "US",
        "x-geo-zip": "94102"
    })
}

/// `TEST_ARTIFACT_AB_SIMPLE.json` of the conformance suite.
pub(crate) fn ab_simple() -> Vec<u8> {
    let path = testkit::shared::suite_dir().join("artifacts/TEST_ARTIFACT_AB_SIMPLE.json");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The same artifact with `meta.build` set, to tell two downloads apart.
pub(crate) fn with_build(artifact: &[u8], build: u64) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(artifact).unwrap();
    value["meta"]["build"] = build.into();
    serde_json::to_vec(&value).unwrap()
}
