//! offerd: an Adobe Target–compatible decisioning service.
//!
//! ```text
//!   HTTP (src/http: parse, validate, reply)
//!      |  get_offers / send_notifications / get_attributes
//!      v
//!   TargetClient (src/client.rs) ── library API, usable without HTTP
//!      |                 |                         |
//!      | Decide          | server-side / hybrid    | Enqueue (owed notifications)
//!      v                 v                         v
//!   DecisionPool      DeliveryClient ──────────> Batcher ── merges per visitor+session,
//!   (SyncArbiter of   (src/upstream)              retries, drains on shutdown ──> Target
//!    DecisionActors,
//!    semaphore gate)       Supervisor ── starts & restarts ──> ArtifactRefresher
//!      |                                                        | polls file / CDN / inline,
//!      | reads Arc<LoadedArtifact>                              | ETag, rules.bin, compiles
//!      +──────────────────── ArtifactStore (ArcSwap) <──────────+ publishes
//! ```
//!
//! - [`engine`]: the pure on-device decisioning engine — artifact in, decisions out, no
//!   I/O (clock, geo and ids are inputs).
//! - [`model`]: the Delivery API types (camelCase on the wire, unknown fields kept).
//! - [`actors`]: Supervisor, ArtifactRefresher, DecisionActor pool, Batcher.
//! - [`client`]: `TargetClient`, what the Target SDKs offer.
//! - [`http`]: the actix-web adapter over the client.
//! - [`upstream`]: Delivery API, artifact and geo clients.
//! - [`store`], [`telemetry_buffer`], [`metrics`], [`config`]: shared state and settings.
//! - [`conformance`]: Adobe's conformance suite runner (tests and `offerd conformance`).

pub mod actors;
pub mod client;
pub mod config;
pub mod conformance;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod model;
pub mod owed;
pub mod spool;
pub mod store;
pub mod telemetry_buffer;
pub mod upstream;
