//! A rolling deploy by bare SIGTERM (`server.drain_delay_secs`): readiness answers 503
//! at once, offerd keeps serving through the delay with `Connection: close` on every
//! answer (kept-alive and new connections alike), then stops accepting and exits
//! within the one shutdown grace, having delivered every notification it owed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::{FakeUpstream, OfferdProcess, PATIENCE, TempDir, eventually, execute_for};

/// One decision on `http` (kept-alive): its status and `Connection` header.
async fn decide(http: &reqwest::Client, base: &str, n: usize) -> Result<(u16, String), String> {
    let body = execute_for(
        &format!("rolling-{n}.35_0"),
        &format!("rolling-session-{n}"),
    );
    let answer = http
        .post(format!("{base}/v1/offers"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let connection = answer
        .headers()
        .get("connection")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok((answer.status().as_u16(), connection))
}

#[actix_rt::test]
async fn on_sigterm_readiness_fails_at_once_and_answers_close_connections_until_the_delay_ends() {
    let fake = FakeUpstream::start();
    let dir = TempDir::new("drain");
    let env = [
        ("OFFERD_SERVER__DRAIN_DELAY_SECS", "2".to_string()),
        ("OFFERD_SERVER__SHUTDOWN_GRACE_SECS", "10".to_string()),
        ("OFFERD_BATCHER__LINGER_MS", "50".to_string()),
    ];
    let mut offerd = OfferdProcess::start(&fake, dir.path(), "drain", &env);
    offerd.wait_ready(PATIENCE).await;
    let base = offerd.base_url.clone();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .expect("a client");
    let probe = reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .expect("a client");

    let mut decided = 0;
    let (status, connection) = decide(&http, &base, decided).await.expect("served");
    decided += 1;
    assert_eq!(
        (status, connection.as_str()),
        (200, ""),
        "kept alive before"
    );

    offerd.terminate();
    let signalled = Instant::now();
    let unready = eventually(Duration::from_secs(1), || async {
        let ready = probe.get(format!("{base}/health/ready")).send().await;
        ready.is_ok_and(|r| r.status() == 503)
    })
    .await;
    assert!(unready, "readiness did not fail at once:\n{}", offerd.log());
    eprintln!("readiness 503 after SIGTERM: {:?}", signalled.elapsed());

    // Through the delay: every request served, every answer closing its connection.
    while signalled.elapsed() < Duration::from_millis(1500) {
        let answer = decide(&http, &base, decided).await;
        assert_eq!(
            answer,
            Ok((200, "close".to_string())),
            "request {decided} during the drain:\n{}",
            offerd.log()
        );
        decided += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let exited = offerd.wait_exit(PATIENCE).await;
    let took = signalled.elapsed();
    assert!(
        exited.is_some_and(|s| s.success()),
        "{exited:?}:\n{}",
        offerd.log()
    );
    assert!(
        took >= Duration::from_secs(2),
        "stopped before the delay: {took:?}"
    );
    eprintln!("{decided} decisions, exit {took:?} after SIGTERM (drain_delay_secs 2)");

    // Nothing owed was lost: one display notification per decision reached Target.
    let ids: HashSet<String> = fake.accepted_notification_ids().into_iter().collect();
    assert_eq!(
        ids.len(),
        decided,
        "notifications owed {decided}, received {}",
        ids.len()
    );
}

/// HAProxy from the system (Debian package `haproxy`); None when it is not installed,
/// which fails the test under `CI=true` (.ci/run installs it).
fn haproxy() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        let mut dirs = std::env::split_paths(&paths).collect::<Vec<_>>();
        dirs.push("/usr/sbin".into());
        dirs.into_iter()
            .map(|d| d.join("haproxy"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "haproxy is not installed (apt-get install haproxy); CI=true forbids skipping"
        );
        eprintln!("skipped: haproxy is not installed (apt-get install haproxy)");
    }
    found
}

/// An L7 balancer in front of `replicas`, health-checking `/health/ready` every
/// 200 ms (out after 2 failures, a check may take 1 s: the test shares 2 cores with
/// debug builds), HTTP keep-alive on both sides; HAProxy's defaults otherwise (a
/// failed connection is retried, nothing else is).
fn haproxy_config(port: u16, replicas: &[u16]) -> String {
    let mut cfg = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n\
         \x20 timeout check 1s\n\
         \x20 option http-keep-alive\n\
         frontend offerd\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /health/ready\n\
         \x20 http-check expect status 200\n"
    );
    for (i, replica) in replicas.iter().enumerate() {
        cfg.push_str(&format!(
            "  server r{i} 127.0.0.1:{replica} check inter 200ms fall 2 rise 2\n"
        ));
    }
    cfg
}

#[actix_rt::test]
async fn a_rolling_restart_by_bare_sigterm_behind_haproxy_fails_no_request() {
    let Some(haproxy) = haproxy() else { return };
    let fake = FakeUpstream::start();
    let dir = TempDir::new("rolling");
    let env = [
        ("OFFERD_SERVER__DRAIN_DELAY_SECS", "2".to_string()),
        ("OFFERD_SERVER__SHUTDOWN_GRACE_SECS", "10".to_string()),
        ("OFFERD_BATCHER__LINGER_MS", "50".to_string()),
    ];
    let ports: Vec<u16> = (0..3)
        .map(|_| crate::common::process::free_port())
        .collect();
    let mut replicas: Vec<OfferdProcess> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut replica = OfferdProcess::start_on(*port, &fake, dir.path(), &format!("r{i}"), &env);
        replica.wait_ready(PATIENCE).await;
        replicas.push(replica);
    }
    let front = crate::common::process::free_port();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(front, &ports)).expect("write haproxy.cfg");
    let mut balancer = std::process::Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("haproxy.log")).expect("log"))
        .spawn()
        .expect("start haproxy");
    let base = format!("http://127.0.0.1:{front}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .expect("a client");
    let up = eventually(PATIENCE, || async {
        http.get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "haproxy never answered");

    // Keep-alive load: 4 callers, each on its own kept-alive connection to HAProxy.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..4 {
        let (stop, base) = (stop.clone(), base.clone());
        callers.push(actix_rt::spawn(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(PATIENCE)
                .build()
                .expect("a client");
            let (mut ok, mut failed) = (0usize, Vec::new());
            let mut n = caller * 1_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match decide(&http, &base, n).await {
                    Ok((200, _)) => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ok, failed)
        }));
    }

    // The rolling restart: each replica by bare SIGTERM, replaced on its port.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..replicas.len() {
        replicas[i].terminate();
        let exited = replicas[i].wait_exit(PATIENCE).await;
        assert!(
            exited.is_some_and(|s| s.success()),
            "r{i}: {exited:?}\n{}",
            replicas[i].log()
        );
        let mut next =
            OfferdProcess::start_on(ports[i], &fake, dir.path(), &format!("r{i}-next"), &env);
        next.wait_ready(PATIENCE).await;
        replicas[i] = next;
        // Back in the balancer (rise 2 x 200 ms) before the next one goes.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for caller in callers {
        let (o, f) = caller.await.expect("a caller");
        ok += o;
        failed.extend(f);
    }
    for replica in &mut replicas {
        replica.terminate();
    }
    for replica in &mut replicas {
        let exited = replica.wait_exit(PATIENCE).await;
        assert!(
            exited.is_some_and(|s| s.success()),
            "{exited:?}\n{}",
            replica.log()
        );
    }
    let _ = balancer.kill();
    let _ = balancer.wait();

    let ids: HashSet<String> = fake.accepted_notification_ids().into_iter().collect();
    eprintln!(
        "rolling restart of 3 behind HAProxy: {ok} requests served, {} failed; notifications owed {ok}, received {}",
        failed.len(),
        ids.len()
    );
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 100, "too little load to show anything: {ok}");
    assert_eq!(
        ids.len(),
        ok,
        "notifications owed {ok}, received {}",
        ids.len()
    );
}
