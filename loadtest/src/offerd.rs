//! offerd as a child process, for `e2e` and `crash`: start it on a free loopback port
//! pointed at the fake Delivery API, wait until it is ready, probe how many
//! notifications one execute owes, then stop it with SIGTERM (bounded) or SIGKILL, and
//! read its peak RSS, its log and its metrics.
//!
//! offerd's output goes to a log file in the temp directory (its path is printed). The
//! child is SIGKILLed if a run ends early (`kill_on_drop`), and gets a bounded time to
//! become ready and, after SIGTERM, to drain and exit.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};
use url::Url;

/// How long a session's notifications wait for more, in offerd's batcher: short, so
/// that a run's notifications are all sent well within its drain.
const LINGER_MS: &str = "200";

/// How offerd is started, whatever the run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The offerd binary.
    pub bin: PathBuf,
    /// The artifact it loads (absolute: offerd's working directory is not ours to know).
    pub artifact: PathBuf,
    /// Passed as `OFFERD_SPOOL__DIR` when set.
    pub spool_dir: Option<PathBuf>,
    /// Name the linger `OFFERD_BATCHER__FLUSH_INTERVAL_MS`, as offerd did before
    /// `OFFERD_BATCHER__LINGER_MS`: such an offerd refuses the new name.
    pub legacy_flush_interval: bool,
    /// Speak HTTP/2 to the fake without TLS (`OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE`).
    pub http2: bool,
}

impl Settings {
    /// Checks that the artifact exists and makes its path absolute.
    pub fn new(bin: PathBuf, artifact: &Path, legacy_flush_interval: bool) -> anyhow::Result<Self> {
        let artifact = std::path::absolute(artifact)?;
        if !artifact.is_file() {
            bail!(
                "artifact {} not found (run from the repo root or pass --artifact)",
                artifact.display()
            );
        }
        Ok(Self {
            bin,
            artifact,
            spool_dir: None,
            legacy_flush_interval,
            http2: false,
        })
    }

    /// The environment offerd runs with.
    fn envs(&self, port: u16, upstream: u16) -> Vec<(&'static str, String)> {
        let linger = if self.legacy_flush_interval {
            "OFFERD_BATCHER__FLUSH_INTERVAL_MS"
        } else {
            "OFFERD_BATCHER__LINGER_MS"
        };
        let mut envs = vec![
            ("OFFERD_SERVER__BIND", format!("127.0.0.1:{port}")),
            ("OFFERD_UPSTREAM__SERVER_DOMAIN", "127.0.0.1".to_owned()),
            ("OFFERD_UPSTREAM__PORT", upstream.to_string()),
            ("OFFERD_UPSTREAM__SECURE", "false".to_owned()),
            ("OFFERD_UPSTREAM__PIN_SERVER_DOMAIN", "true".to_owned()),
            // The built-in defaults are the offline demo; this run must reach the fake.
            ("OFFERD_UPSTREAM__OFFLINE", "false".to_owned()),
            (linger, LINGER_MS.to_owned()),
            (
                "OFFERD_ARTIFACT__LOCATION",
                self.artifact.display().to_string(),
            ),
            // No network: load the artifact once, learn no location hint.
            ("OFFERD_ARTIFACT__POLLING_INTERVAL_SECS", "0".to_owned()),
            ("OFFERD_TARGET__LEARN_LOCATION_HINT", "false".to_owned()),
            // A log file, not a terminal: no colour codes.
            ("NO_COLOR", "1".to_owned()),
        ];
        if let Some(dir) = &self.spool_dir {
            envs.push(("OFFERD_SPOOL__DIR", dir.display().to_string()));
        }
        if self.http2 {
            envs.push(("OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE", "true".to_owned()));
        }
        envs
    }
}

/// Reads the request body a run sends.
pub fn read_body(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (run from the repo root or pass --body)",
            path.display()
        )
    })
}

/// `$TMPDIR/loadtest-<name>-<our pid>.log`.
pub fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadtest-{name}-{}.log", std::process::id()))
}

/// A running offerd child.
pub struct Offerd {
    child: Child,
    pid: u32,
    base: Url,
    log: PathBuf,
}

impl Offerd {
    /// Starts `offerd serve` on a free port, its upstream the fake on `upstream_port`.
    pub fn spawn(settings: &Settings, upstream_port: u16, log: PathBuf) -> anyhow::Result<Self> {
        let port = free_port()?;
        let base = Url::parse(&format!("http://127.0.0.1:{port}"))?;
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(&settings.bin)
            .arg("serve")
            .envs(settings.envs(port, upstream_port))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", settings.bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("offerd exited at once"))?;
        println!("offerd pid {pid} on {base} (log: {})", log.display());
        Ok(Self {
            child,
            pid,
            base,
            log,
        })
    }

    /// `POST /v1/offers` on this offerd.
    pub fn offers_url(&self) -> anyhow::Result<Url> {
        Ok(self.base.join("/v1/offers")?)
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits (at most `wait`) for readiness, then probes once: the notifications one
    /// execute of `body` owes.
    pub async fn ready_and_probe(&mut self, body: &[u8], wait: Duration) -> anyhow::Result<u64> {
        self.wait_ready(wait).await?;
        probe(&self.offers_url()?, body).await
    }

    /// Polls `GET /health/ready` until it answers 2xx, at most `wait`.
    pub async fn wait_ready(&mut self, wait: Duration) -> anyhow::Result<()> {
        let url = self.base.join("/health/ready")?;
        let client = client()?;
        let deadline = Instant::now() + wait;
        loop {
            self.fail_if_exited("before it was ready")?;
            if let Ok(response) = client.get(url.clone()).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("offerd was not ready within {wait:?}");
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// An error if offerd has exited; `when` says when, for the message.
    pub fn fail_if_exited(&mut self, when: &str) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("offerd exited {when} ({status})"),
            None => Ok(()),
        }
    }

    /// The kernel's peak resident set size of offerd so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        read_vm_hwm_kib(self.pid)
    }

