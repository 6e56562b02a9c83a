//! `offerd health` and `offerd ready`: ask a running offerd over HTTP whether it is
//! live or ready. For container health checks and Kubernetes exec probes, where there
//! may be no shell and no curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long a probe may take in all.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// GETs `path` from the offerd listening on `bind` (with `token` as a bearer token);
/// an unspecified address (`0.0.0.0`, `[::]`) is asked on loopback. Ok on a 200; the
/// reason otherwise.
pub fn probe(bind: SocketAddr, path: &str, token: Option<&str>) -> Result<(), String> {
    let target = loopback_if_unspecified(bind);
    let url = format!("http://{target}{path}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(PROBE_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!("answered {status}: {body}"))
        }
    })
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(loopback_if_unspecified(v4).to_string(), "127.0.0.1:8080");
        let v6: SocketAddr = "[::]:9000".parse().unwrap();
        assert_eq!(loopback_if_unspecified(v6).to_string(), "[::1]:9000");
        let given: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert_eq!(loopback_if_unspecified(given), given);
    }

    #[test]
    fn nothing_listening_is_an_error() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        assert!(probe(addr, "/health/live", None).is_err());
    }
}
