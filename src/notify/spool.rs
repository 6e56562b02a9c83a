//! The durable notification spool: every notification owed by an answered call is on
//! disk before the answer leaves (or within `spool.sync_interval_ms`), replayed on the
//! next start, and deleted once Target accepted it.
//!
//! The store is SQLite in WAL mode (through `rusqlite`, SQLite compiled in): one table
//! of `(seq, record)`, where a record is one call's [`Owed`] as JSON. SQLite was chosen
//! by a benchmark (see `docs/spool.md`): group commits of 1-128 records with an fsync
//! run at 6-10k commits/s here, deletes at 600k records/s, and a 100k-record replay in
//! ~25 ms.
//!
//! Who does what:
//! - [`Spool`] is the shared handle: `append` (the client, awaiting durability),
//!   `acknowledge` (the Batcher, once Target took the notifications), `read_after`
//!   (the Batcher, to replay or to catch up with a backlog larger than its memory).
//! - [`crate::notify::spool_writer`] owns the write connection on a thread of its own
//!   and turns every command waiting in its inbox into one transaction: group commit.
//!
//! What survives what:
//! - `sync = "answer"`: the WAL is fsynced before any answer that owes a notification
//!   leaves. Survives kill -9, a crash, an OOM kill, and power loss.
//! - `sync = "interval"`: written before the answer (survives kill -9 and crashes: the
//!   OS holds the write), fsynced every `sync_interval_ms` (power loss loses at most
//!   that much).
//! - no `dir`: memory only. A crash, kill -9 or a shutdown past its deadline loses
//!   what was not yet sent (counted as `shutdown` when it can be).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use crate::notify::owed::Owed;

/// Why the spool could not take or give a record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpoolError {
    /// `spool.max_bytes` is reached.
    #[error("spool is full ({max_bytes} bytes)")]
    Full { max_bytes: u64 },
    /// The volume is down to `spool.reserve_bytes` of free space.
    #[error("spool volume is full ({free_bytes} bytes free, {reserve_bytes} kept in reserve)")]
    VolumeFull { free_bytes: u64, reserve_bytes: u64 },
    /// The disk or SQLite failed.
    #[error("spool storage failed: {0}")]
    Storage(String),
    /// The writer is gone (shutting down).
    #[error("spool writer has stopped")]
    Stopped,
}

impl From<rusqlite::Error> for SpoolError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// An append the spool did not take, with the notifications handed back so the
/// caller can still deliver them from memory (`None` only if the writer died mid-way).
#[derive(Debug)]
pub struct Refused {
    pub error: SpoolError,
    pub owed: Option<Owed>,
}

/// A record read back or just committed: what the Batcher queues.
#[derive(Debug)]
pub struct Record {
    pub seq: u64,
    /// Bytes on disk, so the spool's size can be kept when it is deleted.
    pub len: u32,
    pub owed: Owed,
}

/// A command to the writer thread.
pub(crate) enum Command {
    /// Write a record; reply once it is as durable as `spool.sync` asks.
    Append {
        owed: Owed,
        bytes: Vec<u8>,
        done: oneshot::Sender<Result<u64, Refused>>,
    },
    /// Target took these records (seq, len): delete them with the next commit.
    Delete(Vec<(u64, u32)>),
    /// Commit pending deletes and fsync everything now (shutdown).
    Sync(oneshot::Sender<()>),
}

/// Records and bytes in the spool, kept by the writer, read by anyone.
#[derive(Debug, Default)]
pub struct SpoolLevel {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
}

/// The shared handle; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    commands: mpsc::Sender<Command>,
    reader: Arc<Mutex<Connection>>,
    level: Arc<SpoolLevel>,
    dir: PathBuf,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("records", &self.records())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl Spool {
    /// A handle over `commands` (the writer's inbox) and a read connection on `dir`.
    pub(crate) fn new(
        dir: &Path,
        commands: mpsc::Sender<Command>,
        level: Arc<SpoolLevel>,
    ) -> Result<Self, SpoolError> {
        let reader = SpoolDb::open(dir)?.conn;
        Ok(Self {
            commands,
            reader: Arc::new(Mutex::new(reader)),
            level,
            dir: dir.to_owned(),
        })
    }

    /// Where the spool lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `owed`; resolves once it is durable (`sync = "answer"`) or written
    /// (`"interval"`). The Batcher gets the record from the writer.
    pub async fn append(&self, owed: Owed) -> Result<u64, Refused> {
        let bytes = owed.to_record();
        let (done, answer) = oneshot::channel();
        let command = Command::Append { owed, bytes, done };
        if let Err(closed) = self.commands.send(command).await {
            let owed = match closed.0 {
                Command::Append { owed, .. } => Some(owed),
                _ => None,
            };
            let error = SpoolError::Stopped;
            return Err(Refused { error, owed });
        }
        answer.await.unwrap_or(Err(Refused {
            error: SpoolError::Stopped,
            owed: None,
        }))
    }

    /// Asks for records Target took to be deleted; false when the writer's inbox is
    /// full or closed (keep them and ask again: a record left behind would only be
    /// sent twice after a restart).
    pub fn acknowledge(&self, done: Vec<(u64, u32)>) -> Result<(), Vec<(u64, u32)>> {
        self.commands
            .try_send(Command::Delete(done))
            .map_err(|e| match e.into_inner() {
                Command::Delete(done) => done,
                _ => Vec::new(),
            })
    }

    /// Commits pending deletes and fsyncs; for shutdown.
    pub async fn sync(&self) {
        let (done, answer) = oneshot::channel();
        if self.commands.send(Command::Sync(done)).await.is_ok() {
            let _ = answer.await;
        }
    }

    /// Up to `limit` records with a sequence number above `after`, oldest first.
    /// Blocking (SQLite): call it from a thread that may block.
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Record>, SpoolError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let rows = SpoolDb::scan(&conn, after, limit)?;
        let mut records = Vec::with_capacity(rows.len());
        for (seq, bytes) in rows {
            match Owed::from_record(&bytes) {
                Ok(owed) => records.push(Record {
                    seq,
                    len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    owed,
                }),
                // A record this version cannot read must not block the ones after it.
                Err(err) => tracing::error!(seq, error = %err, "unreadable spool record skipped"),
            }
        }
        Ok(records)
    }

    /// Records in the spool now.
    pub fn records(&self) -> u64 {
        self.level.records.load(Ordering::Relaxed)
    }

    /// Record bytes in the spool now.
    pub fn bytes(&self) -> u64 {
        self.level.bytes.load(Ordering::Relaxed)
    }
}

