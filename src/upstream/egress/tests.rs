use std::time::Duration;

use bytes::Bytes;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;
use crate::upstream::direct_h2::tests::serve_tls;
use crate::upstream::direct_h2::{DirectH2, Sent};

/// A private CA, as a company runs one, and a certificate it issued for `localhost`.
struct TestPki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    TestPki {
        ca_pem: ca.pem(),
        leaf: leaf.der().clone(),
        leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
    }
}

/// A TLS server on `127.0.0.1:0` with the CA's certificate for `localhost`, offering
/// HTTP/2 by ALPN and answering every request `200 {}`.
async fn tls_server(pki: &TestPki) -> u16 {
    serve_tls(vec![pki.leaf.clone()], pki.leaf_key.clone_key(), b"h2").await
}

/// `[upstream]` with `ca_file` set to a file holding `pem`.
fn upstream_with_ca(pem: &str, name: &str) -> UpstreamConfig {
    let path = std::env::temp_dir().join(format!("offerd-{}-{name}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    UpstreamConfig {
        ca_file: Some(path),
        ..UpstreamConfig::default()
    }
}

fn url(port: u16) -> String {
    format!("https://localhost:{port}/rest/v1/delivery")
}

async fn reqwest_reaches(egress: &Egress, port: u16) -> Result<u16, String> {
    let client = egress.client_builder().unwrap().no_proxy().build().unwrap();
    let answer = client.post(url(port)).body("{}").send().await;
    answer
        .map(|a| a.status().as_u16())
        .map_err(|e| crate::upstream::error_chain(&e))
}

async fn lean_client_reaches(egress: &Egress, port: u16) -> Result<u16, String> {
    let direct = DirectH2::for_settings(true, false, Duration::from_secs(2), egress)
        .expect("no proxy: the lean client serves https");
    let sent = direct
        .send(
            &url(port),
            Bytes::from_static(b"{}"),
            Duration::from_secs(2),
        )
        .await;
    match sent {
        Sent::Answered(status, _) => Ok(status.as_u16()),
        Sent::Failed(error) => Err(error.to_string()),
        Sent::Unsupported => Err("unsupported".into()),
    }
}

#[tokio::test]
async fn both_clients_trust_the_ca_file_and_only_with_it() {
    let pki = test_pki();
    let port = tls_server(&pki).await;
    let trusting = Egress::from_config(&upstream_with_ca(&pki.ca_pem, "trust")).unwrap();
    assert_eq!(trusting.roots.len(), 1);
    let system_only = Egress::default();

    assert_eq!(reqwest_reaches(&trusting, port).await, Ok(200));
    assert_eq!(lean_client_reaches(&trusting, port).await, Ok(200));
    let refused = reqwest_reaches(&system_only, port).await.unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");
    let refused = lean_client_reaches(&system_only, port).await.unwrap_err();
    assert!(
        refused.contains("TLS") || refused.contains("certificate"),
        "{refused}"
    );
}

#[test]
fn a_bundle_of_several_certificates_is_read_whole() {
    let (one, two) = (test_pki(), test_pki());
    let bundle = format!("{}\n{}", one.ca_pem, two.ca_pem);
    let egress = Egress::from_config(&upstream_with_ca(&bundle, "bundle")).unwrap();
    assert_eq!(egress.roots.len(), 2);
}

#[test]
fn a_missing_or_empty_ca_file_is_a_config_error_naming_the_key() {
    let missing = UpstreamConfig {
        ca_file: Some("/nonexistent/offerd-ca.pem".into()),
        ..UpstreamConfig::default()
    };
    let error = Egress::from_config(&missing).unwrap_err().to_string();
    assert!(error.contains("upstream.ca_file") && error.contains("/nonexistent/offerd-ca.pem"));
    let empty = upstream_with_ca("not a certificate\n", "empty");
    let error = Egress::from_config(&empty).unwrap_err().to_string();
    assert!(
        error.contains("upstream.ca_file") && error.contains("no PEM certificate"),
        "{error}"
    );
}

#[test]
fn a_configured_proxy_sets_the_lean_client_aside() {
    let egress = Egress {
        roots: Vec::new(),
        proxy: Some("http://127.0.0.1:3128".into()),
    };
    assert!(egress.proxied());
    assert!(DirectH2::for_settings(true, false, Duration::from_secs(1), &egress).is_none());
    assert!(egress.client_builder().is_ok());
}
