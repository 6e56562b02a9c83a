//! End to end: the fake Delivery API in-process, offerd as a child process pointed at
//! it ([`crate::offerd`]), load on `POST /v1/offers`, SIGTERM, then the books must
//! balance: every 2xx execute owes the display notifications its probe answer showed,
//! and after offerd drained the fake must have received each of them exactly once.
//!
//! The fake's fault knobs (`fail_every`, `delay`, an outage) make it a retry test: what
//! failed must be retried and still arrive once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::fake::{FakeOptions, FakeUpstream, Stats};
use crate::load::{self, LoadOptions};
use crate::offerd::{self, Offerd, Settings};

/// What `loadtest e2e` was asked.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub offerd: Settings,
    /// The request body; each 2xx answer must owe at least one notification.
    pub body: Vec<u8>,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub fake: FakeOptions,
    /// How long offerd may take to become ready, and to exit after SIGTERM.
    pub wait: Duration,
}

/// What offerd did while it ran.
struct Outcome {
    /// Notifications owed: 2xx executes times the notifications each one owes.
    owed: u64,
    exit: ExitStatus,
    peak_rss_kib: Option<u64>,
    log: PathBuf,
}

/// Runs the test; Ok(true) when no notification was lost or duplicated.
pub async fn run(options: E2eOptions) -> anyhow::Result<bool> {
    let fake = FakeUpstream::start(SocketAddr::from(([127, 0, 0, 1], 0)), options.fake, false)?;
    println!("fake upstream on {}", fake.addr);
    if let Some(outage) = options.fake.outage {
        println!("fake upstream: {outage}");
    }
    let outcome = with_offerd(&options, fake.addr.port()).await;
    let stats = fake.stats();
    fake.stop().await?;
    // Cutting connections may cut the answers to requests the fake already counted
    // (every stream of an HTTP/2 connection at once): their resends are duplicates no
    // client can avoid, so they are reported but allowed. A 503 has no such excuse.
    let resets = options
        .fake
        .outage
        .is_some_and(|o| matches!(o.mode, crate::fake::OutageMode::Reset));
    Ok(judge(&outcome?, &stats, resets))
}

/// Starts offerd, drives it, stops it; SIGTERM is sent whatever happened before.
async fn with_offerd(options: &E2eOptions, upstream_port: u16) -> anyhow::Result<Outcome> {
    let mut offerd = Offerd::spawn(&options.offerd, upstream_port, offerd::log_path("offerd"))?;
    let driven = drive(options, &mut offerd).await;
    let mut peak_rss_kib = offerd.peak_rss_kib();
    let exit = offerd.terminate(options.wait, &mut peak_rss_kib).await;
    match (driven, exit) {
        (Ok(owed), Ok(exit)) => Ok(Outcome {
            owed,
            exit,
            peak_rss_kib,
            log: offerd.log().to_owned(),
        }),
        (Err(err), _) | (_, Err(err)) => {
            offerd.print_log_tail();
            Err(err)
        }
    }
}

/// Waits for readiness, probes once, loads; returns the notifications owed.
async fn drive(options: &E2eOptions, offerd: &mut Offerd) -> anyhow::Result<u64> {
    let per_request = offerd.ready_and_probe(&options.body, options.wait).await?;
    println!(
        "each execute owes {per_request} notification(s); loading for {:?}",
        options.duration
    );
    let report = load::run(LoadOptions::timed(
        offerd.offers_url()?,
        options.body.clone(),
        options.connections,
        options.warmup,
        options.duration,
    ))
    .await?;
    report.print();
    // The probe was a 2xx execute too.
    Ok((report.total.ok + 1) * per_request)
}

/// Prints the verdict; true when every owed notification arrived exactly once.
fn judge(outcome: &Outcome, stats: &Stats, duplicates_allowed: bool) -> bool {
    let received = stats.notifications;
    let lost = outcome.owed.saturating_sub(stats.distinct_notification_ids);
    let duplicated = stats.duplicate_notification_ids;
    if let Some(line) = offerd::last_line_with(&outcome.log, "stopped") {
        println!("offerd: {line}");
    }
    stats.print();
    offerd::print_peak_rss("offerd", outcome.peak_rss_kib);
    println!(
        "notifications: sent={} received={received} lost={lost} duplicated={duplicated}",
        outcome.owed
    );
    let ok = stats.distinct_notification_ids == outcome.owed
        && (duplicated == 0 || duplicates_allowed)
        && received == outcome.owed + duplicated
        && outcome.exit.success();
    if duplicated > 0 && duplicates_allowed {
        println!("duplicates allowed: connections were cut after the fake counted their requests");
    }
    if !outcome.exit.success() {
        println!("offerd exit status: {}", outcome.exit);
    }
    println!("{}", if ok { "e2e: PASS" } else { "e2e: FAIL" });
    ok
}
