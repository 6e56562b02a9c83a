//! The Batcher: the only sender of notifications (and SDK telemetry) to Target.
//!
//! - **Owns** the notifications held in memory until Target accepts them or they are
//!   counted as dropped: the lingering [`Queue`] (merged per visitor + session + edge
//!   cluster), the requests waiting for a call slot, those in flight and those backing
//!   off before a retry. `batcher.queue_capacity` bounds them together.
//! - **Receives** [`Committed`] records from the SpoolWriter (with a spool), or
//!   [`Enqueue`] from the client (memory only, or when the spool failed); [`Drain`] from
//!   the Supervisor. (Its unit tests also send `Flush`, and the service tests
//!   `InjectPanic`, built only for them.)
//! - **Sends** notification requests on the [`Senders`]' lanes: one visitor and
//!   session each, at most `max_notifications_per_request`, under an adaptive limit
//!   ([`ConcurrencyLimit`]) that follows Target's latency and errors. Retries back off
//!   with full jitter until a notification is `max_age_secs` old ([`RetryPolicy`]); a
//!   4xx splits the request to isolate the bad notification ([`Job::split`]). Accepted
//!   and dropped records are acknowledged to the spool, which deletes them.
//! - **Reads** the spool when its backlog is larger than memory, or after a start or
//!   restart (replay): the spool, not the mailbox, is the queue of record.
//! - **Stops** on [`Drain`] once everything is sent or the deadline passes. With a
//!   spool, what is left stays there for the next start; without one it is counted as
//!   dropped (`shutdown`). Nothing ends silently.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::owed::Owed;
use super::spool::{Record, Spool};
use super::telemetry_buffer::TelemetryBuffer;
use crate::clock::now_ms;
use crate::config::BatcherConfig;
use crate::metrics::Metrics;
use crate::upstream::UpstreamError;
use crate::warn_every::WarnEvery;

mod ages;
mod backpressure;
mod job;
mod limit;
pub mod queue;
mod retry;
mod send;
mod spool_link;

use ages::Ages;
pub use backpressure::Backpressure;
use job::Job;
pub use limit::ConcurrencyLimit;
use queue::{Batch, Key, Queue};
use retry::Backoffs;
pub use retry::RetryPolicy;
use send::Outcome;
pub use send::Senders;
use spool_link::SpoolLink;

/// The current Batcher, read by the client and the SpoolWriter; swapped when the
/// Supervisor restarts one.
pub type BatcherSlot = Arc<arc_swap::ArcSwapOption<Addr<Batcher>>>;

/// Messages the mailbox holds before `try_send` fails. Why 16384: an `Enqueue` or a
/// `Committed` takes microseconds to handle, so this absorbs bursts; a full mailbox
/// costs nothing with a spool (the record waits on disk) and is counted without.
const MAILBOX_CAPACITY: usize = 16_384;

/// Records read from the spool at once: a few MB, a few ms of SQLite.
const SPOOL_PAGE: usize = 2048;

/// Telemetry-only requests (no notification to ride on) at most this often.
const TELEMETRY_ALONE_EVERY: Duration = Duration::from_secs(1);

/// The queue (memory only) is full, the batcher is draining, or its mailbox is full.
#[derive(Debug, Clone, thiserror::Error)]
#[error("notification queue is full")]
pub struct Overflow;

/// Queue notifications held in memory only (no spool, or the spool failed).
#[derive(Message)]
#[rtype(result = "Result<(), Overflow>")]
pub struct Enqueue(pub Owed);

/// Records the spool just committed, in sequence order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Committed(pub Vec<Record>);

/// Send everything lingering now: the unit tests' way to skip the linger.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Send everything held until `deadline`, then stop.
#[derive(Message)]
#[rtype(result = "DrainReport")]
pub struct Drain {
    pub deadline: Instant,
}

/// A call to Target ended (sent by the sender thread that ran it).
#[derive(Message)]
#[rtype(result = "()")]
struct Attempted(Outcome);

/// Panics inside the Batcher: how the service tests show the Supervisor restarts it.
/// Built only with the `testing` feature, which only offerd's own tests turn on.
#[cfg(feature = "testing")]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// What a drain achieved, in notifications, from the moment it started.
#[derive(Debug, Clone, Default)]
pub struct DrainReport {
    /// Delivered to Target during the drain.
    pub sent: u64,
    /// Given up on during the drain, for any reason.
    pub dropped: u64,
    /// Still held in memory at the deadline (with a spool they stay spooled).
    pub left: u64,
}

