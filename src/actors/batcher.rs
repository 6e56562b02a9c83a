//! The Batcher: the only sender of notifications (and SDK telemetry) to Target.
//!
//! - **Owns** every notification owed to Target until it is delivered or counted as
//!   dropped: the queue merged by visitor+session, the requests waiting for a send
//!   slot, and those in flight with their retries. `batcher.queue_capacity` bounds all
//!   of them together, in notifications.
//! - **Receives** [`Enqueue`] from the client after on-device execute decisions and
//!   from `POST /v1/notifications`; [`Flush`] from anyone; [`Drain`] from the Supervisor.
//! - **Sends** Delivery API notification requests through
//!   [`DeliveryClient`]: one visitor+session each, at most
//!   `max_notifications_per_request` notifications each, `concurrency` calls at once
//!   (a job backing off before a retry holds no call slot),
//!   retried with exponential backoff and full jitter. Pending entries of the shared
//!   [`TelemetryBuffer`] ride on the first request of each flush.
//! - **Stops** on [`Drain`]: flushes, waits for sends and retries until the deadline,
//!   counts what is left as dropped (`shutdown`), replies with a [`DrainReport`] and
//!   stops. Nothing is lost silently: every notification ends as sent or as a counted,
//!   logged drop, even if the actor stops for another reason.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use indexmap::IndexMap;
use tokio::sync::{Semaphore, oneshot, watch};

use crate::config::BatcherConfig;
use crate::metrics::Metrics;
use crate::model::{DeliveryRequest, Telemetry};
use crate::telemetry_buffer::TelemetryBuffer;
use crate::upstream::delivery::DeliveryClient;

mod queue;
mod send;

use queue::{Job, Key, Pending};
use send::{Outcome, Sender};

/// Messages the mailbox holds before `try_send` fails. Why 4096: handling an
/// `Enqueue` takes microseconds, so the mailbox only absorbs bursts from the HTTP
/// workers while the actor builds a flush; 4096 is tens of milliseconds of headroom
/// at 100k notifications/s, at a few KB per queued message. The real memory bound is
/// `queue_capacity`, which counts notifications and answers `Overflow`.
const MAILBOX_CAPACITY: usize = 4096;

/// A notification request owed to Target, with the session and edge cluster it
/// belongs to.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// `id`, `context`, `experienceCloud`, `property` and `notifications` (maybe none).
    pub request: DeliveryRequest,
    /// The Target session (`sessionId` query parameter).
    pub session_id: String,
    /// The edge cluster (`mboxEdgeCluster`), if known.
    pub cluster: Option<String>,
}

/// The batcher's queue is full (or it is draining): the notifications were not accepted.
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

/// What a drain achieved, in notifications, from the moment it started.
#[derive(Debug, Clone, Default)]
pub struct DrainReport {
    /// Delivered to Target during the drain.
    pub sent: u64,
    /// Given up on during the drain, for any reason.
    pub dropped: u64,
}

/// Send everything queued, retrying within `deadline`; then stop.
#[derive(Message)]
#[rtype(result = "DrainReport")]
pub struct Drain {
    /// Time allowed from now; what is unsent then is dropped (counted).
    pub deadline: Duration,
}

/// Which keys a flush takes.
enum Scope {
    /// Everything (tick, `Flush`, `Drain`).
    All,
    /// Only the full requests of one key (the size trigger).
    Full(Key),
}

/// A drain under way: who waits for the report, and the report so far.
#[derive(Default)]
struct Draining {
    waiters: Vec<oneshot::Sender<DrainReport>>,
    report: DrainReport,
}

/// Merges, batches and sends notifications to Target; see the module docs.
pub struct Batcher {
    /// Queue, flush, concurrency and retry settings.
    pub config: BatcherConfig,
    /// The Delivery API client (pooled connections).
    pub delivery: Arc<DeliveryClient>,
    /// Telemetry waiting to ride along.
    pub telemetry: Arc<TelemetryBuffer>,
    /// Where sent, retried and dropped notifications are counted.
    pub metrics: Arc<Metrics>,
    queue: IndexMap<Key, Pending>,
    /// Notifications queued, waiting for a slot or in flight: what capacity bounds.
    held: usize,
    ready: VecDeque<Job>,
    in_flight: usize,
    /// The latest visitor/session/context seen, for telemetry-only requests.
    last_seen: Option<Outbound>,
    draining: Option<Draining>,
    /// Tells sends in flight about a drain deadline, so they shorten their backoff.
    drain_clock: watch::Sender<Option<Instant>>,
    /// The drain replied: outcomes arriving later were already counted.
    finished: bool,
    /// Limits concurrent calls to Target; a job backing off before a retry holds none,
    /// so a partial outage does not starve the healthy sends.
    http_permits: Arc<Semaphore>,
    refused_since_log: usize,
    last_refusal_log: Option<Instant>,
}

