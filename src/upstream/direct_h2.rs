//! A lean HTTP/2 client for notification requests: one connection per Target host,
//! held by each notification lane ([`crate::notify::batcher::send`]).
//!
//! Why not reqwest, which serves every other call: a notification is one small POST,
//! sent tens of thousands of times a second, and reqwest's per-request work (its
//! middleware layers, the pool checkout, a timer and a task per request, the response
//! URL) cost ~20 µs of CPU per notification in the profile of loadtest/README.md, more
//! than the HTTP/2 framing itself. Here a request is one stream opened with the `h2`
//! crate on a connection kept open, under one timeout.
//!
//! Why `h2` and not hyper's HTTP/2 client on top of it: hyper spawns a task for every
//! request, hands the request to the connection task through a channel and the answer
//! back through another, and keeps large default windows and send buffers. With `h2` the
//! lane's call opens the stream, writes the body and reads the answer itself, and only
//! the connection task runs besides. Side by side (loadtest/README.md, 2026-12-08) the
//! CPU per request moved within the noise and peak RSS fell by a fifth.
//!
//! It serves only what it can serve exactly like reqwest would:
//! - h2c (`upstream.http2_prior_knowledge` over http), or https where the server
//!   agrees to HTTP/2 by ALPN, verified against the system trust store plus
//!   `upstream.ca_file` as reqwest does (rustls with the platform verifier);
//! - no proxy, configured or in the environment (reqwest honours `upstream.proxy`,
//!   `HTTPS_PROXY` and friends; this client does not speak to proxies): see
//!   [`Egress::proxied`].
//!
//! When a server answers https with HTTP/1.1 only, [`DirectH2::send`] says
//! [`Sent::Unsupported`] and the caller goes back to reqwest for good.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Request, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::UpstreamError;
use super::egress::Egress;

/// How a send ended.
pub enum Sent {
    /// The server answered (any status).
    Answered(StatusCode, Bytes),
    Failed(UpstreamError),
    /// The server chose HTTP/1.1 by ALPN: send through reqwest instead.
    Unsupported,
}

/// Connections to Target's hosts, opened on first use and reopened when closed.
pub struct DirectH2 {
    /// `Some` for https.
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    user_agent: HeaderValue,
    /// By URL authority (`host[:port]`). Each host's connection is opened by one caller while the
    /// others wait on its lock.
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Idle>>>>>,
}

