//! End to end: the fake Delivery API in-process, offerd as a child process pointed at
//! it, load on `POST /v1/offers`, SIGTERM, then the books must balance: every 2xx
//! execute owes the display notifications its probe answer showed, and after offerd
//! drained the fake must have received each of them exactly once.
//!
//! offerd's output goes to a log file in the temp directory (its path is printed). The
//! child is SIGKILLed if this run ends early (`kill_on_drop`), and gets a bounded time to
//! become ready and, after SIGTERM, to drain and exit.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};
use url::Url;

use crate::fake::{FakeOptions, FakeUpstream, Stats};
use crate::load::{self, LoadOptions};

/// What `loadtest e2e` was asked.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub offerd_bin: PathBuf,
    pub artifact: PathBuf,
    pub body: PathBuf,
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
    let artifact = std::path::absolute(&options.artifact)?;
    if !artifact.is_file() {
        bail!(
            "artifact {} not found (run from the repo root or pass --artifact)",
            artifact.display()
        );
    }
    let body = std::fs::read(&options.body).with_context(|| {
        format!(
            "cannot read {} (run from the repo root or pass --body)",
            options.body.display()
        )
    })?;
    let fake = FakeUpstream::start(SocketAddr::from(([127, 0, 0, 1], 0)), options.fake, false)?;
    println!("fake upstream on {}", fake.addr);
    let outcome = with_offerd(&options, &artifact, body, fake.addr.port()).await;
    let stats = fake.stats();
    fake.stop().await?;
    Ok(judge(&outcome?, &stats))
}

/// Starts offerd, drives it, stops it; SIGTERM is sent whatever happened before.
async fn with_offerd(
    options: &E2eOptions,
    artifact: &Path,
    body: Vec<u8>,
    upstream_port: u16,
) -> anyhow::Result<Outcome> {
    let port = free_port()?;
    let base = Url::parse(&format!("http://127.0.0.1:{port}"))?;
    let log = std::env::temp_dir().join(format!("loadtest-offerd-{}.log", std::process::id()));
    let mut child = spawn_offerd(&options.offerd_bin, artifact, port, upstream_port, &log)?;
    let pid = child.id().ok_or_else(|| anyhow!("offerd exited at once"))?;
    println!("offerd pid {pid} on {base} (log: {})", log.display());
    let driven = drive(options, &base, body, &mut child).await;
    let mut peak_rss_kib = read_vm_hwm_kib(pid);
    let exit = terminate(&mut child, pid, options.wait, &mut peak_rss_kib).await;
    match (driven, exit) {
        (Ok(owed), Ok(exit)) => Ok(Outcome {
            owed,
            exit,
            peak_rss_kib,
            log,
        }),
        (Err(err), _) | (_, Err(err)) => {
            print_log_tail(&log);
            Err(err)
        }
    }
}

fn spawn_offerd(
    bin: &Path,
    artifact: &Path,
    port: u16,
    upstream: u16,
    log: &Path,
) -> anyhow::Result<Child> {
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    let envs = [
        ("OFFERD_SERVER__BIND", format!("127.0.0.1:{port}")),
        ("OFFERD_UPSTREAM__SERVER_DOMAIN", "127.0.0.1".to_owned()),
        ("OFFERD_UPSTREAM__PORT", upstream.to_string()),
        ("OFFERD_UPSTREAM__SECURE", "false".to_owned()),
        ("OFFERD_UPSTREAM__PIN_SERVER_DOMAIN", "true".to_owned()),
        // The built-in defaults are the offline demo; this run must reach the fake.
        ("OFFERD_UPSTREAM__OFFLINE", "false".to_owned()),
        ("OFFERD_BATCHER__FLUSH_INTERVAL_MS", "200".to_owned()),
        ("OFFERD_ARTIFACT__LOCATION", artifact.display().to_string()),
        // No network: load the artifact once, learn no location hint.
        ("OFFERD_ARTIFACT__POLLING_INTERVAL_SECS", "0".to_owned()),
        ("OFFERD_TARGET__LEARN_LOCATION_HINT", "false".to_owned()),
        // A log file, not a terminal: no colour codes.
        ("NO_COLOR", "1".to_owned()),
    ];
    Command::new(bin)
        .arg("serve")
        .envs(envs)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))
}

