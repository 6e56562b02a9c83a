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

use serde::Deserialize;

use crate::model::DecisioningMethod;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Source(#[from] config::ConfigError),
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Everything offerd can be configured with. Each field documents its key; the
/// environment variable is `OFFERD_<SECTION>__<KEY>` in upper case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub target: TargetConfig,
    pub artifact: ArtifactConfig,
    pub upstream: UpstreamConfig,
    pub decision: DecisionConfig,
    pub batcher: BatcherConfig,
    pub geo: GeoConfig,
    pub log: LogConfig,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize)]
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[target]`: the Target account and how to decide.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArtifactConfig {
    /// `artifact.location`: a file path, `file://` or `http(s)://` URL. Empty = the
    /// Target CDN URL built from `cdn_base_url`, client and environment.
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
}

impl Default for ArtifactConfig {
    fn default() -> Self {
        Self {
            location: "examples/demo-artifact.json".into(),
            payload: None,
            format: "auto".into(),
            cdn_base_url: "https://assets.adobetarget.com".into(),
            polling_interval_secs: 300,
            timeout_ms: 10_000,
        }
    }
}

/// `[upstream]`: Target's Delivery API.
#[derive(Debug, Clone, Deserialize)]
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
    /// `upstream.timeout_ms`: Delivery API timeout. Default 3000 (the SDKs' default).
    pub timeout_ms: u64,
    /// `upstream.offline`: never call Target. Server-side calls answer 503 and owed
    /// notifications are counted as dropped (reason `offline`). Default true: the
    /// built-in defaults are the offline demo; set false in production.
    pub offline: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            server_domain: None,
            secure: true,
            port: None,
            pin_server_domain: false,
            timeout_ms: 3000,
            offline: true,
        }
    }
}

/// `[decision]`: the decision actor pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionConfig {
    /// `decision.actors`: decision actors (threads); 0 = one per core. Default 0.
    pub actors: usize,
    /// `decision.max_in_flight`: decisions queued or running before offerd answers
    /// 503 `overloaded`. Default 1024.
    pub max_in_flight: usize,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            actors: 0,
            max_in_flight: 1024,
        }
    }
}

/// `[batcher]`: how notifications and telemetry reach Target.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatcherConfig {
    /// `batcher.queue_capacity`: notifications held before new ones are dropped
    /// (counted). Default 50000 (each held visitor+session keeps its context: a few KiB).
    pub queue_capacity: usize,
    /// `batcher.flush_interval_ms`: longest a notification waits. Default 1000.
    pub flush_interval_ms: u64,
    /// `batcher.max_notifications_per_request`: Default 50.
    pub max_notifications_per_request: usize,
    /// `batcher.concurrency`: requests in flight to Target at once. Default 64: Target
    /// takes one visitor per request, so at a few tens of milliseconds per call this
    /// bounds notification throughput (64 / 50 ms ≈ 1300 requests/s).
    pub concurrency: usize,
    /// `batcher.max_retries`: retries of a retryable failure. Default 5.
    pub max_retries: u32,
    /// `batcher.retry_base_ms` / `retry_max_ms`: exponential backoff bounds (with
    /// full jitter). Defaults 200 / 10000.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// `batcher.telemetry_capacity`: telemetry entries held. Default 1000.
    pub telemetry_capacity: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 50_000,
            flush_interval_ms: 1000,
            max_notifications_per_request: 50,
            concurrency: 64,
            max_retries: 5,
            retry_base_ms: 200,
            retry_max_ms: 10_000,
            telemetry_capacity: 1000,
        }
    }
}

/// `[geo]`: IP to geo lookups.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `log.format`: `pretty` or `json`. Default pretty.
    pub format: String,
    /// `log.level`: a tracing filter, e.g. `info` or `offerd=debug`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
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
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(file_required));
    }
    let env: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("OFFERD_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix("OFFERD")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(env)),
    );
    for (key, value) in overrides {
        builder = builder.set_override(*key, value.clone())?;
    }
    let config: Config = builder.build()?.try_deserialize()?;
    config.validate()?;
    Ok(config)
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_string(),
        };
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
        if self.batcher.concurrency == 0 {
            return Err(invalid("batcher.concurrency", "must be at least 1"));
        }
        Ok(())
    }

    /// `server.bind` as an address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|e| ConfigError::Invalid {
            key: "server.bind",
            reason: format!("{:?} is not an address: {e}", self.server.bind),
        })
    }

    /// Decision actors to start.
    pub fn decision_actors(&self) -> usize {
        match self.decision.actors {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
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

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream.timeout_ms)
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
        assert_eq!(config.artifact.location, "examples/demo-artifact.json");
        assert!(!config.target.learn_location_hint);
    }

    #[test]
    fn env_then_overrides_win() {
        let env = env(&[
            ("OFFERD_SERVER__BIND", "0.0.0.0:9000"),
            ("OFFERD_BATCHER__CONCURRENCY", "3"),
            ("OFFERD_TARGET__DECISIONING_METHOD", "hybrid"),
            ("OTHER", "ignored"),
        ]);
        let config = load(None, false, &env, &[("server.bind", "127.0.0.1:1".into())]).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:1");
        assert_eq!(config.batcher.concurrency, 3);
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
