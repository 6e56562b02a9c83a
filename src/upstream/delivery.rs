//! STUB — replaced by the Delivery API client (see the helper brief).
use std::sync::Arc;
use std::time::Duration;

use super::UpstreamError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::{DeliveryRequest, DeliveryResponse};

/// Where and how to call Target's Delivery API.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub client: String,
    pub organization_id: String,
    pub server_domain: Option<String>,
    pub secure: bool,
    pub port: Option<u16>,
    pub pin_server_domain: bool,
    pub timeout: Duration,
}

impl DeliverySettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            client: config.target.client.clone(),
            organization_id: config.target.organization_id.clone(),
            server_domain: config
                .upstream
                .server_domain
                .clone()
                .filter(|s| !s.is_empty()),
            secure: config.upstream.secure,
            port: config.upstream.port,
            pin_server_domain: config.upstream.pin_server_domain,
            timeout: config.upstream_timeout(),
        }
    }
}

/// Client of `POST /rest/v1/delivery`.
pub struct DeliveryClient {
    pub settings: DeliverySettings,
    pub metrics: Arc<Metrics>,
}

impl DeliveryClient {
    pub fn new(settings: DeliverySettings, metrics: Arc<Metrics>) -> Result<Self, UpstreamError> {
        Ok(Self { settings, metrics })
    }

    pub async fn deliver(
        &self,
        _request: &DeliveryRequest,
        _session_id: &str,
        _cluster: Option<&str>,
        _purpose: &'static str,
    ) -> Result<DeliveryResponse, UpstreamError> {
        Err(UpstreamError::Other("not implemented".into()))
    }
}
