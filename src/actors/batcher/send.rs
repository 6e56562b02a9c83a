//! Sending one batcher request to Target, with its retries. Runs as a future spawned
//! on the Batcher's context and owns nothing of the actor's state, so the actor keeps
//! answering `Enqueue` while sends and backoffs run; the outcome goes back to the actor,
//! which does the counting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use super::{Batcher, Job};
use crate::metrics::Metrics;
use crate::upstream::UpstreamError;
use crate::upstream::delivery::DeliveryClient;

/// The `purpose` label of the batcher's Delivery API calls.
const PURPOSE: &str = "notifications";

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Target accepted it.
    Sent,
    /// Given up on, with the `notifications_dropped` reason.
    Dropped(&'static str),
}

/// Exponential backoff with full jitter, `base * 2^attempt` capped at `max`.
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryPolicy {
    pub max_retries: u32,
    pub base_ms: u64,
    pub max_ms: u64,
}

impl RetryPolicy {
    /// The pause before retry number `attempt + 1`. While draining, the cap is also
    /// the time left split over the retries left, so the last one still fits.
    pub fn delay(&self, attempt: u32, deadline: Option<Instant>) -> Duration {
        let factor = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
        let mut cap = self.base_ms.saturating_mul(factor).min(self.max_ms);
        if let Some(deadline) = deadline {
            let retries_left = self.max_retries.saturating_sub(attempt);
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / retries_left.saturating_add(1);
            cap = cap.min(u64::try_from(share.as_millis()).unwrap_or(u64::MAX));
        }
        Duration::from_millis(rand::random_range(0..=cap))
    }
}

/// What a send needs, cloned out of the actor.
pub(super) struct Sender {
    delivery: Arc<DeliveryClient>,
    metrics: Arc<Metrics>,
    policy: RetryPolicy,
    /// The drain deadline, once a drain starts.
    drain: watch::Receiver<Option<Instant>>,
    /// Held only during a call, never during a backoff.
    http_permits: Arc<Semaphore>,
}

impl Sender {
    pub fn new(batcher: &Batcher) -> Self {
        Self {
            delivery: batcher.delivery.clone(),
            metrics: batcher.metrics.clone(),
            policy: RetryPolicy {
                max_retries: batcher.config.max_retries,
                base_ms: batcher.config.retry_base_ms,
                max_ms: batcher.config.retry_max_ms,
            },
            drain: batcher.drain_clock.subscribe(),
            http_permits: batcher.http_permits.clone(),
        }
    }

    /// Sends `job`, retrying retryable failures; logs every give-up where it happens.
    pub async fn send(mut self, job: Job) -> Outcome {
        let mut attempt = 0;
        loop {
            let cluster = job.cluster.as_deref();
            // The semaphore is never closed; if it were, sending unthrottled beats
            // dropping.
            let permit = self.http_permits.acquire().await.ok();
            let result = self
                .delivery
                .deliver(&job.request, &job.session_id, cluster, PURPOSE)
                .await;
            drop(permit);
            let error = match result {
                Ok(_) => return Outcome::Sent,
                Err(error) => error,
            };
            if let Some(outcome) = self.give_up(&job, &error, attempt) {
                return outcome;
            }
            let retried = u64::try_from(job.notifications).unwrap_or(u64::MAX);
            self.metrics.notifications_retried.inc_by(retried);
            tracing::debug!(%error, attempt, notifications = job.notifications, "retrying notification request");
            self.pause(attempt).await;
            attempt += 1;
        }
    }

    /// `Some` when `error` ends the job: accepted-but-unreadable, rejected, or out
    /// of retries.
    fn give_up(&self, job: &Job, error: &UpstreamError, attempt: u32) -> Option<Outcome> {
        let notifications = job.notifications;
        if let UpstreamError::Decode(reason) = error {
            // Target answered 2xx: it took the notifications; resending would duplicate.
            tracing::warn!(%reason, notifications, "Target accepted a notification request but its answer was unreadable");
            return Some(Outcome::Sent);
        }
        if let UpstreamError::Offline = error {
            tracing::debug!(
                notifications,
                "upstream.offline: notifications counted as dropped, not sent"
            );
            return Some(Outcome::Dropped("offline"));
        }
        if !error.is_retryable() {
            match error {
                UpstreamError::Status { status, body } => tracing::warn!(
                    status,
                    body = %body,
                    notifications,
                    "Target rejected a notification request; dropping its notifications"
                ),
                other => {
                    tracing::warn!(error = %other, notifications, "notification request failed; dropping its notifications")
                }
            }
            return Some(Outcome::Dropped("rejected"));
        }
        if attempt >= self.policy.max_retries {
            tracing::warn!(%error, attempts = attempt + 1, notifications, "giving up on a notification request after retries");
            return Some(Outcome::Dropped("retries_exhausted"));
        }
        None
    }

    async fn pause(&mut self, attempt: u32) {
        let delay = self.policy.delay(attempt, *self.drain.borrow_and_update());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            // A drain that starts mid-pause must not wait out a long backoff: the pause
            // is recomputed against its deadline. (A closed channel disables this arm.)
            Ok(()) = self.drain.changed() => {
                let deadline = *self.drain.borrow_and_update();
                tokio::time::sleep(self.policy.delay(attempt, deadline)).await;
            }
        }
    }
}
