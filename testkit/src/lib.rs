//! What offerd's tests share, and only its tests (a dev-dependency, never in the
//! binary): [`shared`] finds the reference material beside the repository, and
//! [`eventually`] waits for a condition.

use std::future::Future;
use std::time::{Duration, Instant};

pub mod shared;

/// Polls `condition` every 20 ms until it holds (true) or `timeout` has passed
/// (false, after a last look).
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`eventually`] for a condition that needs no await.
pub async fn eventually_sync(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    eventually(timeout, || std::future::ready(condition())).await
}