/// The SQLite database of the spool.
pub(crate) struct SpoolDb {
    conn: Connection,
}

impl SpoolDb {
    /// Opens (or creates) `dir/spool.sqlite`.
    pub(crate) fn open(dir: &Path) -> Result<Self, SpoolError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SpoolError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("spool.sqlite"))?;
        // Another connection (the reader, the writer) may hold the lock for a commit.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Records live for a round trip to Target, so their pages are rewritten over
        // and over: checkpointing every 8192 pages (32 MiB of WAL) rather than SQLite's
        // 1000 copies each page once where it would copy it eight times.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA wal_autocheckpoint = 8192;
             PRAGMA journal_size_limit = 67108864;
             CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY, record BLOB NOT NULL);",
        )?;
        Ok(Self { conn })
    }

    /// `synchronous = FULL` fsyncs the WAL on every commit; `NORMAL` leaves it to
    /// [`SpoolDb::checkpoint`].
    pub(crate) fn set_durable_commits(&self, durable: bool) -> Result<(), SpoolError> {
        let mode = if durable { "FULL" } else { "NORMAL" };
        self.conn.pragma_update(None, "synchronous", mode)?;
        Ok(())
    }

    /// Record count, record bytes and the highest sequence number.
    pub(crate) fn level(&self) -> Result<(u64, u64, u64), SpoolError> {
        let (count, bytes, max): (i64, i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(length(record)), 0), coalesce(max(seq), 0) FROM spool",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok((u(count), u(bytes), u(max)))
    }

    /// One transaction: `appends` inserted, `deletes` removed.
    pub(crate) fn commit(
        &mut self,
        appends: &[(u64, &[u8])],
        deletes: &[u64],
    ) -> Result<(), SpoolError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO spool (seq, record) VALUES (?1, ?2)")?;
            for (seq, bytes) in appends {
                insert.execute(params![to_sql(*seq), bytes])?;
            }
            // Records are acknowledged roughly in order: one statement per run.
            let mut delete = tx.prepare_cached("DELETE FROM spool WHERE seq BETWEEN ?1 AND ?2")?;
            for (first, last) in runs(deletes) {
                delete.execute(params![to_sql(first), to_sql(last)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes every commit so far durable: a checkpoint fsyncs the WAL, then the
    /// database file.
    pub(crate) fn checkpoint(&self) -> Result<(), SpoolError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn scan(
        conn: &Connection,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let mut select = conn
            .prepare_cached("SELECT seq, record FROM spool WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = select.query_map(params![to_sql(after), limit], |row| {
            let seq: i64 = row.get(0)?;
            Ok((u64::try_from(seq).unwrap_or(0), row.get::<_, Vec<u8>>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// `seqs` as sorted runs of consecutive numbers, `[5, 1, 2, 3, 7]` -> `(1,3) (5,5)
/// (7,7)`.
fn runs(seqs: &[u64]) -> Vec<(u64, u64)> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for seq in sorted {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}

/// Sequence numbers are positive and far below `i64::MAX` (one per call).
fn to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{DeliveryRequest, Notification};

    fn owed(id: &str) -> Owed {
        let n = Notification {
            id: Some(id.into()),
            ..Default::default()
        };
        Owed::new(&DeliveryRequest::default(), &[n], "s", None, 1).unwrap()
    }

    #[test]
    fn commits_scans_and_deletes_in_order() {
        let dir = tempdir();
        let mut store = SpoolDb::open(&dir).unwrap();
        store.set_durable_commits(true).unwrap();
        let (a, b, c) = (
            owed("a").to_record(),
            owed("b").to_record(),
            owed("c").to_record(),
        );
        store.commit(&[(1, &a), (2, &b), (3, &c)], &[]).unwrap();
        store.commit(&[], &[2]).unwrap();
        let rows = SpoolDb::scan(&store.conn, 0, 10).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 3]);
        let rows = SpoolDb::scan(&store.conn, 1, 10).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [3]);
        let (count, bytes, max) = store.level().unwrap();
        assert_eq!((count, max), (2, 3));
        assert_eq!(bytes as usize, a.len() + c.len());
        drop(store);
        // Reopened, the records are still there.
        let store = SpoolDb::open(&dir).unwrap();
        assert_eq!(store.level().unwrap().0, 2);
        store.checkpoint().unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn deletes_go_by_runs() {
        assert_eq!(runs(&[5, 1, 2, 3, 7, 2]), [(1, 3), (5, 5), (7, 7)]);
        assert!(runs(&[]).is_empty());
    }

    pub(crate) fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("offerd-spool-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
