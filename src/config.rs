//! Configuration, layered: built-in defaults, then `config.toml`, then `OFFERD_*`
//! environment variables (`OFFERD_SECTION__KEY`, e.g. `OFFERD_SERVER__BIND`), then
//! command-line flags. Values are checked at boot; a bad value stops offerd with a
//! message naming the key.
//!
//! [`load`] is a function of its sources (file path, an environment map, overrides),
//! so tests never touch the process environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use crate::model::DecisioningMethod;

mod aliases;
pub use aliases::ALIASES;
use aliases::Renamed;

/// Why the configuration is unusable. Each variant's message is complete on its own
/// (no source chain), so it is printed once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named cannot be read.
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    /// A value does not parse or fit its key.
    #[error("invalid configuration: {0}")]
    Source(String),
    /// A value parses but is not allowed.
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> Self {
        Self::Source(e.to_string())
    }
}

/// The sections of the configuration: only `OFFERD_<SECTION>__<KEY>` variables with one
/// of these are read. Others (`OFFERD_CONFIG`, or the `OFFERD_PORT`,
/// `OFFERD_SERVICE_HOST`, ... Kubernetes injects for a Service named offerd) are not
/// configuration keys and are ignored.
pub const SECTIONS: [&str; 11] = [
    "server", "target", "artifact", "upstream", "decision", "batcher", "spool", "geo", "log",
    "otel", "explorer",
];

/// The standard OpenTelemetry variables offerd reads, and the key each sets: above
/// the file, below `OFFERD_OTEL__*`.
const OTEL_VARIABLES: [(&str, &str); 4] = [
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "OFFERD_OTEL__ENDPOINT"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "OFFERD_OTEL__PROTOCOL"),
    ("OTEL_SERVICE_NAME", "OFFERD_OTEL__SERVICE_NAME"),
    ("OTEL_TRACES_SAMPLER_ARG", "OFFERD_OTEL__SAMPLE_RATIO"),
];

/// The location of the demo artifact compiled into the binary (the default).
pub const EMBEDDED_DEMO: &str = "embedded:demo";

/// Everything offerd can be configured with. Each field documents its key; the
/// environment variable is `OFFERD_<SECTION>__<KEY>` in upper case.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub target: TargetConfig,
    pub artifact: ArtifactConfig,
    pub upstream: UpstreamConfig,
    pub decision: DecisionConfig,
    pub batcher: BatcherConfig,
    pub spool: SpoolConfig,
    pub geo: GeoConfig,
    pub log: LogConfig,
    pub otel: OtelConfig,
    pub explorer: ExplorerConfig,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `server.bind`: listen address. Default `127.0.0.1:8080`.
    pub bind: String,
    /// `server.workers`: HTTP worker threads; 0 = one per core. Default 0.
    pub workers: usize,
    /// `server.max_body_bytes`: largest accepted request body. Default 1 MiB.
    pub max_body_bytes: usize,
    /// `server.shutdown_grace_secs`: time to finish in-flight requests and drain
    /// notifications on SIGTERM/SIGINT. Default 10.
    pub shutdown_grace_secs: u64,
    /// `server.drain_delay_secs`: on SIGTERM, for this long (inside
    /// `shutdown_grace_secs`) offerd keeps serving while `/health/ready` answers 503 and
    /// every answer says `Connection: close`, so balancers and keep-alive clients move
    /// to other replicas before the listener closes. Default 0 (stop accepting at once).
    pub drain_delay_secs: u64,
    /// `server.auth_tokens`: bearer tokens accepted on the decision endpoints
    /// (`/v1/*`, `/rest/v1/delivery`, and OFREP's `/ofrep/v1/*`, which also take one as
    /// `X-API-Key`); empty = open. From the environment as a comma
    /// separated list (`OFFERD_SERVER__AUTH_TOKENS=a,b`). Never logged.
    pub auth_tokens: Vec<String>,
    /// `server.protect_operations`: also require a token on `/metrics`, `/health/*`,
    /// `/v1/artifact` and `/openapi.json`. Default false (probes and scrapers stay
    /// simple).
    pub protect_operations: bool,
    /// `server.admin_bind`: serve `/metrics`, `/health/*`, `/v1/artifact` and
    /// `/openapi.json` on this address instead of `bind`, for a port that is not
    /// exposed. Default none.
    pub admin_bind: Option<String>,
}

impl std::fmt::Display for ServerConfig {
    /// The listener settings for logs: tokens are counted, never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bind {}, {} auth token(s)",
            self.bind,
            self.auth_tokens.len()
        )
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
            drain_delay_secs: 0,
            auth_tokens: Vec::new(),
            protect_operations: false,
            admin_bind: None,
        }
    }
}