/// Waits for readiness, probes once, loads; returns the notifications owed.
async fn drive(
    options: &E2eOptions,
    base: &Url,
    body: Vec<u8>,
    child: &mut Child,
) -> anyhow::Result<u64> {
    wait_ready(base, child, options.wait).await?;
    let url = base.join("/v1/offers")?;
    let per_request = probe(&url, &body).await?;
    println!(
        "each execute owes {per_request} notification(s); loading for {:?}",
        options.duration
    );
    let report = load::run(LoadOptions {
        url,
        body,
        connections: options.connections,
        warmup: options.warmup,
        duration: options.duration,
        max_requests: None,
        timeout: Duration::from_secs(10),
    })
    .await?;
    report.print();
    // The probe was a 2xx execute too.
    Ok((report.total.ok + 1) * per_request)
}

async fn wait_ready(base: &Url, child: &mut Child, wait: Duration) -> anyhow::Result<()> {
    let url = base.join("/health/ready")?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()?;
    let deadline = Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("offerd exited before it was ready ({status})");
        }
        if let Ok(response) = client.get(url.clone()).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("offerd was not ready within {wait:?}");
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Sends the body once and counts the notifications its answer owes: one per execute
/// mbox (and page load) that got options.
async fn probe(url: &Url, body: &[u8]) -> anyhow::Result<u64> {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.context("probe answer is not JSON")?;
    if !status.is_success() {
        bail!("probe answered {status}: {answer}");
    }
    let execute = answer.pointer("/response/execute");
    let has_options = |v: &Value| {
        v.get("options")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty())
    };
    let mboxes = execute
        .and_then(|e| e.get("mboxes"))
        .and_then(Value::as_array)
        .map_or(0, |m| m.iter().filter(|m| has_options(m)).count());
    let page_load = execute
        .and_then(|e| e.get("pageLoad"))
        .is_some_and(has_options);
    let owed = (mboxes + usize::from(page_load)) as u64;
    if owed == 0 {
        bail!("the probe answer owes no notification, so nothing can be checked: {answer}");
    }
    Ok(owed)
}

/// SIGTERM, then waits (bounded) for the exit; SIGKILL and an error past the deadline.
/// Keeps sampling the peak RSS while offerd drains.
async fn terminate(
    child: &mut Child,
    pid: u32,
    wait: Duration,
    peak: &mut Option<u64>,
) -> anyhow::Result<ExitStatus> {
    let pid_t = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) with a pid we spawned and have not reaped yet (so it cannot have
    // been reused) and a valid signal number; it touches no memory of ours.
    let rc = unsafe { libc::kill(pid_t, libc::SIGTERM) };
    if rc != 0 {
        bail!(
            "cannot send SIGTERM to {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            println!(
                "offerd exited ({status}) {:.2}s after SIGTERM",
                started.elapsed().as_secs_f64()
            );
            return Ok(status);
        }
        *peak = (*peak).max(read_vm_hwm_kib(pid));
        if started.elapsed() >= wait {
            child.kill().await?;
            bail!("offerd did not exit within {wait:?} of SIGTERM (killed)");
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// Prints the verdict; true when every owed notification arrived exactly once.
fn judge(outcome: &Outcome, stats: &Stats) -> bool {
    let received = stats.notifications;
    let lost = outcome.owed.saturating_sub(stats.distinct_notification_ids);
    let duplicated = stats.duplicate_notification_ids;
    if let Some(line) = last_line_with(&outcome.log, "stopped") {
        println!("offerd: {line}");
    }
    match serde_json::to_string(stats) {
        Ok(json) => println!("fake upstream stats: {json}"),
        Err(err) => println!("fake upstream stats: cannot print: {err}"),
    }
    match outcome.peak_rss_kib {
        Some(kib) => println!("offerd peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("offerd peak RSS: not readable from /proc"),
    }
    println!(
        "notifications: sent={} received={received} lost={lost} duplicated={duplicated}",
        outcome.owed
    );
    let ok = received == outcome.owed
        && stats.distinct_notification_ids == outcome.owed
        && duplicated == 0
        && outcome.exit.success();
    if !outcome.exit.success() {
        println!("offerd exit status: {}", outcome.exit);
    }
    println!("{}", if ok { "e2e: PASS" } else { "e2e: FAIL" });
    ok
}

/// A port free on 127.0.0.1 right now (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The kernel's peak resident set size of `pid`, in KiB, if /proc has it.
fn read_vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn last_line_with(log: &Path, needle: &str) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains(needle))
        .map(str::to_owned)
}

fn print_log_tail(log: &Path) {
    if let Ok(text) = std::fs::read_to_string(log) {
        eprintln!("--- last lines of {}:", log.display());
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(20)..] {
            eprintln!("{line}");
        }
    }
}
