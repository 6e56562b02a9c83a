//! The fake Target Delivery API: answers `POST /rest/v1/delivery` with 200
//! `{"status":200}` and counts what it receives, so a test can check that offerd
//! delivered every notification exactly once.
//!
//! It runs its own actix system on a thread of its own, so the load generator's tokio
//! runtime and the fake never compete for one executor. `GET /stats` serves the counts as
//! JSON; in-process callers read them with [`FakeUpstream::stats`]. Options inject
//! failures (`fail_every`: every Nth request answers 503, which offerd must retry),
//! latency (`delay`) and an [`Outage`]: a window in which every delivery request is
//! answered 503 or has its connection reset ([`outage`]). Only what a 200 accepted is
//! counted as received: a notification in a request that failed will come again.
//!
//! Counting is cheap ([`counted`]): a body is scanned for its notification ids and
//! telemetry entries only, and ids are kept as 128-bit hashes in a sharded set, so the
//! fake takes little of the CPU it shares with offerd and the load.

mod counted;
mod outage;

use std::any::Any;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::{Extensions, ServerHandle};
use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{Context as _, anyhow};
use counted::{Counted, IdSet};
use serde::Serialize;
#[cfg(test)]
use serde_json::Value;
use serde_json::json;

pub use outage::{Outage, OutageMode};

/// How the fake answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeOptions {
    /// Answer 503 to every Nth delivery request (0 = never).
    pub fail_every: u64,
    /// Wait this long before answering each delivery request (not during an outage).
    pub delay: Duration,
    /// Fail every delivery request for a while.
    pub outage: Option<Outage>,
}

/// The counts, as served by `GET /stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Delivery requests answered, whatever the answer (`accepted` + `injected_failures`
    /// + `bad_bodies`); requests whose connection was reset are not in it.
    pub requests: u64,
    /// Answered 200 (and counted below).
    pub accepted: u64,
    /// Answered 503 on purpose (`fail_every`, or an outage in 503 mode).
    pub injected_failures: u64,
    /// Delivery requests failed by the outage: answered 503, or reset unanswered.
    pub outage_failures: u64,
    /// Bodies that were not JSON (answered 400).
    pub bad_bodies: u64,
    /// `notifications` entries in accepted requests.
    pub notifications: u64,
    /// Distinct notification ids among them.
    pub distinct_notification_ids: u64,
    /// Notifications whose id had been received before.
    pub duplicate_notification_ids: u64,
    /// Notifications without an id.
    pub notifications_without_id: u64,
    /// `telemetry.entries` in accepted requests.
    pub telemetry_entries: u64,
}

impl Stats {
    /// `fake upstream stats: {json}`.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(json) => println!("fake upstream stats: {json}"),
            Err(err) => println!("fake upstream stats: cannot print: {err}"),
        }
    }
}

/// Shared counters; atomics for the hot path, a lock per shard of the id set.
#[derive(Default)]
struct Counters {
    options: FakeOptions,
    requests: AtomicU64,
    accepted: AtomicU64,
    injected_failures: AtomicU64,
    outage_failures: AtomicU64,
    bad_bodies: AtomicU64,
    notifications: AtomicU64,
    duplicate_ids: AtomicU64,
    without_id: AtomicU64,
    telemetry_entries: AtomicU64,
    first_request: outage::FirstRequest,
    // Plain mutexes: each held for one insert, never across an await.
    ids: IdSet,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let distinct = self.ids.len();
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            injected_failures: self.injected_failures.load(Ordering::Relaxed),
            outage_failures: self.outage_failures.load(Ordering::Relaxed),
            bad_bodies: self.bad_bodies.load(Ordering::Relaxed),
            notifications: self.notifications.load(Ordering::Relaxed),
            distinct_notification_ids: distinct as u64,
            duplicate_notification_ids: self.duplicate_ids.load(Ordering::Relaxed),
            notifications_without_id: self.without_id.load(Ordering::Relaxed),
            telemetry_entries: self.telemetry_entries.load(Ordering::Relaxed),
        }
    }

    /// Records a delivery request arriving now; the outage's mode if it falls in it.
    fn outage_now(&self) -> Option<OutageMode> {
        let since_first = self.first_request.since_first(Instant::now());
        let outage = self.options.outage?;
        outage.covers(since_first).then_some(outage.mode)
    }

    /// Counts the notifications and telemetry of one accepted body, read as a `Value`.
    #[cfg(test)]
    fn count(&self, body: &Value) {
        self.record(Counted::from_value(body));
    }

    /// Counts what one accepted body holds.
    fn record(&self, counted: Counted) {
        self.notifications
            .fetch_add(counted.notifications.len() as u64, Ordering::Relaxed);
        let (mut duplicates, mut without_id) = (0, 0);
        for notification in counted.notifications {
            match notification.id {
                Some(id) => duplicates += u64::from(!self.ids.insert(id)),
                None => without_id += 1,
            }
        }
        // Shared cache lines: skip the adds of nothing.
        for (counter, n) in [
            (&self.duplicate_ids, duplicates),
            (&self.without_id, without_id),
            (&self.telemetry_entries, counted.telemetry_entries),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running fake, on its own thread.
pub struct FakeUpstream {
    /// The bound address (`127.0.0.1:<port>` when bound to port 0).
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    handle: ServerHandle,
    thread: JoinHandle<std::io::Result<()>>,
}

impl FakeUpstream {
    /// Binds `bind` and serves until [`stop`](Self::stop) (or, with `signals`, until
    /// SIGINT/SIGTERM).
    pub fn start(bind: SocketAddr, options: FakeOptions, signals: bool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(bind).with_context(|| format!("cannot bind {bind}"))?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters {
            options,
            ..Counters::default()
        });
        let shared = web::Data::from(counters.clone());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        // Batched requests of 50 notifications plus telemetry stay far below.
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .route("/rest/v1/delivery", web::post().to(delivery))
                        .route("/stats", web::get().to(stats))
                })
                .on_connect(remember_fd)
                .workers(2)
                .listen_auto_h2c(listener);
                let server = match server {
                    Ok(server) => server,
                    Err(err) => {
                        let _ = tx.send(Err(anyhow!("cannot listen: {err}")));
                        return Ok(());
                    }
                };
                let server = if signals {
                    server.run()
                } else {
                    server.disable_signals().run()
                };
                let _ = tx.send(Ok(server.handle()));
                server.await
            })
        });
        let handle = rx
            .recv()
            .map_err(|_| anyhow!("fake upstream thread ended before serving"))??;
        Ok(Self {
            addr,
            counters,
            handle,
            thread,
        })
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Waits until the server stops by itself (a signal).
    pub fn wait(self) -> anyhow::Result<()> {
        self.thread
            .join()
            .map_err(|_| anyhow!("fake upstream thread panicked"))?
            .context("fake upstream failed")
    }

    /// Stops the server gracefully and waits for its thread.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.handle.stop(true).await;
        tokio::task::spawn_blocking(move || self.thread.join())
            .await?
            .map_err(|_| anyhow!("fake upstream thread panicked"))?
            .context("fake upstream failed")
    }
}