/// An open connection: a handle to open streams on, and whether its task has ended.
#[derive(Clone)]
struct Connection {
    streams: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// A connection and when a request last started on it.
struct Idle {
    connection: Connection,
    used: Instant,
}

/// A connection idle this long is not reused: a NAT or balancer on the way may have
/// forgotten it without a word (reqwest's pool uses the same bound, `pool_idle_timeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A ping this often, answered within [`PING_TIMEOUT`], proves the connection alive;
/// else it closes and the next request opens another.
const PING_INTERVAL: Duration = Duration::from_secs(20);
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// The answers' receive window for the whole connection: hundreds of streams may be
/// answered before their calls read the answers (h2's default is 64 KiB).
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// How much of an answer is kept: a 2xx is not read further, and a failure's body is
/// cut to 512 characters in its error anyway.
const ANSWER_KEPT: usize = 4096;

impl DirectH2 {
    /// The client for these settings, or `None` when it cannot serve them exactly
    /// as reqwest would (HTTP/1.1 over http, or a proxy); it trusts `egress`'s roots.
    pub fn for_settings(
        secure: bool,
        http2_prior_knowledge: bool,
        connect_timeout: Duration,
        egress: &Egress,
    ) -> Option<Self> {
        if egress.proxied() || (!secure && !http2_prior_knowledge) {
            return None;
        }
        let tls = match secure {
            true => match tls_connector(egress.roots.clone()) {
                Ok(tls) => Some(tls),
                Err(error) => {
                    tracing::warn!(%error, "notifications go through the general HTTP client");
                    return None;
                }
            },
            false => None,
        };
        Some(Self {
            tls,
            connect_timeout,
            user_agent: HeaderValue::from_static(concat!("offerd/", env!("CARGO_PKG_VERSION"))),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// POSTs `body` as JSON to `address` (an absolute URL) and reads the answer, all
    /// within `timeout`.
    pub async fn send(&self, address: &str, body: Bytes, timeout: Duration) -> Sent {
        match tokio::time::timeout(timeout, self.exchange(address, body)).await {
            Ok(sent) => sent,
            Err(_) => Sent::Failed(UpstreamError::Timeout(timeout.as_millis() as u64)),
        }
    }

    async fn exchange(&self, address: &str, body: Bytes) -> Sent {
        let bad = |why: &dyn std::fmt::Display| {
            Sent::Failed(UpstreamError::Other(format!(
                "bad Delivery API URL {address}: {why}"
            )))
        };
        let uri = match address.parse::<Uri>() {
            Ok(uri) => uri,
            Err(e) => return bad(&e),
        };
        let (Some(authority), Some(host)) = (uri.authority(), uri.host()) else {
            return bad(&"no host");
        };
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let connection = match self.connection(authority.as_str(), host, port).await {
            Ok(connection) => connection,
            Err(sent) => return sent,
        };
        let request = Request::post(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(CONTENT_LENGTH, body.len())
            .header(USER_AGENT, self.user_agent.clone())
            .body(());
        let request = match request {
            Ok(request) => request,
            Err(e) => return Sent::Failed(UpstreamError::Other(e.to_string())),
        };
        match post(connection.streams, request, body).await {
            Ok((status, answer)) => Sent::Answered(status, answer),
            Err(e) => Sent::Failed(transport(e)),
        }
    }

    /// The open connection to `host:port` (`authority` in the URL), opening one if there
    /// is none or it closed.
    async fn connection(&self, authority: &str, host: &str, port: u16) -> Result<Connection, Sent> {
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            // Looked up without a new key: this runs for every notification.
            match hosts.get(authority) {
                Some(slot) => slot.clone(),
                None => hosts.entry(authority.to_owned()).or_default().clone(),
            }
        };
        let mut slot = slot.lock().await;
        let now = Instant::now();
        if let Some(open) = slot.as_mut().filter(|idle| {
            !idle.connection.closed.load(Ordering::Acquire)
                && now.duration_since(idle.used) < IDLE_TIMEOUT
        }) {
            open.used = now;
            return Ok(open.connection.clone());
        }
        // Dropping the old handle lets its connection close once its last stream ends.
        *slot = None;
        // Boxed: opening (TCP, TLS, the handshake) is rare, and its future, rustls's
        // connection state among it, would otherwise make every send's future several KiB
        // that each notification's task copies around (memmove showed in the lanes' profile).
        let opening = Box::pin(self.open(host, port));
        let opened = tokio::time::timeout(self.connect_timeout, opening)
            .await
            .unwrap_or_else(|_| {
                let ms = self.connect_timeout.as_millis() as u64;
                Err(Sent::Failed(UpstreamError::Timeout(ms)))
            })?;
        *slot = Some(Idle {
            connection: opened.clone(),
            used: now,
        });
        Ok(opened)
    }

    async fn open(&self, host: &str, port: u16) -> Result<Connection, Sent> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| Sent::Failed(UpstreamError::Connect(format!("{host}:{port}: {e}"))))?;
        // Small requests, many in flight: send each frame at once.
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return handshake(tcp).await;
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| Sent::Failed(UpstreamError::Other(format!("bad host {host}: {e}"))))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| Sent::Failed(UpstreamError::Connect(format!("TLS with {host}: {e}"))))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Sent::Unsupported);
        }
        handshake(stream).await
    }
}

/// One POST on its own stream: the headers and the whole body in one go, then the
/// status and the first [`ANSWER_KEPT`] bytes of the answer, read to its end so the
/// stream closes cleanly and its window returns to the connection.
async fn post(
    streams: SendRequest<Bytes>,
    request: Request<()>,
    body: Bytes,
) -> Result<(StatusCode, Bytes), h2::Error> {
    // `ready` waits while the server's stream limit is reached.
    let mut streams = streams.ready().await?;
    let (response, mut upload) = streams.send_request(request, false)?;
    // Within the stream's first window (64 KiB), so written without waiting for
    // capacity; h2 holds it until the connection's window allows.
    upload.send_data(body, true)?;
    let response = response.await?;
    let status = response.status();
    let mut answer_stream = response.into_body();
    let mut answer = BytesMut::new();
    while let Some(chunk) = answer_stream.data().await {
        let chunk = chunk?;
        let _ = answer_stream.flow_control().release_capacity(chunk.len());
        let room = ANSWER_KEPT.saturating_sub(answer.len());
        answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((status, answer.freeze()))
}

/// The HTTP/2 handshake on `io`; the connection is driven by a task of the current
/// runtime (the lane's), which also pings it, and ends when it closes or when its
/// last handle and stream are gone.
async fn handshake<T>(io: T) -> Result<Connection, Sent>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (streams, mut connection) = h2::client::Builder::new()
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| Sent::Failed(transport(e)))?;
    let closed = Arc::new(AtomicBool::new(false));
    let pings = connection.ping_pong();
    let on_close = closed.clone();
    tokio::spawn(async move {
        drive(connection, pings).await;
        on_close.store(true, Ordering::Release);
    });
    Ok(Connection { streams, closed })
}

