//! `loadtest crash`: nothing an answer promised is lost when offerd is killed.
//!
//! The fake Delivery API (slowed by `delay`, so that notifications are still queued)
//! runs in-process; offerd runs as a child with its spool directory, is probed and
//! loaded, and is SIGKILLed while the load is still in flight. Every 2xx answer it gave
//! owes its notifications. offerd is then started again on the same spool directory
//! (on a new port), which must replay what the dead one had not delivered: the run waits
//! until the fake holds at least as many distinct notification ids as were owed, then
//! SIGTERMs offerd. Duplicates are allowed (delivery is at least once) and printed.
//!
//! Requests in flight at the kill got no answer and owe nothing, yet offerd may have
//! spooled and will replay their notifications: up to `connections` × per-request extra
//! ids, which could hide as many losses. `lost` = owed − distinct is so a lower bound.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::{Instant, sleep, sleep_until};

use crate::fake::{FakeOptions, FakeUpstream, Stats};
use crate::load::{self, LoadOptions};
use crate::offerd::{self, Offerd, Settings};

/// Where offerd keeps its spool.
#[derive(Debug, Clone)]
pub enum Spool {
    /// A fresh directory in the temp dir, removed at the end.
    Fresh,
    /// This directory, kept.
    Dir(PathBuf),
    /// No spool at all (`OFFERD_SPOOL__DIR` unset): shows what a kill loses without one.
    Off,
}

/// What `loadtest crash` was asked.
#[derive(Debug, Clone)]
pub struct CrashOptions {
    pub offerd: Settings,
    pub spool: Spool,
    pub body: Vec<u8>,
    pub connections: usize,
    /// Load time before the SIGKILL.
    pub duration: Duration,
    /// The fake's delay before each answer.
    pub delay: Duration,
    /// Longest wait for readiness, for the replay (from the restart) and for the exit.
    pub wait: Duration,
}

/// What the two offerd runs did.
struct Figures {
    owed: u64,
    killed_peak_kib: Option<u64>,
    restart: Restart,
}

/// What the second run did.
struct Restart {
    /// From the restart to the last owed notification's arrival; None: not within `wait`.
    all_arrived_after: Option<Duration>,
    peak_kib: Option<u64>,
    /// The exit after SIGTERM, or why there was none.
    exit: Result<std::process::ExitStatus, String>,
}

/// Runs the test; Ok(true) when no owed notification was lost.
pub async fn run(options: CrashOptions) -> anyhow::Result<bool> {
    let spool = SpoolDir::prepare(&options.spool)?;
    let mut settings = options.offerd.clone();
    settings.spool_dir = spool.path().map(Path::to_owned);
    match &settings.spool_dir {
        Some(dir) => println!("spool: {}", dir.display()),
        None => println!("spool: none (OFFERD_SPOOL__DIR unset)"),
    }
    let fake_options = FakeOptions {
        delay: options.delay,
        ..FakeOptions::default()
    };
    let fake = FakeUpstream::start(SocketAddr::from(([127, 0, 0, 1], 0)), fake_options, false)?;
    println!("fake upstream on {} (delay {:?})", fake.addr, options.delay);
    let figures = kill_and_restart(&options, &settings, &fake).await;
    let stats = fake.stats();
    fake.stop().await?;
    Ok(judge(&figures?, &stats))
}

async fn kill_and_restart(
    options: &CrashOptions,
    settings: &Settings,
    fake: &FakeUpstream,
) -> anyhow::Result<Figures> {
    let port = fake.addr.port();
    let mut first = Offerd::spawn(settings, port, offerd::log_path("crash-run1"))?;
    let (owed, killed_peak_kib) = match load_then_kill(options, &mut first).await {
        Ok(figures) => figures,
        Err(err) => {
            first.print_log_tail();
            return Err(err);
        }
    };
    let at_kill = fake.stats().distinct_notification_ids;
    println!(
        "at the kill: {owed} owed, {at_kill} delivered, {} not yet",
        owed.saturating_sub(at_kill)
    );
    let restart = restart(options, settings, fake, owed).await?;
    Ok(Figures {
        owed,
        killed_peak_kib,
        restart,
    })
}

/// Probes, loads for `duration` and SIGKILLs offerd as the load ends, with requests in
/// flight; returns the notifications owed and the peak RSS.
async fn load_then_kill(
    options: &CrashOptions,
    offerd: &mut Offerd,
) -> anyhow::Result<(u64, Option<u64>)> {
    let per_request = offerd.ready_and_probe(&options.body, options.wait).await?;
    println!(
        "each execute owes {per_request} notification(s); loading for {:?}, then SIGKILL",
        options.duration
    );
    let url = offerd.offers_url()?;
    // The load stops sending at its deadline; the kill at the same instant finds every
    // connection with a request in flight.
    let kill_at = Instant::now() + options.duration;
    let load = load::run(LoadOptions::timed(
        url,
        options.body.clone(),
        options.connections,
        Duration::ZERO,
        options.duration,
    ));
    let kill = async {
        sleep_until(kill_at).await;
        let peak = offerd.peak_rss_kib();
        offerd.kill().await.map(|status| (status, peak))
    };
    let (report, killed) = tokio::join!(load, kill);
    let (status, peak) = killed?;
    let report = report?;
    report.print();
    println!("offerd killed ({status}); errors above are the requests in flight");
    // The probe was a 2xx execute too.
    Ok(((report.total.ok + 1) * per_request, peak))
}

