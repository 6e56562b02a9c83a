//! STUB — replaced by the ArtifactRefresher (see the helper brief).
use std::sync::Arc;

use actix::prelude::*;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::ArtifactStore;
use crate::telemetry_buffer::TelemetryBuffer;

/// Fetch the artifact now (outside the polling schedule).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct RefreshNow;

pub struct ArtifactRefresher {
    pub config: Config,
    pub store: Arc<ArtifactStore>,
    pub telemetry: Arc<TelemetryBuffer>,
    pub metrics: Arc<Metrics>,
}

impl ArtifactRefresher {
    pub fn new(
        config: Config,
        store: Arc<ArtifactStore>,
        telemetry: Arc<TelemetryBuffer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            config,
            store,
            telemetry,
            metrics,
        }
    }
}

impl Actor for ArtifactRefresher {
    type Context = Context<Self>;
}

impl Handler<RefreshNow> for ArtifactRefresher {
    type Result = Result<(), String>;
    fn handle(&mut self, _msg: RefreshNow, _ctx: &mut Context<Self>) -> Self::Result {
        Err("not implemented".into())
    }
}
