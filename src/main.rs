//! The `offerd` binary: parse the command line, load the configuration, start logging,
//! start the actors, serve HTTP, wait for SIGTERM/SIGINT, drain, exit.
//!
//! `offerd conformance --schema DIR` instead runs a Target conformance suite.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use offerd::client::TargetClient;
use offerd::config::{self, Config};

#[derive(Parser)]
#[command(
    name = "offerd",
    version,
    about = "Adobe Target–compatible decisioning service"
)]
struct Cli {
    /// Configuration file; a missing `config.toml` falls back to the built-in defaults.
    #[arg(
        long,
        short,
        global = true,
        default_value = "config.toml",
        env = "OFFERD_CONFIG"
    )]
    config: PathBuf,
    /// Listen address (`server.bind`), e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    bind: Option<String>,
    /// Artifact path or URL (`artifact.location`).
    #[arg(long, global = true)]
    artifact: Option<String>,
    /// on-device, server-side or hybrid (`target.decisioning_method`).
    #[arg(long, global = true)]
    decisioning_method: Option<String>,
    /// Log format: pretty or json (`log.format`).
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve decisions over HTTP (the default).
    Serve,
    /// Runs a conformance suite (a folder with `models/` and `artifacts/`) against the
    /// engine: one line per failing case, a line per suite, then `N passed, M failed`.
    Conformance {
        /// The suite folder, e.g. target-sdk-testing/schema.
        #[arg(long)]
        schema: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Conformance { schema }) => return run_conformance(schema),
        Some(Command::Serve) | None => load_config(&cli).and_then(serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("offerd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut overrides = Vec::new();
    let flags = [
        ("server.bind", &cli.bind),
        ("artifact.location", &cli.artifact),
        ("target.decisioning_method", &cli.decisioning_method),
        ("log.format", &cli.log_format),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            overrides.push((key, value.clone()));
        }
    }
    // The default file may be absent (built-in defaults); a file named on purpose may not.
    let required = cli.config != Path::new("config.toml");
    Ok(config::load(Some(&cli.config), required, &env, &overrides)?)
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing(&config);
    let addr = config.bind_addr()?;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    actix_rt::System::new().block_on(async move {
        let client = TargetClient::create(config).context("cannot start offerd")?;
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, "offerd listening");
        let server = offerd::http::serve(client.clone(), listener)?;
        let handle = server.handle();
        let running = actix_rt::spawn(server);
        wait_for_signal().await;
        // One deadline for the whole shutdown: HTTP, decisions, the drain.
        let deadline = std::time::Instant::now() + grace;
        tracing::info!("shutting down: no new requests, finishing in-flight work");
        let _ = tokio::time::timeout_at(deadline.into(), handle.stop(true)).await;
        let report = client.shutdown_by(deadline).await;
        tracing::info!(
            owed = report.owed,
            sent = report.sent,
            dropped = report.dropped,
            spooled = report.spooled,
            "stopped (notification totals since start; spooled ones are sent at the next start)"
        );
        running.abort();
        actix_rt::System::current().stop();
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn run_conformance(schema: &Path) -> ExitCode {
    let suites = match offerd::conformance::load_suites(schema) {
        Ok(suites) => suites,
        Err(err) => {
            eprintln!("offerd conformance: {err}");
            return ExitCode::from(2);
        }
    };
    let report = offerd::conformance::run_suites(&suites, offerd::conformance::run_case);
    println!("{}", report.render());
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
