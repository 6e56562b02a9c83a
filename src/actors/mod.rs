//! The actors: who owns what and who talks to whom.
//!
//! - [`supervisor::Supervisor`] starts the spool writer, the batcher and the refresher,
//!   restarts the batcher and the refresher if they die, and owns the shutdown order.
//! - [`refresher::ArtifactRefresher`] polls the artifact and publishes it to the
//!   [`crate::store::ArtifactStore`].
//! - [`decision::DecisionActor`]s, one on each HTTP worker's arbiter behind a shared
//!   admission gate, run the pure engine.
//! - [`batcher::Batcher`] merges notifications and telemetry and sends them to Target.
//! - [`spool_writer`] writes the notification spool with group commit (a thread, not
//!   an actix actor: see its docs).

pub mod batcher;
pub mod decision;
pub mod refresher;
pub mod spool_writer;
pub mod supervisor;
