//! Closed-loop HTTP load: `connections` tasks, each sending the same POST body again as
//! soon as its previous answer is read, over keep-alive connections, until the deadline
//! or the request budget is reached. Latency goes to an HDR histogram (microseconds).
//!
//! Targets are loopback only ([`check_loopback`]): no proxy, no redirects, so a request
//! can never leave the machine. Every run is bounded by its duration and `max_requests`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use reqwest::header::CONTENT_TYPE;
use tokio::time::Instant;
use url::{Host, Url};

/// Longest latency the histogram holds: 60 s, in microseconds.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What to send, how hard and for how long.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Full URL the body is POSTed to.
    pub url: Url,
    pub body: Vec<u8>,
    /// Requests in flight at once (each task keeps one connection busy).
    pub connections: usize,
    /// Discarded from the figures, but its requests count in the totals.
    pub warmup: Duration,
    /// Measured time, after the warm-up.
    pub duration: Duration,
    /// Stop after this many requests in all (warm-up included).
    pub max_requests: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl LoadOptions {
    /// A run bounded by time only, with a 10 s per-request timeout.
    pub fn timed(
        url: Url,
        body: Vec<u8>,
        connections: usize,
        warmup: Duration,
        duration: Duration,
    ) -> Self {
        Self {
            url,
            body,
            connections,
            warmup,
            duration,
            max_requests: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counts of answered, refused and failed requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub ok: u64,
    pub non_2xx: u64,
    pub errors: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
    }
}

/// The outcome of a run.
pub struct Report {
    pub url: Url,
    pub connections: usize,
    /// Every request sent, warm-up included.
    pub total: Counts,
    /// Requests that started after the warm-up.
    pub measured: Counts,
    /// Time from the end of the warm-up to the last answer.
    pub measured_time: Duration,
    /// Latency of the measured answers (2xx or not), in microseconds.
    pub latency_us: Histogram<u64>,
    /// The same for the 2xx answers alone and the non-2xx alone: under overload the
    /// refusals (503) and the decisions have latencies of their own.
    pub latency_2xx_us: Histogram<u64>,
    pub latency_non_2xx_us: Histogram<u64>,
    /// One error message, to say what went wrong.
    pub first_error: Option<String>,
    /// CPU time (user + system) this process used from the end of the warm-up to the last
    /// answer: the load generator's own cost, which shares the machine with the server.
    pub measured_cpu: Duration,
}

impl Report {
    /// Measured answers per second.
    pub fn rps(&self) -> f64 {
        let secs = self.measured_time.as_secs_f64();
        let answered = self.measured.ok + self.measured.non_2xx;
        if secs > 0.0 {
            answered as f64 / secs
        } else {
            0.0
        }
    }

    /// Prints the human summary and a `RESULT key=value ...` line for scripts.
    pub fn print(&self) {
        let h = &self.latency_us;
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let m = &self.measured;
        println!(
            "{}: {} connections, {} requests in {:.2}s = {:.1} req/s (2xx {}, non-2xx {}, errors {})",
            self.url,
            self.connections,
            m.ok + m.non_2xx + m.errors,
            self.measured_time.as_secs_f64(),
            self.rps(),
            m.ok,
            m.non_2xx,
            m.errors,
        );
        println!(
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            ms(0.5),
            ms(0.9),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0,
        );
        if m.non_2xx > 0 {
            let (ok, non) = (&self.latency_2xx_us, &self.latency_non_2xx_us);
            let at = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "latency ms: 2xx p50 {:.2} p99 {:.2}; non-2xx p50 {:.2} p99 {:.2}",
                at(ok, 0.5),
                at(ok, 0.99),
                at(non, 0.5),
                at(non, 0.99),
            );
        }
        if let Some(err) = &self.first_error {
            println!("first error: {err}");
        }
        let answered = m.ok + m.non_2xx;
        if answered > 0 {
            println!(
                "load generator CPU: {:.1} µs per answer",
                self.measured_cpu.as_secs_f64() * 1e6 / answered as f64
            );
        }
        println!(
            "RESULT rps={:.1} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} ok={} non2xx={} errors={} total_ok={} \
             ok_p50_us={} ok_p99_us={} non2xx_p50_us={} non2xx_p99_us={} cpu_us={}",
            self.rps(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            m.ok,
            m.non_2xx,
            m.errors,
            self.total.ok,
            self.latency_2xx_us.value_at_quantile(0.5),
            self.latency_2xx_us.value_at_quantile(0.99),
            self.latency_non_2xx_us.value_at_quantile(0.5),
            self.latency_non_2xx_us.value_at_quantile(0.99),
            self.measured_cpu.as_micros(),
        );
    }
}

/// Refuses any URL whose host is not loopback: 127.0.0.0/8, ::1 or `localhost`.
pub fn check_loopback(url: &Url) -> anyhow::Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        bail!("target {url}: only http:// or https:// URLs are allowed");
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !loopback {
        bail!(
            "refusing target {url}: only loopback hosts (127.0.0.0/8, [::1], localhost) may be loaded"
        );
    }
    Ok(())
}

