//! The DecisionActor pool: `SyncArbiter` threads that run the pure engine, so
//! CPU-bound decisions never block the HTTP workers' event loops.
//!
//! Owns nothing but a thread. [`DecisionPool`] (held by the client) sends [`Decide`]
//! with the artifact to use — actors never hold artifacts, so a refresh needs no
//! message to reach them. A `SyncArbiter` mailbox is unbounded, so the pool sits behind
//! a semaphore: when every permit is taken, [`DecisionPool::decide`] fails at once with
//! [`PoolError::Overloaded`] instead of queueing. The actors stop with the System.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;

use crate::engine::{Decision, DecisionInput, RandomIds, decide};
use crate::model::DeliveryRequest;
use crate::store::LoadedArtifact;

/// Decide one prepared request against `artifact`.
#[derive(Message)]
#[rtype(result = "Decided")]
pub struct Decide {
    pub artifact: Arc<LoadedArtifact>,
    pub request: DeliveryRequest,
    pub client: Arc<str>,
    pub session_id: String,
    pub now_ms: i64,
}

/// The request, handed back, and its decision.
pub struct Decided {
    pub request: DeliveryRequest,
    pub decision: Decision,
}

/// A thread of the pool.
pub struct DecisionActor;

impl Actor for DecisionActor {
    type Context = SyncContext<Self>;
}

impl Handler<Decide> for DecisionActor {
    type Result = MessageResult<Decide>;

    fn handle(&mut self, msg: Decide, _ctx: &mut SyncContext<Self>) -> Self::Result {
        let input = DecisionInput {
            request: &msg.request,
            client: &msg.client,
            session_id: Some(&msg.session_id),
            now_ms: msg.now_ms,
            ids: &RandomIds,
        };
        let decision = decide(&msg.artifact.compiled, &input);
        MessageResult(Decided {
            request: msg.request,
            decision,
        })
    }
}

/// Why the pool did not decide.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    #[error("all decision actors are busy")]
    Overloaded,
    #[error("the decision pool is stopped")]
    Stopped,
}

/// The pool's address behind its admission gate.
#[derive(Clone)]
pub struct DecisionPool {
    addr: Addr<DecisionActor>,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
}

impl DecisionPool {
    /// Starts `actors` threads admitting at most `max_in_flight` decisions at once.
    pub fn start(actors: usize, max_in_flight: usize) -> Self {
        Self {
            addr: SyncArbiter::start(actors.max(1), || DecisionActor),
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// Decides, or fails at once when the pool is full.
    pub async fn decide(&self, msg: Decide) -> Result<Decided, PoolError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| PoolError::Overloaded)?;
        self.addr.send(msg).await.map_err(|_| PoolError::Stopped)
    }

    /// Waits until no decision is in flight (for shutdown), then closes the gate.
    pub async fn drain(&self) {
        let n = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        if let Ok(all) = self.permits.acquire_many(n).await {
            all.forget();
        }
        self.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Artifact, ArtifactProvenance, CompiledArtifact};
    use std::time::SystemTime;

    fn demo() -> Arc<LoadedArtifact> {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/demo-artifact.json"
        ))
        .unwrap();
        let artifact = Artifact::from_json(&bytes).unwrap();
        Arc::new(LoadedArtifact {
            compiled: CompiledArtifact::compile(artifact, ArtifactProvenance::default()).unwrap(),
            etag: None,
            fetched_at: SystemTime::now(),
            source: "test".into(),
        })
    }

    fn decide_msg(artifact: Arc<LoadedArtifact>) -> Decide {
        let request = serde_json::from_value(serde_json::json!({
            "id": {"tntId": "abc.35_0"},
            "execute": {"mboxes": [{"name": "hero-banner", "index": 1}]}
        }))
        .unwrap();
        Decide {
            artifact,
            request,
            client: Arc::from("demo"),
            session_id: "s".into(),
            now_ms: 0,
        }
    }

    #[actix_rt::test]
    async fn the_pool_decides() {
        let pool = DecisionPool::start(2, 4);
        let decided = pool.decide(decide_msg(demo())).await.unwrap();
        let mboxes = decided.decision.response.execute.unwrap().mboxes.unwrap();
        assert_eq!(mboxes[0].name.as_deref(), Some("hero-banner"));
        assert_eq!(decided.decision.notifications.len(), 1);
    }

    #[actix_rt::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = DecisionPool::start(1, 1);
        let held = pool.permits.clone().try_acquire_owned().unwrap();
        assert!(matches!(
            pool.decide(decide_msg(demo())).await,
            Err(PoolError::Overloaded)
        ));
        drop(held);
        assert!(pool.decide(decide_msg(demo())).await.is_ok());
    }
}
