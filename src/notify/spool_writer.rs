//! The SpoolWriter: the only writer of the notification spool (`src/spool.rs`).
//!
//! - **Owns** the SQLite write connection, the next sequence number, the deletes not
//!   yet committed and the spool's level (records, bytes).
//! - **Receives** `Append` from the client (a decision's owed notifications, awaited
//!   before the answer leaves), `Delete` from the Batcher (Target took them), `Sync`
//!   from the Supervisor at shutdown.
//! - **Sends** each group of committed records to the Batcher through the
//!   [`CommittedSink`] (a `try_send`: when the Batcher's mailbox is full, the records
//!   wait on disk and the Batcher reads them back later).
//! - **Stops** when every handle is dropped, after committing its deletes and an fsync.
//!
//! Not an actix actor, on purpose: group commit means taking *every* command waiting
//! in the inbox into one transaction and one fsync, and an actix mailbox hands over
//! one message at a time. So it is a thread with a bounded tokio channel. A panic while
//! handling a group is caught: that group's callers get an error (the client then
//! queues their notifications in memory), the transaction is rolled back, and the
//! writer goes on with the next group.
//!
//! **A full disk.** `spool.max_bytes` bounds the records; the volume may be smaller.
//! Before each group the writer asks the volume for its free space (statvfs) and
//! refuses appends (`VolumeFull`, counted `spool_full` by the caller) that would eat
//! into `spool.reserve_bytes`, so that SQLite never meets ENOSPC and deleting what
//! Target took (which needs room in the WAL) always succeeds. Storage errors are
//! logged at most once a second, with counts.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::batcher::{BatcherSlot, Committed};
use super::spool::{Command, Record, Refused, Spool, SpoolDb, SpoolError, SpoolLevel};
use crate::clock::now_ms;
use crate::config::{SpoolConfig, SyncMode};
use crate::metrics::Metrics;
use crate::warn_every::WarnEvery;

/// Commands the inbox holds. Why 16384: callers wait on it only when the disk falls
/// behind; this many is about a second of answers at full speed, a few MB.
const INBOX_CAPACITY: usize = 16_384;

/// Most commands committed as one transaction, so one slow group does not hold
/// thousands of answers.
const MAX_GROUP: usize = 1024;

/// How often pending deletes are committed (and, in interval mode, the least often
/// a checkpoint is considered).
const TICK: Duration = Duration::from_millis(50);

/// Disk bytes a record of N bytes may take, as a multiple of N: its WAL frame, its page
/// in the database after a checkpoint, and the index entry (pages are shared, so this
/// overestimates; the reserve absorbs the rest).
const DISK_COST_FACTOR: u64 = 3;

/// Where committed records go: the inbox of whichever Batcher is current (the
/// Supervisor swaps it when it restarts one).
pub struct CommittedSink {
    batcher: BatcherSlot,
}

impl CommittedSink {
    pub fn new(batcher: BatcherSlot) -> Self {
        Self { batcher }
    }

    /// Hands `records` over. A full mailbox, or no Batcher between a crash and its
    /// restart, loses nothing: the records are on disk and the Batcher reads them back.
    fn hand_over(&self, records: Vec<Record>) {
        if let Some(batcher) = self.batcher.load().as_ref() {
            let _ = batcher.try_send(Committed(records));
        }
    }
}

/// The writer's state; see the module docs.
struct SpoolWriter {
    store: SpoolDb,
    config: SpoolConfig,
    level: Arc<SpoolLevel>,
    metrics: Arc<Metrics>,
    sink: CommittedSink,
    next_seq: u64,
    deletes: Vec<(u64, u32)>,
    /// Commits since the last fsync (interval mode).
    dirty: bool,
    last_sync: Instant,
    /// Failed commits and checkpoints, logged at most once a second.
    storage_errors: WarnEvery,
    /// The volume's free space is down near the reserve: checkpoint after every
    /// commit, so that the WAL is rewritten from its start instead of growing.
    low_space: bool,
}

