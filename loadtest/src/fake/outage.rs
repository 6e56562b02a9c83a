//! The fake's outage knob: a window during which every delivery request fails, either
//! answered 503 at once or with its connection reset and no answer at all.
//!
//! The window is anchored on the first delivery request the fake receives, not on its
//! start: offerd takes a variable time to start and load its artifact, and anchoring on
//! its first notification puts the outage at a known point of the traffic.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How requests fail during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutageMode {
    /// Answer 503 at once (the `delay` is skipped).
    #[value(name = "503")]
    Unavailable,
    /// Read the request, then end its connection with no answer (FIN, then RST).
    Reset,
}

impl fmt::Display for OutageMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "503",
            Self::Reset => "reset",
        })
    }
}

/// A window of failures, relative to the first delivery request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// From the first delivery request to the start of the outage.
    pub after: Duration,
    /// How long it lasts; afterwards the fake behaves normally.
    pub length: Duration,
    pub mode: OutageMode,
}

impl Outage {
    /// Whether a request arriving `since_first` after the first delivery request falls in
    /// the window `[after, after + length)`.
    pub fn covers(&self, since_first: Duration) -> bool {
        since_first
            .checked_sub(self.after)
            .is_some_and(|into| into < self.length)
    }
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outage ({}) from {:?} after the first delivery request, for {:?}",
            self.mode, self.after, self.length
        )
    }
}

/// Remembers when the first delivery request arrived.
#[derive(Debug, Default)]
pub(super) struct FirstRequest(OnceLock<Instant>);

impl FirstRequest {
    /// Records a delivery request arriving at `now` (the first one sets the anchor) and
    /// returns how long after the first one it came.
    pub(super) fn since_first(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.0.get_or_init(|| now))
    }
}

/// Ends the TCP connection on `fd` with no answer: `shutdown` of both directions sends
/// FIN and fails actix's write of the answer, so its dispatcher closes the socket, and
/// `SO_LINGER` 0 makes that close send RST. The peer sees its request end with no
/// answer (EOF, then RST): a transport failure. Shutting the read side only would let
/// actix write the answer. `fd` must be the socket of a connection that is still open.
pub(super) fn reset(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = libc::socklen_t::try_from(size_of::<libc::linger>())
        .map_err(|_| io::Error::other("linger size out of range"))?;
    // SAFETY: setsockopt(2) reads `len` bytes from `linger`, a live local of that size;
    // the fd is an open socket (the caller's contract), and a bad fd only yields EBADF.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: shutdown(2) touches no memory of ours; same fd as above.
    if unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_window_starts_at_after_and_lasts_length() {
        let outage = Outage {
            after: 100 * MS,
            length: 50 * MS,
            mode: OutageMode::Unavailable,
        };
        for (since_first, covered) in [
            (Duration::ZERO, false),
            (99 * MS, false),
            (100 * MS, true),
            (149 * MS, true),
            (150 * MS, false),
            (Duration::from_secs(3600), false),
        ] {
            assert_eq!(outage.covers(since_first), covered, "{since_first:?}");
        }
    }

    #[test]
    fn an_outage_after_zero_covers_the_first_request_and_zero_length_covers_nothing() {
        let from_start = Outage {
            after: Duration::ZERO,
            length: 10 * MS,
            mode: OutageMode::Reset,
        };
        assert!(from_start.covers(Duration::ZERO));
        let empty = Outage {
            length: Duration::ZERO,
            ..from_start
        };
        assert!(!empty.covers(Duration::ZERO));
    }

    #[test]
    fn the_anchor_is_the_first_request() {
        let first = FirstRequest::default();
        let t0 = Instant::now();
        assert_eq!(first.since_first(t0 + 5 * MS), Duration::ZERO);
        assert_eq!(first.since_first(t0 + 25 * MS), 20 * MS);
        // A clock read before the anchor (another thread's) counts as the anchor itself.
        assert_eq!(first.since_first(t0), Duration::ZERO);
    }
}
