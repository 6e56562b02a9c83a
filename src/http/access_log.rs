//! The access log: one line per HTTP request (`log.access`), written in batches.
//!
//! The `observe` middleware hands each request's line to [`record`]. Lines are
//! formatted straight into the calling worker's own buffer, and a flusher thread hands
//! the buffers to the log writer every [`FLUSH_EVERY`] (or a worker does, once its buffer
//! holds [`FLUSH_AT`] bytes). As a tracing event per request, the line cost a formatting
//! pass through the subscriber and a wake-up of the log thread per request: 10-12 % of
//! the CPU of a one-mbox decision (perf, `loadtest/side-by-side.sh` request a).
//!
//! The lines read as the subscriber's own would (same fields, same JSON shape). Being
//! batched, they reach the log up to [`FLUSH_EVERY`] late, so they can sit out of
//! timestamp order among other lines; a kill -9 loses the last ones. Until [`install`] is called (tests, the library
//! used on its own), [`record`] emits an ordinary tracing event instead.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

/// How often the flusher thread writes what the workers have buffered: a line shows
/// in the log at most this late.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A worker writes its buffer itself once it holds this much.
pub const FLUSH_AT: usize = 32 * 1024;

/// The shape of the lines: as `log.format` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// tracing-subscriber's default text format, without colour.
    Pretty,
    /// Flat JSON, as [`crate::logging::FlatJson`] writes it.
    Json {
        service: &'static str,
        version: &'static str,
    },
}

/// One request's access line. No visitor ids: only what the operator needs.
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The route pattern (`/v1/offers`), or `unmatched`.
    pub endpoint: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration: Duration,
    /// `on-device`, `server-side`, or empty for what was not a decision.
    pub decisioning_method: &'a str,
}

type Buffer = Arc<Mutex<Vec<u8>>>;

struct Sink {
    format: LineFormat,
    out: Mutex<Box<dyn Write + Send>>,
    /// Every worker's buffer, for the flusher.
    buffers: Mutex<Vec<Buffer>>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

thread_local! {
    static LOCAL: OnceLock<Buffer> = const { OnceLock::new() };
}

/// Sends access lines to `out` from now on, in `format`, and starts the flusher
/// thread. Later calls change nothing (the first writer stays).
pub fn install(format: LineFormat, out: Box<dyn Write + Send>) {
    let sink = Sink {
        format,
        out: Mutex::new(out),
        buffers: Mutex::new(Vec::new()),
    };
    if SINK.set(sink).is_ok() {
        let spawned = std::thread::Builder::new()
            .name("offerd-access-log".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flush();
                }
            });
        if let Err(err) = spawned {
            // Lines are still written, by the workers, once FLUSH_AT bytes are held.
            tracing::warn!(%err, "no access-log flusher thread");
        }
    }
}

/// Writes one request's line.
pub fn record(line: &AccessLine<'_>) {
    let Some(sink) = SINK.get() else {
        tracing::info!(
            target: "offerd::http",
            path = %line.path,
            status = line.status,
            duration_ms = millis(line.duration),
            decisioning_method = line.decisioning_method,
            "request"
        );
        return;
    };
    LOCAL.with(|local| {
        let buffer = local.get_or_init(|| sink.register());
        let mut bytes = lock(buffer);
        sink.format.write(line, SystemTime::now(), &mut bytes);
        if bytes.len() >= FLUSH_AT {
            sink.write(&mut bytes);
        }
    });
}

/// Writes every buffered line now (the flusher does it every [`FLUSH_EVERY`]; call it
/// once more before exit).
pub fn flush() {
    if let Some(sink) = SINK.get() {
        sink.flush_all();
    }
}

impl Sink {
    fn register(&self) -> Buffer {
        let buffer = Buffer::default();
        lock(&self.buffers).push(buffer.clone());
        buffer
    }

    fn flush_all(&self) {
        let mut buffers = lock(&self.buffers);
        // A buffer only this list holds belongs to a worker thread that has ended.
        buffers.retain(|buffer| {
            self.write(&mut lock(buffer));
            Arc::strong_count(buffer) > 1
        });
    }

    /// Writes out and empties a buffer, which keeps its capacity: a worker's buffer
    /// stays one allocation of about [`FLUSH_AT`] bytes.
    fn write(&self, chunk: &mut Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        let mut out = lock(&self.out);
        // Where the log goes is the last place to report a failure to write it.
        let _ = out.write_all(chunk);
        let _ = out.flush();
        chunk.clear();
    }
}

/// A poisoned lock only means a thread panicked mid-line; the bytes are still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds to the microsecond (`1.684`, not `1.6837849999999999`): what the
/// clock is worth, and what an operator reads.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