/// Runs `connection` until it closes, or until a ping goes unanswered for
/// [`PING_TIMEOUT`] (then the connection is dropped, which closes its socket and fails
/// its open streams, so their calls are retried on a new one).
async fn drive<T>(mut connection: h2::client::Connection<T, Bytes>, pings: Option<h2::PingPong>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let Some(mut pings) = pings else {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "notification connection closed");
        }
        return;
    };
    loop {
        tokio::select! {
            ended = &mut connection => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "notification connection closed");
                }
                return;
            }
            () = tokio::time::sleep(PING_INTERVAL) => {}
        }
        let pong = tokio::time::timeout(PING_TIMEOUT, pings.ping(h2::Ping::opaque()));
        tokio::select! {
            ended = &mut connection => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "notification connection closed");
                }
                return;
            }
            answered = pong => if !matches!(answered, Ok(Ok(_))) {
                tracing::debug!("notification connection closed: no answer to a ping");
                return;
            }
        }
    }
}

/// Resets, closed connections and protocol errors may all succeed on a new
/// connection, as with reqwest ([`super::delivery`]'s `classify`).
fn transport(error: h2::Error) -> UpstreamError {
    UpstreamError::Connect(super::error_chain(&error))
}

/// TLS as reqwest sets it up: the process's rustls provider (else aws-lc-rs), the
/// platform's trust store (plus `extra_roots`), and ALPN offering HTTP/2 then HTTP/1.1.
fn tls_connector(
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = match extra_roots.is_empty() {
        true => rustls_platform_verifier::Verifier::new(provider.clone()),
        false => {
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
        }
    }
    .map_err(|e| e.to_string())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::convert::Infallible;

    use http::Response;
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::net::TcpListener;

    use super::*;

    /// A TLS server on `127.0.0.1:0` for `localhost`, with a certificate of its own,
    /// that offers `alpn` and answers every HTTP/2 request `200 {}`.
    async fn tls_server(alpn: &[u8]) -> (u16, CertificateDer<'static>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let port = serve_tls(vec![cert.clone()], PrivateKeyDer::Pkcs8(key), alpn).await;
        (port, cert)
    }

    /// A TLS server on `127.0.0.1:0` presenting `chain` (for `localhost`), offering
    /// `alpn`, answering every HTTP/2 request `200 {}`; its port. The egress tests
    /// serve a private CA's certificate with it.
    pub(crate) async fn serve_tls(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        alpn: &[u8],
    ) -> u16 {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![alpn.to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let answer = hyper::service::service_fn(|_| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), answer),
                );
            }
        });
        port
    }

    fn client(roots: Vec<CertificateDer<'static>>) -> DirectH2 {
        DirectH2 {
            tls: Some(tls_connector(roots).unwrap()),
            connect_timeout: Duration::from_secs(2),
            user_agent: HeaderValue::from_static("offerd/test"),
            hosts: Mutex::default(),
        }
    }

    fn url(port: u16) -> String {
        format!("https://localhost:{port}/rest/v1/delivery?client=a")
    }

    #[tokio::test]
    async fn https_with_http2_by_alpn_is_served_on_one_verified_connection() {
        let (port, cert) = tls_server(b"h2").await;
        let direct = client(vec![cert]);
        for _ in 0..3 {
            match direct
                .send(
                    &url(port),
                    Bytes::from_static(b"{}"),
                    Duration::from_secs(2),
                )
                .await
            {
                Sent::Answered(status, body) => {
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(&body[..], b"{}");
                }
                Sent::Failed(error) => panic!("{error}"),
                Sent::Unsupported => panic!("unsupported"),
            }
        }
        assert_eq!(direct.hosts.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_certificate_outside_the_trust_store_is_refused() {
        let (port, _) = tls_server(b"h2").await;
        let direct = client(Vec::new());
        match direct
            .send(&url(port), Bytes::new(), Duration::from_secs(2))
            .await
        {
            Sent::Failed(UpstreamError::Connect(message)) => {
                assert!(message.contains("TLS"), "{message}")
            }
            _ => panic!("an unknown issuer was trusted"),
        }
    }

    #[tokio::test]
    async fn a_server_that_chooses_http_1_1_is_left_to_the_general_client() {
        let (port, cert) = tls_server(b"http/1.1").await;
        let direct = client(vec![cert]);
        let sent = direct
            .send(&url(port), Bytes::new(), Duration::from_secs(2))
            .await;
        assert!(matches!(sent, Sent::Unsupported));
    }
}