/// `[target]`: the Target account and how to decide.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetConfig {
    /// `target.client`: Target client code. Default `demo`.
    pub client: String,
    /// `target.organization_id`: IMS organization id (also the `rules.bin` key).
    pub organization_id: String,
    /// `target.environment`: Target environment for the artifact URL. Default `production`.
    pub environment: String,
    /// `target.property_token`: at.js property token applied when a request has none.
    pub property_token: Option<String>,
    /// `target.decisioning_method`: `on-device`, `server-side` or `hybrid`. Default on-device.
    pub decisioning_method: DecisioningMethod,
    /// `target.telemetry_enabled`: send SDK telemetry to Target. Default true.
    pub telemetry_enabled: bool,
    /// `target.location_hint`: edge cluster to use (`mboxEdgeCluster`); learned from
    /// one server-side call at start when empty and `learn_location_hint` is set.
    pub location_hint: Option<String>,
    /// `target.learn_location_hint`: make that call. Default false (no network).
    pub learn_location_hint: bool,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            client: "demo".into(),
            organization_id: "DEMO00000000000000000000@AdobeOrg".into(),
            environment: "production".into(),
            property_token: None,
            decisioning_method: DecisioningMethod::OnDevice,
            telemetry_enabled: true,
            location_hint: None,
            learn_location_hint: false,
        }
    }
}

/// `[artifact]`: where the rules come from and how often.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArtifactConfig {
    /// `artifact.location`: a file path, `file://` or `http(s)://` URL, or
    /// `embedded:demo` (the default: the demo artifact compiled into the binary). Empty =
    /// the Target CDN URL built from `cdn_base_url`, client and environment.
    pub location: String,
    /// `artifact.payload`: an inline artifact (JSON text); wins over `location`.
    pub payload: Option<String>,
    /// `artifact.format`: `auto` (by file name), `json` or `bin`. Default auto.
    pub format: String,
    /// `artifact.cdn_base_url`: Default `https://assets.adobetarget.com`.
    pub cdn_base_url: String,
    /// `artifact.polling_interval_secs`: seconds between polls, at least 1; 0 turns
    /// polling off. Default 300.
    pub polling_interval_secs: u64,
    /// `artifact.timeout_ms`: download timeout. Default 10000.
    pub timeout_ms: u64,
    /// `artifact.backup_dir`: where the last good downloaded artifact is kept, so a
    /// start while the CDN is unreachable still serves. Unset = `<spool.dir>/artifact`
    /// when `spool.dir` is set (the spool's volume carries it), else no backup; `""` =
    /// no backup.
    pub backup_dir: Option<std::path::PathBuf>,
    /// `artifact.boot_timeout_ms`: at start, how long the first download may take
    /// before the backup is served instead (a download that fails serves it at once).
    /// Default 5000.
    pub boot_timeout_ms: u64,
    /// `artifact.backup_max_age_secs`: a backup the CDN last confirmed longer ago than
    /// this is not served (offerd stays unready until a download succeeds). Default
    /// 604800 (a week).
    pub backup_max_age_secs: u64,
}

impl Default for ArtifactConfig {
    fn default() -> Self {
        Self {
            location: EMBEDDED_DEMO.into(),
            payload: None,
            format: "auto".into(),
            cdn_base_url: "https://assets.adobetarget.com".into(),
            polling_interval_secs: 300,
            timeout_ms: 10_000,
            backup_dir: None,
            boot_timeout_ms: 5_000,
            backup_max_age_secs: 7 * 86_400,
        }
    }
}

