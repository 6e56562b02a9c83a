//! The notification pipeline: every display notification a decision owes Target, from
//! the call that owes it to Target's 2xx, in this one folder.
//!
//! ```text
//!  owe          the client (src/client) turns a call's notifications into one [`Owed`]
//!   |           (JSON bytes, built once on the HTTP worker) ─────────────── owed.rs
//!   v
//!  spool        with `spool.dir`: the SpoolWriter thread appends it to SQLite with the
//!   |           other calls waiting (group commit), fsyncs, answers the call, and hands
//!   |           the committed records to the Batcher's inbox ── spool.rs, spool_writer.rs
//!   |           (memory only: the client sends `Enqueue` straight to the Batcher)
//!   v
//!  batch        the Batcher (one actix actor) merges per visitor + session + edge
//!   |           cluster, lingers, cuts requests of at most 50, with the telemetry
//!   |           waiting to ride along ─────── batcher.rs, batcher/{queue,job}.rs
//!   v
//!  send         the Senders: delivery threads of their own, each with its own
//!   |           connection to Target, run the calls the Batcher starts under its
//!   |           adaptive limit, and report each outcome back ─ batcher/{send,limit}.rs
//!   v
//!  acknowledge  2xx: counted sent; retryable: backs off by age (batcher/retry.rs);
//!               4xx: split to isolate the bad one. Settled records are deleted from
//!               the spool in ranges (batcher/spool_link.rs -> spool_writer.rs).
//! ```
//!
//! Every owed notification ends as sent, dropped{reason} (counted and logged), or still
//! spooled for the next start. The [`Backpressure`](batcher::Backpressure) gate is the
//! only place a call can wait on delivery; see its docs for when.

pub mod batcher;
pub mod owed;
pub mod spool;
pub mod spool_writer;
pub mod telemetry_buffer;

pub use owed::Owed;

/// Lowers the calling thread's CPU priority (nice +2): the Batcher's and the Senders'
/// threads are background work. Delivery must keep up on average, but a burst of calls
/// must not take a core from a decision a caller is waiting for; on a busy machine the
/// scheduler then gives a decision thread about 1.6 times the share of a delivery
/// thread. (+5, a 3x share, was measured too: at saturation it let the backlog, and
/// with it peak RSS and p99, grow; `loadtest e2e`, side by side.) A failure is harmless
/// (the thread keeps the normal priority).
pub(crate) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers; this changes only the
        // calling thread's nice value, which an unprivileged process may always raise.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 2)
        };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "cannot lower a delivery thread's priority"
            );
        }
    }
}
