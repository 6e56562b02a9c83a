//! How the cost of a decision grows: synthetic artifacts of 10, 100, 1,000 and 5,000
//! A/B activities, and requests executing 1, 10 and 50 of their mboxes. Each mbox holds
//! the same rules whatever the artifact's size (two activities of two experiences), so
//! a decision should cost the same on every artifact for a given number of mboxes: it
//! should follow the rules of the requested mboxes, not the size of the artifact.
//!
//! Per decision: prepare + decide + SDK response, as `benches/engine.rs`. Per artifact:
//! the heap bytes the compiled artifact holds, counted by a global allocator (around the
//! service's mimalloc) while it is parsed and compiled; one line each on stdout.
//!
//! `cargo bench --bench cost_growth`: criterion's figure per cell, then a table of all
//! cells timed in interleaved rounds (see [`interleaved`]). `COST_GROWTH_WRITE=DIR` also
//! writes each artifact (`DIR/artifact-N.json`) and request (`DIR/request-N-K.json`),
//! for `loadtest/cost-growth-rss.sh`, which runs the real offerd on them.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use offerd::client::GetOffersOptions;
use offerd::engine::{Artifact, ArtifactFormat, ArtifactProvenance, CompiledArtifact, RandomIds};
use offerd::sdk::on_device;
use offerd::sdk::prepare::ClientSettings;
use serde_json::{Value, json};

#[cfg(feature = "mimalloc")]
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(not(feature = "mimalloc"))]
static INNER: std::alloc::System = std::alloc::System;

