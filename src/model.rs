//! The Target Delivery API data model (shared/delivery-api), camelCase on the wire.
//!
//! The engine reads these types, the HTTP layer parses them and the upstream client
//! forwards them. Every request-side object keeps the fields it does not model in an
//! `extra` map (flattened: `additionalProperties` in the OpenAPI schemas, which
//! `#[derive(ToSchema)]` makes from these types), so a request forwarded to Target's
//! Delivery API loses nothing. Request objects are parsed by [`open_object`]'s
//! visitors rather than serde's flatten, which parses every value twice.

mod common;
mod open_object;
mod request;
mod response;

pub use common::*;
pub use request::*;
pub use response::*;
