//! A company's egress, played on loopback for the egress test: a private CA made at
//! test time ([`TestCa`], rcgen), a TLS front for the fake Target holding a certificate
//! it issued for `localhost` ([`TlsFront`]), and an HTTP CONNECT proxy that counts the
//! tunnels it opened ([`ConnectProxy`]).

use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A private CA and the certificate it issued for `localhost`.
pub struct TestCa {
    /// The CA's certificate, PEM: what `upstream.ca_file` names.
    pub pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
}

impl TestCa {
    pub fn new() -> Self {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let ca = CertifiedIssuer::self_signed(ca, key).expect("a CA certificate");
        let leaf_key = KeyPair::generate().expect("a server key");
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .expect("server parameters")
            .signed_by(&leaf_key, &ca)
            .expect("a server certificate");
        Self {
            pem: ca.pem(),
            leaf: leaf.der().clone(),
            leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        }
    }
}

/// TLS on `127.0.0.1:0` (HTTP/1.1 by ALPN, the CA's certificate for `localhost`),
/// forwarding the plaintext to the fake Target's port. Stopped when dropped.
pub struct TlsFront {
    pub port: u16,
    accept: JoinHandle<()>,
}

impl TlsFront {
    pub async fn start(ca: &TestCa, target_port: u16) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(ca.leaf_key.clone_key());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![ca.leaf.clone()], key)
            .expect("a server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the front");
        let port = listener.local_addr().expect("bound address").port();
        let accept = actix_rt::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                actix_rt::spawn(async move {
                    let (Ok(mut tls), Ok(mut plain)) = (
                        acceptor.accept(tcp).await,
                        TcpStream::connect(("127.0.0.1", target_port)).await,
                    ) else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Self { port, accept }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// An HTTP proxy on `127.0.0.1:0` that serves only CONNECT, as egress proxies in front
/// of https do, and records each tunnel's `host:port`. Stopped when dropped.
pub struct ConnectProxy {
    pub port: u16,
    tunnels: Arc<Mutex<Vec<String>>>,
    accept: JoinHandle<()>,
}

impl ConnectProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("bound address").port();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        let accept = actix_rt::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                actix_rt::spawn(tunnel(tcp, seen.clone()));
            }
        });
        Self {
            port,
            tunnels,
            accept,
        }
    }

    /// The `host:port` of every CONNECT, in order.
    pub fn tunnels(&self) -> Vec<String> {
        self.tunnels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Reads `CONNECT host:port HTTP/1.1` and its headers, dials the host, answers 200
/// and copies bytes both ways; anything else is answered 405.
async fn tunnel(tcp: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut client = BufReader::new(tcp);
    let mut line = String::new();
    if client.read_line(&mut line).await.is_err() {
        return;
    }
    let mut words = line.split_whitespace();
    let (Some("CONNECT"), Some(authority)) = (words.next(), words.next()) else {
        let _ = client
            .get_mut()
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let authority = authority.to_string();
    loop {
        let mut header = String::new();
        match client.read_line(&mut header).await {
            Ok(0) | Err(_) => return,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(authority.clone());
    let Ok(mut upstream) = TcpStream::connect(authority.replace("localhost", "127.0.0.1")).await
    else {
        let _ = client
            .get_mut()
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    if client
        .get_mut()
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
