//! Heap allocations per request on the get_offers path as the HTTP handler runs it: parse
//! the body, prepare, decide, build the SDK response (`sdk::on_device::get_offers`),
//! serialize it. Counted by a global
//! allocator that tallies calls and bytes; the figures do not depend on the allocator
//! offerd runs with.
//!
//! Run with `cargo bench --bench request_allocations`; needs `../shared` beside the
//! project (the peers' requests and the real artifact). It prints a line per request.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use offerd::client::GetOffersOptions;
use offerd::engine::{Artifact, ArtifactFormat, ArtifactProvenance, CompiledArtifact, RandomIds};
use offerd::sdk::on_device;
use offerd::sdk::prepare::ClientSettings;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: ptr came from this allocator with `layout`, as realloc requires.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const NOW_MS: i64 = 1_585_098_300_000;
const ROUNDS: usize = 10_000;

/// One request, as `POST /v1/offers` handles it; returns the answer's length.
fn one_request(artifact: &CompiledArtifact, client: &str, body: &[u8]) -> usize {
    let options: GetOffersOptions = serde_json::from_slice(body).expect("body parses");
    let settings = ClientSettings {
        client,
        property_token: None,
        location_hint: None,
    };
    let answer = on_device::get_offers(artifact, options, settings, NOW_MS, &RandomIds);
    serde_json::to_vec(&answer.response)
        .expect("serializes")
        .len()
}

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let read = |p: &str| std::fs::read(shared.join(p)).ok();
    let load = |bytes: &[u8], format, org: &str| {
        let artifact = Artifact::load(bytes, format, org).expect("artifact loads");
        CompiledArtifact::compile(artifact, ArtifactProvenance::default()).expect("compiles")
    };
    // Request d of loadtest/side-by-side.sh, so both measure the same call.
    let real_body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/requests/d-real-artifact.json"),
    )
    .expect("loadtest/requests/d-real-artifact.json is in the repo");
    let cases = [
        (
            "a-ab-execute",
            "TEST_ARTIFACT_AB_SIMPLE",
            "a-ab-execute.json",
        ),
        (
            "b-multi-execute-prefetch",
            "TEST_ARTIFACT_AB_MULTI_SIMPLE",
            "b-multi-execute-prefetch.json",
        ),
        (
            "c-views-prefetch",
            "TEST_ARTIFACT_VIEWS",
            "c-views-prefetch.json",
        ),
    ];
    let mut runs = Vec::new();
    for (name, artifact, body) in cases {
        let artifact = read(&format!("peers/requests/artifacts/{artifact}.json"));
        let body = read(&format!("peers/requests/{body}"));
        if let (Some(artifact), Some(body)) = (artifact, body) {
            let artifact = load(&artifact, ArtifactFormat::Json, "someOrgId");
            runs.push((name, artifact, "someClientId", body));
        }
    }
    if let Some(bin) = read("real-artifact/rules.bin") {
        let artifact = load(
            &bin,
            ArtifactFormat::Binary,
            "74F652E95F1B16FE0A495C92@AdobeOrg",
        );
        runs.push(("d-real-artifact", artifact, "targettesting", real_body));
    }
    if runs.is_empty() {
        eprintln!("../shared/peers not found: nothing to count");
        return;
    }
    for (name, artifact, client, body) in &runs {
        one_request(artifact, client, body); // warm: lazy statics, first-use tables
        let (calls, bytes) = (
            ALLOCATIONS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        let mut answered = 0;
        for _ in 0..ROUNDS {
            answered += one_request(artifact, client, body);
        }
        let calls = (ALLOCATIONS.load(Ordering::Relaxed) - calls) as f64 / ROUNDS as f64;
        let bytes = (BYTES.load(Ordering::Relaxed) - bytes) as f64 / ROUNDS as f64;
        println!(
            "request_allocations: {name}: {calls:.0} allocations, {bytes:.0} bytes allocated \
             per request (body {} B, answer {} B)",
            body.len(),
            answered / ROUNDS
        );
    }
}