impl LineFormat {
    fn write(self, line: &AccessLine<'_>, now: SystemTime, out: &mut Vec<u8>) {
        let timestamp = humantime::format_rfc3339_micros(now);
        // Writing into a Vec cannot fail.
        let _ = match self {
            LineFormat::Pretty => writeln!(
                out,
                "{timestamp}  INFO request{{request_id={} method={} endpoint={}}}: offerd::http: \
                 request path={} status={} duration_ms={} decisioning_method={:?}",
                line.request_id,
                line.method,
                line.endpoint,
                line.path,
                line.status,
                millis(line.duration),
                line.decisioning_method,
            ),
            LineFormat::Json { service, version } => {
                write_json(out, line, &timestamp.to_string(), service, version)
            }
        };
    }
}

/// The line as [`crate::logging::FlatJson`] writes an event: its own fields, then the
/// request span's, then the event's (the message first).
fn write_json(
    out: &mut Vec<u8>,
    line: &AccessLine<'_>,
    timestamp: &str,
    service: &str,
    version: &str,
) -> std::io::Result<()> {
    let strings = [
        ("timestamp", timestamp),
        ("level", "INFO"),
        ("target", "offerd::http"),
        ("service", service),
        ("version", version),
        ("request_id", line.request_id),
        ("method", line.method),
        ("endpoint", line.endpoint),
        ("message", "request"),
        ("path", line.path),
    ];
    out.push(b'{');
    for (idx, (key, value)) in strings.iter().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        write!(out, "\"{key}\":")?;
        serde_json::to_writer(&mut *out, value)?;
    }
    write!(out, ",\"status\":{}", line.status)?;
    write!(out, ",\"duration_ms\":")?;
    serde_json::to_writer(&mut *out, &millis(line.duration))?;
    write!(out, ",\"decisioning_method\":")?;
    serde_json::to_writer(&mut *out, line.decisioning_method)?;
    out.extend_from_slice(b"}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn line() -> AccessLine<'static> {
        AccessLine {
            request_id: "r-1",
            method: "POST",
            endpoint: "/v1/offers",
            path: "/v1/offers\"\n",
            status: 200,
            duration: Duration::from_micros(1500),
            decisioning_method: "on-device",
        }
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_596_000_123_456)
    }

    #[test]
    fn json_lines_are_flat_and_escaped() {
        let mut out = Vec::new();
        let format = LineFormat::Json {
            service: "offerd",
            version: "9.9.9",
        };
        format.write(&line(), at(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        let parsed: Value = serde_json::from_str(text.trim()).unwrap();
        let keys: Vec<&str> = parsed
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "target",
                "service",
                "version",
                "request_id",
                "method",
                "endpoint",
                "message",
                "path",
                "status",
                "duration_ms",
                "decisioning_method"
            ]
        );
        assert_eq!(parsed["timestamp"], "2025-12-01T13:33:20.123456Z");
        assert_eq!(parsed["path"], "/v1/offers\"\n");
        assert_eq!(parsed["status"], 200);
        assert_eq!(parsed["duration_ms"], 1.5);
        assert_eq!(parsed["decisioning_method"], "on-device");
        assert_eq!(parsed["message"], "request");
        assert_eq!(parsed["service"], "offerd");
    }

    #[test]
    fn pretty_lines_read_like_the_subscribers() {
        let mut out = Vec::new();
        let mut plain = line();
        plain.path = "/v1/offers";
        LineFormat::Pretty.write(&plain, at(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2025-12-01T13:33:20.123456Z  INFO request{request_id=r-1 method=POST \
             endpoint=/v1/offers}: offerd::http: request path=/v1/offers status=200 \
             duration_ms=1.5 decisioning_method=\"on-device\"\n"
        );
    }

    #[test]
    fn durations_are_rounded_to_the_microsecond() {
        assert_eq!(millis(Duration::from_nanos(1_683_785)), 1.683);
        assert_eq!(millis(Duration::from_nanos(1_683_785)).to_string(), "1.683");
        assert_eq!(millis(Duration::from_micros(2)), 0.002);
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The one test that installs the process-wide sink: lines from several threads
    /// all arrive, whole, once flushed, and a finished thread's buffer is let go.
    #[test]
    fn buffered_lines_from_every_thread_arrive_whole() {
        let out = Shared::default();
        install(LineFormat::Pretty, Box::new(out.clone()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..1000 {
                        record(&line());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        flush();
        let text = String::from_utf8(lock(&out.0).clone()).unwrap();
        // Each record's path holds a newline, so a whole record is two lines.
        assert_eq!(text.matches("request{request_id=r-1").count(), 4000);
        assert_eq!(
            text.matches("decisioning_method=\"on-device\"\n").count(),
            4000
        );
        assert!(lock(&SINK.get().unwrap().buffers).is_empty());
    }
}
