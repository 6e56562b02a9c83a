//! `kill -9` of the real binary under load, and a restart on the same spool: every
//! execute answered 200 before the kill has its notification delivered after it.

use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::{Arrivals, RECOVERY, attempted_and_failed, numbered_execute};
use crate::common::{FakeUpstream, OfferdProcess, TempDir, eventually};

/// Executes sent at once to the child, for new visitors and sessions.
const CONCURRENCY: usize = 16;

/// What the load before a `kill -9` achieved.
struct Killed {
    /// Sessions whose execute was answered 200: owed.
    answered: Vec<String>,
    /// Sessions whose answer the kill cut off: owed or not, unknown.
    cut_off: Vec<String>,
}

/// Drives executes `CONCURRENCY` at a time until `answered` of them are answered 200
/// and the fake has failed a notification request (so the child is retrying), then
/// kills the child with the others still in flight.
async fn load_then_kill(child: &mut OfferdProcess, answered: usize, fake: &FakeUpstream) -> Killed {
    let caller = child.caller();
    let send = |i: usize| {
        let caller = caller.clone();
        async move {
            let (body, session) = numbered_execute("kill", i);
            (session, caller.post_json("/v1/offers", &body).await)
        }
    };
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0;
    let mut killed = Killed {
        answered: Vec::new(),
        cut_off: Vec::new(),
    };
    let deadline = Instant::now() + RECOVERY;
    while killed.answered.len() < answered || !attempted_and_failed(fake) {
        assert!(
            Instant::now() < deadline,
            "no failed send within {RECOVERY:?}"
        );
        while in_flight.len() < CONCURRENCY {
            in_flight.push(send(next));
            next += 1;
        }
        let (session, result) = in_flight.next().await.expect("requests in flight");
        match result {
            Ok((200, _)) => killed.answered.push(session),
            other => panic!(
                "execute {session} before the kill: {other:?}\n{}",
                child.log()
            ),
        }
    }
    child.kill();
    while let Some((session, result)) = in_flight.next().await {
        match result {
            Ok((200, _)) => killed.answered.push(session),
            Ok(other) => panic!("execute {session} answered {other:?}"),
            Err(_) => killed.cut_off.push(session),
        }
    }
    killed
}

#[actix_rt::test]
async fn kill_9_under_load_then_restart_on_the_same_spool_loses_nothing() {
    let work = TempDir::new("kill-9");
    let fake = FakeUpstream::start();
    fake.set_delivery_status(503);
    let env = [
        (
            "OFFERD_SPOOL__DIR",
            work.path().join("spool").display().to_string(),
        ),
        ("OFFERD_BATCHER__RETRY_BASE_MS", "50".to_string()),
        ("OFFERD_BATCHER__RETRY_MAX_MS", "1000".to_string()),
    ];
    let mut first = OfferdProcess::start(&fake, work.path(), "first", &env);
    first.wait_ready(RECOVERY).await;

    let killed = load_then_kill(&mut first, 500, &fake).await;
    assert_eq!(Arrivals::of(&fake).distinct(), 0, "sent before the kill");
    fake.set_delivery_status(200);
    let mut second = OfferdProcess::start(&fake, work.path(), "second", &env);
    second.wait_ready(RECOVERY).await;

    let owed = &killed.answered;
    let all = eventually(RECOVERY, || async {
        Arrivals::of(&fake).missing(owed).is_empty()
    })
    .await;
    let arrived = Arrivals::of(&fake);
    let missing = arrived.missing(owed);
    assert!(
        all,
        "{} of {} owed notifications never arrived after the restart, e.g. {:?}\n{}",
        missing.len(),
        owed.len(),
        &missing[..missing.len().min(5)],
        second.log()
    );
    let cut_off_arrived = killed.cut_off.len() - arrived.missing(&killed.cut_off).len();
    eprintln!(
        "kill -9: {} answered 200 before it, {} cut off ({} of those arrived); \
         {} distinct ids arrived, {} duplicates",
        owed.len(),
        killed.cut_off.len(),
        cut_off_arrived,
        arrived.distinct(),
        arrived.duplicates()
    );
    assert_eq!(
        arrived.distinct(),
        owed.len() + cut_off_arrived,
        "one notification per execute"
    );
    let emptied = eventually(RECOVERY, || async {
        second.metric("offerd_spool_records").await == Some(0.0)
    })
    .await;
    assert!(emptied, "the replayed spool was not emptied");
    let dropped = second.metric_total("offerd_notifications_dropped_total");
    assert_eq!(dropped.await, Some(0.0), "{}", second.log());
    second.kill();
}
