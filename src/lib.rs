//! offerd: an Adobe Target–compatible decisioning service.
//!
//! ```text
//!   HTTP (src/http: parse, validate, reply)
//!      |  get_offers / send_notifications / get_attributes
//!      v
//!   TargetClient (src/client) ── library API, usable without HTTP
//!      |                 |                      | owed notifications (awaited: on disk
//!      | Decide          | server-side / hybrid |  before the answer leaves)
//!      v                 v                      v
//!   Decisions gate    DeliveryClient       SpoolWriter ── group commit ──> spool (SQLite)
//!   (a DecisionActor  (src/upstream)            | Committed records          ^ read back:
//!    on each HTTP           ^                   v                            | replay, backlog
//!    worker's arbiter)      └──────────────── Batcher ── merges per visitor+session, adaptive
//!      |                      notifications     |       concurrency, retries by age; its calls
//!      |                                        |       run on the Senders' lanes ──> Target
//!      |                                        └── acknowledges (deletes) what Target took
//!      |                   Supervisor ── starts & restarts ──> Batcher, ArtifactRefresher
//!      | reads Arc<LoadedArtifact>                              | polls file / CDN / inline,
//!      +──────────────────── ArtifactStore (ArcSwap) <──────────+ ETag, rules.bin, compiles
//! ```
//!
//! Without `spool.dir` the client hands owed notifications straight to the Batcher
//! (`Enqueue`), memory only. The whole notification pipeline lives in [`notify`], whose
//! docs draw it: owe -> spool -> batch -> send -> acknowledge.
//!
//! - [`engine`]: the pure on-device decisioning engine — artifact in, decisions out, no
//!   I/O (clock, geo and ids are inputs).
//! - [`model`]: the Delivery API types (camelCase on the wire, unknown fields kept).
//! - [`actors`]: Supervisor, ArtifactRefresher, DecisionActors.
//! - [`notify`]: the notification pipeline, owe -> spool -> batch -> send -> acknowledge:
//!   owed notifications as bytes, the durable spool, the Batcher and its senders.
//! - [`sdk`]: the SDK's get_offers contract around a decision (options, validation,
//!   request completion, cookies, the answer), pure.
//! - [`client`]: `TargetClient`, what the Target SDKs offer, driving the actors and the
//!   upstreams around [`sdk`].
//! - [`http`]: the actix-web adapter over the client; its route table is the OpenAPI
//!   document (`http/openapi.rs`, served at `/openapi.json`).
//! - [`upstream`]: Delivery API, artifact and geo clients.
//! - [`ofrep`]: OpenFeature's Remote Evaluation Protocol over get_attributes, pure: the
//!   evaluation context as a request, flag keys as mboxes and attributes, the answers.
//! - [`otel`]: OpenTelemetry traces (OTLP), off unless `otel.endpoint` is set: the
//!   server span per request, the decision, each call to Target, `traceparent` in and out.
//! - [`store`], [`metrics`], [`config`]: shared state and settings.
//! - [`artifact_backup`]: the last good artifact on disk, written by the refresher
//!   after each download and served at a start while the CDN is unreachable.
//! - [`explorer`]: the decision explorer's pure part (artifact -> what the page shows,
//!   audiences as text, a tried request explained from its trace); `http::explorer`
//!   serves it at `/explorer`.
//! - [`conformance`]: Adobe's conformance suite runner (tests and `offerd conformance`).
//!
//! Layers, highest first; a module uses only the layers below its own
//! (`tests/layers.rs` checks every `crate::` path against this table):
//!
//! ```text
//!   http, conformance
//!   ofrep
//!   client
//!   actors
//!   notify, artifact_backup, explorer
//!   sdk, store, upstream
//!   engine, otel
//!   config
//!   model, metrics, logging, warn_every, clock
//! ```

pub mod actors;
pub mod artifact_backup;
pub mod client;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod engine;
pub mod explorer;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod ofrep;
pub mod otel;
pub mod sdk;
pub mod store;
pub mod upstream;
pub mod warn_every;
