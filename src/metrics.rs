//! Prometheus metrics: one registry, every series offerd exports, shared as
//! `Arc<Metrics>` by the HTTP layer, the actors and the upstream clients.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Why a notification was given up on (`notifications_dropped_total{reason}`).
pub const DROP_REASONS: [&str; 8] = [
    // the in-memory queue (no spool) or the batcher's mailbox was full
    "overflow",
    // the spool reached spool.max_bytes
    "spool_full",
    // Target refused it (a 4xx, isolated to this one notification)
    "rejected",
    // older than batcher.max_age_secs and still not accepted
    "expired",
    // upstream.offline: nothing is sent
    "offline",
    // memory only: not sent by the shutdown deadline
    "shutdown",
    // memory only: held by a Batcher that died (with a spool they are replayed)
    "crash",
    // the request could not be built or sent at all (a bug or a bad setting)
    "invalid",
];

/// Every series offerd exports.
pub struct Metrics {
    registry: Registry,
    /// `process_*` (CPU, memory, file descriptors): unprefixed, as every exporter names them.
    process: Registry,
    /// 1, labelled with offerd's version.
    pub build_info: IntGaugeVec,
    /// HTTP requests by endpoint, method and status code.
    pub http_requests: IntCounterVec,
    /// HTTP latency by endpoint, seconds.
    pub http_latency: HistogramVec,
    /// get_offers calls by decisioning method actually used.
    pub decisions: IntCounterVec,
    /// Decision time on-device, seconds.
    pub decision_latency: Histogram,
    /// Requests refused with 503 because `decision.max_in_flight` decisions were in flight.
    pub overloaded: IntCounter,
    /// Artifact refreshes by result: success, not_modified, failure.
    pub artifact_refreshes: IntCounterVec,
    /// 1 for the loaded artifact's version label.
    pub artifact_info: IntGaugeVec,
    /// Unix time (seconds) the loaded artifact was fetched; age = now - this.
    pub artifact_loaded_at: IntGauge,
    /// Seconds since the loaded artifact was fetched (for a backup: since the CDN last
    /// confirmed it), updated at scrape time.
    pub artifact_age: IntGauge,
    /// `generatedAt` of the loaded artifact, Unix seconds (0 if unknown).
    pub artifact_generated_at: IntGauge,
    /// 1 while the artifact in use is the backup read at start (the CDN has not
    /// answered yet), else 0.
    pub artifact_backup_served: IntGauge,
    /// Notifications held in the batcher's memory: queued, in flight or backing off.
    pub batcher_queue_depth: IntGauge,
    /// Notifications owed to Target by calls (accepted or refused).
    pub notifications_owed: IntCounter,
    /// Age of the oldest notification held in memory, seconds (0 when none).
    pub notifications_oldest_age: IntGauge,
    /// The adaptive limit on notification requests in flight.
    pub notification_concurrency_limit: IntGauge,
    /// Notification requests in flight now.
    pub notification_requests_in_flight: IntGauge,
    /// Notifications per request sent to Target (the batching factor is sum / count).
    pub notifications_per_request: Histogram,
    /// Latency of notification requests to Target, seconds, by result.
    pub notification_upstream_latency: HistogramVec,
    /// Records in the spool (owed, not yet acknowledged by Target).
    pub spool_records: IntGauge,
    /// Record bytes in the spool.
    pub spool_bytes: IntGauge,
    /// `spool.max_bytes` when a spool is configured (else 0): the bound the alert on
    /// `spool_bytes` divides by.
    pub spool_max_bytes: IntGauge,
    /// Spool commit (write and fsync) time, seconds.
    pub spool_commit_latency: Histogram,
    /// Spool storage failures (the notifications then stay in memory only).
    pub spool_errors: IntCounter,
    /// How long calls waited for the notification backlog to shrink (backpressure).
    pub backpressure_wait: Histogram,
    /// Actors restarted by the Supervisor after they died, by actor.
    pub actor_restarts: IntCounterVec,
    /// Notifications delivered to Target.
    pub notifications_sent: IntCounter,
    /// Notification sends retried after a retryable failure.
    pub notifications_retried: IntCounter,
    /// Notifications given up on, by reason (see [`DROP_REASONS`]).
    pub notifications_dropped: IntCounterVec,
    /// Telemetry entries dropped because their buffer was full.
    pub telemetry_dropped: IntCounter,
    /// Geo lookups by result: hit, miss, failure.
    pub geo_lookups: IntCounterVec,
    /// Calls to Target's Delivery API by purpose and result.
    pub upstream_requests: IntCounterVec,
    /// Time of each call to an upstream, seconds: `delivery` (decisions),
    /// `notifications`, `artifact`, `geo`.
    pub upstream_latency: HistogramVec,
}

