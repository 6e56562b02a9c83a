//! STUB — replaced by the geo client (see the helper brief).
use std::sync::Arc;

use super::UpstreamError;
use crate::config::GeoConfig;
use crate::metrics::Metrics;
use crate::model::Geo;

/// Looks up an IP's location at Target's geo endpoint, cached.
pub struct GeoClient {
    pub metrics: Arc<Metrics>,
}

impl GeoClient {
    pub fn new(_config: &GeoConfig, metrics: Arc<Metrics>) -> Result<Self, UpstreamError> {
        Ok(Self { metrics })
    }

    /// `ip = None` asks for the caller's own address.
    pub async fn lookup(&self, _ip: Option<&str>) -> Result<Geo, UpstreamError> {
        Err(UpstreamError::Other("not implemented".into()))
    }
}