/// A drain under way.
struct Draining {
    deadline: Instant,
    waiters: Vec<oneshot::Sender<DrainReport>>,
    report: DrainReport,
}

/// Merges, batches and sends notifications to Target; see the module docs.
pub struct Batcher {
    config: BatcherConfig,
    senders: Arc<Senders>,
    telemetry: Arc<TelemetryBuffer>,
    metrics: Arc<Metrics>,
    backpressure: Arc<Backpressure>,
    spool: Option<SpoolLink>,
    queue: Queue,
    ready: VecDeque<Job>,
    in_flight: usize,
    backing_off: Backoffs,
    /// Notifications in memory: queued, ready, in flight or backing off.
    held: usize,
    ages: Ages,
    limit: ConcurrencyLimit,
    policy: RetryPolicy,
    /// The newest visitor seen, for telemetry-only requests.
    last_seen: Option<(Arc<Key>, Arc<RawValue>)>,
    last_telemetry_alone: Instant,
    draining: Option<Draining>,
    finished: bool,
    /// Tells the call and backoff tasks that the batcher is gone.
    stop: tokio::sync::watch::Sender<bool>,
    /// Warnings at most once a second per kind, with counts.
    warned: HashMap<&'static str, WarnEvery>,
}

impl Batcher {
    /// A batcher sending through `senders`, reading `spool` if there is one and
    /// publishing its backlog to `backpressure`; start it with `Actor::start`.
    pub fn new(
        config: BatcherConfig,
        senders: Arc<Senders>,
        telemetry: Arc<TelemetryBuffer>,
        metrics: Arc<Metrics>,
        backpressure: Arc<Backpressure>,
        spool: Option<Spool>,
    ) -> Self {
        let timeout = senders.timeout();
        let limit = ConcurrencyLimit::new(
            config.initial_concurrency,
            config.min_concurrency,
            config.max_concurrency,
            // An answer taking half the timeout is a Target in trouble.
            timeout / 2,
        );
        let policy = RetryPolicy {
            base: Duration::from_millis(config.retry_base_ms.max(1)),
            max: Duration::from_millis(config.retry_max_ms.max(1)),
            max_age: Duration::from_secs(config.max_age_secs),
        };
        let spool = spool.map(SpoolLink::new);
        Self {
            queue: Queue::new(config.max_notifications_per_request),
            config,
            senders,
            telemetry,
            metrics,
            backpressure,
            spool,
            ready: VecDeque::new(),
            in_flight: 0,
            backing_off: Backoffs::default(),
            held: 0,
            ages: Ages::default(),
            limit,
            policy,
            last_seen: None,
            last_telemetry_alone: Instant::now(),
            draining: None,
            finished: false,
            stop: tokio::sync::watch::Sender::new(false),
            warned: HashMap::new(),
        }
    }

    fn linger(&self) -> Duration {
        Duration::from_millis(self.config.linger_ms)
    }

    fn capacity(&self) -> usize {
        self.config.queue_capacity.max(1)
    }

    /// Queues one call's notifications (`seq` 0: not spooled).
    fn admit(&mut self, owed: Owed, seq: u64, len: u32, ctx: &mut Context<Self>) {
        let n = owed.notifications.len();
        if let (Some(link), true) = (&mut self.spool, seq > 0) {
            link.hold(seq, n, len);
        }
        if n == 0 {
            return;
        }
        self.held += n;
        self.set_depth();
        self.ages.add(owed.owed_at_ms, n);
        let (key, full) = self.queue.push(owed, seq, Instant::now());
        if full {
            let mut batches = Vec::new();
            self.queue.take_full(&key, &mut batches);
            self.start_batches(batches, ctx);
        }
    }

    /// Takes just-committed records that are next in line and fit; the others wait
    /// on disk (see `spool_link`).
    fn take_committed(&mut self, records: Vec<Record>, ctx: &mut Context<Self>) {
        let capacity = self.capacity();
        for record in records {
            let room = self.held + record.owed.notifications.len() <= capacity;
            let Some(link) = &mut self.spool else { return };
            if link.take(record.seq, room) {
                self.admit(record.owed, record.seq, record.len, ctx);
            }
        }
    }