    /// The value of the unlabelled metric `name` at `GET /metrics`, if offerd has it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let url = self.base.join("/metrics").ok()?;
        let text = client()
            .ok()?
            .get(url)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        parse_metric(&text, name)
    }

    /// SIGKILL: offerd gets no chance to flush anything.
    pub async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        self.child.start_kill().context("cannot SIGKILL offerd")?;
        Ok(self.child.wait().await?)
    }

    /// SIGTERM, then waits (bounded) for the exit; SIGKILL and an error past the
    /// deadline. Keeps sampling the peak RSS into `peak` while offerd drains.
    pub async fn terminate(
        &mut self,
        wait: Duration,
        peak: &mut Option<u64>,
    ) -> anyhow::Result<ExitStatus> {
        let pid = libc::pid_t::try_from(self.pid).context("pid out of range")?;
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet (so it cannot have
        // been reused) and a valid signal number; it touches no memory of ours.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            bail!(
                "cannot send SIGTERM to {pid}: {}",
                std::io::Error::last_os_error()
            );
        }
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                println!(
                    "offerd exited ({status}) {:.2}s after SIGTERM",
                    started.elapsed().as_secs_f64()
                );
                return Ok(status);
            }
            *peak = (*peak).max(self.peak_rss_kib());
            if started.elapsed() >= wait {
                self.child.kill().await?;
                bail!("offerd did not exit within {wait:?} of SIGTERM (killed)");
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prints the last lines of offerd's log to stderr, to say why a run failed.
    pub fn print_log_tail(&self) {
        if let Ok(text) = std::fs::read_to_string(&self.log) {
            eprintln!("--- last lines of {}:", self.log.display());
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(20)..] {
                eprintln!("{line}");
            }
        }
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()?)
}

/// Sends the body once and counts the notifications its answer owes: one per execute
/// mbox (and page load) that got options.
async fn probe(url: &Url, body: &[u8]) -> anyhow::Result<u64> {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.context("probe answer is not JSON")?;
    if !status.is_success() {
        bail!("probe answered {status}: {answer}");
    }
    let owed = owed_by(&answer);
    if owed == 0 {
        bail!("the probe answer owes no notification, so nothing can be checked: {answer}");
    }
    Ok(owed)
}

/// Display notifications an execute answer owes: its mboxes and page load with options.
fn owed_by(answer: &Value) -> u64 {
    let execute = answer.pointer("/response/execute");
    let has_options = |v: &Value| {
        v.get("options")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty())
    };
    let mboxes = execute
        .and_then(|e| e.get("mboxes"))
        .and_then(Value::as_array)
        .map_or(0, |m| m.iter().filter(|m| has_options(m)).count());
    let page_load = execute
        .and_then(|e| e.get("pageLoad"))
        .is_some_and(has_options);
    (mboxes + usize::from(page_load)) as u64
}

/// A port free on 127.0.0.1 right now (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The kernel's peak resident set size of `pid`, in KiB, if /proc has it.
fn read_vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `<who> peak RSS (VmHWM): N MiB`, e.g. who = `offerd`.
pub fn print_peak_rss(who: &str, kib: Option<u64>) {
    match kib {
        Some(kib) => println!("{who} peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("{who} peak RSS: not readable from /proc"),
    }
}

/// The last line of `log` that contains `needle`.
pub fn last_line_with(log: &Path, needle: &str) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains(needle))
        .map(str::to_owned)
}

/// The value of the unlabelled sample `name` in a Prometheus text exposition.
fn parse_metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_answer_owes_one_notification_per_mbox_and_page_load_with_options() {
        let answer = json!({"response": {"execute": {
            "mboxes": [{"options": [{}]}, {"options": []}, {}, {"options": [{}, {}]}],
            "pageLoad": {"options": [{}]}
        }}});
        assert_eq!(owed_by(&answer), 3);
        assert_eq!(owed_by(&json!({"response": {}})), 0);
    }

    #[test]
    fn reads_an_unlabelled_gauge_only() {
        let text = "# HELP offerd_spool_records Records not yet acknowledged.\n\
                    # TYPE offerd_spool_records gauge\n\
                    offerd_spool_records_total 9\n\
                    offerd_spool_records 42\n";
        assert_eq!(parse_metric(text, "offerd_spool_records"), Some(42.0));
        assert_eq!(parse_metric(text, "offerd_missing"), None);
    }

    #[test]
    fn the_spool_dir_and_the_linger_name_reach_the_environment() {
        let mut settings = Settings {
            bin: PathBuf::from("offerd"),
            artifact: PathBuf::from("/a.json"),
            spool_dir: None,
            legacy_flush_interval: false,
            http2: false,
        };
        let keys = |s: &Settings| s.envs(1, 2).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert!(keys(&settings).contains(&"OFFERD_BATCHER__LINGER_MS"));
        assert!(!keys(&settings).contains(&"OFFERD_SPOOL__DIR"));
        settings.spool_dir = Some(PathBuf::from("/spool"));
        settings.legacy_flush_interval = true;
        let envs = settings.envs(1, 2);
        assert!(envs.contains(&("OFFERD_SPOOL__DIR", "/spool".to_owned())));
        assert!(envs.contains(&("OFFERD_BATCHER__FLUSH_INTERVAL_MS", "200".to_owned())));
        assert!(!keys(&settings).contains(&"OFFERD_BATCHER__LINGER_MS"));
    }
}