/// What one task saw.
struct TaskResult {
    total: Counts,
    measured: Counts,
    latency_us: Histogram<u64>,
    latency_2xx_us: Histogram<u64>,
    latency_non_2xx_us: Histogram<u64>,
    first_error: Option<String>,
}

impl TaskResult {
    fn new() -> Self {
        Self {
            total: Counts::default(),
            measured: Counts::default(),
            latency_us: histogram(),
            latency_2xx_us: histogram(),
            latency_non_2xx_us: histogram(),
            first_error: None,
        }
    }

    /// Counts one request (`Ok(is 2xx)` or its error); a measured answer's latency goes
    /// to the histogram of all answers and to that of its kind.
    fn record(&mut self, outcome: Result<bool, String>, latency: Duration, measured: bool) {
        let counts = match outcome {
            Ok(true) => Counts {
                ok: 1,
                ..Counts::default()
            },
            Ok(false) => Counts {
                non_2xx: 1,
                ..Counts::default()
            },
            Err(err) => {
                self.first_error.get_or_insert(err);
                Counts {
                    errors: 1,
                    ..Counts::default()
                }
            }
        };
        self.total.add(counts);
        if !measured {
            return;
        }
        self.measured.add(counts);
        if counts.errors > 0 {
            return; // no answer, no latency
        }
        let us = latency.as_micros().min(u128::from(MAX_LATENCY_US)) as u64;
        self.latency_us.saturating_record(us);
        let by_kind = if counts.ok > 0 {
            &mut self.latency_2xx_us
        } else {
            &mut self.latency_non_2xx_us
        };
        by_kind.saturating_record(us);
    }
}

