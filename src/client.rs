//! The library API: `TargetClient::create`, `get_offers`, `send_notifications`,
//! `get_attributes` — what the Target SDKs offer, usable from Rust without HTTP. The
//! HTTP layer is a thin adapter over it.
//!
//! `create` must run inside an actix `System` (e.g. under `#[actix_rt::main]`): it
//! starts the Supervisor, the decision gate, the refresher and the batcher.
//!
//! get_offers reads top to bottom in [`TargetClient`]: `prepare` the request
//! ([`prepare`], pure), `route` it (on-device or at the edge), then either `decide_on_device` —
//! `resolve_geo`, `decide_on_worker` (a DecisionActor runs [`on_device::decide_and_answer`], pure:
//! the decision and the SDK's answer, [`response`]), `record_telemetry`, `owe` the
//! notifications — or `decide_server_side`: Target's edge decides, `record_telemetry`,
//! the same answer, and the edge cluster learned. The SDK's contract, pure, lives a
//! layer below in [`crate::sdk`]; this folder holds what needs I/O or the service's
//! state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix::Addr;
use arc_swap::ArcSwapOption;
use tracing::Instrument;

mod attributes;
mod explain;
mod route;

use crate::sdk::on_device::OnDevice;
pub use crate::sdk::options::{GetOffersOptions, ResultNaming, SendNotificationsOptions};
use crate::sdk::prepare::{self, ClientSettings, PreparedRequest};
pub use crate::sdk::response::{self, ResponseMeta, TargetDeliveryResponse};
pub(crate) use crate::sdk::validate::validate_notifications;
use crate::sdk::validate::validate_request;
use crate::warn_every::WarnEvery;
pub use attributes::Attributes;
use attributes::add_mboxes;
pub(crate) use attributes::attributes_of;
use route::{Route, route};

use crate::actors::decision::{Decide, DecideError, Decisions};
pub use crate::actors::refresher::RefreshOutcome;
use crate::actors::supervisor::{
    RefreshArtifact, Resources, Shutdown, ShutdownReport, Started, Supervisor,
};
use crate::clock::now_ms;
use crate::config::Config;
use crate::engine::{RandomIds, remote_dependency, telemetry};
use crate::metrics::Metrics;
use crate::model::*;
#[cfg(feature = "testing")]
use crate::notify::batcher::InjectPanic;
use crate::notify::batcher::{Backpressure, BatcherSlot, Enqueue, Senders};
use crate::notify::owed::Owed;
use crate::notify::spool::{Refused, Spool, SpoolError};
use crate::notify::telemetry_buffer::TelemetryBuffer;
use crate::otel;
use crate::store::{ArtifactStore, LoadedArtifact};
use crate::upstream::UpstreamError;
use crate::upstream::delivery::{DeliveryClient, DeliverySettings};
use crate::upstream::geo::GeoClient;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The caller's request is unusable.
    #[error("{0}")]
    InvalidRequest(String),
    /// On-device decisioning was asked for before any artifact loaded.
    #[error("no artifact loaded yet: on-device decisioning is not ready")]
    NotReady,
    /// Every decision slot is taken.
    #[error("offerd is overloaded: retry later")]
    Overloaded,
    /// The notification queue is full.
    #[error("notification queue is full: retry later")]
    QueueFull,
    /// Target's Delivery API failed.
    #[error("Target Delivery API: {0}")]
    Upstream(#[from] UpstreamError),
    /// offerd is shutting down or broken.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::sdk::validate::InvalidRequest> for ClientError {
    fn from(invalid: crate::sdk::validate::InvalidRequest) -> Self {
        Self::InvalidRequest(invalid.0)
    }
}

