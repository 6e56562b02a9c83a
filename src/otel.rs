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

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue, global};
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

/// `otel.sample_ratio`, as `f64` bits.
static SAMPLE_RATIO: AtomicU64 = AtomicU64::new(0);

/// True when spans are exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The sampling decision of the HTTP request being served, and its caller's trace
/// context: every span and call made while serving it follows them.
///
/// Why offerd samples at the head rather than leaving it to the SDK's sampler: a span
/// the SDK then drops has already cost its building (attributes, the bridge's
/// bookkeeping), so `sample_ratio` 0.01 cost 13 % of the req/s where 1.0 cost 28 %
/// (`loadtest/otel-overhead.sh`). Decided here, an unsampled request builds no span.
#[derive(Clone)]
pub struct RequestTrace {
    sampled: bool,
    caller: Context,
}

tokio::task_local! {
    static REQUEST: RequestTrace;
}

/// A new trace is recorded with probability `otel.sample_ratio`.
fn draw() -> bool {
    let ratio = f64::from_bits(SAMPLE_RATIO.load(Ordering::Relaxed));
    ratio >= 1.0 || (ratio > 0.0 && rand::random::<f64>() < ratio)
}

/// Whether a span started here is recorded: inside a request, as its server span was;
/// elsewhere (notification requests, artifact downloads: new traces), a draw at
/// `otel.sample_ratio`.
pub fn recording() -> bool {
    enabled() && REQUEST.try_with(|r| r.sampled).unwrap_or_else(|_| draw())
}

/// Runs `serve` (one HTTP request) under `trace`, from [`server_span`].
pub async fn in_request<F: Future>(trace: Option<RequestTrace>, serve: F) -> F::Output {
    match trace {
        Some(trace) => REQUEST.scope(trace, serve).await,
        None => serve.await,
    }
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
        // offerd decides which traces are recorded before it builds a span (see
        // [`RequestTrace`]): every span that reaches the SDK is kept.
        SAMPLE_RATIO.store(config.sample_ratio.to_bits(), Ordering::Relaxed);
        let sampler = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
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
/// caller's `traceparent`/`tracestate` in `headers` as its parent, and the request's
/// sampling decision for [`in_request`]: the caller's if it sent one, else a draw at
/// `otel.sample_ratio`. `Span::none()` when tracing is off or the request is not
/// sampled.
pub fn server_span(
    method: &str,
    route: &str,
    headers: &dyn Extractor,
) -> (Span, Option<RequestTrace>) {
    if !enabled() {
        return (Span::none(), None);
    }
    let caller = TraceContextPropagator::new().extract(headers);
    let remote = caller.span().span_context().clone();
    let sampled = match remote.is_valid() {
        true => remote.is_sampled(),
        false => draw(),
    };
    let trace = RequestTrace {
        sampled,
        caller: caller.clone(),
    };
    if !sampled {
        return (Span::none(), Some(trace));
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
    // Fails only for a span no layer records (tracing off): nothing to parent then.
    let _ = span.set_parent(caller);
    (span, Some(trace))
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
    if !recording() {
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
/// caller's trace continues at Target; in a request offerd does not record, the
/// caller's own (W3C: a participant that does not record still passes the trace on).
/// Nothing when tracing is off.
pub fn inject(headers: &mut http::HeaderMap) {
    if !enabled() {
        return;
    }
    let unrecorded = REQUEST
        .try_with(|r| (!r.sampled).then(|| r.caller.clone()))
        .ok()
        .flatten();
    let context = unrecorded.unwrap_or_else(|| Span::current().context());
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
