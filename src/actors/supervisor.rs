//! The Supervisor: starts the decision gate, the SpoolWriter, the Batcher and the
//! ArtifactRefresher, restarts the Batcher and the refresher when they die, and owns
//! the shutdown order.
//!
//! - **Owns** what it takes to build the actors again, and the [`BatcherSlot`]: the
//!   address of the current Batcher, read by the client and the SpoolWriter.
//! - **Checks** every [`LIVENESS_EVERY`] that each actor's mailbox is still open. A
//!   panic in an actor's handler ends that actor (actix does not catch it, tokio ends
//!   its task), so a closed mailbox means dead: it is started again, counted in
//!   `offerd_actor_restarts_total{actor}` and logged. A new Batcher replays the spool,
//!   so a panic loses nothing that was spooled.
//! - **Receives** [`Shutdown`] from the client once HTTP has stopped accepting: under
//!   one deadline it finishes in-flight decisions, drains the Batcher, commits the
//!   spool, and reports. What is not sent by then stays in the spool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use arc_swap::ArcSwapOption;

use super::decision::Decisions;
use super::refresher::{ArtifactRefresher, RefreshNow, RefreshOutcome};
use crate::config::Config;
use crate::metrics::{DROP_REASONS, Metrics};
use crate::notify::batcher::{Backpressure, Batcher, BatcherSlot, Drain, DrainReport, Senders};
use crate::notify::spool::{Spool, SpoolError};
use crate::notify::spool_writer::{self, CommittedSink};
use crate::notify::telemetry_buffer::TelemetryBuffer;
use crate::store::ArtifactStore;

/// How often the Supervisor looks for dead actors.
const LIVENESS_EVERY: Duration = Duration::from_millis(200);

/// Stop: finish decisions, drain notifications, commit the spool, by `deadline`.
#[derive(Message)]
#[rtype(result = "ShutdownReport")]
pub struct Shutdown {
    pub deadline: Instant,
}

/// How shutdown went, and the notification totals since start.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    pub decisions_finished: bool,
    pub notifications: DrainReport,
    pub within_deadline: bool,
    /// Owed by calls since start.
    pub owed: u64,
    /// Sent since start.
    pub sent: u64,
    /// Dropped since start, all reasons.
    pub dropped: u64,
    /// Left in the spool for the next start.
    pub spooled: u64,
}

/// Shared handles the supervised actors are built from.
pub struct Resources {
    pub config: Config,
    pub store: Arc<ArtifactStore>,
    pub telemetry: Arc<TelemetryBuffer>,
    pub metrics: Arc<Metrics>,
    /// The threads and connections notification calls run on, kept across Batcher
    /// restarts.
    pub senders: Arc<Senders>,
}

/// What the Supervisor started, for the client to talk to.
pub struct Started {
    pub supervisor: Addr<Supervisor>,
    pub decisions: Decisions,
    pub batcher: BatcherSlot,
    pub spool: Option<Spool>,
    /// Where calls owing notifications may wait (see its docs).
    pub backpressure: Arc<Backpressure>,
}

/// Owns the long-lived actors; see the module docs.
pub struct Supervisor {
    resources: Resources,
    decisions: Decisions,
    batcher: BatcherSlot,
    batcher_arbiter: ArbiterHandle,
    spool: Option<Spool>,
    backpressure: Arc<Backpressure>,
    refresher: Option<Addr<ArtifactRefresher>>,
    refresher_arbiter: ArbiterHandle,
    shutting_down: bool,
}

impl Supervisor {
    /// Makes the decision gate, opens the spool (replaying what an earlier run left),
    /// starts the batcher and, unless `with_refresher` is false (server-side mode), the
    /// refresher; each on threads of its own so a busy one never delays the others.
    pub fn start(resources: Resources, with_refresher: bool) -> Result<Started, SpoolError> {
        let config = &resources.config;
        let decisions = Decisions::new(config.decision.max_in_flight);
        let batcher: BatcherSlot = Arc::new(ArcSwapOption::empty());
        let spool = open_spool(&resources, &batcher)?;
        let backpressure = Arc::new(backpressure(config, spool.as_ref()));
        let batcher_arbiter = Arbiter::new().handle();
        let refresher_arbiter = Arbiter::new().handle();
        let mut supervisor = Supervisor {
            resources,
            decisions: decisions.clone(),
            batcher: batcher.clone(),
            batcher_arbiter,
            spool: spool.clone(),
            backpressure: backpressure.clone(),
            refresher: None,
            refresher_arbiter,
            shutting_down: false,
        };
        supervisor.start_batcher();
        if with_refresher {
            supervisor.start_refresher();
        }
        Ok(Started {
            supervisor: supervisor.start(),
            decisions,
            batcher,
            spool,
            backpressure,
        })
    }

    fn start_batcher(&mut self) {
        let r = &self.resources;
        let batcher = Batcher::new(
            r.config.batcher.clone(),
            r.senders.clone(),
            r.telemetry.clone(),
            r.metrics.clone(),
            self.backpressure.clone(),
            self.spool.clone(),
        );
        let addr = Batcher::start_in_arbiter(&self.batcher_arbiter, move |_| batcher);
        self.batcher.store(Some(Arc::new(addr)));
    }

    fn start_refresher(&mut self) {
        let r = &self.resources;
        let refresher = ArtifactRefresher::new(
            r.config.clone(),
            r.store.clone(),
            r.telemetry.clone(),
            r.metrics.clone(),
        );
        let addr = actix::Supervisor::start_in_arbiter(&self.refresher_arbiter, move |_| refresher);
        self.refresher = Some(addr);
    }

