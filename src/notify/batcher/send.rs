//! The Senders: the threads that run the Batcher's calls to Target.
//!
//! Why not the Batcher's own thread: a call (HTTP/2 framing, TLS, the HTTP client's
//! bookkeeping) is the costliest step of a notification. Run on the Batcher's one
//! thread, it capped the process at what one core could send: on 2 cores that thread
//! saturated near 10k notifications/s, its backlog grew past `backpressure_at`, and
//! decisions waited (p99 43 ms). On 16 cores it would have been the same half core.
//!
//! So calls run on a multi-thread runtime of `batcher.send_threads` threads (default:
//! one per core), spread over as many lanes, each with an HTTP client of its own: its own
//! connection to Target, whose HTTP/2 connection task can run beside the others'. The
//! Batcher keeps every decision (what to send and when, the adaptive limit, retries,
//! accounting); a lane only runs one call and reports its [`Outcome`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::watch;

use super::job::Job;
use crate::upstream::UpstreamError;
use crate::upstream::delivery::DeliveryClient;

/// How one call ended.
pub struct Outcome {
    pub job: Job,
    pub result: Result<(), UpstreamError>,
    pub latency: Duration,
}

/// The lanes and the threads they run on; see the module docs.
pub struct Senders {
    /// `Some` until dropped: a runtime must be shut down without blocking, since the
    /// Batcher that owns it stops inside another runtime.
    runtime: Option<Runtime>,
    lanes: Vec<Arc<DeliveryClient>>,
    /// Round robin over the lanes.
    next: AtomicUsize,
}

impl Senders {
    /// `threads` threads (0: one per core) and as many lanes, each a client built from
    /// `delivery`'s settings.
    pub fn new(delivery: &Arc<DeliveryClient>, threads: usize) -> Result<Self, UpstreamError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("offerd-send")
            .enable_all()
            .build()
            .map_err(|e| UpstreamError::Other(format!("cannot start the senders: {e}")))?;
        let mut lanes = vec![delivery.clone()];
        for _ in 1..threads {
            let settings = delivery.settings.clone();
            let lane = DeliveryClient::new(settings, delivery.metrics.clone())?;
            lanes.push(Arc::new(lane));
        }
        Ok(Self {
            runtime: Some(runtime),
            lanes,
            next: AtomicUsize::new(0),
        })
    }

    /// The timeout of one call (`batcher.timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.lanes[0].settings.notification_timeout
    }

    /// Starts the call for `job` on the next lane; `report` gets its outcome, on a
    /// sender thread. Once `stopped` turns true the call is abandoned unreported (the
    /// Batcher is gone; with a spool the records are sent again at the next start).
    pub fn start(
        &self,
        job: Job,
        mut stopped: watch::Receiver<bool>,
        report: impl FnOnce(Outcome) + Send + 'static,
    ) {
        let Some(runtime) = &self.runtime else { return };
        let next = self.next.fetch_add(1, Ordering::Relaxed);
        let lane = self.lanes[next % self.lanes.len()].clone();
        runtime.spawn(async move {
            let started = Instant::now();
            let session = &job.key.session_id;
            let call = lane.notify(job.body.clone(), session, job.key.cluster.as_deref());
            tokio::select! {
                result = call => {
                    let latency = started.elapsed();
                    report(Outcome { job, result, latency });
                }
                _ = stopped.changed() => {}
            }
        });
    }
}

impl Drop for Senders {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