/// `[upstream]`: Target's Delivery API.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `upstream.server_domain`: Delivery API host. Empty = `<client>.tt.omtrdc.net`.
    pub server_domain: Option<String>,
    /// `upstream.secure`: https (true) or http (false). Default true.
    pub secure: bool,
    /// `upstream.port`: port, when not the scheme's default.
    pub port: Option<u16>,
    /// `upstream.pin_server_domain`: always call `server_domain`, even once an edge
    /// cluster is known (proxies, private edges, tests). Default false.
    pub pin_server_domain: bool,
    /// `upstream.http2_prior_knowledge`: speak HTTP/2 without TLS negotiation (h2c),
    /// for a local proxy or sidecar that does; over https HTTP/2 is negotiated anyway
    /// (ALPN). Default false.
    pub http2_prior_knowledge: bool,
    /// `upstream.timeout_ms`: Delivery API timeout. Default 3000 (the SDKs' default).
    pub timeout_ms: u64,
    /// `upstream.offline`: never call Target. What only Target can decide answers 422
    /// `upstream_offline` and owed notifications are counted as dropped (reason
    /// `offline`). Default true: the built-in defaults are the offline demo; set false
    /// in production.
    pub offline: bool,
    /// `upstream.ca_file`: a PEM file of CA certificates (one or several) trusted for
    /// every call to Target (Delivery API, notifications, artifact, geo) on top of the
    /// system's store: a company's TLS-inspecting proxy or a private Target endpoint.
    /// Unset: the system's store only (which `SSL_CERT_FILE`/`SSL_CERT_DIR` replace).
    pub ca_file: Option<std::path::PathBuf>,
    /// `upstream.proxy`: an `http://` or `https://` proxy URL for every call to Target,
    /// instead of `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (`NO_PROXY` still applies).
    /// Unset: those variables decide.
    pub proxy: Option<String>,
}

impl UpstreamConfig {
    /// The certificates of `ca_file` (none when unset). Read at boot by the config
    /// check, so a missing, unreadable or certificate-less file stops offerd with a
    /// message naming the key, and again by each client built from it.
    pub fn ca_roots(&self) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
        let Some(path) = self.ca_file.as_deref() else {
            return Ok(Vec::new());
        };
        let invalid = |reason: String| ConfigError::Invalid {
            key: "upstream.ca_file",
            reason: format!("{}: {reason}", path.display()),
        };
        let text = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
        let roots = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("not a PEM file of certificates: {e}")))?;
        if roots.is_empty() {
            return Err(invalid("holds no PEM certificate".into()));
        }
        Ok(roots)
    }

    /// `proxy`, checked: an absolute `http://` or `https://` URL with a host.
    fn check_proxy(&self) -> Result<(), ConfigError> {
        let Some(proxy) = self.proxy.as_deref() else {
            return Ok(());
        };
        let invalid = |reason: &str| ConfigError::Invalid {
            key: "upstream.proxy",
            reason: format!("{proxy:?}: {reason}"),
        };
        let url = url::Url::parse(proxy).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("must be an http:// or https:// URL with a host"));
        }
        Ok(())
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            server_domain: None,
            secure: true,
            port: None,
            pin_server_domain: false,
            http2_prior_knowledge: false,
            timeout_ms: 3000,
            offline: true,
            ca_file: None,
            proxy: None,
        }
    }
}

/// `[decision]`: admission of decisions (they run on the HTTP workers' own actors).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionConfig {
    /// `decision.max_in_flight`: decisions queued or running before offerd answers
    /// 503 `overloaded`. Default 1024.
    pub max_in_flight: usize,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
        }
    }
}

/// `[batcher]`: how notifications and telemetry reach Target.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatcherConfig {
    /// `batcher.queue_capacity`: notifications held in memory (queued, in flight or
    /// waiting to be retried), at most ~1 KiB each. Past it, without a spool new ones
    /// are refused (counted, reason `overflow`); with a spool they wait on disk.
    /// Default 50000 (about 50 MiB at worst, a whole outage's worth backing off).
    pub queue_capacity: usize,
    /// `batcher.linger_ms`: how long a visitor+session's notifications may wait for
    /// more before they are sent (Target takes one visitor and session per request).
    /// Default 200. (`flush_interval_ms` is the old name; see [`ALIASES`].)
    pub linger_ms: u64,
    /// `batcher.max_notifications_per_request`: Default 50.
    pub max_notifications_per_request: usize,
    /// `batcher.initial_concurrency`: notification requests in flight at start; the
    /// limit then adapts to Target's latency and errors (AIMD). Default 64.
    pub initial_concurrency: usize,
    /// `batcher.min_concurrency` / `max_concurrency`: bounds of the adaptive limit.
    /// Defaults 4 / 4096: by Little's law, 16k notifications/s at 50 ms need ~800.
    pub min_concurrency: usize,
    pub max_concurrency: usize,
    /// `batcher.timeout_ms`: timeout of a notification request. Longer than a
    /// decision's (`upstream.timeout_ms`): a request that times out may still have
    /// been counted by Target, and is then sent again. Default 10000.
    pub timeout_ms: u64,
    /// `batcher.retry_base_ms` / `retry_max_ms`: capped exponential backoff with full
    /// jitter between retries. Defaults 200 / 30000.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// `batcher.max_age_secs`: a notification is retried until it is this old (from
    /// the call that owed it), then dropped (counted, reason `expired`). Default 86400
    /// (a day: an outage shorter than that loses nothing).
    pub max_age_secs: u64,
    /// `batcher.backpressure_at`: memory only (no `spool.dir`), while Target is
    /// healthy and more notifications than this are held, a call owing more waits for
    /// the backlog to shrink (at most `backpressure_max_wait_ms`), so decisions slow to
    /// the delivery rate instead of outrunning memory. 0 = never wait. Default 20000.
    /// With a spool, calls wait only while it holds more than half of
    /// `spool.max_bytes`.
    pub backpressure_at: usize,
    /// `batcher.backpressure_max_wait_ms`: the longest such wait. Default 100.
    pub backpressure_max_wait_ms: u64,
    /// `batcher.telemetry_capacity`: telemetry entries held. Default 1000.
    pub telemetry_capacity: usize,
    /// `batcher.send_threads`: threads (each with its own connection to Target) that
    /// run notification calls; 0 = one per core. Default 0.
    pub send_threads: usize,
    /// `batcher.direct_http2`: notifications go through offerd's own lean HTTP/2
    /// client where it can serve the upstream (h2c, or https where Target agrees to
    /// HTTP/2; never through a proxy); false sends them through the general HTTP
    /// client, as every other call. Default true.
    pub direct_http2: bool,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 50_000,
            linger_ms: 200,
            max_notifications_per_request: 50,
            initial_concurrency: 64,
            min_concurrency: 4,
            max_concurrency: 4096,
            timeout_ms: 10_000,
            retry_base_ms: 200,
            retry_max_ms: 30_000,
            max_age_secs: 86_400,
            backpressure_at: 20_000,
            backpressure_max_wait_ms: 100,
            telemetry_capacity: 1000,
            send_threads: 0,
            direct_http2: true,
        }
    }
}