    /// Reads records waiting on disk while memory has room (half of it, so reads come
    /// in pages rather than one record at a time).
    fn read_spool(&mut self, ctx: &mut Context<Self>) {
        let capacity = self.capacity();
        let draining = self.draining.is_some();
        let Some(link) = &mut self.spool else { return };
        if !link.behind() || (self.held > capacity / 2 && !draining) {
            return;
        }
        let want = capacity.saturating_sub(self.held).clamp(1, SPOOL_PAGE);
        // Blocking SQLite read on the batcher's own thread: a page takes a few ms.
        match link.read_page(want) {
            Ok(records) => {
                for record in records {
                    self.admit(record.owed, record.seq, record.len, ctx);
                }
            }
            Err(err) => self.warn("spool_read", 1, &format!("cannot read the spool: {err}")),
        }
    }

    /// Turns cut batches into requests (telemetry on the first) and starts them.
    fn start_batches(&mut self, batches: Vec<Batch>, ctx: &mut Context<Self>) {
        if let Some(last) = batches.last() {
            self.last_seen = Some((last.key.clone(), last.envelope.clone()));
        }
        let mut telemetry = if batches.is_empty() {
            Vec::new()
        } else {
            self.telemetry.take(usize::MAX)
        };
        for batch in batches {
            let job = Job::new(batch, &telemetry);
            telemetry.clear();
            self.ready.push_back(job);
        }
        self.pump(ctx);
    }

    /// Telemetry with no notification to ride on goes alone, for the newest visitor,
    /// at most once a second.
    fn send_telemetry_alone(&mut self, ctx: &mut Context<Self>) {
        let due = self.last_telemetry_alone.elapsed() >= TELEMETRY_ALONE_EVERY;
        if !due && self.draining.is_none() {
            return;
        }
        let Some((key, envelope)) = self.last_seen.clone() else {
            return;
        };
        if self.telemetry.is_empty() {
            return;
        }
        self.last_telemetry_alone = Instant::now();
        let entries = self.telemetry.take(usize::MAX);
        let batch = Batch {
            key,
            envelope,
            items: Vec::new(),
        };
        self.ready.push_back(Job::new(batch, &entries));
        self.pump(ctx);
    }

