//! The `ArtifactRefresher` actor: owns the [`ArtifactFetcher`] and the polling
//! schedule, and publishes every good artifact to the [`ArtifactStore`], where the
//! decision actors read it lock-free.
//!
//! - **Who sends to it.** The Supervisor starts it (it implements [`Supervised`], so a
//!   crash restarts it with a fresh refresh). Tests and the admin surface send
//!   [`RefreshNow`]; nothing else does — the schedule is its own timer.
//! - **What it does.** On start it refreshes at once, then every
//!   `artifact.polling_interval_secs` (0 = never again). A refresh downloads
//!   conditionally (ETag / file fingerprint), decodes and compiles on a blocking thread
//!   (a large `rules.bin` takes a while and must not stall the arbiter), and publishes.
//!   At most one refresh runs at a time: a tick during one is skipped. A failure keeps
//!   the last good artifact; while there is none yet (or only the backup), retries back
//!   off from 1 s up to the polling interval so readiness follows soon after the CDN
//!   recovers.
//! - **The backup** (`artifact.backup_dir`, see [`crate::artifact_backup`]): every new
//!   download is written there. At start it is read before the first download (so that
//!   download asks `If-None-Match` with the backup's ETag) and served when the first
//!   download fails or takes longer than `artifact.boot_timeout_ms`; the first good
//!   download (or a 304 confirming it) replaces it. See `refresher/boot.rs`.
//! - **What it sends.** Nothing to other actors: it writes the store, the metrics and
//!   one telemetry entry per download into the [`TelemetryBuffer`] (the Batcher ships it).
//! - **How it stops.** Its timer keeps it alive without any address; it stops with its
//!   arbiter (system shutdown). A refresh in flight is then dropped before publishing,
//!   which is harmless: the store only ever holds complete artifacts.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::{epoch_ms, epoch_secs};

use actix::prelude::*;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::artifact_backup::{Backup, BackupDir};
use crate::config::Config;
use crate::engine::telemetry::artifact_entry;
use crate::engine::{Artifact, ArtifactFormat, ArtifactProvenance, CompiledArtifact};
use crate::metrics::Metrics;
use crate::notify::telemetry_buffer::TelemetryBuffer;
use crate::store::{ArtifactStore, LoadedArtifact};
use crate::upstream::artifact_source::{ArtifactFetcher, ArtifactSource, Fetched};
use crate::upstream::egress::Egress;
use boot::{confirm, write_backup};

/// First retry delay after a failed first load; it doubles up to the polling interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The retry cap when polling is off: without polling nothing else would ever load it.
const RETRY_CAP_WITHOUT_POLLING: Duration = Duration::from_secs(60);

/// How a refresh ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A new artifact was published.
    Updated { version: String },
    /// The artifact is the one already loaded (HTTP 304, same file).
    Unchanged,
    /// Nothing was published; the last good artifact (if any) stays.
    Failed(String),
}

/// Fetch the artifact now (outside the polling schedule) and reply with the outcome.
/// During a running refresh, another one starts right after it, so the reply always
/// reflects a download begun after the message was sent.
#[derive(Message)]
#[rtype(result = "RefreshOutcome")]
pub struct RefreshNow;

/// Polls the artifact and publishes it to the [`ArtifactStore`].
pub struct ArtifactRefresher {
    /// The configuration the refresher was built from (source, format, interval).
    pub config: Config,
    /// Where good artifacts are published and refresh outcomes recorded.
    pub store: Arc<ArtifactStore>,
    /// Receives one telemetry entry per download.
    pub telemetry: Arc<TelemetryBuffer>,
    /// `artifact_refreshes`, `artifact_info`, `artifact_loaded_at`, `artifact_generated_at`.
    pub metrics: Arc<Metrics>,
    fetcher: Arc<ArtifactFetcher>,
    format: ArtifactFormat,
    /// Path, URL or "inline", for logs and the store.
    source: String,
    /// Artifacts downloaded so far (the trace's `artifactRetrievalCount`).
    retrieval_count: u64,
    running: bool,
    /// `RefreshNow` callers the running refresh answers.
    waiters: Vec<oneshot::Sender<RefreshOutcome>>,
    /// `RefreshNow` callers that arrived during it; a new refresh serves them.
    queued: Vec<oneshot::Sender<RefreshOutcome>>,
    next_retry: Duration,
    retry: Option<SpawnHandle>,
    /// Where downloads are backed up; `None` without `artifact.backup_dir` or for an
    /// inline artifact.
    backup_dir: Option<BackupDir>,
    /// The backup read at start, compiled, until it is served or replaced.
    backup: Option<LoadedArtifact>,
    /// The ETag of the artifact in the backup file, when known: a 304 to it confirms
    /// the file.
    backup_etag: Option<String>,
    /// The first download failed or `artifact.boot_timeout_ms` passed: the backup may
    /// be served.
    backup_due: bool,
}