/// `spool.sync`: when a spooled notification is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Before the answer that owes it leaves: survives kill -9 and power loss.
    Answer,
    /// Written before the answer (survives kill -9), fsynced every
    /// `spool.sync_interval_ms` (power loss loses at most that much).
    Interval,
}

/// `[spool]`: the durable notification spool (see `src/spool.rs`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// `spool.dir` (env `OFFERD_SPOOL__DIR`): where the spool lives. Unset = memory
    /// only: a crash or kill -9 loses the notifications not yet sent.
    pub dir: Option<std::path::PathBuf>,
    /// `spool.max_bytes`: record bytes the spool may hold; past it, new notifications
    /// are refused (counted, reason `spool_full`). Default 1 GiB.
    pub max_bytes: u64,
    /// `spool.reserve_bytes`: free space kept on the spool's volume (at most a quarter
    /// of the volume): new notifications are refused (counted, reason `spool_full`)
    /// before it is used, so that deleting what Target took, which needs room in
    /// SQLite's log, always succeeds. Default 64 MiB.
    pub reserve_bytes: u64,
    /// `spool.sync`: `answer` (default) or `interval`.
    pub sync: SyncMode,
    /// `spool.sync_interval_ms`: the fsync period of `sync = "interval"`. Default 100.
    pub sync_interval_ms: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_bytes: 1 << 30,
            reserve_bytes: 64 << 20,
            sync: SyncMode::Answer,
            sync_interval_ms: 100,
        }
    }
}

/// `[geo]`: IP to geo lookups.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoConfig {
    /// `geo.url`: the geo endpoint. Default `https://assets.adobetarget.com/v1/geo`.
    pub url: String,
    /// `geo.cache_ttl_secs`: how long an answer is reused. Default 3600.
    pub cache_ttl_secs: u64,
    /// `geo.cache_capacity`: addresses cached at most. Default 100000.
    pub cache_capacity: usize,
    /// `geo.timeout_ms`: Default 1000.
    pub timeout_ms: u64,
}