/// Starts offerd again on the same spool, waits for the owed notifications, SIGTERMs it.
async fn restart(
    options: &CrashOptions,
    settings: &Settings,
    fake: &FakeUpstream,
    owed: u64,
) -> anyhow::Result<Restart> {
    let restarted = Instant::now();
    let mut offerd = Offerd::spawn(settings, fake.addr.port(), offerd::log_path("crash-run2"))?;
    let arrived = wait_for(&mut offerd, fake, owed, restarted, options.wait).await;
    let all_arrived_after = match arrived {
        Ok(after) => after,
        Err(err) => {
            offerd.print_log_tail();
            return Err(err);
        }
    };
    if let Some(records) = offerd.metric("offerd_spool_records").await {
        println!("offerd run 2: offerd_spool_records {records}");
    }
    let mut peak_kib = offerd.peak_rss_kib();
    let exit = offerd
        .terminate(options.wait, &mut peak_kib)
        .await
        .map_err(|err| format!("{err:#}"));
    Ok(Restart {
        all_arrived_after,
        peak_kib,
        exit,
    })
}

/// Waits for readiness, then until the fake holds `owed` distinct ids; both bounded by
/// `wait` from `since`. The time it took from `since`, or None past the bound.
async fn wait_for(
    offerd: &mut Offerd,
    fake: &FakeUpstream,
    owed: u64,
    since: Instant,
    wait: Duration,
) -> anyhow::Result<Option<Duration>> {
    offerd.wait_ready(wait).await?;
    println!(
        "offerd run 2: ready {:.2}s after the restart",
        since.elapsed().as_secs_f64()
    );
    loop {
        if fake.stats().distinct_notification_ids >= owed {
            return Ok(Some(since.elapsed()));
        }
        if since.elapsed() >= wait {
            return Ok(None);
        }
        offerd.fail_if_exited("while replaying")?;
        sleep(Duration::from_millis(50)).await;
    }
}

/// Prints the verdict; true when no owed notification was lost.
fn judge(figures: &Figures, stats: &Stats) -> bool {
    let distinct = stats.distinct_notification_ids;
    let lost = figures.owed.saturating_sub(distinct);
    stats.print();
    offerd::print_peak_rss("offerd run 1 (killed)", figures.killed_peak_kib);
    offerd::print_peak_rss("offerd run 2", figures.restart.peak_kib);
    if let Err(err) = &figures.restart.exit {
        println!("offerd run 2: {err}");
    }
    match figures.restart.all_arrived_after {
        Some(after) => println!(
            "replay: all owed notifications arrived {:.2}s after the restart",
            after.as_secs_f64()
        ),
        None => println!("replay: not all owed notifications arrived within --wait"),
    }
    println!(
        "notifications: owed={} received={} distinct={distinct} lost={lost} duplicated={}",
        figures.owed, stats.notifications, stats.duplicate_notification_ids
    );
    let ok = lost == 0;
    println!("{}", if ok { "crash: PASS" } else { "crash: FAIL" });
    ok
}

/// The spool directory of a run; a fresh one is removed when this is dropped.
struct SpoolDir {
    path: Option<PathBuf>,
    remove: bool,
}

impl SpoolDir {
    fn prepare(spool: &Spool) -> anyhow::Result<Self> {
        let (path, remove) = match spool {
            Spool::Off => {
                return Ok(Self {
                    path: None,
                    remove: false,
                });
            }
            Spool::Dir(dir) => (std::path::absolute(dir)?, false),
            Spool::Fresh => (fresh_dir_name()?, true),
        };
        // A fresh name must not exist yet: never adopt (and later remove) another's dir.
        let created = if remove {
            std::fs::create_dir(&path)
        } else {
            std::fs::create_dir_all(&path)
        };
        created.with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            path: Some(path),
            remove,
        })
    }

    fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Drop for SpoolDir {
    fn drop(&mut self) {
        if let (Some(path), true) = (&self.path, self.remove)
            && let Err(err) = std::fs::remove_dir_all(path)
        {
            eprintln!("loadtest: cannot remove {}: {err}", path.display());
        }
    }
}

/// `$TMPDIR/loadtest-spool-<pid>-<ms since the epoch>`.
fn fresh_dir_name() -> anyhow::Result<PathBuf> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(std::env::temp_dir().join(format!(
        "loadtest-spool-{}-{}",
        std::process::id(),
        now.as_millis()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_spool_dir_is_created_and_removed_a_given_one_is_kept() {
        let fresh = SpoolDir::prepare(&Spool::Fresh).expect("temp dir is writable");
        let path = fresh.path().expect("a fresh dir has a path").to_owned();
        assert!(path.is_dir());
        drop(fresh);
        assert!(!path.exists());

        let given = path.with_extension("given");
        let kept = SpoolDir::prepare(&Spool::Dir(given.clone())).expect("creatable");
        drop(kept);
        assert!(given.is_dir());
        std::fs::remove_dir(&given).expect("empty dir removable");

        let off = SpoolDir::prepare(&Spool::Off).expect("nothing to create");
        assert!(off.path().is_none());
    }
}
