//! The refresher at start with a backup (`artifact.backup_dir`): read it before the
//! first download, serve it when that download fails or outlasts
//! `artifact.boot_timeout_ms`, and keep the file true to what the CDN serves.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;

use super::ArtifactRefresher;
use crate::artifact_backup::{Backup, BackupDir};
use crate::engine::{Artifact, ArtifactProvenance, CompiledArtifact};
use crate::store::LoadedArtifact;

/// The source a served backup shows in `/v1/artifact`.
pub const BACKUP_SOURCE: &str = "backup";

impl ArtifactRefresher {
    /// Reads and compiles the backup on a blocking thread, then starts the first
    /// refresh (asking with the backup's ETag); arms the boot timeout meanwhile.
    pub(super) fn read_backup(&mut self, dir: BackupDir, ctx: &mut Context<Self>) {
        // A tick or a `RefreshNow` during the read waits for it like for a refresh.
        self.running = true;
        let boot_timeout = Duration::from_millis(self.config.artifact.boot_timeout_ms);
        ctx.run_later(boot_timeout, |act, _| {
            act.backup_due = true;
            act.serve_backup_if_due();
        });
        let check = BackupCheck {
            location: self.source.clone(),
            organization_id: self.config.target.organization_id.clone(),
            max_age: Duration::from_secs(self.config.artifact.backup_max_age_secs),
            polling_interval_secs: self.config.artifact.polling_interval_secs,
        };
        let file = dir.file();
        let read = actix_rt::task::spawn_blocking(move || check.load(&dir));
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| {
            match result {
                Ok(Ok(Some((loaded, etag)))) => {
                    tracing::info!(
                        file = %file.display(),
                        artifact.version = %loaded.compiled.artifact.version,
                        age_secs = age_secs(loaded.fetched_at),
                        "artifact backup found; served if the first download fails or takes longer than artifact.boot_timeout_ms"
                    );
                    act.backup_etag = etag;
                    act.backup = Some(loaded);
                }
                Ok(Ok(None)) => {
                    tracing::info!(file = %file.display(), "no artifact backup yet");
                }
                // One line naming the file and why; offerd goes on without a backup.
                Ok(Err(reason)) => {
                    tracing::warn!(file = %file.display(), %reason, "artifact backup ignored");
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), reason = %e, "artifact backup ignored");
                }
            }
            act.running = false;
            act.serve_backup_if_due();
            act.start_refresh(ctx);
        }));
    }

    /// Serves the backup when nothing is loaded and it is due (see `backup_due`).
    pub(super) fn serve_backup_if_due(&mut self) {
        if !self.backup_due || self.store.current().is_some() {
            return;
        }
        let Some(backup) = self.backup.take() else {
            return;
        };
        let version = backup.compiled.artifact.version.clone();
        self.record_artifact_metrics(&backup);
        self.metrics.artifact_backup_served.set(1);
        tracing::warn!(
            artifact.version = %version,
            age_secs = age_secs(backup.fetched_at),
            source = %self.source,
            "serving the artifact backup: the first download failed or took longer than artifact.boot_timeout_ms; polling goes on"
        );
        self.store.serve_backup(backup);
    }

    /// A 304 to the backup's ETag: the backup is what the CDN serves. Before anything
    /// is served, or while the backup is, it becomes the downloaded artifact.
    pub(super) fn confirm_backup(&mut self) {
        let current = self.store.current();
        let confirmed = match (&current, self.backup.take()) {
            (None, Some(backup)) => Some(backup.compiled),
            (Some(loaded), _) if loaded.from_backup => Some(loaded.compiled.clone()),
            _ => None,
        };
        let Some(compiled) = confirmed else {
            return;
        };
        let etag = current
            .as_ref()
            .and_then(|c| c.etag.clone())
            .or_else(|| self.backup_etag.clone());
        let loaded = LoadedArtifact {
            compiled,
            etag,
            fetched_at: SystemTime::now(),
            source: self.source.clone(),
            from_backup: false,
        };
        self.record_artifact_metrics(&loaded);
        self.metrics.artifact_backup_served.set(0);
        tracing::info!(
            artifact.version = %loaded.compiled.artifact.version,
            source = %self.source,
            "the CDN confirmed the artifact backup (304)"
        );
        self.store.publish(loaded);
    }
}

/// What a backup must match to be served.
struct BackupCheck {
    /// The configured `artifact.location`: a backup of another is foreign.
    location: String,
    organization_id: String,
    max_age: Duration,
    polling_interval_secs: u64,
}

impl BackupCheck {
    /// The backup, compiled, with its ETag; `Ok(None)` when there is none; `Err`
    /// with the reason it cannot be served.
    fn load(self, dir: &BackupDir) -> Result<Option<(LoadedArtifact, Option<String>)>, String> {
        let Some(backup) = dir.read().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        if backup.location != self.location {
            return Err(format!(
                "it is a backup of {}, not of the configured artifact.location {}",
                backup.location, self.location
            ));
        }
        let age = age_secs(backup.confirmed_at);
        if age > self.max_age.as_secs() {
            return Err(format!(
                "last confirmed by the CDN {age} s ago, more than artifact.backup_max_age_secs ({})",
                self.max_age.as_secs()
            ));
        }
        let artifact = Artifact::load(&backup.bytes, backup.format, &self.organization_id)
            .map_err(|e| format!("invalid artifact: {e}"))?;
        let provenance = ArtifactProvenance {
            location: Some(self.location),
            polling_interval_ms: self.polling_interval_secs.saturating_mul(1000),
            polling_halted: self.polling_interval_secs == 0,
            retrieval_count: 0,
            last_retrieved: humantime::format_rfc3339_millis(backup.fetched_at).to_string(),
        };
        let compiled = CompiledArtifact::compile(artifact, provenance)
            .map_err(|e| format!("invalid artifact: {e}"))?;
        let etag = backup.etag.clone();
        let loaded = LoadedArtifact {
            compiled: Arc::new(compiled),
            etag: backup.etag,
            fetched_at: backup.confirmed_at,
            source: BACKUP_SOURCE.into(),
            from_backup: true,
        };
        Ok(Some((loaded, etag)))
    }
}

/// Writes a new download to the backup; false (and one log line) when it cannot.
pub(super) fn write_backup(dir: &BackupDir, backup: &Backup) -> bool {
    match dir.write(backup) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot write the artifact backup; the previous one stays");
            false
        }
    }
}

/// Marks the backup as confirmed by the CDN now (off the actor's thread: it is I/O).
pub(super) async fn confirm(dir: BackupDir) {
    let touched = actix_rt::task::spawn_blocking(move || dir.confirm()).await;
    if let Ok(Err(e)) = touched {
        tracing::debug!(error = %e, "cannot mark the artifact backup as confirmed");
    }
}

fn age_secs(since: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(since)
        .map_or(0, |d| d.as_secs())
}