/// A handle to a running offerd; cheap to clone.
#[derive(Clone)]
pub struct TargetClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The Target client code (`target.client`).
    client_code: Arc<str>,
    store: Arc<ArtifactStore>,
    decisions: Decisions,
    /// The current Batcher (the Supervisor swaps it when it restarts one).
    batcher: BatcherSlot,
    /// The durable spool, when `spool.dir` is set.
    spool: Option<Spool>,
    /// Slows calls down while the Batcher's backlog is high (see its docs).
    backpressure: Arc<Backpressure>,
    /// Refusals are logged at most once a second each.
    spool_full_warning: WarnEvery,
    spool_error_warning: WarnEvery,
    overflow_warning: WarnEvery,
    supervisor: Addr<Supervisor>,
    delivery: Arc<DeliveryClient>,
    geo: GeoClient,
    telemetry: Arc<TelemetryBuffer>,
    metrics: Arc<Metrics>,
    /// The edge cluster learned from Target (or configured).
    location_hint: ArcSwapOption<String>,
    /// Shutting down: see [`TargetClient::start_draining`]. A flag read per request;
    /// nothing is ordered by it, so relaxed loads suffice.
    draining: AtomicBool,
}

impl TargetClient {
    /// Starts offerd's actors for `config`.
    pub fn create(config: Config) -> Result<Self, ClientError> {
        let metrics = Arc::new(Metrics::new());
        let internal = |e: UpstreamError| ClientError::Internal(e.to_string());
        let settings = DeliverySettings::from_config(&config)
            .map_err(|e| ClientError::Internal(e.to_string()))?;
        let geo =
            GeoClient::new(&config.geo, &settings.egress, metrics.clone()).map_err(internal)?;
        let delivery = Arc::new(DeliveryClient::new(settings, metrics.clone()).map_err(internal)?);
        let senders = Arc::new(
            Senders::new(
                &delivery,
                config.batcher.send_threads,
                config.batcher.direct_http2,
            )
            .map_err(internal)?,
        );
        if config.spool.dir.is_some() {
            let bound = i64::try_from(config.spool.max_bytes).unwrap_or(i64::MAX);
            metrics.spool_max_bytes.set(bound);
        }
        let store = Arc::new(ArtifactStore::new());
        // Offline, nothing is sent: telemetry would only be built to be dropped.
        let telemetry = Arc::new(TelemetryBuffer::new(
            config.target.telemetry_enabled && !config.upstream.offline,
            config.batcher.telemetry_capacity,
        ));
        let with_refresher = config.target.decisioning_method != DecisioningMethod::ServerSide;
        let Started {
            supervisor,
            decisions,
            batcher,
            spool,
            backpressure,
        } = Supervisor::start(
            Resources {
                config: config.clone(),
                store: store.clone(),
                telemetry: telemetry.clone(),
                metrics: metrics.clone(),
                senders,
            },
            with_refresher,
        )
        .map_err(|e| ClientError::Internal(format!("cannot open the notification spool: {e}")))?;
        let hint = config
            .target
            .location_hint
            .clone()
            .filter(|h| !h.is_empty());
        let client = Self {
            inner: Arc::new(Inner {
                client_code: Arc::from(config.target.client.as_str()),
                location_hint: ArcSwapOption::from(hint.map(Arc::new)),
                draining: AtomicBool::new(false),
                config,
                store,
                decisions,
                batcher,
                spool,
                backpressure,
                spool_full_warning: WarnEvery::default(),
                spool_error_warning: WarnEvery::default(),
                overflow_warning: WarnEvery::default(),
                supervisor,
                delivery,
                geo,
                telemetry,
                metrics,
            }),
        };
        client.learn_location_hint();
        Ok(client)
    }