    /// Restarts whatever died since the last look.
    fn check_liveness(&mut self) {
        if self.shutting_down {
            return;
        }
        let batcher_alive = self.batcher.load().as_ref().is_some_and(|a| a.connected());
        if !batcher_alive {
            self.restarted("batcher");
            self.count_lost_with_the_batcher();
            self.start_batcher();
        }
        if self.refresher.as_ref().is_some_and(|a| !a.connected()) {
            self.restarted("refresher");
            self.start_refresher();
        }
    }

    /// Without a spool, what the dead Batcher held is gone: counted (its last
    /// published depth) so the books still balance. With a spool it is replayed.
    fn count_lost_with_the_batcher(&self) {
        let metrics = &self.resources.metrics;
        let held = u64::try_from(metrics.batcher_queue_depth.get()).unwrap_or(0);
        metrics.batcher_queue_depth.set(0);
        if self.spool.is_some() || held == 0 {
            return;
        }
        let dropped = metrics.notifications_dropped.with_label_values(&["crash"]);
        dropped.inc_by(held);
        tracing::error!(
            dropped = held,
            "notifications held by the dead batcher are lost (no spool)"
        );
    }

    fn restarted(&self, actor: &'static str) {
        let restarts = &self.resources.metrics.actor_restarts;
        restarts.with_label_values(&[actor]).inc();
        tracing::error!(actor, "actor died; restarting it");
    }
}

/// With a spool, calls wait only while it is more than half full (the disk at risk);
/// memory only, past `batcher.backpressure_at` held notifications.
fn backpressure(config: &Config, spool: Option<&Spool>) -> Backpressure {
    let max_wait = Duration::from_millis(config.batcher.backpressure_max_wait_ms);
    match spool {
        Some(spool) => Backpressure::on_disk(spool.clone(), config.spool.max_bytes / 2, max_wait),
        None => Backpressure::in_memory(config.batcher.backpressure_at, max_wait),
    }
}

/// Opens the spool when `spool.dir` is set; its writer hands committed records to
/// whichever Batcher is current.
fn open_spool(resources: &Resources, batcher: &BatcherSlot) -> Result<Option<Spool>, SpoolError> {
    let config = &resources.config.spool;
    let Some(dir) = &config.dir else {
        tracing::info!(
            "spool.dir is not set: notifications are held in memory only (a crash or kill -9 loses those not yet sent)"
        );
        return Ok(None);
    };
    let sink = CommittedSink::new(batcher.clone());
    let (spool, waiting) = spool_writer::start(config, resources.metrics.clone(), sink)?;
    tracing::info!(
        dir = %dir.display(),
        sync = ?config.sync,
        records = waiting,
        "notification spool open; records left by an earlier run are replayed"
    );
    Ok(Some(spool))
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(LIVENESS_EVERY, |act, _| act.check_liveness());
    }
}

/// Download the artifact now, through the current refresher: `POST
/// /v1/artifact/refresh`, which deploy hooks call after publishing an activity.
/// `None` when no refresher runs (server-side mode, or shutting down).
#[derive(Message)]
#[rtype(result = "Option<RefreshOutcome>")]
pub struct RefreshArtifact;

impl Handler<RefreshArtifact> for Supervisor {
    type Result = ResponseFuture<Option<RefreshOutcome>>;

    fn handle(&mut self, _msg: RefreshArtifact, _ctx: &mut Context<Self>) -> Self::Result {
        let refresher = self.refresher.clone().filter(|_| !self.shutting_down);
        Box::pin(async move {
            let outcome = refresher?.send(RefreshNow).await;
            // A refresher that died mid-way is restarted by the Supervisor's check.
            Some(outcome.unwrap_or_else(|_| RefreshOutcome::Failed("the refresher stopped".into())))
        })
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseFuture<ShutdownReport>;

    fn handle(&mut self, msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let decisions = self.decisions.clone();
        let batcher = self.batcher.load_full();
        let refresher = self.refresher.take();
        let spool = self.spool.clone();
        let metrics = self.resources.metrics.clone();
        let deadline = msg.deadline;
        Box::pin(async move {
            let decisions_finished = tokio::time::timeout_at(deadline.into(), decisions.drain())
                .await
                .is_ok();
            let notifications = match batcher {
                Some(batcher) => batcher.send(Drain { deadline }).await.unwrap_or_default(),
                None => DrainReport::default(),
            };
            drop(refresher);
            if let Some(spool) = &spool {
                spool.sync().await;
            }
            let report = ShutdownReport {
                decisions_finished,
                within_deadline: Instant::now() <= deadline + Duration::from_millis(100),
                owed: metrics.notifications_owed.get(),
                sent: metrics.notifications_sent.get(),
                dropped: DROP_REASONS
                    .iter()
                    .map(|r| metrics.notifications_dropped.with_label_values(&[r]).get())
                    .sum(),
                spooled: spool.as_ref().map_or(0, Spool::records),
                notifications,
            };
            log_report(&report);
            report
        })
    }
}

fn log_report(report: &ShutdownReport) {
    let (owed, sent, dropped, spooled) = (report.owed, report.sent, report.dropped, report.spooled);
    if !report.within_deadline || !report.decisions_finished {
        tracing::warn!(
            owed,
            sent,
            dropped,
            spooled,
            decisions_finished = report.decisions_finished,
            "shutdown deadline passed before everything was drained"
        );
    } else if dropped > 0 {
        tracing::warn!(
            owed,
            sent,
            dropped,
            spooled,
            "shutdown complete; some notifications were dropped (see offerd_notifications_dropped_total)"
        );
    } else {
        tracing::info!(
            owed,
            sent,
            dropped,
            spooled,
            "shutdown complete: notifications drained"
        );
    }
}
