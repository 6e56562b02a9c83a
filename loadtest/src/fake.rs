//! The fake Target Delivery API: answers `POST /rest/v1/delivery` with 200
//! `{"status":200}` and counts what it receives, so a test can check that offerd
//! delivered every notification exactly once.
//!
//! It runs its own actix system on a thread of its own, so the load generator's tokio
//! runtime and the fake never compete for one executor. `GET /stats` serves the counts as
//! JSON; in-process callers read them with [`FakeUpstream::stats`]. Options inject
//! failures (`fail_every`: every Nth request answers 503, which offerd must retry) and
//! latency (`delay`). Only what a 200 accepted is counted as received: a notification
//! in a request answered 503 will come again.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use anyhow::{Context as _, anyhow};
use serde::Serialize;
use serde_json::{Value, json};

/// How the fake answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeOptions {
    /// Answer 503 to every Nth delivery request (0 = never).
    pub fail_every: u64,
    /// Wait this long before answering each delivery request.
    pub delay: Duration,
}

/// The counts, as served by `GET /stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Delivery requests received, whatever the answer.
    pub requests: u64,
    /// Answered 200 (and counted below).
    pub accepted: u64,
    /// Answered 503 on purpose (`fail_every`).
    pub injected_failures: u64,
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

/// Shared counters; atomics for the hot path, one lock for the id set.
#[derive(Default)]
struct Counters {
    options: FakeOptions,
    requests: AtomicU64,
    accepted: AtomicU64,
    injected_failures: AtomicU64,
    bad_bodies: AtomicU64,
    notifications: AtomicU64,
    duplicate_ids: AtomicU64,
    without_id: AtomicU64,
    telemetry_entries: AtomicU64,
    // A plain mutex: held only for a few inserts, never across an await.
    ids: Mutex<HashSet<String>>,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let distinct = self.ids.lock().map(|ids| ids.len()).unwrap_or_default();
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            injected_failures: self.injected_failures.load(Ordering::Relaxed),
            bad_bodies: self.bad_bodies.load(Ordering::Relaxed),
            notifications: self.notifications.load(Ordering::Relaxed),
            distinct_notification_ids: distinct as u64,
            duplicate_notification_ids: self.duplicate_ids.load(Ordering::Relaxed),
            notifications_without_id: self.without_id.load(Ordering::Relaxed),
            telemetry_entries: self.telemetry_entries.load(Ordering::Relaxed),
        }
    }

    /// Counts the notifications and telemetry of one accepted body.
    fn count(&self, body: &Value) {
        let notifications = body
            .get("notifications")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        self.notifications
            .fetch_add(notifications.len() as u64, Ordering::Relaxed);
        if let Ok(mut ids) = self.ids.lock() {
            for n in notifications {
                match n.get("id").and_then(Value::as_str) {
                    Some(id) if !ids.insert(id.to_owned()) => {
                        self.duplicate_ids.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {}
                    None => {
                        self.without_id.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        let telemetry = body
            .pointer("/telemetry/entries")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        self.telemetry_entries
            .fetch_add(telemetry as u64, Ordering::Relaxed);
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
                .workers(2)
                .listen(listener);
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

/// `POST /rest/v1/delivery`.
async fn delivery(counters: web::Data<Counters>, body: Bytes) -> HttpResponse {
    let n = counters.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let options = counters.options;
    if !options.delay.is_zero() {
        actix_web::rt::time::sleep(options.delay).await;
    }
    if options.fail_every > 0 && n.is_multiple_of(options.fail_every) {
        counters.injected_failures.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": 503, "message": "injected failure"}));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(body) => {
            counters.count(&body);
            HttpResponse::Ok().json(json!({"status": 200}))
        }
        Err(err) => {
            counters.bad_bodies.fetch_add(1, Ordering::Relaxed);
            HttpResponse::BadRequest()
                .json(json!({"status": 400, "message": format!("not JSON: {err}")}))
        }
    }
}

/// `GET /stats`.
async fn stats(counters: web::Data<Counters>) -> HttpResponse {
    HttpResponse::Ok().json(counters.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_notifications_ids_duplicates_and_telemetry() {
        let counters = Counters::default();
        counters.count(&json!({
            "notifications": [{"id": "a"}, {"id": "b"}, {"type": "display"}],
            "telemetry": {"entries": [{}, {}]}
        }));
        counters.count(&json!({"notifications": [{"id": "a"}]}));
        counters.count(&json!({"id": {"tntId": "t"}}));
        let stats = counters.snapshot();
        assert_eq!(stats.accepted, 3);
        assert_eq!(stats.notifications, 4);
        assert_eq!(stats.distinct_notification_ids, 2);
        assert_eq!(stats.duplicate_notification_ids, 1);
        assert_eq!(stats.notifications_without_id, 1);
        assert_eq!(stats.telemetry_entries, 2);
    }
}
