//! A cold start without the CDN: the real binary keeps the last good artifact in
//! `<spool.dir>/artifact` and, restarted while the CDN refuses or does not answer,
//! serves it (ready, deciding the same); without a backup, or with a damaged one, it
//! stays unready; a `kill -9` amid artifact swaps leaves one whole version.
//!
//! The CDN sits behind a [`TcpProxy`] so that it can go down at the same URL (a backup
//! is only served for the `artifact.location` it was downloaded from).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::free_port;
use crate::common::{
    FakeUpstream, OfferdProcess, PATIENCE, TcpProxy, TempDir, eventually, execute_for,
    first_execute_options, with_hero_content,
};

/// offerd with its spool (and so its backup) in `dir/spool`, the artifact at `cdn`.
fn start(
    fake: &FakeUpstream,
    dir: &Path,
    label: &str,
    cdn: &str,
    extra: &[(&str, String)],
) -> OfferdProcess {
    let mut env = vec![
        ("OFFERD_SPOOL__DIR", dir.join("spool").display().to_string()),
        ("OFFERD_ARTIFACT__LOCATION", cdn.to_string()),
        ("OFFERD_ARTIFACT__POLLING_INTERVAL_SECS", "1".to_string()),
        ("OFFERD_ARTIFACT__TIMEOUT_MS", "20000".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    OfferdProcess::start(fake, dir, label, &env)
}

fn backup_file(dir: &Path) -> PathBuf {
    dir.join("spool").join("artifact").join("artifact.backup")
}

async fn get_json(process: &OfferdProcess, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", process.base_url);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    match http.get(url).send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let body = answer.json().await.unwrap_or(Value::Null);
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// The hero-banner content offerd decides for one visitor.
async fn hero(process: &OfferdProcess) -> String {
    let answer = process
        .caller()
        .post_json(
            "/v1/offers",
            &execute_for("backup-visitor.35_0", "backup-session"),
        )
        .await
        .expect("offerd answers");
    assert_eq!(answer.0, 200, "{}", answer.1);
    let options = first_execute_options(&answer.1);
    options[0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until offerd has written a backup whose ETag is `etag`.
async fn wait_backed_up(dir: &Path, etag: &str) {
    let file = backup_file(dir);
    let written = eventually(PATIENCE, || async {
        std::fs::read(&file).is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(etag))
    })
    .await;
    assert!(written, "no backup with {etag} at {}", file.display());
}

#[actix_rt::test]
async fn a_restart_while_the_cdn_is_down_serves_the_backup_then_what_the_cdn_confirms() {
    let fake = FakeUpstream::start();
    fake.serve_artifact(&with_hero_content("kept across restarts"), "\"v-kept\"");
    let proxy = TcpProxy::start(fake.port);
    let cdn = format!("http://127.0.0.1:{}/rules.json", proxy.port);
    let dir = TempDir::new("backup");

    let mut first = start(&fake, dir.path(), "first", &cdn, &[]);
    first.wait_ready(PATIENCE).await;
    let before = hero(&first).await;
    assert_eq!(before, "kept across restarts");
    wait_backed_up(dir.path(), "v-kept").await;
    first.kill();

    // The CDN refuses: the first download fails at once, and the backup is served.
    proxy.cut();
    let started = Instant::now();
    let mut second = start(&fake, dir.path(), "second", &cdn, &[]);
    second.wait_ready(PATIENCE).await;
    eprintln!(
        "ready from the backup, CDN refusing: {:?}",
        started.elapsed()
    );
    assert_eq!(hero(&second).await, before, "decides the same as before");
    let (_, status) = get_json(&second, "/v1/artifact").await;
    assert_eq!(status["loaded"]["source"], "backup", "{status}");
    assert_eq!(status["loaded"]["etag"], "\"v-kept\"", "{status}");
    assert!(status["loaded"]["ageSeconds"].is_u64(), "{status}");
    assert!(
        status["lastError"].is_string(),
        "the outage shows: {status}"
    );
    assert_eq!(
        second.metric("offerd_artifact_backup_served").await,
        Some(1.0)
    );
    assert!(second.metric("offerd_artifact_age_seconds").await.is_some());
    assert!(
        second.log().contains("serving the artifact backup"),
        "{}",
        second.log()
    );

    // The CDN is back: the next poll asks with the backup's ETag and gets a 304.
    let not_modified = fake.not_modified();
    proxy.forward();
    let confirmed = eventually(PATIENCE, || async {
        get_json(&second, "/v1/artifact").await.1["loaded"]["source"] == cdn.as_str()
    })
    .await;
    assert!(
        confirmed,
        "the CDN never confirmed the backup:\n{}",
        second.log()
    );
    assert!(
        fake.not_modified() > not_modified,
        "asked with the backup's ETag"
    );
    assert_eq!(
        second.metric("offerd_artifact_backup_served").await,
        Some(0.0)
    );

    // A new version replaces it, and becomes the backup.
    fake.serve_artifact(&with_hero_content("the next version"), "\"v-next\"");
    let replaced = eventually(PATIENCE, || async {
        hero(&second).await == "the next version"
    })
    .await;
    assert!(replaced, "the new version was never served");
    wait_backed_up(dir.path(), "v-next").await;
}

/// A listener on exactly `port`, retried while the port's previous listener is
/// being dropped.
async fn listener_on(port: u16) -> std::net::TcpListener {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => return listener,
            Err(e) if Instant::now() >= deadline => panic!("cannot bind 127.0.0.1:{port}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Forwards connections to `port` on to `target` until aborted.
async fn forward_on(port: u16, target: u16) -> tokio::task::JoinHandle<()> {
    let listener = listener_on(port).await;
    listener.set_nonblocking(true).expect("non-blocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    actix_rt::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            actix_rt::spawn(async move {
                let outbound = tokio::net::TcpStream::connect(("127.0.0.1", target)).await;
                if let Ok(mut outbound) = outbound {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[actix_rt::test]
async fn a_cdn_that_does_not_answer_serves_the_backup_after_the_boot_timeout() {
    let fake = FakeUpstream::start();
    let dir = TempDir::new("backup-hang");
    let port = free_port();
    let cdn = format!("http://127.0.0.1:{port}/rules.json");
    let forward = forward_on(port, fake.port).await;
    let mut first = start(&fake, dir.path(), "first", &cdn, &[]);
    first.wait_ready(PATIENCE).await;
    wait_backed_up(dir.path(), "demo-v1").await;
    first.kill();
    forward.abort();

    // The CDN's address now accepts connections (the kernel does) and never answers.
    let _silent = listener_on(port).await;
    let boot = [("OFFERD_ARTIFACT__BOOT_TIMEOUT_MS", "1000".to_string())];
    let started = Instant::now();
    let mut second = start(&fake, dir.path(), "second", &cdn, &boot);
    second.wait_ready(PATIENCE).await;
    let took = started.elapsed();
    eprintln!("ready from the backup, CDN silent, boot_timeout_ms 1000: {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "served before the boot timeout: {took:?}"
    );
    let (_, status) = get_json(&second, "/v1/artifact").await;
    assert_eq!(status["loaded"]["source"], "backup", "{status}");
}

#[actix_rt::test]
async fn without_a_backup_or_with_a_damaged_one_a_start_without_the_cdn_stays_unready() {
    let fake = FakeUpstream::start();
    let proxy = TcpProxy::start(fake.port);
    proxy.cut();
    let cdn = format!("http://127.0.0.1:{}/rules.json", proxy.port);
    let boot = [("OFFERD_ARTIFACT__BOOT_TIMEOUT_MS", "300".to_string())];

    let empty = TempDir::new("no-backup");
    let started = Instant::now();
    let none = start(&fake, empty.path(), "none", &cdn, &boot);
    let damaged_dir = TempDir::new("bad-backup");
    let file = backup_file(damaged_dir.path());
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&file, b"offerd-artifact-backup 1\n{\"location\": \"torn").expect("write");
    let damaged = start(&fake, damaged_dir.path(), "damaged", &cdn, &boot);

    // Well past the boot timeout and a few failed downloads.
    let failing = eventually(PATIENCE, || async {
        none.metric("offerd_artifact_refreshes_total{result=\"failure\"}")
            .await
            >= Some(2.0)
            && damaged
                .metric("offerd_artifact_refreshes_total{result=\"failure\"}")
                .await
                >= Some(2.0)
    })
    .await;
    assert!(
        failing,
        "no failed downloads:\n{}\n{}",
        none.log(),
        damaged.log()
    );
    assert!(started.elapsed() > Duration::from_millis(300));
    for process in [&none, &damaged] {
        let (status, body) = get_json(process, "/health/ready").await;
        assert_eq!(status, 503, "{body}\n{}", process.log());
        assert!(get_json(process, "/v1/artifact").await.1["loaded"].is_null());
    }
    let log = damaged.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("artifact backup ignored"))
        .collect();
    assert_eq!(lines.len(), 1, "one line:\n{log}");
    assert!(
        lines[0].contains(&file.display().to_string()),
        "names the file: {}",
        lines[0]
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[actix_rt::test]
async fn a_kill_9_amid_artifact_swaps_leaves_one_whole_version() {
    let fake = FakeUpstream::start();
    let proxy = TcpProxy::start(fake.port);
    let cdn = format!("http://127.0.0.1:{}/rules.json", proxy.port);
    let dir = TempDir::new("backup-kill");
    let temp = backup_file(dir.path()).with_file_name("artifact.backup.tmp");
    // Large versions, so that each write lasts long enough to be caught midway.
    let padding = "x".repeat(4 << 20);
    let version = |n: usize| {
        let mut artifact = with_hero_content(&format!("version {n}"));
        artifact["meta"]["padding"] = json!(padding);
        artifact
    };
    let mut served = 0;
    for round in 0..2 {
        fake.serve_artifact(&version(served), &format!("\"v{served}\""));
        let mut process = start(&fake, dir.path(), &format!("swaps-{round}"), &cdn, &[]);
        process.wait_ready(PATIENCE).await;
        // A new version before every poll; kill -9 as soon as a write is under way
        // (or, failing to catch one, after a few swaps anyway).
        let deadline = Instant::now() + Duration::from_secs(6);
        let mut next_swap = Instant::now();
        let mut caught = false;
        while Instant::now() < deadline {
            if Instant::now() >= next_swap {
                served += 1;
                fake.serve_artifact(&version(served), &format!("\"v{served}\""));
                next_swap = Instant::now() + Duration::from_millis(400);
            }
            if served >= 2 && backup_file(dir.path()).exists() && temp.exists() {
                caught = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        process.kill();
        eprintln!("round {round}: killed after {served} versions, mid-write: {caught}");

        // Restarted with the CDN refusing: the backup is one of the versions, whole.
        proxy.cut();
        let mut check = start(&fake, dir.path(), &format!("check-{round}"), &cdn, &[]);
        check.wait_ready(PATIENCE).await;
        let (_, status) = get_json(&check, "/v1/artifact").await;
        assert_eq!(status["loaded"]["source"], "backup", "{status}");
        let etag = status["loaded"]["etag"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let n: usize = etag
            .trim_matches('"')
            .trim_start_matches('v')
            .parse()
            .expect("an ETag vN");
        assert!(n <= served, "{etag} was never served");
        assert_eq!(
            hero(&check).await,
            format!("version {n}"),
            "the content of {etag}"
        );
        assert!(check.log().contains("serving the artifact backup"));
        check.kill();
        // The next round must see its own writes' temporary file, not this one's.
        let _ = std::fs::remove_file(&temp);
        proxy.forward();
    }
}
