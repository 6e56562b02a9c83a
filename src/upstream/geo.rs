//! IP → location lookups at Target's geo endpoint, for artifacts with geo targeting.
//!
//! The endpoint answers a GET with the location of the address in `x-forwarded-for`
//! (or of the caller when the header is absent) as JSON with header-named fields
//! (`x-geo-city`, `x-geo-latitude`, ...). Answers are cached per address in a
//! `DashMap` (many decisions look up concurrently) for `geo.cache_ttl_secs`, bounded by
//! `geo.cache_capacity`. Failures are returned, counted and never cached: the caller
//! decides without geo and the next request tries again.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tracing::Instrument;

use super::UpstreamError;
use super::artifact_source::{read_capped, request_error, status_error};
use super::egress::Egress;
use crate::config::GeoConfig;
use crate::metrics::Metrics;
use crate::model::Geo;
use crate::otel;

/// The cache key of lookups without an address (the caller's own address).
const OWN_ADDRESS_KEY: &str = "";

/// A geo answer is a few hundred bytes; anything far larger is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most often a full cache is swept for expired entries: a sweep walks every
/// entry, so doing it on every miss of a full cache would cost O(capacity) per request.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Looks up an IP's location at Target's geo endpoint, cached.
pub struct GeoClient {
    /// Where `geo_lookups{result}` is counted.
    pub metrics: Arc<Metrics>,
    url: String,
    http: reqwest::Client,
    timeout: Duration,
    ttl: Duration,
    capacity: usize,
    cache: DashMap<String, (Geo, Instant)>,
    /// When the last sweep ran, in ms since `created`; claimed with a CAS so that
    /// concurrent misses do not sweep together.
    last_sweep_ms: AtomicU64,
    created: Instant,
}

impl GeoClient {
    /// A client for `config.url` with `config.timeout_ms` per lookup, through `egress`.
    pub fn new(
        config: &GeoConfig,
        egress: &Egress,
        metrics: Arc<Metrics>,
    ) -> Result<Self, UpstreamError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = egress
            .client_builder()?
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| UpstreamError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            metrics,
            url: config.url.clone(),
            http,
            timeout,
            ttl: Duration::from_secs(config.cache_ttl_secs),
            capacity: config.cache_capacity,
            cache: DashMap::new(),
            last_sweep_ms: AtomicU64::new(0),
            created: Instant::now(),
        })
    }

    /// Replaces the cache TTL with a finer one than the config's whole seconds (tests).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Addresses cached now (expired entries included until they are evicted).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// `ip = None` asks for the caller's own address.
    pub async fn lookup(&self, ip: Option<&str>) -> Result<Geo, UpstreamError> {
        let ip = match ip.map(str::trim) {
            Some(ip) => Some(self.checked_ip(ip)?),
            None => None,
        };
        let key = ip.as_deref().unwrap_or(OWN_ADDRESS_KEY);
        if let Some(geo) = self.cached_geo(key) {
            self.count("hit");
            return Ok(geo);
        }
        let started = std::time::Instant::now();
        let span = otel::client_span("GET geo", "GET", "geo");
        let fetched = self.fetch(ip.as_deref()).instrument(span.clone()).await;
        super::record_outcome(&span, &fetched);
        self.metrics
            .upstream_latency
            .with_label_values(&["geo"])
            .observe(started.elapsed().as_secs_f64());
        match fetched {
            Ok(geo) => {
                self.count("miss");
                self.remember(key, &geo);
                Ok(geo)
            }
            Err(e) => {
                self.count("failure");
                // Debug only: the caller handles (and logs) the failure; the address
                // is visitor data.
                tracing::debug!(error = %e, "geo_lookup_failed");
                Err(e)
            }
        }
    }

    /// Refuses what is not an IP address before it reaches a header or the cache.
    fn checked_ip(&self, ip: &str) -> Result<String, UpstreamError> {
        match ip.parse::<IpAddr>() {
            Ok(addr) => Ok(addr.to_string()),
            Err(_) => {
                self.count("failure");
                Err(UpstreamError::Other("not an IP address".into()))
            }
        }
    }

    fn cached_geo(&self, key: &str) -> Option<Geo> {
        let fresh = self.cache.get(key).and_then(|entry| {
            let (geo, at) = entry.value();
            (at.elapsed() < self.ttl).then(|| geo.clone())
        });
        if fresh.is_none() {
            // Drop a stale entry now; `remove_if` re-checks, so a fresh answer stored
            // by a concurrent lookup in between is kept.
            self.cache
                .remove_if(key, |_, (_, at)| at.elapsed() >= self.ttl);
        }
        fresh
    }

    async fn fetch(&self, ip: Option<&str>) -> Result<Geo, UpstreamError> {
        let mut request = self.http.get(&self.url);
        if let Some(ip) = ip {
            request = request.header("x-forwarded-for", ip);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| request_error(&e, self.timeout))?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        let body = read_capped(&mut response, MAX_ANSWER_BYTES, self.timeout).await?;
        let payload: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Decode(format!("geo answer is not JSON: {e}")))?;
        Ok(geo_from_payload(&payload))
    }

    /// Caches an answer within the capacity.
    ///
    /// When the cache is full, expired entries are swept (at most once per
    /// [`SWEEP_EVERY`]); if it is still full, one arbitrary entry is evicted. Evicting
    /// beats refusing to cache: the newest address is the likeliest to be asked again
    /// soon (the same visitor's next page), while a full cache of old, unexpired
    /// entries would otherwise turn every new visitor into an upstream call for up to
    /// a TTL. The bound is approximate under concurrency: lookups racing past the
    /// length check may each add one entry.
    fn remember(&self, key: &str, geo: &Geo) {
        if self.capacity == 0 {
            return;
        }
        if self.cache.len() >= self.capacity && !self.cache.contains_key(key) {
            self.sweep_expired();
            if self.cache.len() >= self.capacity {
                self.evict_one();
            }
        }
        self.cache
            .insert(key.to_string(), (geo.clone(), Instant::now()));
    }

    fn sweep_expired(&self) {
        let now_ms = self.elapsed_ms();
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let due = last == 0 || now_ms.saturating_sub(last) >= SWEEP_EVERY.as_millis() as u64;
        if due
            && self
                .last_sweep_ms
                .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
    }

    fn evict_one(&self) {
        // The key is cloned and the iterator dropped before removing: removing while
        // the iterator holds its shard's read lock would deadlock.
        let victim = self.cache.iter().next().map(|entry| entry.key().clone());
        if let Some(victim) = victim {
            self.cache.remove(&victim);
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn count(&self, result: &str) {
        self.metrics.geo_lookups.with_label_values(&[result]).inc();
    }
}

/// Reads the geo endpoint's answer: header-named fields (`x-geo-city`, ...).
pub fn geo_from_payload(payload: &serde_json::Value) -> Geo {
    let text = |key: &str| match payload.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let number = |key: &str| match payload.get(key) {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => js_parse_float(s),
        _ => None,
    };
    Geo {
        latitude: number("x-geo-latitude"),
        longitude: number("x-geo-longitude"),
        country_code: text("x-geo-country-code"),
        state_code: text("x-geo-region-code"),
        city: text("x-geo-city"),
        zip: text("x-geo-zip"),
        ..Default::default()
    }
}

/// JavaScript's `parseFloat` for the plain decimal forms the geo endpoint returns.
fn js_parse_float(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse::<f64>().ok()
}

#[cfg(test)]
mod tests;