mod boot;

/// The downloads' egress. The config check read `upstream.ca_file` at boot, so this
/// fails only if the file went away since: then the system's store alone is trusted
/// (a download that needed the file fails, and is reported as any failed refresh).
fn egress(config: &Config) -> Egress {
    Egress::from_config(&config.upstream).unwrap_or_else(|error| {
        tracing::error!(%error, "artifact downloads trust the system's store only");
        Egress {
            roots: Vec::new(),
            proxy: config.upstream.proxy.clone(),
        }
    })
}

impl ArtifactRefresher {
    /// A refresher for the configured artifact source; nothing happens until started.
    pub fn new(
        config: Config,
        store: Arc<ArtifactStore>,
        telemetry: Arc<TelemetryBuffer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let source = ArtifactSource::from_config(&config);
        let format = source.format(&config.artifact.format);
        let description = source.describe();
        let timeout = Duration::from_millis(config.artifact.timeout_ms);
        let backup_dir = match source {
            ArtifactSource::Inline(_) => None,
            _ => config.artifact_backup_dir().map(BackupDir::new),
        };
        Self {
            backup_dir,
            backup: None,
            backup_etag: None,
            backup_due: false,
            fetcher: Arc::new(ArtifactFetcher::new(source, timeout, &egress(&config))),
            format,
            source: description,
            retrieval_count: 0,
            running: false,
            waiters: Vec::new(),
            queued: Vec::new(),
            next_retry: FIRST_RETRY,
            retry: None,
            config,
            store,
            telemetry,
            metrics,
        }
    }

    fn polling_interval(&self) -> Duration {
        Duration::from_secs(self.config.artifact.polling_interval_secs)
    }

    /// Starts a refresh; the caller has checked that none is running.
    fn start_refresh(&mut self, ctx: &mut Context<Self>) {
        self.running = true;
        // Before anything is served, the backup's ETag: a 304 confirms the backup.
        let etag = match self.store.current() {
            Some(loaded) => loaded.etag.clone(),
            None => self.backup.as_ref().and_then(|b| b.etag.clone()),
        };
        let confirm = self
            .backup_dir
            .clone()
            .filter(|_| etag.is_some() && etag == self.backup_etag);
        let job = Job {
            fetcher: self.fetcher.clone(),
            metrics: self.metrics.clone(),
            backup_dir: self.backup_dir.clone(),
            confirm,
            location: self.source.clone(),
            etag,
            format: self.format,
            organization_id: self.config.target.organization_id.clone(),
            source: self.source.clone(),
            provenance: ArtifactProvenance {
                location: (!matches!(self.fetcher.source(), ArtifactSource::Inline(_)))
                    .then(|| self.source.clone()),
                polling_interval_ms: self
                    .config
                    .artifact
                    .polling_interval_secs
                    .saturating_mul(1000),
                polling_halted: self.config.artifact.polling_interval_secs == 0,
                retrieval_count: self.retrieval_count + 1,
                last_retrieved: String::new(),
            },
        };
        let started = Instant::now();
        ctx.spawn(
            job.run()
                .into_actor(self)
                .map(move |result, act, ctx| act.finish(result, started, ctx)),
        );
    }

