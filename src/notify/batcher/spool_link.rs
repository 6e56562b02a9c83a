//! The Batcher's view of the spool: how far it has read, which records it holds in
//! memory, and which are settled (sent or dropped) and can be deleted.
//!
//! The spool is the queue of record. Records come to the Batcher in sequence order,
//! from the writer (just committed) or read back from disk. The cursor makes each
//! record enter memory once: a record past a gap (the Batcher's mailbox was full), or
//! one arriving while memory is full, stays on disk and `behind` says so; pages are
//! then read from the cursor on until the disk has nothing newer.

use std::collections::HashMap;

use crate::notify::spool::{Record, Spool, SpoolError};

/// Acknowledgements handed to the writer at once (or at the next tick).
const ACK_BATCH: usize = 256;

pub struct SpoolLink {
    spool: Spool,
    /// Every record up to here is in memory or already settled.
    cursor: u64,
    /// Records past `cursor` wait on disk: read them before taking new ones.
    behind: bool,
    /// Per record in memory: notifications not yet settled, and its size on disk.
    outstanding: HashMap<u64, (u32, u32)>,
    /// Settled records not yet handed to the writer.
    acks: Vec<(u64, u32)>,
}

impl SpoolLink {
    /// A link that starts by replaying everything on disk: after a start, or a
    /// restart after a crash, what an earlier Batcher held is there.
    pub fn new(spool: Spool) -> Self {
        Self {
            spool,
            cursor: 0,
            behind: true,
            outstanding: HashMap::new(),
            acks: Vec::new(),
        }
    }

    /// Records wait on disk.
    pub fn behind(&self) -> bool {
        self.behind
    }

    /// Whether a just-committed record enters memory now: only the next one after the
    /// cursor, with nothing waiting on disk before it and `room` in memory.
    pub fn take(&mut self, seq: u64, room: bool) -> bool {
        if seq <= self.cursor {
            return false;
        }
        if self.behind || seq != self.cursor + 1 || !room {
            self.behind = true;
            return false;
        }
        self.cursor = seq;
        true
    }

    /// Up to `want` records past the cursor, oldest first; the cursor moves past
    /// them, and a short page means the disk has caught up. Blocking (SQLite).
    pub fn read_page(&mut self, want: usize) -> Result<Vec<Record>, SpoolError> {
        let records = self.spool.read_after(self.cursor, want)?;
        if records.len() < want {
            self.behind = false;
        }
        if let Some(last) = records.last() {
            self.cursor = self.cursor.max(last.seq);
        }
        Ok(records)
    }

    /// A record entered memory with `notifications` to settle (none: done at once).
    pub fn hold(&mut self, seq: u64, notifications: usize, len: u32) {
        if notifications == 0 {
            self.acks.push((seq, len));
        } else {
            let n = u32::try_from(notifications).unwrap_or(u32::MAX);
            self.outstanding.insert(seq, (n, len));
        }
    }

    /// One notification of each record in `seqs` is settled; a record whose every
    /// notification is goes to the writer to be deleted.
    pub fn settle(&mut self, seqs: &[u64]) {
        for seq in seqs.iter().filter(|s| **s > 0) {
            if let Some((left, len)) = self.outstanding.get_mut(seq) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    let len = *len;
                    self.outstanding.remove(seq);
                    self.acks.push((*seq, len));
                }
            }
        }
        if self.acks.len() >= ACK_BATCH {
            self.flush_acks();
        }
    }

    /// Hands settled records to the writer; with its inbox full they wait for the
    /// next call (a record left behind is only sent twice after a restart).
    pub fn flush_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let acks = std::mem::take(&mut self.acks);
        if let Err(back) = self.spool.acknowledge(acks) {
            self.acks = back;
        }
    }
}
