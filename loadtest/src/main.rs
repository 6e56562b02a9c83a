//! `loadtest`: load and end-to-end checks for offerd, on loopback only.
//!
//! - `fake-upstream`: a fake Target Delivery API that counts what it receives ([`fake`]).
//! - `run`: closed-loop HTTP load with HDR latency percentiles ([`load`]).
//! - `e2e`: fake upstream + offerd child + load + SIGTERM, then checks that no
//!   notification was lost or duplicated ([`e2e`]).
//!
//! Every run is bounded in time (and optionally in requests) and stops by itself.

mod e2e;
mod fake;
mod load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use url::Url;

/// Longest `--duration` / `--warmup` accepted: these are bounded benchmarks, not soaks.
const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most `--connections` accepted.
const MAX_CONNECTIONS: usize = 1024;

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
        /// The offerd binary (e.g. target/release/offerd).
        #[arg(long)]
        offerd_bin: PathBuf,
        /// Artifact offerd loads.
        #[arg(long, default_value = "examples/demo-artifact.json")]
        artifact: PathBuf,
        /// Request body; each 2xx answer must owe at least one notification.
        #[arg(long, default_value = "examples/requests/execute-one-mbox.json")]
        body: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        fake: FakeArgs,
        /// Longest wait for offerd to be ready, and to exit after SIGTERM.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
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
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            bail!("--connections must be 1..={MAX_CONNECTIONS}");
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION || self.warmup > MAX_DURATION {
            bail!("--duration must be > 0 and, like --warmup, at most {MAX_DURATION:?}");
        }
        Ok(())
    }
}

#[derive(clap::Args)]
struct FakeArgs {
    /// Answer 503 to every Nth delivery request (0 = never), to exercise retries.
    #[arg(long, default_value_t = 0)]
    fail_every: u64,
    /// Delay before each delivery answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

impl FakeArgs {
    fn options(&self) -> fake::FakeOptions {
        fake::FakeOptions {
            fail_every: self.fail_every,
            delay: Duration::from_millis(self.delay_ms),
        }
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
            let server = fake::FakeUpstream::start(bind, fake.options(), true)?;
            println!("{}", server.addr);
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
            offerd_bin,
            artifact,
            body,
            load,
            fake,
            wait,
        } => {
            load.check()?;
            if wait > MAX_DURATION {
                bail!("--wait must be at most {MAX_DURATION:?}");
            }
            runtime()?.block_on(e2e::run(e2e::E2eOptions {
                offerd_bin,
                artifact,
                body,
                connections: load.connections,
                duration: load.duration,
                warmup: load.warmup,
                fake: fake.options(),
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