fn histogram() -> Histogram<u64> {
    // Bounds and precision are constants that `new_with_bounds` accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Runs the load and gathers the figures.
pub async fn run(options: LoadOptions) -> anyhow::Result<Report> {
    check_loopback(&options.url)?;
    if options.connections == 0 {
        bail!("connections must be at least 1");
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(options.connections)
        .tcp_nodelay(true)
        .timeout(options.timeout)
        .build()
        .context("cannot build the HTTP client")?;
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let deadline = measure_from + options.duration;
    let issued = Arc::new(AtomicU64::new(0));
    let cpu_at_measure = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from).await;
        process_cpu()
    });
    let body: Arc<[u8]> = Arc::from(options.body.as_slice());
    let tasks: Vec<_> = (0..options.connections)
        .map(|_| {
            let worker = Worker {
                client: client.clone(),
                url: options.url.clone(),
                body: body.clone(),
                issued: issued.clone(),
                max_requests: options.max_requests,
                measure_from,
                deadline,
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let mut report = Report {
        url: options.url.clone(),
        connections: options.connections,
        total: Counts::default(),
        measured: Counts::default(),
        measured_time: Duration::ZERO,
        latency_us: histogram(),
        latency_2xx_us: histogram(),
        latency_non_2xx_us: histogram(),
        first_error: None,
        measured_cpu: Duration::ZERO,
    };
    for task in tasks {
        let result = task.await.context("a load task panicked")?;
        report.total.add(result.total);
        report.measured.add(result.measured);
        report
            .latency_us
            .add(&result.latency_us)
            .context("cannot merge histograms")?;
        report
            .latency_2xx_us
            .add(&result.latency_2xx_us)
            .context("cannot merge histograms")?;
        report
            .latency_non_2xx_us
            .add(&result.latency_non_2xx_us)
            .context("cannot merge histograms")?;
        report.first_error = report.first_error.or(result.first_error);
    }
    report.measured_time = Instant::now().saturating_duration_since(measure_from);
    let at_measure = cpu_at_measure.await.context("the CPU sampler panicked")?;
    report.measured_cpu = process_cpu().saturating_sub(at_measure);
    Ok(report)
}

/// CPU time (user + system) this process has used so far, from getrusage(2); zero if it
/// cannot be read.
fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage(2) writes one `rusage` to the pointer, a live local of that type.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// One closed loop.
struct Worker {
    client: reqwest::Client,
    url: Url,
    body: Arc<[u8]>,
    issued: Arc<AtomicU64>,
    max_requests: Option<u64>,
    measure_from: Instant,
    deadline: Instant,
}

impl Worker {
    async fn run(self) -> TaskResult {
        let mut result = TaskResult::new();
        loop {
            let sent_at = Instant::now();
            if sent_at >= self.deadline {
                break;
            }
            if let Some(max) = self.max_requests
                && self.issued.fetch_add(1, Ordering::Relaxed) >= max
            {
                break;
            }
            let outcome = self.send_one().await;
            result.record(outcome, sent_at.elapsed(), sent_at >= self.measure_from);
        }
        result
    }

    /// Sends the body and reads the whole answer: Ok(is 2xx) or the error's text.
    async fn send_one(&self) -> Result<bool, String> {
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.to_vec())
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        let status = response.status();
        response.bytes().await.map_err(|e| error_text(&e))?;
        Ok(status.is_success())
    }
}

/// The error with its causes, on one line.
fn error_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_kept_apart_by_kind() {
        let mut result = TaskResult::new();
        let ms = Duration::from_millis;
        result.record(Ok(true), ms(2), true);
        result.record(Ok(false), ms(40), true);
        result.record(Ok(false), ms(50), true);
        result.record(Err("reset".into()), ms(9), true);
        result.record(Ok(true), ms(900), false); // warm-up: counted, not measured

        assert_eq!(
            (result.total.ok, result.total.non_2xx, result.total.errors),
            (2, 2, 1)
        );
        let m = result.measured;
        assert_eq!((m.ok, m.non_2xx, m.errors), (1, 2, 1));
        assert_eq!(result.latency_us.len(), 3, "errors have no latency");
        assert_eq!(result.latency_2xx_us.len(), 1);
        assert_eq!(result.latency_non_2xx_us.len(), 2);
        assert!(result.latency_2xx_us.max() < 2_100);
        assert!(result.latency_non_2xx_us.min() >= 39_900);
        assert_eq!(result.first_error.as_deref(), Some("reset"));
    }

    #[test]
    fn only_loopback_targets_are_allowed() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3/v1/offers",
            "http://[::1]:8080",
            "http://localhost:8080",
            "https://LOCALHOST/",
        ] {
            assert!(check_loopback(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "http://192.168.1.1",
            "http://example.com",
            "http://localhost.example.com",
            "http://[::2]:80",
            "http://0.0.0.0:8080",
            "ftp://127.0.0.1/",
        ] {
            assert!(check_loopback(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