impl Metrics {
    /// Creates and registers every series.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("offerd".into()), None).unwrap_or_default();
        let m = Self {
            http_requests: counter_vec(
                "http_requests_total",
                "HTTP requests",
                &["endpoint", "method", "status"],
            ),
            build_info: gauge_vec("build_info", "offerd build", &["version"]),
            process: Registry::new(),
            http_latency: histogram_vec(
                "http_request_duration_seconds",
                "HTTP latency",
                &["endpoint"],
            ),
            decisions: counter_vec(
                "decisions_total",
                "get_offers calls by decisioning method",
                &["method"],
            ),
            decision_latency: histogram("decision_duration_seconds", "on-device decision time"),
            overloaded: counter(
                "overloaded_total",
                "requests refused because decision.max_in_flight decisions were in flight",
            ),
            artifact_refreshes: counter_vec(
                "artifact_refreshes_total",
                "artifact refreshes",
                &["result"],
            ),
            artifact_info: gauge_vec("artifact_info", "loaded artifact", &["version"]),
            artifact_loaded_at: gauge(
                "artifact_loaded_timestamp_seconds",
                "when the artifact was fetched",
            ),
            artifact_age: gauge(
                "artifact_age_seconds",
                "seconds since the artifact was fetched",
            ),
            artifact_generated_at: gauge(
                "artifact_generated_timestamp_seconds",
                "artifact generatedAt",
            ),
            artifact_backup_served: gauge(
                "artifact_backup_served",
                "1 while the artifact in use is the backup read at start",
            ),
            batcher_queue_depth: gauge(
                "batcher_queue_depth",
                "notifications held in memory: queued, in flight or backing off",
            ),
            notifications_owed: counter(
                "notifications_owed_total",
                "notifications owed to Target by calls",
            ),
            notifications_oldest_age: gauge(
                "notifications_oldest_age_seconds",
                "age of the oldest notification held in memory",
            ),
            notification_concurrency_limit: gauge(
                "notification_concurrency_limit",
                "adaptive limit on notification requests in flight",
            ),
            notification_requests_in_flight: gauge(
                "notification_requests_in_flight",
                "notification requests in flight",
            ),
            notifications_per_request: Histogram::with_opts(
                HistogramOpts::new(
                    "notifications_per_request",
                    "notifications per request to Target (batching factor = sum / count)",
                )
                .buckets(vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]),
            )
            .expect("valid histogram"),
            notification_upstream_latency: histogram_vec(
                "notification_upstream_duration_seconds",
                "notification requests to Target",
                &["result"],
            ),
            spool_records: gauge("spool_records", "records in the notification spool"),
            spool_bytes: gauge("spool_bytes", "record bytes in the notification spool"),
            spool_max_bytes: gauge(
                "spool_max_bytes",
                "spool.max_bytes: the spool's bound (0 without a spool)",
            ),
            spool_commit_latency: histogram(
                "spool_commit_duration_seconds",
                "spool commit time (write and fsync)",
            ),
            spool_errors: counter("spool_errors_total", "spool storage failures"),
            backpressure_wait: histogram(
                "notification_backpressure_wait_seconds",
                "time calls waited for the notification backlog to shrink",
            ),
            actor_restarts: counter_vec(
                "actor_restarts_total",
                "actors restarted after they died",
                &["actor"],
            ),
            notifications_sent: counter(
                "notifications_sent_total",
                "notifications delivered to Target",
            ),
            notifications_retried: counter(
                "notifications_retried_total",
                "notification sends retried",
            ),
            notifications_dropped: counter_vec(
                "notifications_dropped_total",
                "notifications given up on",
                &["reason"],
            ),
            telemetry_dropped: counter(
                "telemetry_dropped_total",
                "telemetry entries dropped (buffer full)",
            ),
            geo_lookups: counter_vec("geo_lookups_total", "geo lookups", &["result"]),
            upstream_requests: counter_vec(
                "upstream_requests_total",
                "Delivery API calls",
                &["purpose", "result"],
            ),
            upstream_latency: histogram_vec(
                "upstream_request_duration_seconds",
                "calls to Target's Delivery API, the artifact CDN and geo",
                &["upstream"],
            ),
            registry,
        };
        m.register_all();
        m.initialize_labels();
        m
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.http_requests.clone()),
            Box::new(self.build_info.clone()),
            Box::new(self.http_latency.clone()),
            Box::new(self.decisions.clone()),
            Box::new(self.decision_latency.clone()),
            Box::new(self.overloaded.clone()),
            Box::new(self.artifact_refreshes.clone()),
            Box::new(self.artifact_info.clone()),
            Box::new(self.artifact_loaded_at.clone()),
            Box::new(self.artifact_age.clone()),
            Box::new(self.artifact_generated_at.clone()),
            Box::new(self.artifact_backup_served.clone()),
            Box::new(self.batcher_queue_depth.clone()),
            Box::new(self.notifications_sent.clone()),
            Box::new(self.notifications_owed.clone()),
            Box::new(self.notifications_oldest_age.clone()),
            Box::new(self.notification_concurrency_limit.clone()),
            Box::new(self.notification_requests_in_flight.clone()),
            Box::new(self.notifications_per_request.clone()),
            Box::new(self.notification_upstream_latency.clone()),
            Box::new(self.spool_records.clone()),
            Box::new(self.spool_bytes.clone()),
            Box::new(self.spool_max_bytes.clone()),
            Box::new(self.spool_commit_latency.clone()),
            Box::new(self.spool_errors.clone()),
            Box::new(self.backpressure_wait.clone()),
            Box::new(self.actor_restarts.clone()),
            Box::new(self.notifications_retried.clone()),
            Box::new(self.notifications_dropped.clone()),
            Box::new(self.telemetry_dropped.clone()),
            Box::new(self.geo_lookups.clone()),
            Box::new(self.upstream_requests.clone()),
            Box::new(self.upstream_latency.clone()),
        ];
        for collector in collectors {
            // Names are fixed and distinct, so registration cannot collide.
            let _ = self.registry.register(collector);
        }
        // Linux only (/proc); elsewhere the family is simply absent.
        let process = prometheus::process_collector::ProcessCollector::for_self();
        let _ = self.process.register(Box::new(process));
    }

    /// Every known label value starts at 0, so alerts on a series work before its
    /// first event.
    fn initialize_labels(&self) {
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for reason in DROP_REASONS {
            self.notifications_dropped.with_label_values(&[reason]);
        }
        for result in ["ok", "error"] {
            self.notification_upstream_latency
                .with_label_values(&[result]);
        }
        for upstream in ["delivery", "notifications", "artifact", "geo"] {
            self.upstream_latency.with_label_values(&[upstream]);
        }
        for actor in ["batcher", "refresher"] {
            self.actor_restarts.with_label_values(&[actor]);
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

// Metric names and label sets below are constants, so construction cannot fail; a
// failure would be a programming error caught by the unit test.
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid counter")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter vec")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid gauge")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge vec")
}

fn histogram(name: &str, help: &str) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(latency_buckets()))
        .expect("valid histogram")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(latency_buckets()),
        labels,
    )
    .expect("valid histogram vec")
}

/// 50 µs to 5 s: on-device decisions take tens of microseconds, upstream calls hundreds
/// of milliseconds.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1.0, 2.5, 5.0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_renders_with_the_offerd_prefix() {
        let m = Metrics::new();
        m.overloaded.inc();
        m.notifications_dropped
            .with_label_values(&["overflow"])
            .inc();
        m.http_latency.with_label_values(&["offers"]).observe(0.001);
        let text = m.render();
        assert!(text.contains("offerd_overloaded_total 1"), "{text}");
        assert!(
            text.contains("offerd_notifications_dropped_total{reason=\"overflow\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("offerd_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
