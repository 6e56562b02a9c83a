//! The Senders: the threads that run the Batcher's calls to Target.
//!
//! Why not the Batcher's own thread: a call (HTTP/2 framing, TLS, the HTTP client's
//! bookkeeping) is the costliest step of a notification. Run on the Batcher's one
//! thread, it capped the process at what one core could send: on 2 cores that thread
//! saturated near 10k notifications/s, its backlog grew past `backpressure_at`, and
//! decisions waited (p99 43 ms). On 16 cores it would have been the same half core.
//!
//! So calls run on `batcher.send_threads` lanes (default: one per core). A lane is a
//! thread with a single-threaded runtime and an HTTP client of its own, so its
//! connection to Target and the calls on it never hop between threads. (One
//! work-stealing runtime shared by all lanes was measured first: its calls and
//! connection tasks woke each other across cores, and a notification cost ~60 % more
//! CPU to send.) The Batcher keeps every decision (what to send and when, the adaptive
//! limit, retries, accounting); a lane only runs calls and reports each [`Outcome`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::job::Job;
use crate::upstream::UpstreamError;
use crate::upstream::delivery::DeliveryClient;

/// How one call ended.
pub struct Outcome {
    pub job: Job,
    pub result: Result<(), UpstreamError>,
    pub latency: Duration,
}

/// A call for a lane to run: the job, the Batcher's stop signal, where to report.
struct Call {
    job: Job,
    stopped: watch::Receiver<bool>,
    report: Box<dyn FnOnce(Outcome) + Send>,
}

/// The lanes; see the module docs. Dropping it ends the lanes' threads (calls still
/// in flight are abandoned, as at a Batcher's stop).
pub struct Senders {
    /// Each lane's inbox. Unbounded because the Batcher's adaptive limit already
    /// bounds the calls in flight, and a send must never block the Batcher.
    lanes: Vec<mpsc::UnboundedSender<Call>>,
    /// Round robin over the lanes.
    next: AtomicUsize,
    timeout: Duration,
}

impl Senders {
    /// `threads` lanes (0: one per core), each with a client built from `delivery`'s
    /// settings; `direct`: with the lean HTTP/2 client where it can serve
    /// ([`DeliveryClient::for_notifications`]).
    pub fn new(
        delivery: &Arc<DeliveryClient>,
        threads: usize,
        direct: bool,
    ) -> Result<Self, UpstreamError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut lanes = Vec::with_capacity(threads);
        for i in 0..threads {
            let (settings, metrics) = (delivery.settings.clone(), delivery.metrics.clone());
            let client = match direct {
                true => DeliveryClient::for_notifications(settings, metrics)?,
                false => DeliveryClient::new(settings, metrics)?,
            };
            lanes.push(start_lane(i, Arc::new(client))?);
        }
        Ok(Self {
            lanes,
            next: AtomicUsize::new(0),
            timeout: delivery.settings.notification_timeout,
        })
    }

    /// The timeout of one call (`batcher.timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Starts the call for `job` on the next lane; `report` gets its outcome, on that
    /// lane's thread. Once `stopped` turns true the call is abandoned unreported (the
    /// Batcher is gone; with a spool the records are sent again at the next start).
    pub fn start(
        &self,
        job: Job,
        stopped: watch::Receiver<bool>,
        report: impl FnOnce(Outcome) + Send + 'static,
    ) {
        let next = self.next.fetch_add(1, Ordering::Relaxed);
        let lane = &self.lanes[next % self.lanes.len()];
        let call = Call {
            job,
            stopped,
            report: Box::new(report),
        };
        if let Err(mpsc::error::SendError(call)) = lane.send(call) {
            // The lane's thread is gone (a panicking call ends its own task only, so
            // this is not expected); report a failed call, which the Batcher retries.
            let error = UpstreamError::Other("notification sender stopped".into());
            (call.report)(Outcome {
                job: call.job,
                result: Err(error),
                latency: Duration::ZERO,
            });
        }
    }
}

/// Starts lane `i`: a thread running the calls sent to the returned inbox.
fn start_lane(
    i: usize,
    client: Arc<DeliveryClient>,
) -> Result<mpsc::UnboundedSender<Call>, UpstreamError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UpstreamError::Other(format!("cannot start a notification sender: {e}")))?;
    let (inbox, mut calls) = mpsc::unbounded_channel::<Call>();
    std::thread::Builder::new()
        .name(format!("offerd-send-{i}"))
        .spawn(move || {
            super::super::lower_thread_priority();
            runtime.block_on(async move {
                while let Some(call) = calls.recv().await {
                    tokio::spawn(run(client.clone(), call));
                }
            });
        })
        .map_err(|e| UpstreamError::Other(format!("cannot start a notification sender: {e}")))?;
    Ok(inbox)
}

/// Runs one call and reports it, unless the Batcher stops first.
async fn run(client: Arc<DeliveryClient>, call: Call) {
    let Call {
        job,
        mut stopped,
        report,
    } = call;
    let started = Instant::now();
    let session = &job.key.session_id;
    let notifications = job.seqs.len();
    let send = client.notify(
        job.body.clone(),
        notifications,
        session,
        job.key.cluster.as_deref(),
    );
    tokio::select! {
        result = send => {
            let latency = started.elapsed();
            report(Outcome { job, result, latency });
        }
        _ = stopped.changed() => {}
    }
}