/// Opens the spool in `config.dir` and starts its writer thread; the handle and the
/// number of records waiting from an earlier run.
pub fn start(
    config: &SpoolConfig,
    metrics: Arc<Metrics>,
    sink: CommittedSink,
) -> Result<(Spool, u64), SpoolError> {
    let dir = config
        .dir
        .clone()
        .ok_or_else(|| SpoolError::Storage("spool.dir is not set".into()))?;
    let store = SpoolDb::open(&dir)?;
    store.set_durable_commits(config.sync == SyncMode::Answer)?;
    let (records, bytes, max_seq) = store.level()?;
    let level = Arc::new(SpoolLevel::default());
    level.records.store(records, Ordering::Relaxed);
    level.bytes.store(bytes, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let spool = Spool::new(&dir, tx, level.clone())?;
    let writer = SpoolWriter {
        store,
        config: config.clone(),
        level,
        metrics,
        sink,
        next_seq: max_seq + 1,
        deletes: Vec::new(),
        dirty: false,
        last_sync: Instant::now(),
        storage_errors: WarnEvery::default(),
        low_space: false,
    };
    writer.publish_level();
    std::thread::Builder::new()
        .name("offerd-spool".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| SpoolError::Storage(format!("cannot start the spool writer: {e}")))?;
    Ok((spool, records))
}

impl SpoolWriter {
    fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::error!(error = %err, "spool writer cannot start; appends will fail");
                return;
            }
        };
        runtime.block_on(async {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    command = inbox.recv() => {
                        let Some(first) = command else { break };
                        let mut group = vec![first];
                        while group.len() < MAX_GROUP {
                            match inbox.try_recv() {
                                Ok(command) => group.push(command),
                                Err(_) => break,
                            }
                        }
                        self.handle_caught(group);
                    }
                    _ = tick.tick() => self.handle_caught(Vec::new()),
                }
            }
        });
        self.sync_now();
        tracing::debug!(
            records = self.level.records.load(Ordering::Relaxed),
            "spool writer stopped"
        );
    }

    /// Handles a group; a panic fails that group only (see the module docs).
    fn handle_caught(&mut self, group: Vec<Command>) {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(group)));
        if outcome.is_err() {
            self.metrics.spool_errors.inc();
            tracing::error!("spool writer panicked handling a group; it goes on with the next");
        }
    }

    fn handle(&mut self, group: Vec<Command>) {
        let mut appends = Vec::new();
        let mut syncs = Vec::new();
        for command in group {
            match command {
                Command::Append { owed, bytes, done } => appends.push((owed, bytes, done)),
                Command::Delete(done) => self.deletes.extend(done),
                Command::Sync(done) => syncs.push(done),
            }
        }
        let appends = self.refuse_past_capacity(appends);
        if !appends.is_empty() || !self.deletes.is_empty() {
            self.commit(appends);
            if self.low_space {
                // SQLite checkpoints by itself only past 32 MiB of WAL, which a small
                // volume never holds: the WAL would grow into the reserve and leave
                // no room for the deletes of what Target took.
                self.checkpoint();
            }
        }
        self.maybe_checkpoint();
        if !syncs.is_empty() {
            self.sync_now();
            for done in syncs {
                let _ = done.send(());
            }
        }
    }

    /// Answers `Full` to the appends that would take the spool past `max_bytes`, and
    /// `VolumeFull` to those that would eat into the volume's reserve.
    fn refuse_past_capacity(&mut self, appends: Vec<Appended>) -> Vec<Appended> {
        let mut bytes = self.level.bytes.load(Ordering::Relaxed);
        let max_bytes = self.config.max_bytes;
        let volume = self.config.dir.as_deref().and_then(volume_space);
        let reserve_bytes = volume.map_or(0, |v| self.config.reserve_bytes.min(v.size / 4));
        let mut free_bytes = volume.map_or(u64::MAX, |v| v.free);
        self.low_space = free_bytes < reserve_bytes.saturating_mul(2);
        let mut kept = Vec::with_capacity(appends.len());
        for (owed, record, done) in appends {
            let len = record.len() as u64;
            let cost = len.saturating_mul(DISK_COST_FACTOR);
            let error = if bytes.saturating_add(len) > max_bytes {
                Some(SpoolError::Full { max_bytes })
            } else if free_bytes < reserve_bytes.saturating_add(cost) {
                Some(SpoolError::VolumeFull {
                    free_bytes,
                    reserve_bytes,
                })
            } else {
                None
            };
            if let Some(error) = error {
                let _ = done.send(Err(Refused {
                    error,
                    owed: Some(owed),
                }));
                continue;
            }
            bytes += len;
            free_bytes -= cost;
            kept.push((owed, record, done));
        }
        kept
    }

    fn checkpoint(&self) {
        if let Err(err) = self.store.checkpoint() {
            self.storage_error("spool checkpoint", &err);
        }
    }

    /// Logs a storage failure at most once a second, with the count since the last line.
    fn storage_error(&self, what: &str, error: &SpoolError) {
        self.metrics.spool_errors.inc();
        if let Some(failures) = self.storage_errors.record(1, now_ms()) {
            tracing::error!(%error, failures, "{what} failed (logged at most once a second)");
        }
    }

    /// One transaction for the appends and the pending deletes.
    fn commit(&mut self, appends: Vec<Appended>) {
        let first = self.next_seq;
        let rows: Vec<(u64, &[u8])> = appends
            .iter()
            .enumerate()
            .map(|(i, (_, bytes, _))| (first + i as u64, bytes.as_slice()))
            .collect();
        let deletes: Vec<u64> = self.deletes.iter().map(|(seq, _)| *seq).collect();
        let started = Instant::now();
        let result = self.store.commit(&rows, &deletes);
        self.metrics
            .spool_commit_latency
            .observe(started.elapsed().as_secs_f64());
        if let Err(err) = result {
            self.storage_error("spool commit", &err);
            // A full disk: copying the WAL into the database lets the next commit
            // reuse the WAL from its start.
            self.checkpoint();
            for (owed, _, done) in appends {
                let _ = done.send(Err(Refused {
                    error: err.clone(),
                    owed: Some(owed),
                }));
            }
            // Deletes are kept for the next commit; sequence numbers are not used up,
            // so the Batcher never sees a gap that is not there.
            return;
        }
        self.dirty = true;
        let added: u64 = rows.iter().map(|(_, b)| b.len() as u64).sum();
        let freed: u64 = self.deletes.iter().map(|(_, len)| u64::from(*len)).sum();
        self.next_seq += appends.len() as u64;
        let level = &self.level;
        level
            .records
            .fetch_add(appends.len() as u64, Ordering::Relaxed);
        level
            .records
            .fetch_sub(deletes.len() as u64, Ordering::Relaxed);
        level.bytes.fetch_add(added, Ordering::Relaxed);
        level.bytes.fetch_sub(
            freed.min(level.bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.deletes.clear();
        self.publish_level();
        let mut records = Vec::with_capacity(appends.len());
        for (i, (owed, bytes, done)) in appends.into_iter().enumerate() {
            let seq = first + i as u64;
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            let _ = done.send(Ok(seq));
            records.push(Record { seq, len, owed });
        }
        if !records.is_empty() {
            self.sink.hand_over(records);
        }
    }

    /// Interval mode: fsync once `sync_interval_ms` has passed since the last one.
    fn maybe_checkpoint(&mut self) {
        let interval = Duration::from_millis(self.config.sync_interval_ms.max(1));
        if self.config.sync == SyncMode::Interval
            && self.dirty
            && self.last_sync.elapsed() >= interval
        {
            self.sync_now();
        }
    }

    /// Commits pending deletes and makes everything durable.
    fn sync_now(&mut self) {
        if !self.deletes.is_empty() {
            self.commit(Vec::new());
        }
        self.checkpoint();
        self.dirty = false;
        self.last_sync = Instant::now();
    }

    fn publish_level(&self) {
        let records = self.level.records.load(Ordering::Relaxed);
        let bytes = self.level.bytes.load(Ordering::Relaxed);
        self.metrics
            .spool_records
            .set(i64::try_from(records).unwrap_or(i64::MAX));
        self.metrics
            .spool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}

/// A volume's size and the bytes an unprivileged writer may still use.
#[derive(Debug, Clone, Copy)]
struct VolumeSpace {
    size: u64,
    free: u64,
}

/// statvfs of the volume holding `dir`; None when it cannot be asked (then only
/// `spool.max_bytes` bounds the spool).
#[cfg(target_os = "linux")]
// statvfs's field types differ between targets (u32 on some 32-bit ones): `u64::from`
// is a no-op here and a widening there.
#[allow(clippy::useless_conversion)]
fn volume_space(dir: &std::path::Path) -> Option<VolumeSpace> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` a buffer of the right type,
    // which statvfs fills completely when it returns 0.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    let unit = u64::from(stat.f_frsize);
    Some(VolumeSpace {
        size: u64::from(stat.f_blocks).saturating_mul(unit),
        free: u64::from(stat.f_bavail).saturating_mul(unit),
    })
}

#[cfg(not(target_os = "linux"))]
fn volume_space(_dir: &std::path::Path) -> Option<VolumeSpace> {
    None
}

/// An append waiting in a group: the record, its bytes, who waits for it.
type Appended = (
    super::owed::Owed,
    Vec<u8>,
    oneshot::Sender<Result<u64, Refused>>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn the_volume_is_asked_for_its_size_and_free_space() {
        let space = volume_space(&std::env::temp_dir()).expect("statvfs of the temp dir");
        assert!(space.size > 0 && space.free <= space.size, "{space:?}");
        assert!(volume_space(std::path::Path::new("/nonexistent/offerd")).is_none());
    }
}