/// At most one refusal warning per this interval.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

/// Jobs started per HTTP slot: the extra ones are backing off between retries.
const JOBS_PER_SLOT: usize = 8;

impl Batcher {
    /// A batcher that sends through `delivery`; start it with `Actor::start`.
    pub fn new(
        config: BatcherConfig,
        delivery: Arc<DeliveryClient>,
        telemetry: Arc<TelemetryBuffer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let config_concurrency = config.concurrency.max(1);
        Self {
            config,
            delivery,
            telemetry,
            metrics,
            queue: IndexMap::new(),
            held: 0,
            ready: VecDeque::new(),
            in_flight: 0,
            last_seen: None,
            draining: None,
            drain_clock: watch::Sender::new(None),
            finished: false,
            http_permits: Arc::new(Semaphore::new(config_concurrency)),
            refused_since_log: 0,
            last_refusal_log: None,
        }
    }

    fn max_per_request(&self) -> usize {
        self.config.max_notifications_per_request.max(1)
    }

    /// Queues `outbound`; true when its key now fills at least one request.
    fn admit(&mut self, key: Key, mut outbound: Outbound) -> bool {
        let notifications = outbound.request.notifications.take().unwrap_or_default();
        // Telemetry a caller attached goes through the buffer, so it is sent once
        // rather than copied into every request split from this key.
        let telemetry = outbound.request.telemetry.take().and_then(|t| t.entries);
        for entry in telemetry.into_iter().flatten() {
            self.telemetry.push(entry, &self.metrics);
        }
        if notifications.is_empty() {
            self.last_seen = Some(outbound);
            return false;
        }
        self.held += notifications.len();
        self.set_depth();
        let max = self.max_per_request();
        self.last_seen = Some(outbound.clone());
        let pending = self.queue.entry(key).or_insert_with(|| Pending {
            template: DeliveryRequest::default(),
            notifications: Vec::new(),
        });
        pending.merge(outbound.request, notifications);
        pending.notifications.len() >= max
    }

    /// The one flush: turns queued notifications into requests and starts sending.
    fn flush(&mut self, ctx: &mut Context<Self>, scope: Scope) {
        let max = self.max_per_request();
        let mut jobs = Vec::new();
        let alone_ok = match scope {
            Scope::All => {
                for (key, mut pending) in std::mem::take(&mut self.queue) {
                    pending.split(&key, max, false, &mut jobs);
                }
                // With requests already waiting, telemetry can wait for them; a
                // drain is the last chance to send it.
                self.ready.is_empty() || self.draining.is_some()
            }
            Scope::Full(key) => {
                if let Some(pending) = self.queue.get_mut(&key) {
                    pending.split(&key, max, true, &mut jobs);
                    if pending.notifications.is_empty() {
                        self.queue.swap_remove(&key);
                    }
                }
                false
            }
        };
        self.attach_telemetry(&mut jobs, alone_ok);
        self.ready.extend(jobs);
        self.pump(ctx);
    }

    /// Puts pending telemetry on the first job; with no job and `alone_ok`, on a
    /// telemetry-only request for the visitor seen last.
    fn attach_telemetry(&self, jobs: &mut Vec<Job>, alone_ok: bool) {
        let alone = match (jobs.is_empty(), alone_ok, &self.last_seen) {
            (false, _, _) => None,
            (true, true, Some(last)) => Some(last),
            (true, _, _) => return,
        };
        let entries = self.telemetry.take(usize::MAX);
        if entries.is_empty() {
            return;
        }
        if let Some(last) = alone {
            jobs.push(Job::new(
                &last.request,
                None,
                &last.session_id,
                &last.cluster,
            ));
        }
        if let Some(first) = jobs.first_mut() {
            first.telemetry = entries.len();
            first.request.telemetry = Some(Telemetry {
                entries: Some(entries),
                ..Default::default()
            });
        }
    }

