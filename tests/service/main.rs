//! Black-box tests of the offerd service: the real HTTP server on 127.0.0.1:0, talking
//! to a fake Adobe Target (artifact CDN, Delivery API, geo) from `tests/common`.
//!
//! One test binary (one link) with a module per theme:
//! - `api`: health, `/v1/offers` on-device, input errors, the Delivery API endpoint,
//!   attributes and metrics;
//! - `notifications`: what reaches Target's notification endpoint, batching and the
//!   shutdown drain;
//! - `remote`: server-side and hybrid decisioning, and geo lookups;
//! - `artifact`: readiness, refreshes, 304s and bad downloads.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod artifact;
mod notifications;
mod remote;