impl Default for GeoConfig {
    fn default() -> Self {
        Self {
            url: "https://assets.adobetarget.com/v1/geo".into(),
            cache_ttl_secs: 3600,
            cache_capacity: 100_000,
            timeout_ms: 1000,
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `log.format`: `pretty` or `json`. Default pretty.
    pub format: String,
    /// `log.level`: a tracing filter, e.g. `info` or `offerd=debug`; `RUST_LOG` wins.
    pub level: String,
    /// `log.access`: one info line per HTTP request (method, path, status,
    /// duration_ms, request id, decisioning method). Default true.
    pub access: bool,
}

/// `[otel]`: OpenTelemetry traces over OTLP/HTTP, off unless `endpoint` is set.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtelConfig {
    /// `otel.endpoint`: the collector's OTLP/HTTP base URL (`http://collector:4318`);
    /// spans go to `<endpoint>/v1/traces`. Unset = no tracing. Also
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `otel.protocol`: `http/protobuf`, the one built in. Also
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: String,
    /// `otel.sample_ratio`: the share of new traces recorded, 0 to 1; a caller's
    /// `traceparent` decides for its request (sampled or not) whatever this is.
    /// Default 1. Also `OTEL_TRACES_SAMPLER_ARG`.
    pub sample_ratio: f64,
    /// `otel.service_name`: `service.name` of the spans. Default `offerd`. Also
    /// `OTEL_SERVICE_NAME`.
    pub service_name: String,
}

impl Default for OtelConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            protocol: "http/protobuf".into(),
            sample_ratio: 1.0,
            service_name: "offerd".into(),
        }
    }
}

impl OtelConfig {
    /// Where spans are sent (`<endpoint>/v1/traces`), or `None`: tracing is off.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.endpoint.as_deref().filter(|e| !e.trim().is_empty())?;
        Some(format!(
            "{}/v1/traces",
            endpoint.trim().trim_end_matches('/')
        ))
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: String| ConfigError::Invalid { key, reason };
        if let Some(url) = self.traces_url() {
            let parsed =
                url::Url::parse(&url).map_err(|e| invalid("otel.endpoint", e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    "otel.endpoint",
                    "must be an http:// or https:// URL".into(),
                ));
            }
        }
        if self.protocol != "http/protobuf" {
            let reason = format!("{:?}: only http/protobuf is built in", self.protocol);
            return Err(invalid("otel.protocol", reason));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(invalid(
                "otel.sample_ratio",
                "must be between 0 and 1".into(),
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(invalid("otel.service_name", "must not be empty".into()));
        }
        Ok(())
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
            access: true,
        }
    }
}

/// `[explorer]`: the decision explorer page (`GET /explorer`), served with the
/// operational endpoints.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplorerConfig {
    /// `explorer.enabled`: serve the decision explorer. Unset (the default) = on with
    /// the embedded demo artifact, off with any other: in production the page shows
    /// every activity, audience and offer of the account to whoever reaches the
    /// operations listener, so it is something to turn on deliberately (best with
    /// `server.admin_bind` or `server.protect_operations`).
    pub enabled: Option<bool>,
}

impl ExplorerConfig {
    /// Whether the explorer is served, given where the artifact comes from.
    pub fn is_enabled(&self, artifact: &ArtifactConfig) -> bool {
        self.enabled
            .unwrap_or_else(|| artifact.location == EMBEDDED_DEMO && artifact.payload.is_none())
    }
}

