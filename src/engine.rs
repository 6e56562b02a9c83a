//! The pure on-device decisioning engine: a compiled artifact and a Delivery API
//! request in, the decision and the notifications it owes out. No I/O: the clock,
//! geo and id generation are inputs, so every behaviour is testable.
//!
//! - [`artifact`] / [`compiled`]: load and compile the rules artifact.
//! - [`decide`]: the decision (`decide.rs`), with its context, allocation,
//!   post-processing and trace helpers.
//! - [`telemetry`]: the telemetry entries of a decision and of an artifact download.
//!
//! The SDK's get_offers contract around a decision (options, cookies, visitor ids, the
//! `TargetDeliveryResponse`) is the client layer's: [`crate::client`].

pub mod address;
pub mod allocation;
pub mod artifact;
pub mod compiled;
mod context;
mod decide;
pub mod dependency;
mod json_logic;
pub mod obfuscation;
mod postprocess;
pub mod telemetry;
mod trace;
pub mod user_agent;

pub use artifact::{Artifact, ArtifactError, ArtifactFormat};
pub use compiled::{ArtifactProvenance, CompiledArtifact};
pub use decide::decide;
pub use dependency::{RemoteDependency, remote_dependency};

use crate::model::{DeliveryRequest, DeliveryResponse, Notification};

/// Makes the unique ids a decision needs (request, visitor, notification ids).
pub trait IdGenerator: Send + Sync {
    fn next_id(&self) -> String;
}

/// Random v4 UUIDs without dashes, like the SDKs' ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn next_id(&self) -> String {
        // The thread-local CSPRNG (seeded from the OS once) instead of a getrandom
        // syscall per id: a decision makes several ids, and the syscall showed in
        // profiles of the engine benchmark.
        let bytes: [u8; 16] = rand::random();
        let mut text = uuid::Uuid::encode_buffer();
        // Encoded straight into a buffer: `to_string` goes through `fmt`, at twice the cost.
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .simple()
            .encode_lower(&mut text)
            .to_owned()
    }
}

/// Everything one decision reads besides the artifact.
pub struct DecisionInput<'a> {
    /// The request, already completed (visitor id, request id, geo) by
    /// [`crate::sdk::prepare`].
    pub request: &'a DeliveryRequest,
    /// Target client code.
    pub client: &'a str,
    /// The visitor's session, shown in traces.
    pub session_id: Option<&'a str>,
    /// "Now", epoch milliseconds UTC.
    pub now_ms: i64,
    pub ids: &'a dyn IdGenerator,
}

/// Whether `condition` (JsonLogic, as in an artifact's rules) holds for `data`, evaluated
/// as a rule's condition is; an error says why it cannot be compiled. The decision
/// explorer ([`crate::explorer`]) shows each clause of a rule matched or failed with it.
pub fn condition_holds(
    condition: &serde_json::Value,
    data: &serde_json::Value,
) -> Result<bool, String> {
    let compiled = json_logic::Condition::compile(condition)?;
    Ok(compiled.holds(data, &bumpalo::Bump::new()))
}

/// A decision: the Delivery API response (status 206 when part of the request needs
/// Target's edge), what needs the edge, and the display notifications owed.
#[derive(Debug, Clone)]
pub struct Decision {
    pub response: DeliveryResponse,
    pub remote: RemoteDependency,
    pub notifications: Vec<Notification>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_distinct_v4_uuids_without_dashes() {
        let (a, b) = (RandomIds.next_id(), RandomIds.next_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
            assert_eq!(&id[12..13], "4", "version 4: {id}");
        }
    }
}