    /// Starts waiting jobs while fewer than `concurrency` × [`JOBS_PER_SLOT`] are
    /// active; the HTTP semaphore keeps calls to Target at `concurrency`.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let limit = self.config.concurrency.max(1).saturating_mul(JOBS_PER_SLOT);
        while self.in_flight < limit {
            let Some(job) = self.ready.pop_front() else {
                break;
            };
            self.in_flight += 1;
            let (notifications, telemetry) = (job.notifications, job.telemetry);
            let sender = Sender::new(self);
            let fut = async move { sender.send(job).await }.into_actor(self);
            ctx.spawn(fut.map(move |outcome, act: &mut Self, ctx| {
                act.settle(notifications, telemetry, outcome, ctx);
            }));
        }
    }

    /// Counts a finished send and frees its slot.
    fn settle(&mut self, n: usize, telemetry: usize, outcome: Outcome, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        self.release(n);
        match outcome {
            Outcome::Sent => {
                self.metrics.notifications_sent.inc_by(n as u64);
                if let Some(draining) = &mut self.draining {
                    draining.report.sent += n as u64;
                }
            }
            Outcome::Dropped(reason) => {
                self.count_dropped(reason, n);
                if telemetry > 0 {
                    tracing::debug!(entries = telemetry, "telemetry lost with a failed request");
                }
            }
        }
        self.pump(ctx);
        self.finish_if_drained(ctx);
    }

    /// Refuses an `Enqueue` of `n` notifications, counted and logged.
    /// Counts refused notifications; logs at most once a second with the count since
    /// the last line, so an overflow storm is visible without flooding the log.
    fn refuse(&mut self, n: usize, reason: &'static str) {
        self.count_dropped(reason, n);
        self.refused_since_log += n;
        let now = Instant::now();
        if self
            .last_refusal_log
            .is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_EVERY)
        {
            return;
        }
        tracing::warn!(
            notifications = self.refused_since_log,
            queued = self.held,
            capacity = self.config.queue_capacity,
            reason,
            "notifications refused by the batcher (counted in offerd_notifications_dropped_total)"
        );
        self.refused_since_log = 0;
        self.last_refusal_log = Some(now);
    }

    fn count_dropped(&mut self, reason: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        let dropped = &self.metrics.notifications_dropped;
        dropped.with_label_values(&[reason]).inc_by(n as u64);
        if let Some(draining) = &mut self.draining {
            draining.report.dropped += n as u64;
        }
    }

    fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
        self.set_depth();
    }

    fn set_depth(&self) {
        let depth = i64::try_from(self.held).unwrap_or(i64::MAX);
        self.metrics.batcher_queue_depth.set(depth);
    }

    /// The drain deadline: what is still unsent is dropped, and the drain ends.
    fn drain_deadline(&mut self, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        let left = self.held;
        if left > 0 {
            tracing::warn!(
                dropped = left,
                "drain deadline reached; dropping notifications not yet delivered"
            );
            self.count_dropped("shutdown", left);
            self.release(left);
        }
        self.finish(ctx);
    }

    fn finish_if_drained(&mut self, ctx: &mut Context<Self>) {
        let idle = self.held == 0 && self.in_flight == 0 && self.ready.is_empty();
        if self.draining.is_some() && !self.finished && idle {
            self.finish(ctx);
        }
    }

    /// Replies to every `Drain` and stops; sends still in flight are cancelled.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.finished = true;
        let draining = self.draining.take().unwrap_or_default();
        let report = draining.report;
        tracing::info!(
            sent = report.sent,
            dropped = report.dropped,
            "batcher drained"
        );
        for waiter in draining.waiters {
            let _ = waiter.send(report.clone());
        }
        ctx.stop();
    }
}

impl Actor for Batcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        let every = Duration::from_millis(self.config.flush_interval_ms.max(1));
        ctx.run_interval(every, |act, ctx| act.flush(ctx, Scope::All));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Stopped without a drain (all addresses gone, a crash): still never silent.
        if self.held > 0 {
            tracing::warn!(
                dropped = self.held,
                "batcher stopped with notifications still owed to Target"
            );
            self.count_dropped("shutdown", self.held);
            self.release(self.held);
        }
    }
}

impl Handler<Enqueue> for Batcher {
    type Result = Result<(), Overflow>;

    fn handle(&mut self, Enqueue(outbound): Enqueue, ctx: &mut Context<Self>) -> Self::Result {
        let count = outbound.request.notifications.as_ref().map_or(0, Vec::len);
        if self.draining.is_some() {
            self.refuse(count, "shutdown");
            return Err(Overflow);
        }
        if self.held.saturating_add(count) > self.config.queue_capacity {
            self.refuse(count, "overflow");
            return Err(Overflow);
        }
        let key = Key::of(&outbound);
        if self.admit(key.clone(), outbound) {
            // A full request cannot get fuller: send it now rather than at the tick.
            self.flush(ctx, Scope::Full(key));
        }
        Ok(())
    }
}

impl Handler<Flush> for Batcher {
    type Result = ();

    fn handle(&mut self, _msg: Flush, ctx: &mut Context<Self>) {
        self.flush(ctx, Scope::All);
    }
}

impl Handler<Drain> for Batcher {
    type Result = ResponseFuture<DrainReport>;

    /// A second `Drain` waits for the first one's report (and its deadline).
    fn handle(&mut self, msg: Drain, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let first = self.draining.is_none();
        self.draining
            .get_or_insert_with(Draining::default)
            .waiters
            .push(tx);
        if first {
            self.drain_clock
                .send_replace(Some(Instant::now() + msg.deadline));
            ctx.run_later(msg.deadline, |act, ctx| act.drain_deadline(ctx));
            self.flush(ctx, Scope::All);
        }
        self.finish_if_drained(ctx);
        // The reply future runs outside the actor, so it survives the actor's stop.
        Box::pin(async move { rx.await.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests;