    /// Starts ready requests while the adaptive limit allows, on the [`Senders`]; each
    /// reports back with [`Attempted`].
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < self.limit.current() {
            let Some(job) = self.ready.pop_front() else {
                break;
            };
            self.in_flight += 1;
            let addr = ctx.address();
            let report = move |outcome| addr.do_send(Attempted(outcome));
            self.senders.start(job, self.stop.subscribe(), report);
        }
        self.metrics
            .notification_requests_in_flight
            .set(self.in_flight as i64);
    }

    /// One attempt ended: count it, retry it, split it or drop it.
    fn settle(&mut self, Attempted(outcome): Attempted, ctx: &mut Context<Self>) {
        let Outcome {
            job,
            result,
            latency,
        } = outcome;
        if self.finished {
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .notification_upstream_latency
            .with_label_values(&[label])
            .observe(latency.as_secs_f64());
        match result {
            Ok(()) => {
                self.backpressure.succeeded(now_ms());
                self.limit
                    .on_success(latency, self.in_flight + 1, Instant::now());
                self.settled(job, None);
            }
            Err(UpstreamError::Offline) => self.settled(job, Some("offline")),
            Err(error) if error.is_retryable() => {
                self.limit.on_overload(Instant::now());
                self.retry(job, &error);
            }
            Err(UpstreamError::Status { status, body }) => self.rejected(job, status, &body),
            Err(error) => {
                let n = job.notifications() as u64;
                self.warn(
                    "invalid",
                    n,
                    &format!("notification request cannot be sent: {error}"),
                );
                self.settled(job, Some("invalid"));
            }
        }
        self.metrics
            .notification_concurrency_limit
            .set(self.limit.current() as i64);
        self.pump(ctx);
        self.finish_if_drained(ctx);
    }

    /// A retryable failure: back off (holding no call slot) unless too old.
    fn retry(&mut self, mut job: Job, error: &UpstreamError) {
        if self.policy.expired(job.newest_owed_ms(), now_ms()) {
            let n = job.notifications() as u64;
            self.warn(
                "expired",
                n,
                &format!(
                    "notifications older than batcher.max_age_secs dropped; last error: {error}"
                ),
            );
            self.settled(job, Some("expired"));
            return;
        }
        self.metrics
            .notifications_retried
            .inc_by(job.notifications() as u64);
        let deadline = self.draining.as_ref().map(|d| d.deadline);
        let delay = self.policy.delay(job.attempt, deadline);
        job.attempt = job.attempt.saturating_add(1);
        tracing::debug!(%error, attempt = job.attempt, delay_ms = delay.as_millis() as u64, "retrying a notification request");
        self.backing_off.wait(job, Instant::now() + delay);
    }

    /// Target refused the request: split it until the bad notification is alone.
    fn rejected(&mut self, job: Job, status: u16, body: &str) {
        let n = job.notifications() as u64;
        let splittable = n > 1 || (n == 1 && job.telemetry > 0);
        if let Some((first, second)) = splittable.then(|| job.split()).flatten() {
            // Retried at once, ahead of new work: a refusal is not an overload.
            if let Some(second) = second {
                self.ready.push_front(second);
            }
            self.ready.push_front(first);
            return;
        }
        let what = if n == 0 { "telemetry" } else { "notification" };
        self.warn(
            "rejected",
            n,
            &format!("Target refused a {what} request ({status}): {body}"),
        );
        self.settled(job, Some("rejected"));
    }

    /// A request is done with: sent (`None`) or dropped for `reason`.
    fn settled(&mut self, job: Job, dropped: Option<&'static str>) {
        let n = job.notifications();
        self.held = self.held.saturating_sub(n);
        self.set_depth();
        for owed_at in &job.owed_at_ms {
            self.ages.remove(*owed_at);
        }
        match dropped {
            None if n > 0 => {
                self.metrics.notifications_sent.inc_by(n as u64);
                self.metrics.notifications_per_request.observe(n as f64);
                if let Some(draining) = &mut self.draining {
                    draining.report.sent += n as u64;
                }
            }
            None => {}
            Some(reason) => self.count_dropped(reason, n),
        }
        self.acknowledge(&job.seqs);
    }

    /// Records whose every notification is settled go to the spool to be deleted.
    fn acknowledge(&mut self, seqs: &[u64]) {
        if let Some(link) = &mut self.spool {
            link.settle(seqs);
        }
    }

    fn count_dropped(&mut self, reason: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        self.metrics
            .notifications_dropped
            .with_label_values(&[reason])
            .inc_by(n as u64);
        if let Some(draining) = &mut self.draining {
            draining.report.dropped += n as u64;
        }
    }

    /// Refuses `n` notifications for `reason`: counted, and warned about at most once
    /// a second.
    fn refuse(&mut self, n: usize, reason: &'static str) {
        self.count_dropped(reason, n);
        let message = format!(
            "notifications refused by the batcher ({} held, capacity {})",
            self.held,
            self.capacity()
        );
        self.warn(reason, n as u64, &message);
    }

    /// Logs `message` for `kind` at most once a second, with the count of
    /// notifications since the last line of that kind.
    fn warn(&mut self, kind: &'static str, n: u64, message: &str) {
        let warned = self.warned.entry(kind).or_default();
        if let Some(notifications) = warned.record(n, now_ms()) {
            tracing::warn!(kind, notifications, "{message}");
        }
    }

    /// The periodic work: cut lingering keys, read the spool, acknowledge, gauges.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.backing_off.take_due(Instant::now(), &mut self.ready);
        let mut batches = Vec::new();
        if self.draining.is_some() {
            self.queue.take_all(&mut batches);
        } else {
            self.queue
                .take_due(Instant::now(), self.linger(), &mut batches);
        }
        let had_batches = !batches.is_empty();
        self.start_batches(batches, ctx);
        if !had_batches {
            self.send_telemetry_alone(ctx);
        }
        self.read_spool(ctx);
        if let Some(link) = &mut self.spool {
            link.flush_acks();
        }
        self.publish_gauges();
        self.finish_if_drained(ctx);
    }

    fn set_depth(&self) {
        self.metrics.batcher_queue_depth.set(self.held as i64);
        self.backpressure.set_held(self.held);
    }

    fn publish_gauges(&self) {
        let m = &self.metrics;
        self.set_depth();
        let age = self
            .ages
            .oldest_second()
            .map_or(0, |s| (now_ms() / 1000 - s).max(0));
        m.notifications_oldest_age.set(age);
        m.notification_concurrency_limit
            .set(self.limit.current() as i64);
    }

    fn idle(&self) -> bool {
        let behind = self.spool.as_ref().is_some_and(SpoolLink::behind);
        self.held == 0 && self.in_flight == 0 && self.backing_off.is_empty() && !behind
    }

    fn finish_if_drained(&mut self, ctx: &mut Context<Self>) {
        if self.draining.is_some() && !self.finished && self.idle() && self.telemetry.is_empty() {
            self.finish(ctx);
        }
    }

    /// The drain deadline: without a spool, what is held is dropped (counted).
    fn drain_deadline(&mut self, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        let left = self.held;
        if let Some(draining) = &mut self.draining {
            draining.report.left = left as u64;
        }
        if self.spool.is_none() && left > 0 {
            tracing::warn!(
                dropped = left,
                "drain deadline reached; dropping notifications not yet delivered"
            );
            self.count_dropped("shutdown", left);
            self.held = 0;
            self.set_depth();
        }
        self.finish(ctx);
    }

    /// Replies to every `Drain` and stops; sends in flight are cancelled (with a
    /// spool they are sent again at the next start).
    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.finished = true;
        if let Some(link) = &mut self.spool {
            link.flush_acks();
        }
        if let Some(draining) = self.draining.take() {
            tracing::info!(
                sent = draining.report.sent,
                dropped = draining.report.dropped,
                left = draining.report.left,
                "batcher drained"
            );
            for waiter in draining.waiters {
                let _ = waiter.send(draining.report.clone());
            }
        }
        self.publish_gauges();
        ctx.stop();
    }
}