/// Loads the configuration: defaults, then the file (if it exists; a missing
/// default file is fine, a missing named file is not), then `env` entries starting
/// with `OFFERD_`, then `overrides` (dotted keys, e.g. `server.bind`).
pub fn load(
    file: Option<&Path>,
    file_required: bool,
    env: &HashMap<String, String>,
    overrides: &[(&str, String)],
) -> Result<Config, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        // Read here rather than by the config crate, so an error names the path given.
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let source = config::File::from_str(&text, config::FileFormat::Toml);
                builder = builder.add_source(Renamed(source));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file_required => {}
            Err(e) => {
                return Err(ConfigError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
    // The standard OTEL_* variables, as the keys they stand for: above the file,
    // below the OFFERD_ variables.
    let standard: HashMap<String, String> = OTEL_VARIABLES
        .iter()
        .filter_map(|(name, key)| Some((key.to_string(), env.get(*name)?.clone())))
        .collect();
    builder = builder.add_source(Renamed(environment(standard)));
    let env: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| is_config_variable(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Renamed per source (not by serde over the merged layers), so that the
    // environment wins over the file whichever name of a key either uses.
    builder = builder.add_source(Renamed(environment(env)));
    for (key, value) in overrides {
        builder = builder.set_override(aliases::current_name(key), value.clone())?;
    }
    let config: Config = builder.build()?.try_deserialize()?;
    config.validate()?;
    Ok(config)
}

/// `vars` (named `OFFERD_<SECTION>__<KEY>`) as a configuration source; values parsed
/// as numbers and booleans where they read so, `server.auth_tokens` as a list.
fn environment(vars: HashMap<String, String>) -> config::Environment {
    config::Environment::with_prefix("OFFERD")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("server.auth_tokens")
        .source(Some(vars))
}

/// True for `OFFERD_<SECTION>__<KEY>` with a known section.
fn is_config_variable(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("OFFERD_") else {
        return false;
    };
    let Some((section, key)) = rest.split_once("__") else {
        tracing::debug!(
            name,
            "ignoring an OFFERD_ variable that is no configuration key"
        );
        return false;
    };
    let known = SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(section));
    if !known || key.is_empty() {
        tracing::debug!(
            name,
            "ignoring an OFFERD_ variable that is no configuration key"
        );
    }
    known && !key.is_empty()
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        self.admin_addr()?;
        if self.server.auth_tokens.iter().any(|t| t.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                key: "server.auth_tokens",
                reason: "a token must not be empty".into(),
            });
        }
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_string(),
        };
        let server = &self.server;
        if server.drain_delay_secs > 0 && server.drain_delay_secs >= server.shutdown_grace_secs {
            return Err(invalid(
                "server.drain_delay_secs",
                "must be below server.shutdown_grace_secs (the drain delay is part of it)",
            ));
        }
        self.upstream.ca_roots()?;
        self.upstream.check_proxy()?;
        self.otel.check()?;
        if self.target.client.trim().is_empty() {
            return Err(invalid("target.client", "must not be empty"));
        }
        if !matches!(self.artifact.format.as_str(), "auto" | "json" | "bin") {
            return Err(invalid("artifact.format", "must be auto, json or bin"));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(invalid("log.format", "must be pretty or json"));
        }
        if self.decision.max_in_flight == 0 {
            return Err(invalid("decision.max_in_flight", "must be at least 1"));
        }
        if self.batcher.queue_capacity == 0 || self.batcher.max_notifications_per_request == 0 {
            return Err(invalid(
                "batcher",
                "queue_capacity and max_notifications_per_request must be at least 1",
            ));
        }
        let b = &self.batcher;
        if b.min_concurrency == 0 || b.max_concurrency < b.min_concurrency {
            return Err(invalid(
                "batcher.min_concurrency",
                "must be at least 1 and at most batcher.max_concurrency",
            ));
        }
        if self
            .spool
            .dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err(invalid(
                "spool.dir",
                "must not be empty (leave it unset for memory only)",
            ));
        }
        Ok(())
    }

    /// `server.bind` as an address.
    /// `server.admin_bind`, parsed; `None` when unset or empty.
    pub fn admin_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let Some(admin) = self.server.admin_bind.as_deref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        admin.parse().map(Some).map_err(|e| ConfigError::Invalid {
            key: "server.admin_bind",
            reason: format!("{admin:?} is not an address: {e}"),
        })
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|e| ConfigError::Invalid {
            key: "server.bind",
            reason: format!("{:?} is not an address: {e}", self.server.bind),
        })
    }

    /// The artifact location: the configured one, or the Target CDN URL as the SDKs
    /// build it (`<cdn>/<client>/<environment>/v1/[<property>/]rules.<json|bin>`).
    pub fn artifact_location(&self) -> String {
        if !self.artifact.location.trim().is_empty() {
            return self.artifact.location.clone();
        }
        let file = if self.artifact.format == "bin" {
            "rules.bin"
        } else {
            "rules.json"
        };
        let property = self
            .target
            .property_token
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        format!(
            "{}/{}/{}/v1/{property}{file}",
            self.artifact.cdn_base_url.trim_end_matches('/'),
            self.target.client,
            self.target.environment.to_lowercase(),
        )
    }

    /// Where the last good artifact is kept: `artifact.backup_dir`, else
    /// `<spool.dir>/artifact`; `None` when neither is set or `backup_dir` is `""`.
    pub fn artifact_backup_dir(&self) -> Option<std::path::PathBuf> {
        match &self.artifact.backup_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => self.spool.dir.as_ref().map(|spool| spool.join("artifact")),
        }
    }

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream.timeout_ms)
    }

    /// `batcher.timeout_ms` as a duration.
    pub fn notification_timeout(&self) -> Duration {
        Duration::from_millis(self.batcher.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_offline_demo() {
        let config = load(None, false, &HashMap::new(), &[]).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:8080");
        assert_eq!(
            config.target.decisioning_method,
            DecisioningMethod::OnDevice
        );
        assert_eq!(config.artifact.location, EMBEDDED_DEMO);
        assert!(!config.target.learn_location_hint);
    }

    #[test]
    fn the_explorer_is_on_with_the_demo_only_unless_told() {
        let demo = load(None, false, &HashMap::new(), &[]).unwrap();
        assert!(demo.explorer.is_enabled(&demo.artifact));
        let real = env(&[("OFFERD_ARTIFACT__LOCATION", "/srv/rules.json")]);
        let real = load(None, false, &real, &[]).unwrap();
        assert!(!real.explorer.is_enabled(&real.artifact));
        let told = env(&[
            ("OFFERD_ARTIFACT__LOCATION", "/srv/rules.json"),
            ("OFFERD_EXPLORER__ENABLED", "true"),
        ]);
        let told = load(None, false, &told, &[]).unwrap();
        assert!(told.explorer.is_enabled(&told.artifact));
        let off = env(&[("OFFERD_EXPLORER__ENABLED", "false")]);
        let off = load(None, false, &off, &[]).unwrap();
        assert!(!off.explorer.is_enabled(&off.artifact));
    }

    #[test]
    fn env_then_overrides_win() {
        let env = env(&[
            ("OFFERD_SERVER__BIND", "0.0.0.0:9000"),
            ("OFFERD_BATCHER__MAX_CONCURRENCY", "3000"),
            ("OFFERD_BATCHER__FLUSH_INTERVAL_MS", "70"),
            ("OFFERD_SPOOL__DIR", "/var/lib/offerd"),
            ("OFFERD_SPOOL__SYNC", "interval"),
            ("OFFERD_TARGET__DECISIONING_METHOD", "hybrid"),
            ("OTHER", "ignored"),
        ]);
        let config = load(None, false, &env, &[("server.bind", "127.0.0.1:1".into())]).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:1");
        assert_eq!(config.batcher.max_concurrency, 3000);
        assert_eq!(config.batcher.linger_ms, 70, "the old name still works");
        assert_eq!(
            config.spool.dir.as_deref(),
            Some(Path::new("/var/lib/offerd"))
        );
        assert_eq!(config.spool.sync, SyncMode::Interval);
        assert_eq!(config.target.decisioning_method, DecisioningMethod::Hybrid);
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let err = load(
            None,
            false,
            &HashMap::new(),
            &[("server.bind", "nope".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.bind"), "{err}");
        let err = load(
            None,
            false,
            &env(&[("OFFERD_TARGET__DECISIONING_METHOD", "magic")]),
            &[],
        );
        assert!(err.is_err());
    }

    #[test]
    fn otel_is_off_by_default_and_reads_the_standard_variables_below_offerds() {
        let config = load(None, false, &HashMap::new(), &[]).unwrap();
        assert_eq!(config.otel.traces_url(), None);
        let standard = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_SERVICE_NAME", "offerd-eu"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]);
        let config = load(None, false, &standard, &[]).unwrap();
        let url = config.otel.traces_url();
        assert_eq!(url.as_deref(), Some("http://collector:4318/v1/traces"));
        assert_eq!(config.otel.service_name, "offerd-eu");
        assert_eq!(config.otel.sample_ratio, 0.25);
        let mut both = standard.clone();
        both.insert("OFFERD_OTEL__SAMPLE_RATIO".into(), "0.5".into());
        assert_eq!(
            load(None, false, &both, &[]).unwrap().otel.sample_ratio,
            0.5
        );
        for (key, value) in [
            ("otel.sample_ratio", "1.5"),
            ("otel.protocol", "grpc"),
            ("otel.endpoint", "ftp://collector"),
        ] {
            let err = load(None, false, &HashMap::new(), &[(key, value.to_string())]);
            let err = err.unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn a_missing_ca_file_or_a_bad_proxy_stops_the_boot_naming_the_key() {
        let missing = [("upstream.ca_file", "/nonexistent/ca.pem".to_string())];
        let err = load(None, false, &HashMap::new(), &missing).unwrap_err();
        assert!(err.to_string().contains("upstream.ca_file"), "{err}");
        for proxy in ["not a url", "socks5://127.0.0.1:1080"] {
            let bad = [("upstream.proxy", proxy.to_string())];
            let err = load(None, false, &HashMap::new(), &bad).unwrap_err();
            assert!(err.to_string().contains("upstream.proxy"), "{err}");
        }
        let good = [("upstream.proxy", "http://proxy.corp:3128".to_string())];
        assert!(load(None, false, &HashMap::new(), &good).is_ok());
    }

    #[test]
    fn kubernetes_service_links_and_offerd_config_are_not_keys() {
        let env = env(&[
            ("OFFERD_PORT", "tcp://10.96.0.12:8080"),
            ("OFFERD_PORT_8080_TCP_ADDR", "10.96.0.12"),
            ("OFFERD_SERVICE_HOST", "10.96.0.12"),
            ("OFFERD_SERVICE_PORT_HTTP", "8080"),
            ("OFFERD_CONFIG", "/etc/offerd/config.toml"),
            ("OFFERD_NOSUCH__KEY", "x"),
            ("OFFERD_SERVER__BIND", "0.0.0.0:9000"),
        ]);
        let config = load(None, false, &env, &[]).unwrap();
        assert_eq!(config.server.bind, "0.0.0.0:9000");
    }

    #[test]
    fn auth_tokens_come_from_the_environment_as_a_list() {
        let env = env(&[("OFFERD_SERVER__AUTH_TOKENS", "alpha,beta")]);
        let config = load(None, false, &env, &[]).unwrap();
        assert_eq!(config.server.auth_tokens, ["alpha", "beta"]);
        assert!(!config.server.to_string().contains("alpha"), "never shown");
    }

    #[test]
    fn a_missing_named_file_is_an_error_naming_it_once() {
        let path = Path::new("/nonexistent/offerd.toml");
        let err = load(Some(path), true, &HashMap::new(), &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/offerd.toml"), "{text}");
        assert_eq!(text.matches("No such file").count(), 1, "{text}");
        assert!(
            std::error::Error::source(&err).is_none(),
            "printed once, no chain"
        );
        // The default file may be missing.
        load(Some(path), false, &HashMap::new(), &[]).unwrap();
    }

    #[test]
    fn an_unknown_key_is_named() {
        let dir = std::env::temp_dir().join(format!("offerd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[batcher]\nconcurrency = 3\n").unwrap();
        let err = load(Some(&path), true, &HashMap::new(), &[]).unwrap_err();
        assert!(err.to_string().contains("concurrency"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A config file in a fresh directory; removed by the caller.
    fn file_with(label: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "offerd-config-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("offerd.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_environment_wins_over_the_file_whatever_name_either_uses() {
        for (old, new) in ALIASES {
            let (section, old_key) = old.split_once('.').unwrap();
            let new_key = new.split_once('.').unwrap().1;
            let variable = |key: &str| format!("OFFERD_{section}__{key}").to_uppercase();
            // (name in the file, name in the environment)
            for (in_file, in_env) in [
                (new_key, old_key),
                (old_key, new_key),
                (old_key, old_key),
                (new_key, new_key),
            ] {
                let path = file_with("alias", &format!("[{section}]\n{in_file} = 11\n"));
                let from_file = load(Some(&path), true, &HashMap::new(), &[]).unwrap();
                let env = env(&[(variable(in_env).as_str(), "77")]);
                let layered = load(Some(&path), true, &env, &[]);
                let flag = load(Some(&path), true, &env, &[(*old, "99".into())]);
                std::fs::remove_dir_all(path.parent().unwrap()).ok();
                let value = |c: &Config| serde_json::to_value(c).unwrap()[section][new_key].clone();
                assert_eq!(value(&from_file), 11, "{old}: the file alone, as {in_file}");
                let layered = layered.unwrap_or_else(|e| panic!("{in_file} + {in_env}: {e}"));
                assert_eq!(
                    value(&layered),
                    77,
                    "{in_file} in the file, {in_env} in the env"
                );
                let flag = flag.unwrap_or_else(|e| panic!("{in_file} + {in_env} + flag: {e}"));
                assert_eq!(value(&flag), 99, "an override by its old name wins too");
            }
        }
    }

    #[test]
    fn both_names_in_one_source_is_an_error_naming_the_key() {
        let path = file_with("both", "[batcher]\nlinger_ms = 1\nflush_interval_ms = 2\n");
        let err = load(Some(&path), true, &HashMap::new(), &[]).unwrap_err();
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
        assert!(err.to_string().contains("flush_interval_ms"), "{err}");
        let both = env(&[
            ("OFFERD_BATCHER__LINGER_MS", "1"),
            ("OFFERD_BATCHER__FLUSH_INTERVAL_MS", "2"),
        ]);
        let err = load(None, false, &both, &[]).unwrap_err();
        assert!(err.to_string().contains("linger_ms"), "{err}");
    }

    #[test]
    fn the_cdn_url_is_built_like_the_sdks() {
        let mut config = Config::default();
        config.artifact.location.clear();
        config.target.client = "acme".into();
        assert_eq!(
            config.artifact_location(),
            "https://assets.adobetarget.com/acme/production/v1/rules.json"
        );
        config.artifact.format = "bin".into();
        config.target.property_token = Some("tok".into());
        assert_eq!(
            config.artifact_location(),
            "https://assets.adobetarget.com/acme/production/v1/tok/rules.bin"
        );
    }
}
