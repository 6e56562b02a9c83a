//! Black-box tests of the offerd service: the real HTTP server on 127.0.0.1:0, talking
//! to a fake Adobe Target (artifact CDN, Delivery API, geo) from `tests/common`.
//!
//! One test binary (one link) with a module per theme:
//! - `api`: `/v1/offers` on-device, the option names in both spellings, input errors,
//!   the Delivery API endpoint, attributes and metrics;
//! - `delivery_api`: `/rest/v1/delivery` as Target's Delivery API (its checks, error
//!   shape, beacons, notification answers);
//! - `notifications`: what reaches Target's notification endpoint — merged per visitor
//!   and session, none for prefetch, telemetry, retries and refusals, the shutdown drain;
//! - `remote`: server-side and hybrid decisioning, the learned edge cluster, geo;
//! - `artifact`: liveness and readiness, refreshes, 304s and bad downloads;
//! - `backup`: the last good artifact on disk: a start without the CDN serves it, a
//!   damaged one is ignored, a `kill -9` amid swaps leaves one whole version;
//! - `durability`: nothing owed is lost across outages (503s, resets), `kill -9` of the
//!   binary, a Batcher panic, a backlog larger than memory; what cannot be kept is
//!   refused and counted;
//! - `rolling`: a bare SIGTERM drains (`server.drain_delay_secs`): readiness 503 at
//!   once, answers with `Connection: close`, then the exit, nothing owed lost;
//! - `full_disk`: the spool on a 1 MiB tmpfs through an outage: refusals counted, the
//!   log quiet, the spool drained afterwards (needs root to mount; CI runs as root);
//! - `operations`: started as a container or pod would start it: empty directory,
//!   service-link variables, `OFFERD_CONFIG`, JSON logs, `offerd health`/`ready`, exit 64;
//! - `openapi`: `/openapi.json` against the routes served, per listener and token;
//! - `explorer`: the decision explorer: where it is served, its CSP, and tried
//!   requests deciding as `/v1/offers` while owing and counting nothing;
//! - `ofrep`: OpenFeature's OFREP endpoints against `/v1/attributes` for the same visitor;
//! - `monitoring`: every metric the alert rules and the Grafana dashboard name is served;
//! - `otel`: OpenTelemetry traces of the real binary at an OTLP receiver: a caller's
//!   traceparent continued through the decision into Target, no visitor data in them;
//! - `egress`: the real binary reaches a Target behind a private CA through a CONNECT
//!   proxy (`upstream.ca_file`, `HTTPS_PROXY`).

#[path = "../common/mod.rs"]
mod common;

mod api;
mod artifact;
mod backup;
mod delivery_api;
mod durability;
mod egress;
mod explorer;
mod full_disk;
mod monitoring;
mod notifications;
mod ofrep;
mod openapi;
mod operations;
mod otel;
mod remote;
mod rolling;
