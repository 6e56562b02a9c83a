//! The Target SDKs' get_offers contract around a decision, pure (no I/O, no actors, no
//! state): what a caller may ask ([`options`]), what a request must hold ([`validate`]),
//! how a request is completed before the engine decides ([`prepare`]: ids, cookies,
//! geo), the decision on-device ([`on_device`]) and the SDK's answer ([`response`],
//! [`cookies`]).
//!
//! It sits below the actors and the client: a DecisionActor runs [`on_device::decide_and_answer`],
//! and [`crate::client`] drives the rest with I/O around it.

pub mod cookies;
pub mod on_device;
pub mod options;
pub mod prepare;
pub mod response;
pub mod validate;
