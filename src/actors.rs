//! The actors: who owns what and who talks to whom.
//!
//! - [`supervisor::Supervisor`] starts the spool writer, the batcher and the refresher,
//!   restarts the batcher and the refresher if they die, and owns the shutdown order.
//! - [`refresher::ArtifactRefresher`] polls the artifact and publishes it to the
//!   [`crate::store::ArtifactStore`].
//! - [`decision::DecisionActor`]s, one on each HTTP worker's arbiter behind a shared
//!   admission gate, run the pure engine.
//!
//! The Batcher and the SpoolWriter belong to the notification pipeline, [`crate::notify`].

pub mod decision;
pub mod refresher;
pub mod supervisor;