    /// Applies a refresh's result, answers its callers and starts the queued refresh.
    fn finish(
        &mut self,
        result: Result<JobDone, String>,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match result {
            Ok(JobDone::New {
                loaded,
                fetch_ms,
                backed_up,
            }) => {
                if backed_up {
                    self.backup_etag = loaded.etag.clone();
                }
                self.backup = None;
                self.publish(*loaded, fetch_ms, duration_ms)
            }
            Ok(JobDone::Unchanged) => {
                self.confirm_backup();
                self.store.record_unchanged();
                self.count("not_modified");
                tracing::debug!(source = %self.source, duration_ms, "artifact_not_modified");
                RefreshOutcome::Unchanged
            }
            Err(error) => self.fail(error, ctx),
        };
        if !matches!(outcome, RefreshOutcome::Failed(_)) {
            self.next_retry = FIRST_RETRY;
            if let Some(retry) = self.retry.take() {
                ctx.cancel_future(retry);
            }
        }
        self.running = false;
        for waiter in self.waiters.drain(..) {
            // A caller that gave up waiting dropped its receiver; nothing to do.
            let _ = waiter.send(outcome.clone());
        }
        if !self.queued.is_empty() {
            self.waiters = std::mem::take(&mut self.queued);
            self.start_refresh(ctx);
        }
    }

    fn publish(
        &mut self,
        loaded: LoadedArtifact,
        fetch_ms: f64,
        duration_ms: u64,
    ) -> RefreshOutcome {
        self.retrieval_count += 1;
        let version = loaded.compiled.artifact.version.clone();
        self.record_artifact_metrics(&loaded);
        self.metrics.artifact_backup_served.set(0);
        self.count("success");
        let (mboxes, views) = loaded.compiled.rule_counts();
        tracing::info!(
            artifact.version = %version,
            source = %self.source,
            duration_ms,
            mbox_rules = mboxes,
            view_rules = views,
            "artifact_download_succeeded"
        );
        let now_ms = epoch_ms(SystemTime::now());
        let entry = artifact_entry(uuid::Uuid::new_v4().to_string(), fetch_ms, now_ms);
        self.telemetry.push(entry, &self.metrics);
        self.store.publish(loaded);
        RefreshOutcome::Updated { version }
    }

    /// `artifact_info`, `artifact_loaded_at`, `artifact_generated_at` of `loaded`.
    fn record_artifact_metrics(&self, loaded: &LoadedArtifact) {
        let artifact = &loaded.compiled.artifact;
        self.metrics.artifact_info.reset();
        self.metrics
            .artifact_info
            .with_label_values(&[artifact.version.as_str()])
            .set(1);
        self.metrics
            .artifact_loaded_at
            .set(epoch_secs(loaded.fetched_at));
        self.metrics
            .artifact_generated_at
            .set(generated_at(&artifact.meta));
    }

    fn fail(&mut self, error: String, ctx: &mut Context<Self>) -> RefreshOutcome {
        self.store.record_failure(error.clone());
        self.count("failure");
        self.backup_due = true;
        self.serve_backup_if_due();
        let retry_in = self.schedule_first_load_retry(ctx);
        tracing::warn!(
            source = %self.source,
            error = %error,
            retry_in_ms = retry_in.map(|d| d.as_millis() as u64),
            "artifact_download_failed"
        );
        RefreshOutcome::Failed(error)
    }

    /// True while no download was ever published: nothing, or only the backup.
    fn awaiting_first_download(&self) -> bool {
        self.store.current().is_none_or(|loaded| loaded.from_backup)
    }

    /// While no artifact was ever downloaded, retries sooner than the polling interval.
    fn schedule_first_load_retry(&mut self, ctx: &mut Context<Self>) -> Option<Duration> {
        if !self.awaiting_first_download() || self.retry.is_some() {
            return None;
        }
        let cap = match self.polling_interval() {
            Duration::ZERO => RETRY_CAP_WITHOUT_POLLING,
            interval => interval,
        };
        let delay = self.next_retry.min(cap);
        self.next_retry = (self.next_retry * 2).min(cap);
        self.retry = Some(ctx.run_later(delay, |act, ctx| {
            act.retry = None;
            if !act.running && act.awaiting_first_download() {
                act.start_refresh(ctx);
            }
        }));
        Some(delay)
    }

    fn count(&self, result: &str) {
        self.metrics
            .artifact_refreshes
            .with_label_values(&[result])
            .inc();
    }
}

impl Actor for ArtifactRefresher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.backup_dir.clone() {
            // The first refresh starts once the backup is read (see `boot.rs`).
            Some(dir) if self.store.current().is_none() => self.read_backup(dir, ctx),
            _ => self.start_refresh(ctx),
        }
        let interval = self.polling_interval();
        if interval.is_zero() {
            tracing::info!(source = %self.source, "artifact_polling_off");
            return;
        }
        ctx.run_interval(interval, |act, ctx| {
            if act.running {
                tracing::debug!(source = %act.source, "artifact_poll_skipped_refresh_running");
            } else {
                act.start_refresh(ctx);
            }
        });
    }
}

