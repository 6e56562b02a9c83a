//! STUB — replaced by the Batcher (see the helper brief).
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::config::BatcherConfig;
use crate::metrics::Metrics;
use crate::model::DeliveryRequest;
use crate::telemetry_buffer::TelemetryBuffer;
use crate::upstream::delivery::DeliveryClient;

/// A notification request owed to Target, with the session and edge cluster it
/// belongs to.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub request: DeliveryRequest,
    pub session_id: String,
    pub cluster: Option<String>,
}

/// The batcher's queue is full: the notifications were not accepted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("notification queue is full")]
pub struct Overflow;

/// Queue notifications for the next flush.
#[derive(Message)]
#[rtype(result = "Result<(), Overflow>")]
pub struct Enqueue(pub Outbound);

/// Send everything queued now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// What a drain achieved.
#[derive(Debug, Clone, Default)]
pub struct DrainReport {
    pub sent: u64,
    pub dropped: u64,
}

/// Send everything queued, retrying within `deadline`; then stop.
#[derive(Message)]
#[rtype(result = "DrainReport")]
pub struct Drain {
    pub deadline: Duration,
}

pub struct Batcher {
    pub config: BatcherConfig,
    pub delivery: Arc<DeliveryClient>,
    pub telemetry: Arc<TelemetryBuffer>,
    pub metrics: Arc<Metrics>,
}

impl Batcher {
    pub fn new(
        config: BatcherConfig,
        delivery: Arc<DeliveryClient>,
        telemetry: Arc<TelemetryBuffer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            config,
            delivery,
            telemetry,
            metrics,
        }
    }
}

impl Actor for Batcher {
    type Context = Context<Self>;
}

impl Handler<Enqueue> for Batcher {
    type Result = Result<(), Overflow>;
    fn handle(&mut self, _msg: Enqueue, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(())
    }
}

impl Handler<Flush> for Batcher {
    type Result = ();
    fn handle(&mut self, _msg: Flush, _ctx: &mut Context<Self>) {}
}

impl Handler<Drain> for Batcher {
    type Result = MessageResult<Drain>;
    fn handle(&mut self, _msg: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(DrainReport::default())
    }
}
