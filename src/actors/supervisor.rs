//! The Supervisor: starts the ArtifactRefresher (restarted if it stops) and the
//! Batcher, and owns the shutdown order.
//!
//! `main` (or a library user) starts it through [`crate::client::TargetClient`] and
//! sends [`Shutdown`] once the HTTP server has stopped accepting. Shutdown finishes
//! in-flight decisions, then drains the Batcher, then stops the refresher — all under
//! one grace deadline — and reports whether it made it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::batcher::{Batcher, Drain, DrainReport};
use super::decision::DecisionPool;
use super::refresher::ArtifactRefresher;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::ArtifactStore;
use crate::telemetry_buffer::TelemetryBuffer;
use crate::upstream::delivery::DeliveryClient;

/// Stop: finish decisions, drain notifications, stop polling.
#[derive(Message)]
#[rtype(result = "ShutdownReport")]
pub struct Shutdown {
    pub grace: Duration,
}

/// How shutdown went.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    pub decisions_finished: bool,
    pub notifications: DrainReport,
    pub within_deadline: bool,
}

/// Owns the long-lived actors.
pub struct Supervisor {
    pool: DecisionPool,
    batcher: Addr<Batcher>,
    refresher: Option<Addr<ArtifactRefresher>>,
}

/// What the Supervisor started, for the client to talk to.
pub struct Started {
    pub supervisor: Addr<Supervisor>,
    pub batcher: Addr<Batcher>,
    pub refresher: Option<Addr<ArtifactRefresher>>,
}

/// Shared handles the supervised actors are built from.
pub struct Resources {
    pub config: Config,
    pub store: Arc<ArtifactStore>,
    pub telemetry: Arc<TelemetryBuffer>,
    pub metrics: Arc<Metrics>,
    pub delivery: Arc<DeliveryClient>,
    pub pool: DecisionPool,
}

impl Supervisor {
    /// Starts the batcher, the refresher (unless `with_refresher` is false, as in
    /// server-side mode), and the supervisor itself, each on its own arbiter so a busy
    /// one never delays the others.
    pub fn start(resources: Resources, with_refresher: bool) -> Started {
        let Resources {
            config,
            store,
            telemetry,
            metrics,
            delivery,
            pool,
        } = resources;
        let batcher_config = config.batcher.clone();
        let (t, m) = (telemetry.clone(), metrics.clone());
        let batcher = Batcher::start_in_arbiter(&Arbiter::new().handle(), move |_| {
            Batcher::new(batcher_config, delivery, t, m)
        });
        let refresher = with_refresher.then(|| {
            let refresher = ArtifactRefresher::new(config, store, telemetry, metrics);
            actix::Supervisor::start_in_arbiter(&Arbiter::new().handle(), move |_| refresher)
        });
        let supervisor = Supervisor {
            pool,
            batcher: batcher.clone(),
            refresher: refresher.clone(),
        }
        .start();
        Started {
            supervisor,
            batcher,
            refresher,
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseFuture<ShutdownReport>;

    fn handle(&mut self, msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let batcher = self.batcher.clone();
        let refresher = self.refresher.take();
        Box::pin(async move {
            let deadline = Instant::now() + msg.grace;
            // Half the grace for decisions still running; the rest is the drain's.
            let decisions_finished = tokio::time::timeout(msg.grace / 2, pool.drain())
                .await
                .is_ok();
            let remaining = deadline.saturating_duration_since(Instant::now());
            let notifications = batcher
                .send(Drain {
                    deadline: remaining,
                })
                .await
                .unwrap_or_default();
            drop(refresher);
            let report = ShutdownReport {
                decisions_finished,
                within_deadline: Instant::now() <= deadline,
                notifications,
            };
            let (sent, dropped) = (report.notifications.sent, report.notifications.dropped);
            if !report.within_deadline || !report.decisions_finished {
                tracing::warn!(
                    sent,
                    dropped,
                    decisions_finished,
                    "shutdown deadline passed before everything was drained"
                );
            } else if dropped > 0 {
                tracing::warn!(
                    sent,
                    dropped,
                    "shutdown complete; some notifications were dropped (see offerd_notifications_dropped_total)"
                );
            } else {
                tracing::info!(sent, "shutdown complete: notifications drained");
            }
            report
        })
    }
}