/// A connection's socket, kept so that an outage can reset it from a handler.
#[derive(Debug, Clone, Copy)]
struct ConnFd(RawFd);

/// `on_connect` callback: stores the plain TCP socket's fd in the connection's data.
fn remember_fd(connection: &dyn Any, data: &mut Extensions) {
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ConnFd(stream.as_raw_fd()));
    }
}

/// `POST /rest/v1/delivery`.
async fn delivery(req: HttpRequest, counters: web::Data<Counters>, body: Bytes) -> HttpResponse {
    if let Some(mode) = counters.outage_now() {
        return outage_failure(&req, &counters, mode);
    }
    let n = counters.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let options = counters.options;
    if !options.delay.is_zero() {
        actix_web::rt::time::sleep(options.delay).await;
    }
    if options.fail_every > 0 && n.is_multiple_of(options.fail_every) {
        return injected_failure(&counters, "injected failure");
    }
    match Counted::from_slice(&body) {
        Ok(counted) => {
            counters.record(counted);
            // The bytes `json!({"status": 200})` serializes to, without building it.
            HttpResponse::Ok()
                .content_type(ContentType::json())
                .body(r#"{"status":200}"#)
        }
        Err(err) => {
            counters.bad_bodies.fetch_add(1, Ordering::Relaxed);
            HttpResponse::BadRequest()
                .json(json!({"status": 400, "message": format!("not JSON: {err}")}))
        }
    }
}

/// Fails a request in the outage: resets its connection in reset mode, else (or if it
/// has no socket to reset) answers 503 at once.
fn outage_failure(req: &HttpRequest, counters: &Counters, mode: OutageMode) -> HttpResponse {
    counters.outage_failures.fetch_add(1, Ordering::Relaxed);
    if mode == OutageMode::Reset && reset_connection(req) {
        // Never delivered: the connection is shut, and its close sends RST.
        return HttpResponse::ServiceUnavailable().finish();
    }
    counters.requests.fetch_add(1, Ordering::Relaxed);
    injected_failure(counters, "outage")
}

/// Resets the request's connection; false when it has no socket to reset.
fn reset_connection(req: &HttpRequest) -> bool {
    // The fd is open: the connection that owns it is the one being answered.
    req.conn_data::<ConnFd>()
        .is_some_and(|fd| outage::reset(fd.0).is_ok())
}

/// A 503 on purpose, counted in `injected_failures`.
fn injected_failure(counters: &Counters, message: &str) -> HttpResponse {
    counters.injected_failures.fetch_add(1, Ordering::Relaxed);
    HttpResponse::ServiceUnavailable().json(json!({"status": 503, "message": message}))
}

/// `GET /stats`.
async fn stats(counters: web::Data<Counters>) -> HttpResponse {
    HttpResponse::Ok().json(counters.snapshot())
}

#[cfg(test)]
mod tests;
