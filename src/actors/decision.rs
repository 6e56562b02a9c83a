//! DecisionActors: one on each HTTP worker's own arbiter, started there on its first
//! decision, which run the pure on-device get_offers step ([`on_device::decide_and_answer`]: the
//! engine's decision and the SDK's answer). A decision is then a message to an actor on the
//! same thread: no thread hop, no wake-up of another core. (A `SyncArbiter` pool, the
//! first design, cost two cross-thread wake-ups per decision. Side by side, the pool,
//! these actors and a plain inline call were measured; the actors answered 11-54 % more
//! requests per second than the pool and no fewer than inline: loadtest/README.md.)
//!
//! Decisions are CPU-bound and short (microseconds), so running them on the worker that
//! parsed the request is the worker doing its job; `server.workers` sizes both.
//!
//! [`Decisions`] (held by the client) sends [`Decide`] with the artifact to use — actors
//! never hold artifacts, so a refresh needs no message to reach them — behind an
//! admission gate: when `decision.max_in_flight` decisions are queued or running,
//! [`Decisions::decide`] fails at once with [`DecideError::Overloaded`] instead of
//! queueing. An actor that panicked is replaced on that worker's next decision. Outside
//! an actix arbiter (a library caller's own thread) the engine runs inline.

use std::cell::RefCell;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;

use crate::engine::RandomIds;
use crate::sdk::on_device::{self, OnDevice};
use crate::sdk::prepare::PreparedRequest;
use crate::store::LoadedArtifact;

/// Decide one prepared request against `artifact`, on-device.
#[derive(Message)]
#[rtype(result = "OnDevice")]
pub struct Decide {
    pub artifact: Arc<LoadedArtifact>,
    pub prepared: PreparedRequest,
    /// The Target client code (`target.client`).
    pub client_code: Arc<str>,
    pub now_ms: i64,
}

/// The decision actor of one HTTP worker.
pub struct DecisionActor;

impl Actor for DecisionActor {
    type Context = Context<Self>;
}

impl Handler<Decide> for DecisionActor {
    type Result = MessageResult<Decide>;

    fn handle(&mut self, msg: Decide, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(run(msg))
    }
}

fn run(msg: Decide) -> OnDevice {
    on_device::decide_and_answer(
        &msg.artifact.compiled,
        msg.prepared,
        &msg.client_code,
        msg.now_ms,
        &RandomIds,
    )
}

thread_local! {
    /// This worker's actor, once it has decided something.
    static WORKER_ACTOR: RefCell<Option<Addr<DecisionActor>>> = const { RefCell::new(None) };
}

/// This thread's actor, started (or restarted, after a panic closed it) on demand; `None`
/// outside an actix arbiter.
fn worker_actor() -> Option<Addr<DecisionActor>> {
    actix_rt::Arbiter::try_current()?;
    WORKER_ACTOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some(addr) if addr.connected() => Some(addr.clone()),
            _ => {
                let addr = DecisionActor.start();
                *slot = Some(addr.clone());
                Some(addr)
            }
        }
    })
}

/// Why no decision was made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DecideError {
    #[error("too many decisions in flight")]
    Overloaded,
    #[error("decisions are stopped")]
    Stopped,
}

/// The way to the decision actors, behind the admission gate.
#[derive(Clone)]
pub struct Decisions {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
}

impl Decisions {
    /// Admits at most `max_in_flight` decisions at once.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// Decides on this worker's actor, or fails at once when the gate is full.
    pub async fn run_on_this_worker(&self, msg: Decide) -> Result<OnDevice, DecideError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| DecideError::Overloaded)?;
        match worker_actor() {
            // A panic in the engine closes the actor's mailbox: this call fails, the
            // next one on this worker gets a new actor.
            Some(actor) => actor.send(msg).await.map_err(|_| DecideError::Stopped),
            None => Ok(run(msg)),
        }
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
            compiled: Arc::new(
                CompiledArtifact::compile(artifact, ArtifactProvenance::default()).unwrap(),
            ),
            etag: None,
            fetched_at: SystemTime::now(),
            source: "test".into(),
            from_backup: false,
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
            prepared: PreparedRequest {
                request,
                session_id: "s".into(),
                cluster: None,
            },
            client_code: Arc::from("demo"),
            now_ms: 0,
        }
    }

    fn hero_banner(decided: &OnDevice) -> Option<&str> {
        let execute = decided.response.response.execute.as_ref()?;
        execute.mboxes.as_ref()?.first()?.name.as_deref()
    }

    #[actix_rt::test]
    async fn the_workers_actor_decides() {
        let decisions = Decisions::new(4);
        let decided = decisions
            .run_on_this_worker(decide_msg(demo()))
            .await
            .unwrap();
        assert_eq!(hero_banner(&decided), Some("hero-banner"));
        assert_eq!(decided.notifications.len(), 1);
    }

    #[test]
    fn outside_an_arbiter_the_engine_runs_inline() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let decisions = Decisions::new(4);
        let decided = runtime
            .block_on(decisions.run_on_this_worker(decide_msg(demo())))
            .unwrap();
        assert_eq!(hero_banner(&decided), Some("hero-banner"));
    }

    #[actix_rt::test]
    async fn a_full_gate_refuses_at_once() {
        let decisions = Decisions::new(1);
        let held = decisions.permits.clone().try_acquire_owned().unwrap();
        assert!(matches!(
            decisions.run_on_this_worker(decide_msg(demo())).await,
            Err(DecideError::Overloaded)
        ));
        drop(held);
        assert!(
            decisions
                .run_on_this_worker(decide_msg(demo()))
                .await
                .is_ok()
        );
    }

    #[actix_rt::test]
    async fn a_stopped_actor_is_replaced_on_the_next_decision() {
        let decisions = Decisions::new(4);
        decisions
            .run_on_this_worker(decide_msg(demo()))
            .await
            .unwrap();
        let first = worker_actor().unwrap();
        // What a panic in a handler does to the actor: its context stops.
        first.do_send(StopForTest);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!first.connected());

        let decided = decisions
            .run_on_this_worker(decide_msg(demo()))
            .await
            .unwrap();

        assert_eq!(hero_banner(&decided), Some("hero-banner"));
        assert!(worker_actor().unwrap().connected());
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct StopForTest;

    impl Handler<StopForTest> for DecisionActor {
        type Result = ();

        fn handle(&mut self, _: StopForTest, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }
}
