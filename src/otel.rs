//! OpenTelemetry traces over OTLP/HTTP (protobuf), off unless `otel.endpoint` is set.
//!
//! Owns the tracer provider (spans are exported in batches by the SDK's own thread, off
//! the request path), the W3C trace-context propagator, and the span target
//! [`TARGET`]. Spans under [`TARGET`] go to OpenTelemetry only, and every other span and
//! event to the log only (`main.rs` wires the two layers so), so no log field — a
//! visitor id, a token — ever becomes a span attribute: each span's attributes are the
//! few written here and at its call site.
//!
//! Used by `main.rs` ([`Otel::install`], [`Otel::layer`], [`Otel::shutdown`]), the HTTP
//! adapter ([`server_span`]: one server span per request, a caller's `traceparent` as
//! its parent), the client (the decision span) and the upstream clients ([`client_span`]
//! and [`inject`]: each call to Target is a span, and carries `traceparent`).

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::OtelConfig;

/// The target of offerd's OpenTelemetry spans: exported, never logged.
pub const TARGET: &str = "offerd::otel";

/// Set once the provider is installed: spans are built (and their attributes
/// formatted) only then, so tracing off costs a load per request.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// True when spans are exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The installed tracer provider; [`Otel::shutdown`] exports what is left.
pub struct Otel {
    provider: SdkTracerProvider,
}

impl Otel {
    /// Builds the exporter and the provider for `config`, or `None` when tracing is
    /// off. Must run outside an async runtime (the exporter's blocking HTTP client).
    pub fn install(config: &OtelConfig, version: &str) -> anyhow::Result<Option<Self>> {
        let Some(url) = config.traces_url() else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .build()?;
        let resource = Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .with_attributes([
                KeyValue::new("service.version", version.to_string()),
                KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
            ])
            .build();
        // A caller's sampling decision wins; new traces are kept at the ratio.
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        global::set_text_map_propagator(TraceContextPropagator::new());
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Some(Self { provider }))
    }

    /// The tracing layer that turns spans of [`TARGET`] (and only those) into
    /// OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let tracer = self.provider.tracer("offerd");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.target() == TARGET
            }))
    }

    /// Exports the spans still queued; at exit.
    pub fn shutdown(self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "OpenTelemetry: spans left unexported at exit");
        }
    }
}

/// One server span for an HTTP request (semantic conventions: `http.request.method`,
/// `http.route`; `http.response.status_code` is recorded by [`record_status`]), the
/// caller's `traceparent`/`tracestate` in `headers` as its parent. `Span::none()` when
/// tracing is off.
pub fn server_span(method: &str, route: &str, headers: &dyn Extractor) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "HTTP request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(headers);
    // Fails only for a span no layer records (tracing off): nothing to parent then.
    let _ = span.set_parent(parent);
    span
}

/// Records the answer's status on a server or client span; 5xx marks it an error.
pub fn record_status(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// Marks a span failed without an answer (a timeout, a refused connection).
pub fn record_error(span: &Span) {
    span.record("otel.status_code", "error");
}

/// A client span for a call to Target: `name` (`POST delivery`, `GET artifact`, ...),
/// the HTTP method, and what is being done (`offerd.upstream`). `Span::none()` when
/// tracing is off.
pub fn client_span(name: &'static str, method: &'static str, upstream: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "upstream call",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.response.status_code = tracing::field::Empty,
        offerd.upstream = upstream,
        offerd.notifications = tracing::field::Empty,
    )
}

/// Writes the current span's `traceparent` (and `tracestate`) into `headers`, so the
/// caller's trace continues at Target. Nothing when tracing is off.
pub fn inject(headers: &mut http::HeaderMap) {
    if !enabled() {
        return;
    }
    let context = Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut Headers(headers));
}

/// `http::HeaderMap` as a propagation carrier.
struct Headers<'a>(&'a mut http::HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        let name = http::HeaderName::from_bytes(key.as_bytes());
        let value = http::HeaderValue::from_str(&value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.0.insert(name, value);
        }
    }
}
