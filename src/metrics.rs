//! Prometheus metrics: one registry, every series offerd exports, shared as
//! `Arc<Metrics>` by the HTTP layer, the actors and the upstream clients.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every series offerd exports.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by endpoint and status code.
    pub http_requests: IntCounterVec,
    /// HTTP latency by endpoint, seconds.
    pub http_latency: HistogramVec,
    /// get_offers calls by decisioning method actually used.
    pub decisions: IntCounterVec,
    /// Decision time on-device, seconds.
    pub decision_latency: Histogram,
    /// Requests refused with 503 because the decision pool was full.
    pub overloaded: IntCounter,
    /// Artifact refreshes by result: success, not_modified, failure.
    pub artifact_refreshes: IntCounterVec,
    /// 1 for the loaded artifact's version label.
    pub artifact_info: IntGaugeVec,
    /// Unix time (seconds) the loaded artifact was fetched; age = now - this.
    pub artifact_loaded_at: IntGauge,
    /// Seconds since the loaded artifact was fetched, updated at scrape time.
    pub artifact_age: IntGauge,
    /// `generatedAt` of the loaded artifact, Unix seconds (0 if unknown).
    pub artifact_generated_at: IntGauge,
    /// Notification requests waiting in the batcher.
    pub batcher_queue_depth: IntGauge,
    /// Notifications delivered to Target.
    pub notifications_sent: IntCounter,
    /// Notification sends retried after a retryable failure.
    pub notifications_retried: IntCounter,
    /// Notifications given up on, by reason (overflow, rejected, retries_exhausted, shutdown).
    pub notifications_dropped: IntCounterVec,
    /// Telemetry entries dropped because their buffer was full.
    pub telemetry_dropped: IntCounter,
    /// Geo lookups by result: hit, miss, failure.
    pub geo_lookups: IntCounterVec,
    /// Calls to Target's Delivery API by purpose and result.
    pub upstream_requests: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every series.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("offerd".into()), None).unwrap_or_default();
        let m = Self {
            http_requests: counter_vec(
                "http_requests_total",
                "HTTP requests",
                &["endpoint", "status"],
            ),
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
                "requests refused because the decision pool was full",
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
            batcher_queue_depth: gauge(
                "batcher_queue_depth",
                "notification requests waiting to be sent",
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
            registry,
        };
        m.register_all();
        m
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.http_requests.clone()),
            Box::new(self.http_latency.clone()),
            Box::new(self.decisions.clone()),
            Box::new(self.decision_latency.clone()),
            Box::new(self.overloaded.clone()),
            Box::new(self.artifact_refreshes.clone()),
            Box::new(self.artifact_info.clone()),
            Box::new(self.artifact_loaded_at.clone()),
            Box::new(self.artifact_age.clone()),
            Box::new(self.artifact_generated_at.clone()),
            Box::new(self.batcher_queue_depth.clone()),
            Box::new(self.notifications_sent.clone()),
            Box::new(self.notifications_retried.clone()),
            Box::new(self.notifications_dropped.clone()),
            Box::new(self.telemetry_dropped.clone()),
            Box::new(self.geo_lookups.clone()),
            Box::new(self.upstream_requests.clone()),
        ];
        for collector in collectors {
            // Names are fixed and distinct, so registration cannot collide.
            let _ = self.registry.register(collector);
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
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
