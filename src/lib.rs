//! offerd: an Adobe Target–compatible decisioning service.
//!
//! - [`model`]: the Delivery API types (camelCase on the wire).
//! - [`engine`]: the pure on-device decisioning engine: artifact in, decisions out, no I/O.
//! - [`conformance`]: Adobe's conformance suite runner (used by tests and the CLI).

pub mod actors;
pub mod client;
pub mod config;
pub mod conformance;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod model;
pub mod store;
pub mod telemetry_buffer;
pub mod upstream;
