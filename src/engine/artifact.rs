//! The rules artifact as Target publishes it (`rules.json` / obfuscated `rules.bin`),
//! and loading it with typed errors.
//!
//! The refresher and the conformance runner load artifacts here; [`super::compiled`]
//! turns a loaded [`Artifact`] into the form the engine decides from.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::obfuscation::{self, ObfuscationError};
use crate::model::{Metric, OfferOption};

/// The artifact major version this engine understands.
pub const SUPPORTED_MAJOR_VERSION: u64 = 1;

/// The global mbox name when the artifact does not name one.
pub const DEFAULT_GLOBAL_MBOX: &str = "target-global-mbox";

/// Why an artifact could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact is not valid JSON or does not match the artifact schema: {0}")]
    InvalidJson(#[from] serde_json::Error),
    #[error(
        "artifact version {found:?} is not supported (this offerd reads major version {SUPPORTED_MAJOR_VERSION})"
    )]
    UnsupportedVersion { found: String },
    #[error("obfuscated artifact (rules.bin): {0}")]
    Obfuscation(#[from] ObfuscationError),
    #[error("rule {rule_key:?} of {location}: condition cannot be compiled: {reason}")]
    InvalidCondition {
        location: String,
        rule_key: String,
        reason: String,
    },
}

/// The artifact's encoding on the wire or on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactFormat {
    /// Plain `rules.json`.
    Json,
    /// Obfuscated `rules.bin`, keyed by the organization id.
    Binary,
}

impl ArtifactFormat {
    /// Guesses the format from a file name or URL, as the SDKs do (`*.bin` is binary).
    pub fn from_location(location: &str) -> Self {
        let path = location.split(['?', '#']).next().unwrap_or(location);
        if path.to_ascii_lowercase().ends_with(".bin") {
            Self::Binary
        } else {
            Self::Json
        }
    }
}

/// A decisioning artifact: activities compiled by Target into rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub version: String,
    #[serde(default)]
    pub meta: Map<String, Value>,
    pub global_mbox: Option<String>,
    #[serde(default)]
    pub geo_targeting_enabled: bool,
    #[serde(default)]
    pub response_tokens: Vec<String>,
    #[serde(default)]
    pub remote_mboxes: Vec<String>,
    #[serde(default)]
    pub remote_views: Vec<String>,
    #[serde(default)]
    pub local_mboxes: Vec<String>,
    #[serde(default)]
    pub local_views: Vec<String>,
    #[serde(default)]
    pub rules: Rules,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Rules by mbox name and by view name, in artifact order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rules {
    #[serde(default)]
    pub mboxes: IndexMap<String, Vec<Rule>>,
    #[serde(default)]
    pub views: IndexMap<String, Vec<Rule>>,
}

/// One experience of one activity: when `condition` holds, `consequence` is the offer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub rule_key: Option<String>,
    pub activity_id: Option<Value>,
    #[serde(default)]
    pub meta: Map<String, Value>,
    #[serde(default)]
    pub condition: Value,
    pub consequence: Consequence,
    #[serde(default)]
    pub property_tokens: Vec<String>,
}

/// What a matching rule returns for its mbox or view.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Consequence {
    pub name: Option<String>,
    #[serde(default)]
    pub options: Vec<OfferOption>,
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

impl Artifact {
    /// Parses a JSON artifact and checks its version.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ArtifactError> {
        let artifact: Artifact = serde_json::from_slice(bytes)?;
        artifact.check_version()?;
        Ok(artifact)
    }

    /// Parses an artifact already held as a JSON value.
    pub fn from_value(value: Value) -> Result<Self, ArtifactError> {
        let artifact: Artifact = serde_json::from_value(value)?;
        artifact.check_version()?;
        Ok(artifact)
    }

    /// Decodes an obfuscated `rules.bin` with the organization id, then parses it.
    pub fn from_obfuscated(bytes: &[u8], organization_id: &str) -> Result<Self, ArtifactError> {
        let json = obfuscation::deobfuscate(bytes, organization_id)?;
        Self::from_json(&json)
    }

    /// Loads bytes in the given format.
    pub fn load(
        bytes: &[u8],
        format: ArtifactFormat,
        organization_id: &str,
    ) -> Result<Self, ArtifactError> {
        match format {
            ArtifactFormat::Json => Self::from_json(bytes),
            ArtifactFormat::Binary => Self::from_obfuscated(bytes, organization_id),
        }
    }

    /// The global mbox name: the artifact's, or Target's default.
    pub fn global_mbox(&self) -> &str {
        self.global_mbox.as_deref().unwrap_or(DEFAULT_GLOBAL_MBOX)
    }

    fn check_version(&self) -> Result<(), ArtifactError> {
        let major = self
            .version
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u64>().ok());
        if major == Some(SUPPORTED_MAJOR_VERSION) {
            Ok(())
        } else {
            Err(ArtifactError::UnsupportedVersion {
                found: self.version.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::shared::REAL_ARTIFACT_ORG as ORG;

    #[test]
    fn the_real_rules_bin_decodes_to_exactly_rules_json() {
        let bin = testkit::shared::file("real-artifact/rules.bin");
        let json = testkit::shared::file("real-artifact/rules.json");
        let decoded = obfuscation::deobfuscate(&bin, ORG).unwrap();
        let decoded: Value = serde_json::from_slice(&decoded).unwrap();
        let expected: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(decoded, expected);
        let artifact = Artifact::load(&bin, ArtifactFormat::Binary, ORG).unwrap();
        assert_eq!(artifact.global_mbox(), "target-global-mbox");
        assert!(!artifact.rules.mboxes.is_empty());
    }

    #[test]
    fn bad_artifacts_fail_with_typed_errors() {
        let unsupported = br#"{"version": "99.0.0", "rules": {}}"#;
        assert!(matches!(
            Artifact::from_json(unsupported),
            Err(ArtifactError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            Artifact::from_json(b"{nope"),
            Err(ArtifactError::InvalidJson(_))
        ));
        assert!(matches!(
            Artifact::from_json(br#"{"version": "1.0.0", "rules": {"mboxes": {"m": [{"x": 1}]}}}"#),
            Err(ArtifactError::InvalidJson(_))
        ));
        let bin = testkit::shared::file("real-artifact/rules.bin");
        assert!(matches!(
            Artifact::from_obfuscated(&bin, "wrong@AdobeOrg"),
            Err(ArtifactError::Obfuscation(_))
        ));
        assert!(Artifact::from_obfuscated(&bin[..20], ORG).is_err());
    }

    #[test]
    fn format_follows_the_file_name() {
        assert_eq!(
            ArtifactFormat::from_location("https://x/v1/rules.bin"),
            ArtifactFormat::Binary
        );
        assert_eq!(
            ArtifactFormat::from_location("rules.BIN?x=1"),
            ArtifactFormat::Binary
        );
        assert_eq!(
            ArtifactFormat::from_location("rules.json"),
            ArtifactFormat::Json
        );
    }
}
