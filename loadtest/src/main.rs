//! `loadtest`: load and end-to-end checks for offerd, on loopback only.
//!
//! - `fake-upstream`: a fake Target Delivery API that counts what it receives ([`fake`]).
//! - `run`: closed-loop HTTP load with HDR latency percentiles ([`load`]).
//! - `e2e`: fake upstream + offerd child + load + SIGTERM, then checks that no
//!   notification was lost or duplicated ([`e2e`]).
//! - `crash`: fake upstream + offerd child + load + SIGKILL, then a second offerd on the
//!   same spool must deliver what the first one owed ([`crash`]).
//!
//! Both drive offerd through [`offerd`]. Every run is bounded in time (and optionally in
//! requests) and stops by itself.

mod crash;
mod e2e;
mod fake;
mod load;
mod offerd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use fake::{Outage, OutageMode};
use url::Url;

/// Longest `--duration` / `--warmup` accepted: these are bounded benchmarks, not soaks.
const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most `--connections` accepted: enough to drive offerd far past capacity (overload runs
/// raise `ulimit -n`).
const MAX_CONNECTIONS: usize = 8192;

#[derive(Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Loopback load and end-to-end checks for offerd"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fake Delivery API: 200 to POST /rest/v1/delivery, counts at GET /stats. Prints its
    /// address on the first line; stops on SIGINT/SIGTERM.
    FakeUpstream {
        /// Listen address (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        #[command(flatten)]
        fake: FakeArgs,
    },
    /// Closed-loop load: POSTs BODY to the target with N connections.
    Run {
        /// Target URL; with no path, /v1/offers. Loopback hosts only.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        target: Url,
        /// Request body (JSON).
        #[arg(long)]
        body: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
        /// Stop after this many requests in all (warm-up included).
        #[arg(long)]
        max_requests: Option<u64>,
    },
    /// Fake upstream + offerd + load + SIGTERM; fails if a notification was lost or
    /// duplicated.
    E2e {
        #[command(flatten)]
        offerd: OfferdArgs,
        /// offerd's spool directory (`OFFERD_SPOOL__DIR`); none by default.
        #[arg(long)]
        spool_dir: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        fake: FakeArgs,
        /// Longest wait for offerd to be ready, and to exit after SIGTERM.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
    /// Fake upstream + offerd + load + SIGKILL + offerd again on the same spool; fails if
    /// a notification owed by a 2xx answer never arrived.
    Crash {
        #[command(flatten)]
        offerd: OfferdArgs,
        /// offerd's spool directory (`OFFERD_SPOOL__DIR`), kept afterwards; default: a
        /// fresh one in the temp dir, removed at the end.
        #[arg(long, conflicts_with = "no_spool")]
        spool_dir: Option<PathBuf>,
        /// Start offerd with no spool (`OFFERD_SPOOL__DIR` unset), e.g. one that has
        /// none yet: shows what a kill loses without it.
        #[arg(long)]
        no_spool: bool,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Load time before the SIGKILL, e.g. 6s.
        #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The fake's delay before each delivery answer, in milliseconds, so that
        /// notifications are still queued when offerd dies.
        #[arg(long, default_value_t = 50)]
        delay_ms: u64,
        /// Longest wait for readiness, for the replay after the restart, and for the exit
        /// after SIGTERM.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
}

/// How `e2e` and `crash` start offerd.
#[derive(clap::Args)]
struct OfferdArgs {
    /// The offerd binary (e.g. target/release/offerd).
    #[arg(long)]
    offerd_bin: PathBuf,
    /// Artifact offerd loads.
    #[arg(long, default_value = "examples/demo-artifact.json")]
    artifact: PathBuf,
    /// Request body; each 2xx answer must owe at least one notification.
    #[arg(long, default_value = "examples/requests/execute-one-mbox.json")]
    body: PathBuf,
    /// Set the batcher's linger as `OFFERD_BATCHER__FLUSH_INTERVAL_MS`, not
    /// `OFFERD_BATCHER__LINGER_MS`: for an offerd built before that rename.
    #[arg(long)]
    legacy_flush_interval: bool,
    /// Send notifications over HTTP/1.1 keep-alive connections. By default offerd
    /// speaks HTTP/2 to the fake (h2c, `OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE`), as it
    /// does to Target over TLS, where HTTP/2 is negotiated.
    #[arg(long)]
    http1: bool,
}

impl OfferdArgs {
    /// The checked settings (spool off) and the body.
    fn settings(&self) -> anyhow::Result<(offerd::Settings, Vec<u8>)> {
        let settings = offerd::Settings::new(
            self.offerd_bin.clone(),
            &self.artifact,
            self.legacy_flush_interval,
        )?;
        let settings = offerd::Settings {
            http2: !self.http1 && !self.legacy_flush_interval,
            ..settings
        };
        Ok((settings, offerd::read_body(&self.body)?))
    }
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured time, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Warm-up before measuring (its requests count in totals, not in figures).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
}

impl LoadArgs {
    fn check(&self) -> anyhow::Result<()> {
        check_load(self.connections, self.duration, self.warmup)
    }
}

fn check_load(connections: usize, duration: Duration, warmup: Duration) -> anyhow::Result<()> {
    if !(1..=MAX_CONNECTIONS).contains(&connections) {
        bail!("--connections must be 1..={MAX_CONNECTIONS}");
    }
    if duration.is_zero() || duration > MAX_DURATION || warmup > MAX_DURATION {
        bail!("--duration must be > 0 and, like --warmup, at most {MAX_DURATION:?}");
    }
    Ok(())
}

fn check_wait(wait: Duration) -> anyhow::Result<()> {
    if wait > MAX_DURATION {
        bail!("--wait must be at most {MAX_DURATION:?}");
    }
    Ok(())
}

#[derive(clap::Args)]
struct FakeArgs {
    /// Answer 503 to every Nth delivery request (0 = never), to exercise retries.
    #[arg(long, default_value_t = 0)]
    fail_every: u64,
    /// Delay before each delivery answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Start of the outage, counted from the first delivery request received.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    outage_after: Duration,
    /// Length of an outage in which every delivery request fails (0 = no outage).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    outage_for: Duration,
    /// How requests fail in the outage: 503 (answered at once) or reset (the connection
    /// is reset, no answer).
    #[arg(long, value_enum, default_value_t = OutageMode::Unavailable)]
    outage_mode: OutageMode,
}

impl FakeArgs {
    fn options(&self) -> anyhow::Result<fake::FakeOptions> {
        if self.outage_after > MAX_DURATION || self.outage_for > MAX_DURATION {
            bail!("--outage-after and --outage-for must be at most {MAX_DURATION:?}");
        }
        let outage = (!self.outage_for.is_zero()).then_some(Outage {
            after: self.outage_after,
            length: self.outage_for,
            mode: self.outage_mode,
        });
        Ok(fake::FakeOptions {
            fail_every: self.fail_every,
            delay: Duration::from_millis(self.delay_ms),
            outage,
        })
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("loadtest: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Cmd::FakeUpstream { bind, fake } => {
            if !bind.ip().is_loopback() {
                bail!("--bind {bind}: the fake upstream listens on loopback only");
            }
            let options = fake.options()?;
            let server = fake::FakeUpstream::start(bind, options, true)?;
            println!("{}", server.addr);
            if let Some(outage) = options.outage {
                // stderr: stdout's first line is the address, for scripts.
                eprintln!("fake upstream: {outage}");
            }
            server.wait()?;
            Ok(true)
        }
        Cmd::Run {
            target,
            body,
            load,
            max_requests,
        } => {
            load.check()?;
            load::check_loopback(&target)?;
            let url = if target.path() == "/" {
                target.join("/v1/offers")?
            } else {
                target
            };
            let body =
                std::fs::read(&body).with_context(|| format!("cannot read {}", body.display()))?;
            let report = runtime()?.block_on(load::run(load::LoadOptions {
                url,
                body,
                connections: load.connections,
                warmup: load.warmup,
                duration: load.duration,
                max_requests,
                timeout: Duration::from_secs(10),
            }))?;
            report.print();
            Ok(true)
        }
        Cmd::E2e {
            offerd,
            spool_dir,
            load,
            fake,
            wait,
        } => {
            load.check()?;
            check_wait(wait)?;
            let (mut settings, body) = offerd.settings()?;
            settings.spool_dir = spool_dir.map(std::path::absolute).transpose()?;
            runtime()?.block_on(e2e::run(e2e::E2eOptions {
                offerd: settings,
                body,
                connections: load.connections,
                duration: load.duration,
                warmup: load.warmup,
                fake: fake.options()?,
                wait,
            }))
        }
        Cmd::Crash {
            offerd,
            spool_dir,
            no_spool,
            connections,
            duration,
            delay_ms,
            wait,
        } => {
            check_load(connections, duration, Duration::ZERO)?;
            check_wait(wait)?;
            let (settings, body) = offerd.settings()?;
            let spool = match (spool_dir, no_spool) {
                (_, true) => crash::Spool::Off,
                (Some(dir), false) => crash::Spool::Dir(dir),
                (None, false) => crash::Spool::Fresh,
            };
            runtime()?.block_on(crash::run(crash::CrashOptions {
                offerd: settings,
                spool,
                body,
                connections,
                duration,
                delay: Duration::from_millis(delay_ms),
                wait,
            }))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}