/// Counts only while set, so the timed decisions pay one relaxed load per call, not an
/// atomic add.
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the service's allocator unchanged; only a counter is
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        let ptr = unsafe { INNER.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for alloc.
        let ptr = unsafe { INNER.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: ptr came from this allocator with this layout.
        unsafe { INNER.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: ptr came from this allocator with `layout`, as realloc requires.
        let new = unsafe { INNER.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const NOW_MS: i64 = 1_585_098_300_000;
const CLIENT: &str = "growthclient";
const ORG: &str = "growthOrg@AdobeOrg";
const ACTIVITY_COUNTS: [usize; 4] = [10, 100, 1_000, 5_000];
const MBOX_COUNTS: [usize; 3] = [1, 10, 50];
/// On-device activities per mbox: the same at every artifact size.
const ACTIVITIES_PER_MBOX: usize = 2;
/// One server-side activity (its mbox in `remoteMboxes`, no rules) per this many.
const REMOTE_EVERY: usize = 10;

fn mbox_count(activities: usize) -> usize {
    (activities / ACTIVITIES_PER_MBOX).max(1)
}

/// An audience as Target compiles it: on the mbox's parameters, the user agent or the
/// page URL. `matches` picks one the benchmark's request satisfies or one it does not,
/// so each mbox evaluates a failing activity before the one it gets.
fn audience(variant: usize, matches: bool) -> Value {
    let (browser, category, path, tier) = if matches {
        ("firefox", "shoes", "/products", "silver")
    } else {
        ("safari", "bags", "/checkout", "gold")
    };
    match variant % 4 {
        0 => json!({"==": [{"var": "user.browserType"}, browser]}),
        1 => json!({"==": [category, {"var": "mbox.category_lc"}]}),
        2 => json!({"and": [
            {"==": ["example.com", {"var": "page.domain"}]},
            {"in": [path, {"var": "page.path"}]}
        ]}),
        _ => json!({"or": [
            {"==": [tier, {"var": "mbox.tier"}]},
            {"and": [{"==": [{"var": "user.browserType"}, browser]},
                     {"in": [path, {"var": "page.url_lc"}]}]}
        ]}),
    }
}

/// One experience's rule: its half of the allocation, then the activity's audience.
fn rule(activity: usize, experience: usize, mbox: &str, audience: &Value) -> Value {
    let id = 200_000 + activity;
    let (low, high) = (experience * 50, experience * 50 + 50);
    let low_bound = if experience == 0 {
        json!({"<=": [low, {"var": "allocation"}]})
    } else {
        json!({"<": [low, {"var": "allocation"}]})
    };
    json!({
        "ruleKey": format!("{id}-{experience}"),
        "activityId": id,
        "meta": {
            "activity.id": id,
            "activity.name": format!("[growth] activity {activity}"),
            "activity.type": "ab",
            "experience.id": experience,
            "experience.name": format!("Experience {}", ["A", "B"][experience]),
            "location.name": mbox,
            "location.type": "mbox",
            "location.id": 0,
            "audience.ids": [5_000_000 + activity],
            "offer.id": 300_000 + 2 * activity + experience,
            "offer.name": format!("/growth/activity-{activity}/experiences/{experience}/offer"),
            "option.id": experience + 2,
            "option.name": format!("Offer{}", experience + 2)
        },
        "condition": {"and": [
            {"and": [low_bound, {">=": [high, {"var": "allocation"}]}]},
            audience
        ]},
        "consequence": {
            "name": mbox,
            "options": [{
                "type": "html",
                "eventToken": format!("growth-token-{activity}-{experience}"),
                "content": format!("<div class=\"offer-{activity}-{experience}\">Activity {activity}, experience {experience}</div>")
            }],
            "metrics": []
        }
    })
}

/// A valid artifact of `activities` on-device A/B activities, two per mbox, plus one
/// server-side activity per ten (listed in `remoteMboxes`, as Target lists them).
fn synthetic_artifact(activities: usize) -> Value {
    let mboxes = mbox_count(activities);
    let mut rules = serde_json::Map::new();
    for activity in 0..activities {
        let slot = activity / mboxes; // 0: the failing activity, 1: the one that matches
        let mbox = format!("mbox-{:04}", activity % mboxes);
        let audience = audience(activity, slot > 0);
        let list = rules.entry(mbox.clone()).or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            for experience in 0..2 {
                list.push(rule(activity, experience, &mbox, &audience));
            }
        }
    }
    let mut local: Vec<String> = rules.keys().cloned().collect();
    local.push("target-global-mbox".into());
    let remote: Vec<String> = (0..activities / REMOTE_EVERY)
        .map(|i| format!("remote-mbox-{i:04}"))
        .collect();
    json!({
        "version": "1.0.0",
        "meta": {"clientCode": CLIENT, "environment": "production",
                 "generatedAt": "2026-12-01T00:00:00.000Z"},
        "globalMbox": "target-global-mbox",
        "geoTargetingEnabled": false,
        "responseTokens": ["activity.id", "activity.name", "experience.id", "experience.name",
                           "offer.id", "offer.name", "option.id", "option.name"],
        "remoteMboxes": remote,
        "remoteViews": [],
        "localMboxes": local,
        "localViews": [],
        "rules": {"mboxes": rules, "views": {}}
    })
}

/// A request executing `mboxes` of the artifact's mboxes, spread over its names (they
/// repeat on an artifact with fewer mboxes: each still costs its own rules).
fn synthetic_request(activities: usize, mboxes: usize) -> Value {
    let names = mbox_count(activities);
    let list: Vec<Value> = (0..mboxes)
        .map(|i| {
            json!({
                "name": format!("mbox-{:04}", (i * 7_919) % names),
                "index": i + 1,
                "parameters": {"category": "Shoes", "tier": "silver"}
            })
        })
        .collect();
    json!({
        "request": {
            "id": {"tntId": "338e3c1e51f7416a8e1ccba4f81acea0.28_0"},
            "context": {
                "channel": "web",
                "address": {"url": "https://shop.example.com/products/shoes?color=red"},
                "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:73.0) Gecko/20100101 Firefox/73.0"
            },
            "execute": {"mboxes": list}
        },
        "sessionId": "growth-session"
    })
}

/// The get_offers path as the service runs it (`sdk::on_device::get_offers`: prepare,
/// decide, SDK response). Returns the notifications owed and the response tokens answered.
fn get_offers(artifact: &CompiledArtifact, options: &GetOffersOptions) -> (usize, usize) {
    let settings = ClientSettings {
        client: CLIENT,
        property_token: None,
        location_hint: None,
    };
    let answer = on_device::get_offers(artifact, options.clone(), settings, NOW_MS, &RandomIds);
    (
        answer.notifications.len(),
        answer.response.response_tokens.map_or(0, |t| t.len()),
    )
}

/// Parses and compiles `bytes`, returning the artifact and the heap bytes held by the
/// parsed artifact and then by the compiled one.
fn compile_counted(bytes: &[u8]) -> (CompiledArtifact, isize, isize) {
    LIVE.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let artifact = Artifact::load(bytes, ArtifactFormat::Json, ORG).expect("synthetic loads");
    let parsed = LIVE.load(Ordering::SeqCst);
    let compiled = CompiledArtifact::compile(artifact, ArtifactProvenance::default())
        .expect("synthetic compiles");
    COUNTING.store(false, Ordering::SeqCst);
    (compiled, parsed, LIVE.load(Ordering::SeqCst))
}

fn cost_growth(c: &mut Criterion) {
    let write_to = std::env::var_os("COST_GROWTH_WRITE").map(std::path::PathBuf::from);
    // Lazy statics (regexes, tables) are built by the first compile and decision; do
    // them before counting so they are not charged to the first artifact.
    let (warm, _, _) = compile_counted(synthetic_artifact(10).to_string().as_bytes());
    let options: GetOffersOptions =
        serde_json::from_value(synthetic_request(10, 1)).expect("request parses");
    get_offers(&warm, &options);

    let test_mode = std::env::args().any(|a| a == "--test");
    let (mut artifacts, mut cells) = (Vec::new(), Vec::new());
    let mut group = c.benchmark_group("cost_growth");
    for activities in ACTIVITY_COUNTS {
        let json = synthetic_artifact(activities).to_string();
        let (artifact, parsed, held) = compile_counted(json.as_bytes());
        let (mbox_rules, _) = artifact.rule_counts();
        println!(
            "cost_growth: memory: {activities} activities: {mbox_rules} rules on {} mboxes, \
             artifact {} B, parsed artifact holds {parsed} B, compiled artifact holds \
             {held} B on the heap",
            mbox_count(activities),
            json.len(),
        );
        if let Some(dir) = &write_to {
            std::fs::create_dir_all(dir).expect("COST_GROWTH_WRITE is writable");
            std::fs::write(dir.join(format!("artifact-{activities}.json")), &json)
                .expect("artifact written");
        }
        for mboxes in MBOX_COUNTS {
            let body = synthetic_request(activities, mboxes);
            let options: GetOffersOptions =
                serde_json::from_value(body.clone()).expect("request parses");
            // Every requested mbox is decided on-device and gets an offer; a repeated
            // mbox owes no second notification.
            let (owed, tokens) = get_offers(&artifact, &options);
            let distinct = mboxes.min(mbox_count(activities));
            assert_eq!(
                (owed, tokens),
                (distinct, mboxes),
                "{activities} activities, {mboxes} mboxes"
            );
            if let Some(dir) = &write_to {
                let path = dir.join(format!("request-{activities}-{mboxes}.json"));
                std::fs::write(path, body.to_string()).expect("request written");
            }
            let id = BenchmarkId::new(format!("{activities} activities"), mboxes);
            group.bench_with_input(id, &options, |b, options| {
                b.iter(|| get_offers(black_box(&artifact), black_box(options)))
            });
            cells.push((activities, mboxes, options));
        }
        artifacts.push(artifact);
    }
    group.finish();
    interleaved(&artifacts, &cells, if test_mode { 1 } else { ROUNDS });
}

/// Rounds of the interleaved table: each round times every cell once.
const ROUNDS: usize = 9;
/// Time per cell per round.
const SLICE: std::time::Duration = std::time::Duration::from_millis(120);

/// Criterion times one cell after another, so a disturbance on a shared machine lands
/// on whichever cell runs then. This times every cell for a short slice, round after
/// round, and prints the median µs per decision of each: the cells see the same
/// conditions, so their ratios hold.
fn interleaved(
    artifacts: &[CompiledArtifact],
    cells: &[(usize, usize, GetOffersOptions)],
    rounds: usize,
) {
    let mut samples = vec![Vec::new(); cells.len()];
    for _ in 0..rounds {
        for (cell, (activities, _, options)) in cells.iter().enumerate() {
            let at = ACTIVITY_COUNTS.iter().position(|n| n == activities);
            let artifact = &artifacts[at.expect("a benchmarked size")];
            let started = std::time::Instant::now();
            let mut n = 0u32;
            while started.elapsed() < SLICE || n == 0 {
                black_box(get_offers(black_box(artifact), black_box(options)));
                n += 1;
            }
            samples[cell].push(started.elapsed().as_secs_f64() * 1e6 / f64::from(n));
        }
    }
    let median = |cell: usize| {
        let mut v = samples[cell].clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\ncost_growth: µs per decision, median of {rounds} interleaved rounds");
    println!("| activities | 1 mbox | 10 mboxes | 50 mboxes |");
    println!("|---:|---:|---:|---:|");
    for (row, activities) in ACTIVITY_COUNTS.iter().enumerate() {
        let per: Vec<String> = (0..MBOX_COUNTS.len())
            .map(|col| format!("{:.1}", median(row * MBOX_COUNTS.len() + col)))
            .collect();
        println!("| {activities} | {} |", per.join(" | "));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = cost_growth
}
criterion_main!(benches);
