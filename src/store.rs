//! The current artifact, shared lock-free: the refresher publishes, every decision
//! reads. A decision never waits for a refresh and a refresh never waits for decisions.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

use crate::engine::CompiledArtifact;

/// An artifact in use, with where and when it came from.
#[derive(Debug)]
pub struct LoadedArtifact {
    /// Shared: the same compiled artifact is published again when the CDN confirms
    /// a backup (a 304), without compiling it twice.
    pub compiled: Arc<CompiledArtifact>,
    /// The download's ETag, for If-None-Match on the next poll.
    pub etag: Option<String>,
    /// When it was downloaded; for a backup, when the CDN last confirmed it.
    pub fetched_at: SystemTime,
    /// Path, URL or "inline"; "backup" for the last good artifact read from
    /// `artifact.backup_dir` at start.
    pub source: String,
    /// Read from the backup at start, not (yet) confirmed by a download.
    pub from_backup: bool,
}

/// The refresher's last outcomes, for `/v1/artifact` and readiness.
#[derive(Debug, Clone, Default)]
pub struct RefreshStatus {
    pub last_attempt: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<String>,
    pub successes: u64,
    pub failures: u64,
}

/// The artifact store: one current artifact (or none yet) and the refresh status.
#[derive(Debug, Default)]
pub struct ArtifactStore {
    current: ArcSwapOption<LoadedArtifact>,
    // A refresh outcome is written once per poll and read by `/v1/artifact`: a plain
    // mutex held for a copy is enough.
    status: Mutex<RefreshStatus>,
}

impl ArtifactStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The artifact decisions use now, if one was ever loaded.
    pub fn current(&self) -> Option<Arc<LoadedArtifact>> {
        self.current.load_full()
    }

    /// Swaps in a new artifact and records the success.
    pub fn publish(&self, artifact: LoadedArtifact) {
        self.current.store(Some(Arc::new(artifact)));
        self.record_success();
    }

    /// Swaps in the backup read at start, without recording a successful refresh:
    /// the refresh status keeps saying why the CDN could not be reached.
    pub fn serve_backup(&self, artifact: LoadedArtifact) {
        self.current.store(Some(Arc::new(artifact)));
    }

    /// Records a poll that found the artifact unchanged (HTTP 304).
    pub fn record_unchanged(&self) {
        self.record_success();
    }

    fn record_success(&self) {
        self.update(|s| {
            let now = SystemTime::now();
            s.last_attempt = Some(now);
            s.last_success = Some(now);
            s.last_error = None;
            s.successes += 1;
        });
    }

    /// Records a failed refresh; the current artifact stays.
    pub fn record_failure(&self, error: String) {
        self.update(|s| {
            s.last_attempt = Some(SystemTime::now());
            s.last_error = Some(error);
            s.failures += 1;
        });
    }

    /// A copy of the refresh status.
    pub fn status(&self) -> RefreshStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut RefreshStatus)) {
        // A poisoned lock only means a panic elsewhere mid-update; the status is
        // still usable, so keep writing to it.
        let mut guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard);
    }
}
