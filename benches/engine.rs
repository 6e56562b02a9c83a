//! Engine throughput: the pure get_offers path (prepare the request, decide, build the
//! SDK response: `sdk::on_device::get_offers`, the step the service's DecisionActors
//! run) on the peers' request bodies and on the real customer artifact.
//!
//! Run with `cargo bench --bench engine`; needs `../shared` beside the project.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use offerd::client::GetOffersOptions;
use offerd::engine::{Artifact, ArtifactFormat, ArtifactProvenance, CompiledArtifact, RandomIds};
use offerd::sdk::on_device;
use offerd::sdk::prepare::ClientSettings;

/// The service's allocator, so the figures are the service's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW_MS: i64 = 1_585_098_300_000;
const REAL_ORG: &str = "74F652E95F1B16FE0A495C92@AdobeOrg";

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn artifact(bytes: &[u8], format: ArtifactFormat, org: &str) -> CompiledArtifact {
    let artifact = Artifact::load(bytes, format, org).expect("bench artifact loads");
    CompiledArtifact::compile(artifact, ArtifactProvenance::default())
        .expect("bench artifact compiles")
}

fn get_offers(artifact: &CompiledArtifact, client: &str, options: &GetOffersOptions) -> usize {
    let settings = ClientSettings {
        client,
        property_token: None,
        location_hint: None,
    };
    let answer = on_device::get_offers(artifact, options.clone(), settings, NOW_MS, &RandomIds);
    answer.notifications.len() + answer.response.response_tokens.map_or(0, |t| t.len())
}

fn bench_request(
    c: &mut Criterion,
    name: &str,
    artifact: &CompiledArtifact,
    client: &str,
    body: &str,
) {
    let options: GetOffersOptions = serde_json::from_str(body).expect("bench body parses");
    c.bench_function(name, |b| {
        b.iter(|| get_offers(black_box(artifact), client, black_box(&options)))
    });
}

fn engine(c: &mut Criterion) {
    let root = shared();
    let read = |p: &str| std::fs::read(root.join(p)).ok();
    let (Some(ab), Some(multi), Some(a), Some(b)) = (
        read("peers/requests/artifacts/TEST_ARTIFACT_AB_SIMPLE.json"),
        read("peers/requests/artifacts/TEST_ARTIFACT_AB_MULTI_SIMPLE.json"),
        read("peers/requests/a-ab-execute.json"),
        read("peers/requests/b-multi-execute-prefetch.json"),
    ) else {
        eprintln!("../shared/peers not found: nothing to benchmark");
        return;
    };
    let as_str = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let ab = artifact(&ab, ArtifactFormat::Json, "someOrgId");
    bench_request(
        c,
        "decide/a-ab-execute (1 mbox)",
        &ab,
        "someClientId",
        &as_str(&a),
    );
    let multi = artifact(&multi, ArtifactFormat::Json, "someOrgId");
    bench_request(
        c,
        "decide/b-multi-execute-prefetch (2+2 mboxes)",
        &multi,
        "someClientId",
        &as_str(&b),
    );
    if let Some(bin) = read("real-artifact/rules.bin") {
        let real = artifact(&bin, ArtifactFormat::Binary, REAL_ORG);
        let body = serde_json::json!({
            "request": {
                "id": {"tntId": "338e3c1e51f7416a8e1ccba4f81acea0.28_0"},
                "context": {
                    "channel": "web",
                    "address": {"url": "https://target-perf-site.netlify.app/"},
                    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.5 Safari/605.1.15"
                },
                "execute": {"pageLoad": {}}
            }
        });
        bench_request(
            c,
            "decide/real-artifact page load",
            &real,
            "targettesting",
            &body.to_string(),
        );
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