    /// The configuration offerd runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The artifact store (current artifact and refresh status).
    pub fn store(&self) -> &Arc<ArtifactStore> {
        &self.inner.store
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Starts the drain before a shutdown (`server.drain_delay_secs`): readiness
    /// answers 503 and answers close their connections; decisions go on.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// True once [`Self::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// Ready once an artifact is loaded, or at once in server-side mode.
    pub fn is_ready(&self) -> bool {
        self.inner.config.target.decisioning_method == DecisioningMethod::ServerSide
            || self.inner.store.current().is_some()
    }

    /// Decides offers for `options.request`, on-device, server-side or hybrid.
    pub async fn get_offers(
        &self,
        options: GetOffersOptions,
    ) -> Result<TargetDeliveryResponse, ClientError> {
        validate_request(&options.request)?;
        self.get_offers_unchecked(options).await
    }

    /// get_offers without the SDK's checks of its options, for Target's own endpoint
    /// (`/rest/v1/delivery`), which validates as Target does instead.
    pub(crate) async fn get_offers_unchecked(
        &self,
        options: GetOffersOptions,
    ) -> Result<TargetDeliveryResponse, ClientError> {
        let started = Instant::now();
        let method = options
            .decisioning_method
            .unwrap_or(self.inner.config.target.decisioning_method);
        let now = now_ms();
        let prepared = self.prepare(options, now);
        let artifact = self.inner.store.current();
        let span = decision_span(method, &prepared.request, artifact.as_deref());
        let result = async {
            match route(method, artifact, &prepared)? {
                Route::OnDevice(artifact) => {
                    self.decide_on_device(prepared, artifact, now, started)
                        .await
                }
                Route::Edge(artifact) => self.decide_server_side(prepared, artifact, started).await,
            }
        }
        .instrument(span.clone())
        .await;
        if result.is_err() {
            span.record("otel.status_code", "error");
        }
        if let Ok(response) = &result {
            let label = response.meta.decisioning_method.as_str();
            self.inner
                .metrics
                .decisions
                .with_label_values(&[label])
                .inc();
        }
        result
    }

    /// Completes a request with this client's settings and learned edge cluster.
    fn prepare(&self, options: GetOffersOptions, now: i64) -> PreparedRequest {
        let hint = self.inner.location_hint.load_full();
        let target = &self.inner.config.target;
        let settings = ClientSettings {
            client: &self.inner.client_code,
            property_token: target.property_token.as_deref().filter(|t| !t.is_empty()),
            location_hint: hint.as_deref().map(String::as_str),
        };
        prepare::prepare(options, settings, now, &RandomIds)
    }

    /// On-device: geo first (the one lookup a decision may need), then the decision on
    /// this worker's DecisionActor, then its telemetry and the notifications it owes.
    async fn decide_on_device(
        &self,
        mut prepared: PreparedRequest,
        artifact: Arc<LoadedArtifact>,
        now: i64,
        started: Instant,
    ) -> Result<TargetDeliveryResponse, ClientError> {
        self.resolve_geo(&artifact, &mut prepared.request).await;
        let decided = self.decide_on_worker(prepared, artifact, now).await?;
        self.record_telemetry(
            &decided.prepared.request,
            DecisioningMethod::OnDevice,
            ExecutionMode::Local,
            started,
            now,
        );
        if !decided.notifications.is_empty() {
            // Spooled before the answer leaves (with a spool): refused or not, the
            // decision still answers; a refusal is counted and logged.
            let _ = self
                .owe(&decided.prepared, &decided.notifications, now)
                .await;
        }
        Ok(decided.response)
    }

    /// Looks geo up when the artifact targets geo and the request has only an IP; a
    /// failed lookup decides without geo (counted), it never fails the call.
    async fn resolve_geo(&self, artifact: &LoadedArtifact, request: &mut DeliveryRequest) {
        let Some(ip) = prepare::geo_lookup_address(&artifact.compiled, request) else {
            return;
        };
        if self.inner.config.upstream.offline {
            // The offline demo calls nothing outside; decide without geo.
            self.inner
                .metrics
                .geo_lookups
                .with_label_values(&["offline"])
                .inc();
            return;
        }
        match self.inner.geo.lookup(ip.as_deref()).await {
            Ok(geo) => prepare::apply_geo(request, geo),
            Err(err) => tracing::debug!(error = %err, "geo lookup failed; deciding without geo"),
        }
    }

    /// Runs [`on_device::decide_and_answer`] on this worker's DecisionActor, behind the admission
    /// gate: a full gate answers `Overloaded` at once.
    async fn decide_on_worker(
        &self,
        prepared: PreparedRequest,
        artifact: Arc<LoadedArtifact>,
        now: i64,
    ) -> Result<OnDevice, ClientError> {
        let msg = Decide {
            artifact,
            prepared,
            client_code: self.inner.client_code.clone(),
            now_ms: now,
        };
        let decide_started = Instant::now();
        let decided = self.run_decision(msg).await?;
        self.inner
            .metrics
            .decision_latency
            .observe(decide_started.elapsed().as_secs_f64());
        Ok(decided)
    }

    /// `msg` through the admission gate to this worker's DecisionActor; a full gate
    /// answers `Overloaded` at once (counted: the gate is shared with the explorer).
    async fn run_decision(&self, msg: Decide) -> Result<OnDevice, ClientError> {
        self.inner
            .decisions
            .run_on_this_worker(msg)
            .await
            .map_err(|e| match e {
                DecideError::Overloaded => {
                    self.inner.metrics.overloaded.inc();
                    ClientError::Overloaded
                }
                DecideError::Stopped => ClientError::Internal(e.to_string()),
            })
    }

    /// At Target's edge, with the telemetry waiting to go up; the edge cluster of its
    /// answer is kept for the next calls.
    async fn decide_server_side(
        &self,
        prepared: PreparedRequest,
        artifact: Option<Arc<LoadedArtifact>>,
        started: Instant,
    ) -> Result<TargetDeliveryResponse, ClientError> {
        let mut request = prepared.request.clone();
        let pending = self.inner.telemetry.take(usize::MAX);
        let took_telemetry = !pending.is_empty();
        if took_telemetry {
            request.telemetry = Some(Telemetry {
                entries: Some(pending),
                ..Default::default()
            });
        }
        let delivered = self
            .inner
            .delivery
            .deliver(
                &request,
                &prepared.session_id,
                prepared.cluster.as_deref(),
                "offers",
            )
            .await;
        let response = match delivered {
            Ok(response) => response,
            Err(error) => {
                // The telemetry taken for this call rides with the next request instead.
                let entries = request.telemetry.take().and_then(|t| t.entries);
                if let (true, Some(entries)) = (took_telemetry, entries) {
                    self.inner.telemetry.restore(entries, &self.inner.metrics);
                }
                return Err(error.into());
            }
        };
        let now = now_ms();
        let remote = artifact
            .map(|a| remote_dependency(&a.compiled, &prepared.request))
            .unwrap_or_default();
        let mode = ExecutionMode::Edge;
        self.record_telemetry(
            &prepared.request,
            DecisioningMethod::ServerSide,
            mode,
            started,
            now,
        );
        let result = response::target_delivery_response(
            &prepared,
            response,
            DecisioningMethod::ServerSide,
            remote,
            now,
        );
        if let Some(cookie) = &result.target_location_hint_cookie {
            self.inner
                .location_hint
                .store(Some(Arc::new(cookie.value.clone())));
        }
        Ok(result)
    }

    fn record_telemetry(
        &self,
        request: &DeliveryRequest,
        method: DecisioningMethod,
        mode: ExecutionMode,
        started: Instant,
        now: i64,
    ) {
        if !self.inner.telemetry.enabled() {
            return;
        }
        let execution = started.elapsed().as_secs_f64() * 1000.0;
        let entry = telemetry::decision_entry(request, method, mode, execution, 0.0, now);
        self.inner.telemetry.push(entry, &self.inner.metrics);
    }

    /// Hands notifications owed for `prepared`'s visitor over: to the spool (durable
    /// before this returns, in `sync = "answer"` mode), or to the Batcher's memory
    /// without a spool or when the spool's storage failed. Every one is counted as
    /// owed, and every refusal as dropped with its reason.
    async fn owe(
        &self,
        prepared: &PreparedRequest,
        notifications: &[Notification],
        now: i64,
    ) -> Result<(), ClientError> {
        let metrics = &self.inner.metrics;
        let count = notifications.len() as u64;
        metrics.notifications_owed.inc_by(count);
        if self.inner.config.upstream.offline {
            // The offline demo sends nothing: counted, never spooled or queued.
            let dropped = metrics
                .notifications_dropped
                .with_label_values(&["offline"]);
            dropped.inc_by(count);
            return Ok(());
        }
        let waited = self.inner.backpressure.wait(now).await;
        if !waited.is_zero() {
            metrics.backpressure_wait.observe(waited.as_secs_f64());
        }
        let owed = Owed::new(
            &prepared.request,
            notifications,
            &prepared.session_id,
            prepared.cluster.as_deref(),
            now,
        )
        .map_err(|e| {
            metrics
                .notifications_dropped
                .with_label_values(&["invalid"])
                .inc_by(count);
            ClientError::InvalidRequest(format!("notifications cannot be serialized: {e}"))
        })?;
        let owed = match &self.inner.spool {
            Some(spool) => match spool.append(owed).await {
                Ok(_) => return Ok(()),
                Err(Refused {
                    error: error @ (SpoolError::Full { .. } | SpoolError::VolumeFull { .. }),
                    ..
                }) => {
                    metrics
                        .notifications_dropped
                        .with_label_values(&["spool_full"])
                        .inc_by(count);
                    if let Some(n) = self.inner.spool_full_warning.record(count, now) {
                        tracing::warn!(
                            notifications = n,
                            %error,
                            "spool full (spool.max_bytes or spool.reserve_bytes): notifications refused"
                        );
                    }
                    return Err(ClientError::QueueFull);
                }
                Err(Refused { error, owed }) => {
                    // The disk failed: still deliver, from memory (not durable).
                    if let Some(n) = self.inner.spool_error_warning.record(count, now) {
                        tracing::error!(%error, notifications = n, "spool append failed; holding the notifications in memory");
                    }
                    let Some(owed) = owed else {
                        metrics
                            .notifications_dropped
                            .with_label_values(&["crash"])
                            .inc_by(count);
                        return Err(ClientError::Internal(error.to_string()));
                    };
                    owed
                }
            },
            None => owed,
        };
        self.enqueue_in_memory(owed, count, now)
    }

    fn enqueue_in_memory(&self, owed: Owed, count: u64, now: i64) -> Result<(), ClientError> {
        let batcher = self.inner.batcher.load();
        let Some(batcher) = batcher.as_ref() else {
            return Err(ClientError::Internal("no batcher running".into()));
        };
        match batcher.try_send(Enqueue(owed)) {
            Ok(()) => Ok(()),
            Err(_) => {
                // Mailbox full or the batcher restarting: counted, never silent.
                self.inner
                    .metrics
                    .notifications_dropped
                    .with_label_values(&["overflow"])
                    .inc_by(count);
                if let Some(n) = self.inner.overflow_warning.record(count, now) {
                    tracing::warn!(
                        notifications = n,
                        "batcher mailbox full: notifications dropped"
                    );
                }
                Err(ClientError::QueueFull)
            }
        }
    }

    /// Queues caller-sent notifications (display or click) for Target: spooled (with a
    /// spool) before this returns. Answers as Target answers a notification request:
    /// the request id, the visitor id (completed as for a decision) and each
    /// notification's id.
    pub async fn send_notifications(
        &self,
        options: SendNotificationsOptions,
    ) -> Result<DeliveryResponse, ClientError> {
        let notifications = options.request.notifications.as_ref().map_or(0, Vec::len);
        if notifications == 0 {
            return Err(ClientError::InvalidRequest(
                "request.notifications must hold at least one notification".into(),
            ));
        }
        validate_notifications(&options.request)?;
        let now = now_ms();
        let mut prepared = self.prepare(options, now);
        // Telemetry a caller attached rides with the next requests, once.
        let entries = prepared.request.telemetry.take().and_then(|t| t.entries);
        for entry in entries.into_iter().flatten() {
            self.inner.telemetry.push(entry, &self.inner.metrics);
        }
        let notifications = prepared.request.notifications.take().unwrap_or_default();
        self.owe(&prepared, &notifications, now).await?;
        Ok(notifications_answer(
            &prepared.request,
            &self.inner.client_code,
            &notifications,
        ))
    }

    /// Downloads the artifact now, outside the polling schedule, and says what came of
    /// it; `None` when no artifact is polled (server-side mode, or shutting down).
    pub async fn refresh_artifact(&self) -> Option<RefreshOutcome> {
        self.inner
            .supervisor
            .send(RefreshArtifact)
            .await
            .ok()
            .flatten()
    }

    /// Panics the current Batcher, to show that the Supervisor restarts it and the
    /// spool gives the new one the backlog. Only with the `testing` feature, which
    /// only offerd's own tests turn on.
    #[cfg(feature = "testing")]
    pub fn inject_batcher_panic(&self) {
        if let Some(batcher) = self.inner.batcher.load().as_ref() {
            batcher.do_send(InjectPanic);
        }
    }

    /// The spool, when `spool.dir` is set.
    pub fn spool(&self) -> Option<&Spool> {
        self.inner.spool.as_ref()
    }

    /// Feature-flag attributes: the JSON offers of `mbox_names` (added to the request's
    /// `execute.mboxes` when missing), merged per mbox.
    pub async fn get_attributes(
        &self,
        mbox_names: &[String],
        mut options: GetOffersOptions,
    ) -> Result<Attributes, ClientError> {
        add_mboxes(&mut options.request, mbox_names);
        let response = self.get_offers(options).await?;
        Ok(Attributes {
            attributes: attributes_of(&response.response),
            response,
        })
    }

    /// Stops: finishes decisions, drains the batcher within `grace`.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.shutdown_by(Instant::now() + grace).await
    }

