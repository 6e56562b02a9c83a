//! How offerd's calls leave for Target through a company's network: the extra CA
//! certificates it trusts (`upstream.ca_file`) and the proxy it goes through
//! (`upstream.proxy`, else the `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`
//! variables, which reqwest reads). Every client of [`super`] is built from one
//! [`Egress`]: the Delivery API and notification clients, the artifact fetcher, the
//! geo client, and the lean HTTP/2 client of notifications, which takes the roots and
//! steps aside when a proxy is set ([`Egress::proxied`]).

use rustls::pki_types::CertificateDer;

use super::UpstreamError;
use crate::config::{ConfigError, UpstreamConfig};

/// The environment variables through which reqwest finds a proxy.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Trust and proxy of every call to Target. The default trusts the system's store
/// only and lets the environment choose the proxy.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    /// Trusted on top of the system's store (`upstream.ca_file`).
    pub roots: Vec<CertificateDer<'static>>,
    /// The proxy of every call (`upstream.proxy`), instead of the environment's.
    pub proxy: Option<String>,
}

impl Egress {
    /// The egress `[upstream]` configures; fails as the config check does.
    pub fn from_config(upstream: &UpstreamConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            roots: upstream.ca_roots()?,
            proxy: upstream.proxy.clone().filter(|p| !p.is_empty()),
        })
    }

    /// A reqwest builder that trusts [`Self::roots`] and goes through [`Self::proxy`]
    /// (with `NO_PROXY` honoured), or else through the environment's proxy.
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, UpstreamError> {
        let mut builder = reqwest::Client::builder();
        if !self.roots.is_empty() {
            let roots = self
                .roots
                .iter()
                .map(|der| reqwest::Certificate::from_der(der));
            let roots = roots
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| UpstreamError::Other(format!("upstream.ca_file: {e}")))?;
            builder = builder.tls_certs_merge(roots);
        }
        if let Some(proxy) = &self.proxy {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| UpstreamError::Other(format!("upstream.proxy: {e}")))?
                .no_proxy(reqwest::NoProxy::from_env());
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }

    /// True when calls go through a proxy, configured or in the environment: the lean
    /// HTTP/2 client does not speak to proxies, so it steps aside for reqwest.
    pub fn proxied(&self) -> bool {
        self.proxy.is_some()
            || PROXY_VARIABLES
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()))
    }
}

#[cfg(test)]
mod tests;
