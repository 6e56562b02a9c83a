//! The `offerd` binary: parse the command line, load the configuration, start logging,
//! start the actors, serve HTTP, wait for SIGTERM/SIGINT, drain, exit.
//!
//! `offerd health` / `offerd ready` ask a running offerd (at the configured bind
//! address) whether it is live / ready, for container health checks and Kubernetes
//! exec probes: exit 0 or 1, no shell or curl needed. `offerd conformance --schema DIR`
//! runs a Target conformance suite. A configuration error exits 64 (EX_USAGE).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use offerd::client::TargetClient;
use offerd::config::{self, Config};
use offerd::http::access_log;
use offerd::otel::Otel;

#[derive(Parser)]
#[command(
    name = "offerd",
    version,
    about = "Adobe Target–compatible decisioning service",
    after_help = "Every configuration key can also be set as OFFERD_<SECTION>__<KEY> \
                  (e.g. OFFERD_SPOOL__DIR); config.toml documents them all."
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
    #[arg(long, global = true, env = "OFFERD_SERVER__BIND")]
    bind: Option<String>,
    /// Artifact: embedded:demo, a path or a URL (`artifact.location`).
    #[arg(long, global = true, env = "OFFERD_ARTIFACT__LOCATION")]
    artifact: Option<String>,
    /// How to decide (`target.decisioning_method`).
    #[arg(
        long,
        global = true,
        env = "OFFERD_TARGET__DECISIONING_METHOD",
        value_parser = ["on-device", "server-side", "hybrid"]
    )]
    decisioning_method: Option<String>,
    /// Log format (`log.format`).
    #[arg(
        long,
        global = true,
        env = "OFFERD_LOG__FORMAT",
        value_parser = ["pretty", "json"]
    )]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve decisions over HTTP (the default).
    Serve,
    /// Exit 0 if the offerd at the configured bind address is live (`/health/live`).
    Health,
    /// Exit 0 if the offerd at the configured bind address is ready (`/health/ready`).
    Ready,
    /// Runs a conformance suite (a folder with `models/` and `artifacts/`) against the
    /// engine: one line per failing case, a line per suite, then `N passed, M failed`.
    Conformance {
        /// The suite folder, e.g. target-sdk-testing/schema.
        #[arg(long)]
        schema: PathBuf,
    },
}