    /// Stops by `deadline`: finishes decisions, drains the batcher; what is not sent
    /// by then stays in the spool (or, without one, is counted as dropped).
    pub async fn shutdown_by(&self, deadline: Instant) -> ShutdownReport {
        self.inner
            .supervisor
            .send(Shutdown { deadline })
            .await
            .unwrap_or_default()
    }

    /// Learns the edge cluster with one server-side call, as the SDKs do at start,
    /// retrying with backoff; skipped when configured or turned off.
    fn learn_location_hint(&self) {
        let config = &self.inner.config.target;
        let wanted = config.learn_location_hint
            && config.decisioning_method != DecisioningMethod::ServerSide
            && self.inner.location_hint.load().is_none();
        if !wanted {
            return;
        }
        let client = self.clone();
        actix_rt::spawn(async move {
            let mut delay = Duration::from_secs(1);
            for attempt in 1..=8 {
                let options = GetOffersOptions {
                    session_id: Some("ping123".into()),
                    decisioning_method: Some(DecisioningMethod::ServerSide),
                    ..Default::default()
                };
                match client.get_offers(options).await {
                    Ok(response) if response.target_location_hint_cookie.is_some() => {
                        tracing::info!("learned the Target edge cluster");
                        return;
                    }
                    Ok(_) => return,
                    Err(err) => {
                        tracing::warn!(attempt, error = %err, "location hint request failed")
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        });
    }
}

/// Target's answer to a request that only carries notifications.
fn notifications_answer(
    request: &DeliveryRequest,
    client: &str,
    notifications: &[Notification],
) -> DeliveryResponse {
    let ids = notifications.iter().map(|n| NotificationResponse {
        id: n.id.clone(),
        ..Default::default()
    });
    DeliveryResponse {
        status: Some(200),
        request_id: request.request_id.clone(),
        id: request.id.clone(),
        client: Some(client.to_string()),
        notifications: Some(ids.collect()),
        ..Default::default()
    }
}

/// The decision's span (when tracing is on): the decisioning method asked for, how many
/// mboxes and views the request names, and the artifact's version. No visitor data.
fn decision_span(
    method: DecisioningMethod,
    request: &DeliveryRequest,
    artifact: Option<&LoadedArtifact>,
) -> tracing::Span {
    if !otel::recording() {
        return tracing::Span::none();
    }
    let execute = request.execute.as_ref();
    let prefetch = request.prefetch.as_ref();
    let mboxes = execute.and_then(|e| e.mboxes.as_ref()).map_or(0, Vec::len)
        + prefetch.and_then(|p| p.mboxes.as_ref()).map_or(0, Vec::len);
    let views = prefetch.and_then(|p| p.views.as_ref()).map_or(0, Vec::len);
    let version = artifact.map_or("", |a| a.compiled.artifact.version.as_str());
    tracing::info_span!(
        target: otel::TARGET,
        "decision",
        otel.name = "decide",
        otel.status_code = tracing::field::Empty,
        offerd.decisioning_method = method.as_str(),
        offerd.mbox_count = mboxes,
        offerd.view_count = views,
        offerd.artifact_version = version,
    )
}