impl Actor for Batcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        super::lower_thread_priority();
        // Each tick cuts the keys whose linger ended since the last one, and their calls
        // start at once: a tick every 50 ms started bursts of hundreds of calls that
        // took the cores from decisions for milliseconds (p99 9 ms at half load, 2
        // cores). A twentieth of the linger, within 2..20 ms, keeps bursts small at a
        // cost of a few hundred cheap ticks a second.
        let every = (self.linger() / 20).clamp(Duration::from_millis(2), Duration::from_millis(20));
        ctx.run_interval(every, |act, ctx| act.tick(ctx));
        self.metrics
            .notification_concurrency_limit
            .set(self.limit.current() as i64);
        self.read_spool(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.stop.send_replace(true);
        // Stopped without a drain (all addresses gone): never silent.
        if self.held > 0 && self.spool.is_none() && !self.finished {
            tracing::warn!(
                dropped = self.held,
                "batcher stopped with notifications still owed to Target"
            );
            self.count_dropped("shutdown", self.held);
            self.held = 0;
        }
    }
}

impl Handler<Enqueue> for Batcher {
    type Result = Result<(), Overflow>;

    fn handle(&mut self, Enqueue(owed): Enqueue, ctx: &mut Context<Self>) -> Self::Result {
        let n = owed.notifications.len();
        if self.finished {
            self.refuse(n, "shutdown");
            return Err(Overflow);
        }
        if self.held.saturating_add(n) > self.capacity() {
            self.refuse(n, "overflow");
            return Err(Overflow);
        }
        self.admit(owed, 0, 0, ctx);
        Ok(())
    }
}

impl Handler<Attempted> for Batcher {
    type Result = ();

    fn handle(&mut self, attempted: Attempted, ctx: &mut Context<Self>) {
        self.settle(attempted, ctx);
    }
}

impl Handler<Committed> for Batcher {
    type Result = ();

    fn handle(&mut self, Committed(records): Committed, ctx: &mut Context<Self>) {
        self.take_committed(records, ctx);
    }
}

#[cfg(test)]
impl Handler<Flush> for Batcher {
    type Result = ();

    fn handle(&mut self, _msg: Flush, ctx: &mut Context<Self>) {
        let mut batches = Vec::new();
        self.queue.take_all(&mut batches);
        self.start_batches(batches, ctx);
    }
}

impl Handler<Drain> for Batcher {
    type Result = ResponseFuture<DrainReport>;

    /// A second `Drain` waits for the first one's report (and its deadline).
    fn handle(&mut self, msg: Drain, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        match &mut self.draining {
            Some(draining) => draining.waiters.push(tx),
            None if self.finished => {
                let _ = tx.send(DrainReport::default());
            }
            None => {
                self.draining = Some(Draining {
                    deadline: msg.deadline,
                    waiters: vec![tx],
                    report: DrainReport::default(),
                });
                let left = msg.deadline.saturating_duration_since(Instant::now());
                ctx.run_later(left, |act, ctx| act.drain_deadline(ctx));
                self.backing_off.hasten(&self.policy, msg.deadline);
                self.tick(ctx);
            }
        }
        // The reply future runs outside the actor, so it survives the actor's stop.
        Box::pin(async move { rx.await.unwrap_or_default() })
    }
}

#[cfg(feature = "testing")]
impl Handler<InjectPanic> for Batcher {
    type Result = ();

    fn handle(&mut self, _msg: InjectPanic, _ctx: &mut Context<Self>) {
        panic!("batcher panic injected by a test");
    }
}

#[cfg(test)]
mod tests;
