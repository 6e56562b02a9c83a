//! A full disk under the spool: the real binary on a 1 MiB tmpfs (mounted by the test,
//! which needs root: CI runs as root, and under `CI=true` it never skips), with
//! `spool.max_bytes` far above the volume and Target in an outage. Nothing owed is lost
//! without being counted, the log stays at a few lines a second, and after the outage
//! the spool drains to empty.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{FakeUpstream, OfferdProcess, TempDir, eventually, execute_for};

/// A tmpfs of `size` at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None when mounting is not allowed here (not root, no CAP_SYS_ADMIN).
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `offerd_notifications_dropped_total` by reason, as `reason=count` pairs.
fn dropped_by_reason(metrics: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("offerd_notifications_dropped_total{reason=\""))
        .filter_map(|rest| {
            let (reason, value) = rest.split_once("\"} ")?;
            Some((reason.to_owned(), value.trim().parse().ok()?))
        })
        .filter(|(_, n)| *n > 0.0)
        .collect()
}

#[actix_rt::test]
async fn a_full_volume_under_the_spool_counts_what_it_refuses_and_drains_after_the_outage() {
    let dir = TempDir::new("full-disk");
    let spool = dir.path().join("spool");
    let Some(_tmpfs) = Tmpfs::mount(&spool, "1m") else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "cannot mount a tmpfs (root needed); CI=true forbids skipping"
        );
        eprintln!("skipped: cannot mount a tmpfs here (root needed)");
        return;
    };
    let fake = FakeUpstream::start();
    fake.set_delivery_status(503);
    let env = [
        ("OFFERD_SPOOL__DIR", spool.display().to_string()),
        ("OFFERD_BATCHER__RETRY_BASE_MS", "50".to_string()),
        ("OFFERD_BATCHER__RETRY_MAX_MS", "200".to_string()),
        ("OFFERD_BATCHER__LINGER_MS", "20".to_string()),
        // No backup on this tiny volume: only the spool competes for it.
        ("OFFERD_ARTIFACT__BACKUP_DIR", String::new()),
    ];
    let mut offerd = OfferdProcess::start(&fake, dir.path(), "full", &env);
    offerd.wait_ready(Duration::from_secs(10)).await;
    let caller = offerd.caller();

    // The outage: decisions until the volume has refused for a while.
    let started = Instant::now();
    // A call whose notifications are refused still gets its decision (200).
    let (mut served, mut refused, mut errors) = (0usize, 0usize, Vec::new());
    let mut n = 0;
    // Until the volume has refused for a second (at most 60 s: the machine is shared).
    let mut full_since: Option<Instant> = None;
    while full_since.is_none_or(|t| t.elapsed() < Duration::from_secs(1))
        && started.elapsed() < Duration::from_secs(60)
    {
        if full_since.is_none() {
            let metrics = caller.metrics().await.unwrap_or_default();
            if dropped_by_reason(&metrics)
                .iter()
                .any(|(r, _)| r == "spool_full")
            {
                full_since = Some(Instant::now());
            }
        }
        let mut batch = Vec::new();
        for _ in 0..8 {
            let caller = caller.clone();
            let body = execute_for(&format!("full-{n}.35_0"), &format!("full-session-{n}"));
            n += 1;
            batch.push(actix_rt::spawn(async move {
                caller.post_json("/v1/offers", &body).await
            }));
        }
        for call in batch {
            match call.await.expect("a call") {
                Ok((200, _)) => served += 1,
                Ok((503, _)) => refused += 1,
                other => errors.push(format!("{other:?}")),
            }
        }
    }
    let outage = started.elapsed();
    let metrics = caller.metrics().await.expect("metrics");
    let during = dropped_by_reason(&metrics);
    let log = offerd.log();
    let loud = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .count();
    eprintln!(
        "outage {outage:?}: {served} served, {refused} refused (503), dropped {during:?}, {loud} WARN/ERROR lines"
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        during.iter().any(|(r, _)| r == "spool_full"),
        "the volume filled, and its refusals were counted as spool_full: {during:?}\n{log}"
    );
    let per_second = loud as f64 / outage.as_secs_f64();
    assert!(per_second < 5.0, "{loud} warnings in {outage:?}:\n{log}");

    // Target is back: the spool drains to empty, and the books balance.
    fake.set_delivery_status(200);
    let drained = eventually(Duration::from_secs(30), || async {
        offerd.metric("offerd_spool_records").await == Some(0.0)
    })
    .await;
    let metrics = caller.metrics().await.expect("metrics");
    let value = |series: &str| crate::common::metric_value(&metrics, series).unwrap_or(0.0);
    let owed = value("offerd_notifications_owed_total");
    let sent = value("offerd_notifications_sent_total");
    let dropped: f64 = dropped_by_reason(&metrics).iter().map(|(_, n)| n).sum();
    eprintln!(
        "after the outage: owed {owed}, sent {sent}, dropped {dropped} {:?}, spooled {}",
        dropped_by_reason(&metrics),
        value("offerd_spool_records")
    );
    assert!(drained, "the spool did not drain:\n{}", offerd.log());
    assert_eq!(
        owed,
        sent + dropped,
        "every owed notification sent or counted as dropped"
    );
    assert!(!offerd.log().contains("panicked"));
}
