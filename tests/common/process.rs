//! offerd's own binary (`CARGO_BIN_EXE_offerd`) as a child process against a
//! [`FakeUpstream`]: what a crash test needs that an in-process server cannot give,
//! a real `kill -9` and a restart on the same spool.
//!
//! The child runs in a directory of the test's (so no `config.toml` of the repo is
//! read), with every `OFFERD_*` variable of the test's environment removed and only
//! the ones set here, and logs to a file in that directory. It is killed when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{FakeUpstream, metric_sum, metric_value};

/// A running `offerd` binary.
pub struct OfferdProcess {
    pub base_url: String,
    child: Child,
    log: PathBuf,
    http: reqwest::Client,
}

/// An HTTP client for one [`OfferdProcess`], held apart from it so that requests
/// can be in flight while the process is killed.
#[derive(Clone)]
pub struct Caller {
    base_url: String,
    http: reqwest::Client,
}

impl Caller {
    /// POSTs `body` as JSON: the status and the answer parsed as JSON, or the error
    /// (the child may be gone).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `/metrics` as text, None when the child does not answer.
    pub async fn metrics(&self) -> Option<String> {
        let url = format!("{}/metrics", self.base_url);
        self.http.get(url).send().await.ok()?.text().await.ok()
    }
}

impl OfferdProcess {
    /// Starts offerd in `workdir` on a free port against `fake` (Delivery API and
    /// artifact), with `env` on top; it logs to `workdir/<label>.log`.
    pub fn start(fake: &FakeUpstream, workdir: &Path, label: &str, env: &[(&str, String)]) -> Self {
        Self::start_on(free_port(), fake, workdir, label, env)
    }

    /// [`Self::start`] on `port` (a replica restarted where a balancer expects it).
    pub fn start_on(
        port: u16,
        fake: &FakeUpstream,
        workdir: &Path,
        label: &str,
        env: &[(&str, String)],
    ) -> Self {
        let log = workdir.join(format!("{label}.log"));
        let out = File::create(&log).expect("create the child's log");
        let err = out.try_clone().expect("clone the log handle");
        let mut command = Command::new(env!("CARGO_BIN_EXE_offerd"));
        command
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OFFERD_") {
                command.env_remove(key);
            }
        }
        command
            .env("RUST_LOG", "info")
            // A log file, not a terminal: no colour codes.
            .env("NO_COLOR", "1")
            .env("OFFERD_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("OFFERD_UPSTREAM__SERVER_DOMAIN", "127.0.0.1")
            .env("OFFERD_UPSTREAM__PORT", fake.port.to_string())
            .env("OFFERD_UPSTREAM__SECURE", "false")
            .env("OFFERD_UPSTREAM__PIN_SERVER_DOMAIN", "true")
            .env("OFFERD_UPSTREAM__OFFLINE", "false")
            .env(
                "OFFERD_ARTIFACT__LOCATION",
                format!("{}/rules.json", fake.base_url),
            )
            .env("OFFERD_GEO__URL", format!("{}/geo", fake.base_url));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start the offerd binary");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a reqwest client");
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            log,
            http,
        }
    }

    /// Waits until `/health/ready` answers 200; panics, with the log, if the child
    /// exits or `timeout` passes first.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "offerd exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            let url = format!("{}/health/ready", self.base_url);
            let answer = self.http.get(url).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("offerd not ready within {timeout:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client for this process, usable while it is being killed.
    pub fn caller(&self) -> Caller {
        Caller {
            base_url: self.base_url.clone(),
            http: self.http.clone(),
        }
    }

    /// The value of the Prometheus sample `series`, None when absent or unreachable.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.caller().metrics().await?, series)
    }

    /// The sum of every sample of `name`; None when the child does not answer.
    pub async fn metric_total(&self, name: &str) -> Option<f64> {
        Some(metric_sum(&self.caller().metrics().await?, name))
    }

    /// `kill -9`, and waits for the child to be gone.
    pub fn kill(&mut self) {
        // `Child::kill` is SIGKILL on Unix: no signal handler, no drain, no fsync.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: the shutdown an orchestrator starts.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits for the child to exit, at most `timeout`; its status, None if it runs on.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// What the child logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OfferdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free on 127.0.0.1 a moment ago (the child binds it by number).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("bound address").port()
}