impl Supervised for ArtifactRefresher {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The old context's futures and timers are gone: forget what they owned.
        // Dropped senders answer their callers `Failed` (see `RefreshNow`'s handler).
        self.running = false;
        self.retry = None;
        self.waiters.clear();
        self.queued.clear();
        self.next_retry = FIRST_RETRY;
    }
}

impl Handler<RefreshNow> for ArtifactRefresher {
    type Result = ResponseFuture<RefreshOutcome>;

    fn handle(&mut self, _msg: RefreshNow, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if self.running {
            self.queued.push(tx);
        } else {
            self.waiters.push(tx);
            self.start_refresh(ctx);
        }
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                RefreshOutcome::Failed("the refresher stopped before the refresh ended".into())
            })
        })
    }
}

/// Everything one refresh needs, detached from the actor so it can run as a future.
struct Job {
    fetcher: Arc<ArtifactFetcher>,
    metrics: Arc<Metrics>,
    /// Where a new artifact is backed up.
    backup_dir: Option<BackupDir>,
    /// The backup to confirm on a 304 (its ETag is the one asked with).
    confirm: Option<BackupDir>,
    /// `artifact.location`, recorded in the backup.
    location: String,
    etag: Option<String>,
    format: ArtifactFormat,
    organization_id: String,
    source: String,
    provenance: ArtifactProvenance,
}

/// A refresh that did not fail.
enum JobDone {
    Unchanged,
    // Boxed: a compiled artifact is large next to `Unchanged`.
    New {
        loaded: Box<LoadedArtifact>,
        fetch_ms: f64,
        /// It is now the backup too.
        backed_up: bool,
    },
}

impl Job {
    async fn run(self) -> Result<JobDone, String> {
        let started = Instant::now();
        let fetched = self.fetcher.fetch(self.etag.as_deref()).await;
        self.metrics
            .upstream_latency
            .with_label_values(&["artifact"])
            .observe(started.elapsed().as_secs_f64());
        let fetched = fetched.map_err(|e| format!("download failed: {e}"))?;
        let fetch_ms = started.elapsed().as_secs_f64() * 1000.0;
        let Fetched::New { bytes, etag } = fetched else {
            if let Some(dir) = self.confirm {
                confirm(dir).await;
            }
            return Ok(JobDone::Unchanged);
        };
        let fetched_at = SystemTime::now();
        let provenance = ArtifactProvenance {
            last_retrieved: humantime::format_rfc3339_millis(fetched_at).to_string(),
            ..self.provenance
        };
        let (format, organization_id) = (self.format, self.organization_id);
        let (backup_dir, location, backup_etag) = (self.backup_dir, self.location, etag.clone());
        let (compiled, backed_up) = actix_rt::task::spawn_blocking(move || {
            let artifact = Artifact::load(&bytes, format, &organization_id)?;
            let compiled = CompiledArtifact::compile(artifact, provenance)?;
            // Only an artifact that compiled is worth keeping.
            let backed_up = backup_dir.is_some_and(|dir| {
                let backup = Backup {
                    bytes,
                    location,
                    format,
                    etag: backup_etag,
                    fetched_at,
                    confirmed_at: fetched_at,
                };
                write_backup(&dir, &backup)
            });
            Ok::<_, crate::engine::ArtifactError>((compiled, backed_up))
        })
        .await
        .map_err(|e| format!("artifact compilation did not finish: {e}"))?
        .map_err(|e| format!("invalid artifact: {e}"))?;
        Ok(JobDone::New {
            loaded: Box::new(LoadedArtifact {
                compiled: Arc::new(compiled),
                etag,
                fetched_at,
                source: self.source,
                from_backup: false,
            }),
            fetch_ms,
            backed_up,
        })
    }
}

/// `meta.generatedAt` (RFC 3339) as Unix seconds, or 0 when absent or unreadable.
fn generated_at(meta: &Map<String, Value>) -> i64 {
    meta.get("generatedAt")
        .and_then(Value::as_str)
        .and_then(|text| humantime::parse_rfc3339_weak(text).ok())
        .map_or(0, epoch_secs)
}

#[cfg(test)]
mod tests;