/// mimalloc, unless built with `--no-default-features` (glibc's malloc): measured side by
/// side in loadtest/README.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. Why: where THP is `always` (the
/// default of many distributions and Kubernetes nodes, and of this project's machines),
/// the allocator's 2 MiB-aligned regions are backed by huge pages as soon as one byte of
/// them is touched. Online, with notification calls allocating on several threads, peak
/// RSS was 124-151 MiB with THP and 85-90 MiB without, at the same req/s (`loadtest e2e
/// --delay-ms 50 --duration 15s`, MIMALLOC_ALLOW_THP=0 side by side; loadtest/README.md).
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag on this process only.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        // Not fatal: only memory use is at stake. Logging is not set up yet.
        eprintln!(
            "offerd: cannot turn transparent huge pages off: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

/// sysexits.h EX_USAGE: the configuration is unusable.
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    if let Some(Command::Conformance { schema }) = &cli.command {
        return run_conformance(schema);
    }
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("offerd: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let result = match &cli.command {
        Some(Command::Health) => return probe(&config, "/health/live"),
        Some(Command::Ready) => return probe(&config, "/health/ready"),
        _ => serve(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("offerd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, config::ConfigError> {
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
    config::load(Some(&cli.config), required, &env, &overrides)
}

/// The log's writer thread (lossless: see [`init_tracing`]) with the guard that flushes
/// it at exit, and the level filter: `RUST_LOG`, else `log.level`, else info.
fn log_writer_and_filter(
    config: &Config,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
    tracing_subscriber::EnvFilter,
) {
    let (stderr, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("offerd-log")
        .finish(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    (stderr, guard, filter)
}

/// Pretty logs go to stderr, coloured only on a terminal (and never with `NO_COLOR`);
/// JSON logs are one flat object per line with `service` and `version`.
///
/// Lines are written by a logging thread, not by the HTTP worker that logs them: with
/// the access log on, a `write(2)` per request on the workers cost more than the
/// decision. The writer never drops a line (it blocks the logger when its buffer is
/// full); the returned guard flushes what is left when it drops, at exit (a kill -9
/// loses what was not written yet). Access lines are batched per worker on top of that
/// (`offerd::http::access_log`).
fn init_tracing(config: &Config) -> tracing_appender::non_blocking::WorkerGuard {
    let (stderr, guard, filter) = log_writer_and_filter(config);
    if config.log.format == "json" {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(offerd::logging::FlatJson::new(
                "offerd",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_writer(stderr.clone())
            .init();
        access_log::install(
            access_log::LineFormat::Json {
                service: "offerd",
                version: env!("CARGO_PKG_VERSION"),
            },
            Box::new(stderr),
        );
    } else {
        use std::io::IsTerminal;
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colour)
            .with_writer(stderr.clone())
            .init();
        // A terminal gets the subscriber's coloured lines; a pipe or file, the fast
        // batched ones, which read the same.
        if !colour {
            access_log::install(access_log::LineFormat::Pretty, Box::new(stderr));
        }
    }
    guard
}

/// [`init_tracing`] with OpenTelemetry on: two layers, each with its own filter, so log
/// spans and events never become span attributes and offerd's OpenTelemetry spans
/// (`offerd::otel`, any level) never reach the log nor depend on `RUST_LOG`. Kept apart
/// from [`init_tracing`] so that with tracing off the subscriber stays what it was.
fn init_tracing_with_otel(
    config: &Config,
    otel: &Otel,
) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (stderr, guard, filter) = log_writer_and_filter(config);
    // A constant directive, so it parses; were it not to, spans would only be logged.
    let filter = match format!("{}=off", offerd::otel::TARGET).parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let log = if config.log.format == "json" {
        access_log::install(
            access_log::LineFormat::Json {
                service: "offerd",
                version: env!("CARGO_PKG_VERSION"),
            },
            Box::new(stderr.clone()),
        );
        tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(offerd::logging::FlatJson::new(
                "offerd",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_writer(stderr)
            .boxed()
    } else {
        access_log::install(access_log::LineFormat::Pretty, Box::new(stderr.clone()));
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(stderr)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(otel.layer())
        .init();
    guard
}

/// `offerd health` / `offerd ready`: GET `path` at the configured admin or bind
/// address (an unspecified address is asked on loopback), with a token when health is
/// protected; exit 0 on a 200, 1 otherwise.
fn probe(config: &Config, path: &str) -> ExitCode {
    // Health lives on the admin listener when there is one.
    let addr = match config
        .admin_addr()
        .transpose()
        .unwrap_or_else(|| config.bind_addr())
    {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("offerd: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let token = config
        .server
        .protect_operations
        .then(|| config.server.auth_tokens.first())
        .flatten();
    match offerd::http::probe(addr, path, token.map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("offerd: {path} at {addr}: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    // Built before the runtime starts: the OTLP exporter's HTTP client is a blocking one.
    let otel = Otel::install(&config.otel, env!("CARGO_PKG_VERSION"))
        .context("cannot set up OpenTelemetry (otel.*)")?;
    let _flush_logs_at_exit = match &otel {
        Some(otel) => init_tracing_with_otel(&config, otel),
        None => init_tracing(&config),
    };
    if let Some(url) = config.otel.traces_url() {
        let ratio = config.otel.sample_ratio;
        tracing::info!(%url, sample_ratio = ratio, "OpenTelemetry traces on");
    }
    let mode = describe_mode(&config);
    let addr = config.bind_addr()?;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let drain_delay = Duration::from_secs(config.server.drain_delay_secs);
    let served = actix_rt::System::new().block_on(async move {
        let client = TargetClient::create(config).context("cannot start offerd")?;
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, mode = %mode, "offerd listening");
        let server = offerd::http::serve(client.clone(), listener)?;
        let handle = server.handle();
        let running = actix_rt::spawn(server);
        let admin = match client.config().admin_addr()? {
            Some(admin) => {
                let listener = TcpListener::bind(admin)
                    .with_context(|| format!("cannot listen on {admin} (server.admin_bind)"))?;
                tracing::info!(%admin, "admin listener: /metrics, /health/*, /v1/artifact");
                let server = offerd::http::serve_admin(client.clone(), listener)?;
                let handle = server.handle();
                Some((handle, actix_rt::spawn(server)))
            }
            None => None,
        };
        wait_for_signal().await;
        // One deadline for the whole shutdown: the drain delay, HTTP, decisions, the
        // notification drain.
        let deadline = std::time::Instant::now() + grace;
        drain_connections(&client, drain_delay, deadline).await;
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
        if let Some((handle, running)) = admin {
            // Health and metrics answer until the drain is over; now they stop too.
            handle.stop(false).await;
            running.abort();
        }
        actix_rt::System::current().stop();
        Ok(())
    });
    // The last requests' lines, before the log writer's guard drops.
    access_log::flush();
    // The last spans, exported within the SDK's timeout.
    if let Some(otel) = otel {
        otel.shutdown();
    }
    served
}

/// `server.drain_delay_secs`: before the listener closes, readiness answers 503 and
/// every answer closes its connection, so that health-checking balancers take this
/// replica out and keep-alive clients reconnect elsewhere, while it still serves what
/// arrives. Ends at `deadline` at the latest (it is part of the one shutdown grace).
async fn drain_connections(client: &TargetClient, delay: Duration, deadline: std::time::Instant) {
    client.start_draining();
    if delay.is_zero() {
        return;
    }
    tracing::info!(
        drain_delay_secs = delay.as_secs(),
        "draining: /health/ready answers 503 and answers close their connections; still serving"
    );
    let until = (std::time::Instant::now() + delay).min(deadline);
    tokio::time::sleep_until(until.into()).await;
}

/// What a start-up log line says about where decisions and notifications go.
fn describe_mode(config: &Config) -> String {
    let method = config.target.decisioning_method.as_str();
    let artifact = config.artifact_location();
    if config.upstream.offline {
        format!(
            "{method} from {artifact}, offline: nothing is sent to Target, notifications are counted as dropped (upstream.offline)"
        )
    } else {
        format!("{method} from {artifact}, notifications sent to Target")
    }
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
