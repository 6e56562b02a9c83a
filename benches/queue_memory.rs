//! Bytes of memory per queued notification in the Batcher's queue, counted by a
//! global allocator that tallies live bytes. The notifications are the ones the engine
//! owes for `examples/requests/execute-one-mbox.json` on the demo artifact, each for
//! its own visitor and session (the worst case: nothing merges).
//!
//! Run with `cargo bench --bench queue_memory`; it prints the figure and fails if it
//! is over 1 KiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use offerd::client::GetOffersOptions;
use offerd::engine::{Artifact, ArtifactFormat, ArtifactProvenance, CompiledArtifact, RandomIds};
use offerd::notify::batcher::queue::Queue;
use offerd::notify::owed::Owed;
use offerd::sdk::on_device;
use offerd::sdk::prepare::ClientSettings;

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter
// is updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 100_000;
const NOW_MS: i64 = 1_585_098_300_000;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read(root.join("examples/demo-artifact.json")).expect("demo artifact");
    let artifact = Artifact::load(&demo, ArtifactFormat::Json, "").expect("demo loads");
    let artifact =
        CompiledArtifact::compile(artifact, ArtifactProvenance::default()).expect("demo compiles");
    let body =
        std::fs::read(root.join("examples/requests/execute-one-mbox.json")).expect("request body");
    let options: GetOffersOptions = serde_json::from_slice(&body).expect("options");
    // Everything alive from here on is the owed notifications, then the queue.
    let baseline = LIVE.load(Ordering::Relaxed);
    let owed: Vec<Owed> = (0..N)
        .map(|_| owed_by_one_call(&artifact, &options))
        .collect();
    let record_bytes: usize = owed.iter().map(|o| o.to_record().len()).sum();
    let mut queue = Queue::new(50);
    let now = Instant::now();
    for (seq, o) in owed.into_iter().enumerate() {
        queue.push(o, seq as u64 + 1, now);
    }
    let held = LIVE.load(Ordering::Relaxed) - baseline;
    let per = held as f64 / N as f64;
    println!(
        "queue_memory: {N} notifications queued, each its own visitor+session: \
         {per:.0} bytes of heap per queued notification (its spool record: {:.0} bytes)",
        record_bytes as f64 / N as f64
    );
    assert_eq!(queue.len(), N);
    assert!(
        per <= 1024.0,
        "a queued notification costs {per:.0} bytes, over 1 KiB"
    );
}

/// What one call owes: the notifications of `sdk::on_device::get_offers`, compacted.
fn owed_by_one_call(artifact: &CompiledArtifact, options: &GetOffersOptions) -> Owed {
    let settings = ClientSettings {
        client: "demo",
        property_token: None,
        location_hint: None,
    };
    let answer = on_device::get_offers(artifact, options.clone(), settings, NOW_MS, &RandomIds);
    assert_eq!(answer.notifications.len(), 1, "the demo execute owes one");
    let prepared = &answer.prepared;
    Owed::new(
        &prepared.request,
        &answer.notifications,
        &prepared.session_id,
        prepared.cluster.as_deref(),
        NOW_MS,
    )
    .expect("serializable")
}
