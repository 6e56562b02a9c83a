//! Client of Target's Delivery API, `POST /rest/v1/delivery`.
//!
//! One [`DeliveryClient`] is shared (`Arc`) by everything that calls Target: the
//! decision path for server-side and hybrid requests and the batcher for
//! notifications. It holds one `reqwest::Client`, so connections are pooled and reused.
//! Host choice follows the Node SDK's `getTargetHost` (see [`DeliveryClient::url`]).
//! Every call is counted in `upstream_requests{purpose, result}`; failures come back
//! typed as [`UpstreamError`] and are logged by the caller, who handles them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounter};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::Instrument;
use url::form_urlencoded;

use super::UpstreamError;
use super::direct_h2::{DirectH2, Sent};
use super::egress::Egress;
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::model::{DeliveryRequest, DeliveryResponse};
use crate::otel;

/// Target's edge domain: `<client>.tt.omtrdc.net` and `mboxedge<cluster>.tt.omtrdc.net`.
const TARGET_DOMAIN: &str = "tt.omtrdc.net";
/// An upstream error body is kept (in errors and logs) up to this many characters.
const MAX_ERROR_BODY_CHARS: usize = 512;

/// Where and how to call Target's Delivery API.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Target client code (`client=` query parameter, default host prefix).
    pub client: String,
    /// IMS organization id (`imsOrgId=` query parameter).
    pub organization_id: String,
    /// Host to call when no edge cluster is known (or always, when pinned).
    pub server_domain: Option<String>,
    /// https (true) or http (false).
    pub secure: bool,
    /// Port appended to the host, when not the scheme's default.
    pub port: Option<u16>,
    /// Always call `server_domain`, even when an edge cluster is known.
    pub pin_server_domain: bool,
    /// Whole-call timeout of a decision: connect, send and read the answer.
    pub timeout: Duration,
    /// Whole-call timeout of a notification request (longer: a notification that
    /// times out is sent again, and Target may have counted the first one).
    pub notification_timeout: Duration,
    /// Make no call at all (every call fails with [`UpstreamError::Offline`]).
    pub offline: bool,
    /// HTTP/2 without TLS negotiation (h2c).
    pub http2_prior_knowledge: bool,
    /// The CA certificates trusted and the proxy taken (`upstream.ca_file`, `.proxy`).
    pub egress: Egress,
}

impl DeliverySettings {
    /// The settings of `[target]` and `[upstream]`; an empty server domain means none.
    /// Fails when `upstream.ca_file` cannot be read (as the config check does).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            offline: config.upstream.offline,
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
            notification_timeout: config.notification_timeout(),
            http2_prior_knowledge: config.upstream.http2_prior_knowledge,
            egress: Egress::from_config(&config.upstream)?,
        })
    }
}

/// The notification path's metric series, looked up once: a labelled lookup hashes its
/// labels and takes a lock, on every call.
struct NotifyMetrics {
    latency: Histogram,
    ok: IntCounter,
    error: IntCounter,
}

impl NotifyMetrics {
    fn new(metrics: &Metrics) -> Self {
        let requests = &metrics.upstream_requests;
        Self {
            latency: metrics
                .upstream_latency
                .with_label_values(&["notifications"]),
            ok: requests.with_label_values(&["notifications", "ok"]),
            error: requests.with_label_values(&["notifications", "error"]),
        }
    }
}

/// Client of `POST /rest/v1/delivery`.
pub struct DeliveryClient {
    /// Where to call and how long to wait.
    pub settings: DeliverySettings,
    /// Counts every call in `upstream_requests`.
    pub metrics: Arc<Metrics>,
    /// One pooled HTTP client for every call.
    http: reqwest::Client,
    notify_metrics: NotifyMetrics,
    /// The notification URL up to the session, for calls without an edge cluster.
    notify_prefix: String,
    /// The lean HTTP/2 client for notifications, where it can serve the upstream
    /// (see [`DirectH2::for_settings`]); it steps aside for good once a server
    /// refuses HTTP/2.
    direct: Option<DirectH2>,
    direct_refused: AtomicBool,
}

impl DeliveryClient {
    /// Builds the client and its connection pool; fails only if the TLS backend
    /// cannot be set up.
    pub fn new(settings: DeliverySettings, metrics: Arc<Metrics>) -> Result<Self, UpstreamError> {
        // HTTP/2 where Target offers it (ALPN): thousands of notification requests in
        // flight share a few connections. Over HTTP/1.1 the pool keeps one idle
        // keep-alive connection per request in flight (reqwest's default: no cap), so
        // the adaptive limit is the bound.
        let mut http = settings.egress.client_builder()?;
        if settings.http2_prior_knowledge {
            http = http.http2_prior_knowledge();
        }
        let http = http
            .connect_timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("offerd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Other(format!("cannot build HTTP client: {e}")))?;
        let mut client = Self {
            notify_metrics: NotifyMetrics::new(&metrics),
            settings,
            metrics,
            http,
            notify_prefix: String::new(),
            direct: None,
            direct_refused: AtomicBool::new(false),
        };
        client.notify_prefix = client.query_prefix(None);
        Ok(client)
    }

    /// A client for a notification lane: as [`Self::new`], plus the lean HTTP/2
    /// client for notifications where it can serve the upstream.
    pub fn for_notifications(
        settings: DeliverySettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, UpstreamError> {
        let direct = DirectH2::for_settings(
            settings.secure,
            settings.http2_prior_knowledge,
            settings.timeout,
            &settings.egress,
        );
        let mut client = Self::new(settings, metrics)?;
        client.direct = direct;
        Ok(client)
    }

    /// The endpoint, without query: `{scheme}://{host}[:{port}]/rest/v1/delivery`.
    /// The host is `server_domain` when pinned; else `mboxedge{cluster}.tt.omtrdc.net`
    /// for a non-empty cluster; else `server_domain`; else `{client}.tt.omtrdc.net`.
    pub fn url(&self, cluster: Option<&str>) -> String {
        let s = &self.settings;
        let domain = s.server_domain.as_deref().filter(|d| !d.is_empty());
        let cluster = cluster.filter(|c| !c.is_empty());
        let host = match (domain, cluster) {
            (Some(domain), _) if s.pin_server_domain => domain.to_string(),
            (_, Some(cluster)) => format!("mboxedge{cluster}.{TARGET_DOMAIN}"),
            (Some(domain), None) => domain.to_string(),
            (None, None) => format!("{}.{TARGET_DOMAIN}", s.client),
        };
        let scheme = if s.secure { "https" } else { "http" };
        let port = s.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{scheme}://{host}{port}/rest/v1/delivery")
    }

    /// Sends `request` for `session_id` to the host for `cluster` and parses the
    /// answer. `purpose` labels the call in metrics (e.g. "notifications").
    pub async fn deliver(
        &self,
        request: &DeliveryRequest,
        session_id: &str,
        cluster: Option<&str>,
        purpose: &'static str,
    ) -> Result<DeliveryResponse, UpstreamError> {
        if self.settings.offline {
            return Err(UpstreamError::Offline);
        }
        let started = Instant::now();
        let span = otel::client_span("POST delivery", "POST", purpose);
        let result = self
            .call(request, session_id, cluster)
            .instrument(span.clone())
            .await;
        super::record_outcome(&span, &result);
        self.metrics
            .upstream_latency
            .with_label_values(&["delivery"])
            .observe(started.elapsed().as_secs_f64());
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .upstream_requests
            .with_label_values(&[purpose, label])
            .inc();
        tracing::debug!(
            purpose,
            result = label,
            duration_ms = started.elapsed().as_millis() as u64,
            "Delivery API call"
        );
        result
    }

    /// Sends a notification request `body` (already JSON, `notifications` of them) for
    /// `session_id` to the host for `cluster`. Any 2xx means Target took it; the answer
    /// is not parsed.
    ///
    /// This runs once per notification request, so it is lean: the URL is one parse
    /// of a prefix built at start plus the session, the metric handles are looked up
    /// once ([`NotifyMetrics`]), and a client made by [`Self::for_notifications`]
    /// sends through [`DirectH2`] rather than reqwest.
    pub async fn notify(
        &self,
        body: bytes::Bytes,
        notifications: usize,
        session_id: &str,
        cluster: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let span = otel::client_span("POST notifications", "POST", "notifications");
        span.record("offerd.notifications", notifications);
        let result = self
            .send_notifications(body, session_id, cluster)
            .instrument(span.clone())
            .await;
        super::record_outcome(&span, &result);
        result
    }

    /// [`Self::notify`]'s work, inside its span.
    async fn send_notifications(
        &self,
        body: bytes::Bytes,
        session_id: &str,
        cluster: Option<&str>,
    ) -> Result<(), UpstreamError> {
        if self.settings.offline {
            return Err(UpstreamError::Offline);
        }
        let timeout = self.settings.notification_timeout;
        // Parsed once, by the client that sends it.
        let address = self.notify_address(session_id, cluster);
        let started = Instant::now();
        let answer = match self.direct() {
            Some(direct) => match direct.send(&address, body.clone(), timeout).await {
                Sent::Answered(status, answer) => Ok((status, Ok(answer))),
                Sent::Failed(error) => Err(error),
                Sent::Unsupported => {
                    tracing::info!(
                        address,
                        "Target chose HTTP/1.1: notifications go through the general HTTP client"
                    );
                    self.direct_refused.store(true, Ordering::Relaxed);
                    Box::pin(self.notify_by_reqwest(&address, body, timeout)).await
                }
            },
            // Boxed, so that the lean client's sends do not carry reqwest's future inline.
            None => Box::pin(self.notify_by_reqwest(&address, body, timeout)).await,
        };
        let metrics = &self.notify_metrics;
        metrics.latency.observe(started.elapsed().as_secs_f64());
        let (status, answer) = match answer {
            Ok(answered) => answered,
            Err(error) => {
                metrics.error.inc();
                return Err(error);
            }
        };
        if status.is_success() {
            metrics.ok.inc();
            return Ok(());
        }
        metrics.error.inc();
        let body = answer.map(|b| truncated(&b)).unwrap_or_default();
        Err(UpstreamError::Status {
            status: status.as_u16(),
            body,
        })
    }

    /// The lean client, unless absent or refused.
    fn direct(&self) -> Option<&DirectH2> {
        let refused = self.direct_refused.load(Ordering::Relaxed);
        self.direct.as_ref().filter(|_| !refused)
    }

    /// A notification through reqwest: the status and the answer, read whole so the
    /// connection goes back to the pool.
    async fn notify_by_reqwest(
        &self,
        address: &str,
        body: bytes::Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, Result<bytes::Bytes, reqwest::Error>), UpstreamError> {
        let url = url::Url::parse(address)
            .map_err(|e| UpstreamError::Other(format!("bad Delivery API URL: {e}")))?;
        let mut request = reqwest::Request::new(Method::POST, url);
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *request.timeout_mut() = Some(timeout);
        *request.body_mut() = Some(body.into());
        match self.http.execute(request).await {
            Ok(response) => Ok((response.status(), response.bytes().await)),
            Err(e) => Err(self.classify(e, timeout)),
        }
    }

    /// The notification URL, unparsed: the endpoint and the query up to `sessionId=`
    /// (built at start for the usual host, per call for an edge cluster's), then the
    /// session.
    fn notify_address(&self, session_id: &str, cluster: Option<&str>) -> String {
        let s = &self.settings;
        let pinned =
            s.pin_server_domain && s.server_domain.as_deref().is_some_and(|d| !d.is_empty());
        let mut url = match cluster.filter(|c| !c.is_empty()) {
            Some(cluster) if !pinned => self.query_prefix(Some(cluster)),
            _ => self.notify_prefix.clone(),
        };
        url.extend(form_urlencoded::byte_serialize(session_id.as_bytes()));
        url
    }

    /// `{endpoint}?client=…&imsOrgId=…&sessionId=`, form-encoded as the SDKs send it.
    fn query_prefix(&self, cluster: Option<&str>) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client", &self.settings.client)
            .append_pair("imsOrgId", &self.settings.organization_id)
            .finish();
        format!("{}?{query}&sessionId=", self.url(cluster))
    }

    async fn call(
        &self,
        request: &DeliveryRequest,
        session_id: &str,
        cluster: Option<&str>,
    ) -> Result<DeliveryResponse, UpstreamError> {
        let url = self.request_url(session_id, cluster)?;
        // The caller's trace continues at Target (traceparent, when tracing is on).
        let mut trace = http::HeaderMap::new();
        otel::inject(&mut trace);
        let response = self
            .http
            .post(url)
            .headers(trace)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("X-Request-Id", uuid::Uuid::new_v4().to_string())
            .timeout(self.settings.timeout)
            .json(request)
            .send()
            .await
            .map_err(|e| self.classify(e, self.settings.timeout))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.classify(e, self.settings.timeout))?;
        if !status.is_success() {
            return Err(UpstreamError::Status {
                status: status.as_u16(),
                body: truncated(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| UpstreamError::Decode(e.to_string()))
    }

    /// The endpoint with its query, percent-encoded.
    fn request_url(
        &self,
        session_id: &str,
        cluster: Option<&str>,
    ) -> Result<url::Url, UpstreamError> {
        let mut url = url::Url::parse(&self.url(cluster))
            .map_err(|e| UpstreamError::Other(format!("bad Delivery API URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("client", &self.settings.client)
            .append_pair("sessionId", session_id)
            .append_pair("imsOrgId", &self.settings.organization_id);
        Ok(url)
    }

    /// Maps a transport error to what a caller can act on: timeouts and broken
    /// connections are worth retrying; a request that could not be built is not.
    fn classify(&self, error: reqwest::Error, timeout: Duration) -> UpstreamError {
        let message = super::error_chain(&error);
        if error.is_timeout() {
            UpstreamError::Timeout(timeout.as_millis() as u64)
        } else if error.is_builder() {
            UpstreamError::Other(message)
        } else if error.is_decode() {
            UpstreamError::Decode(message)
        } else {
            // Connect failures, resets and connections closed mid-answer (a pooled
            // keep-alive connection the server just closed) all may succeed on retry.
            UpstreamError::Connect(message)
        }
    }
}

/// An upstream error body as kept in errors and logs: at most
/// [`MAX_ERROR_BODY_CHARS`] characters.
fn truncated(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(MAX_ERROR_BODY_CHARS)
        .collect()
}

#[cfg(test)]
pub(crate) mod fake;

#[cfg(test)]
mod tests {
    use super::fake::{FakeDelivery, Reply};
    use super::*;

    fn settings(
        domain: Option<&str>,
        pin: bool,
        secure: bool,
        port: Option<u16>,
    ) -> DeliverySettings {
        DeliverySettings {
            client: "acme".into(),
            organization_id: "ORG@AdobeOrg".into(),
            server_domain: domain.map(String::from),
            secure,
            port,
            pin_server_domain: pin,
            timeout: Duration::from_millis(300),
            notification_timeout: Duration::from_millis(300),
            offline: false,
            http2_prior_knowledge: false,
            egress: Egress::default(),
        }
    }

    fn client(settings: DeliverySettings) -> DeliveryClient {
        DeliveryClient::new(settings, Arc::new(Metrics::new())).unwrap()
    }

    /// Every notification's task holds this future and moves it when spawned: the rare
    /// paths (opening a TLS connection, reqwest) are boxed so that it stays small (it was
    /// 5.9 KiB with them inline, and memmove showed in the sender lanes' profile).
    #[test]
    fn a_notification_future_stays_small() {
        let client = client(settings(None, false, false, None));
        let send = client.notify(bytes::Bytes::new(), 1, "session", None);
        let size = std::mem::size_of_val(&send);
        assert!(size <= 3072, "the notify future is {size} bytes");
    }

    #[test]
    fn host_selection_follows_get_target_host_unless_pinned() {
        let cases = [
            // (server_domain, pinned, secure, port, cluster, expected)
            (None, false, true, None, None, "https://acme.tt.omtrdc.net"),
            (
                None,
                false,
                true,
                None,
                Some(""),
                "https://acme.tt.omtrdc.net",
            ),
            (
                None,
                false,
                true,
                None,
                Some("35"),
                "https://mboxedge35.tt.omtrdc.net",
            ),
            (
                Some("t.example.com"),
                false,
                true,
                None,
                None,
                "https://t.example.com",
            ),
            (
                Some("t.example.com"),
                false,
                true,
                None,
                Some("35"),
                "https://mboxedge35.tt.omtrdc.net",
            ),
            (
                Some("t.example.com"),
                true,
                true,
                None,
                Some("35"),
                "https://t.example.com",
            ),
            (
                Some(""),
                true,
                true,
                None,
                Some("35"),
                "https://mboxedge35.tt.omtrdc.net",
            ),
            (
                Some("127.0.0.1"),
                true,
                false,
                Some(8081),
                Some("35"),
                "http://127.0.0.1:8081",
            ),
            (
                None,
                false,
                false,
                Some(8443),
                None,
                "http://acme.tt.omtrdc.net:8443",
            ),
        ];
        for (domain, pin, secure, port, cluster, expected) in cases {
            let c = client(settings(domain, pin, secure, port));
            assert_eq!(
                c.url(cluster),
                format!("{expected}/rest/v1/delivery"),
                "{domain:?} pin={pin} cluster={cluster:?}"
            );
        }
    }

    #[test]
    fn the_notification_url_is_the_delivery_url_with_the_same_query() {
        let pinned = settings(Some("127.0.0.1"), true, false, Some(8081));
        let empty_pinned = settings(Some(""), true, true, None);
        for s in [settings(None, false, true, None), pinned, empty_pinned] {
            let c = client(s);
            for cluster in [None, Some(""), Some("35")] {
                let session = "s 1&x=é";
                let fast = url::Url::parse(&c.notify_address(session, cluster)).unwrap();
                let full = c.request_url(session, cluster).unwrap();
                assert_eq!(fast.origin(), full.origin(), "{cluster:?}");
                assert_eq!(fast.path(), full.path());
                let sorted = |u: &url::Url| {
                    let mut pairs: Vec<_> = u.query_pairs().into_owned().collect();
                    pairs.sort();
                    pairs
                };
                assert_eq!(sorted(&fast), sorted(&full), "{cluster:?}");
            }
        }
    }

    fn local(port: u16) -> DeliveryClient {
        client(settings(Some("127.0.0.1"), true, false, Some(port)))
    }

    fn calls(c: &DeliveryClient, purpose: &str, result: &str) -> u64 {
        c.metrics
            .upstream_requests
            .with_label_values(&[purpose, result])
            .get()
    }

    #[actix_rt::test]
    async fn posts_the_request_with_query_and_headers_and_parses_the_answer() {
        let fake = FakeDelivery::start().await;
        let c = local(fake.port);
        let request = DeliveryRequest {
            request_id: Some("r1".into()),
            ..Default::default()
        };
        let response = c
            .deliver(&request, "s 1&x", Some("35"), "test")
            .await
            .unwrap();
        assert_eq!(response.status, Some(200));
        let seen = fake.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].query_param("client").as_deref(), Some("acme"));
        assert_eq!(seen[0].query_param("sessionId").as_deref(), Some("s 1&x"));
        assert_eq!(
            seen[0].query_param("imsOrgId").as_deref(),
            Some("ORG@AdobeOrg")
        );
        assert_eq!(seen[0].body.request_id.as_deref(), Some("r1"));
        assert!(
            seen[0].user_agent.starts_with("offerd/"),
            "{}",
            seen[0].user_agent
        );
        assert!(!seen[0].request_id_header.is_empty());
        assert_eq!(calls(&c, "test", "ok"), 1);
    }

    #[actix_rt::test]
    async fn failures_are_typed_and_counted() {
        let fake = FakeDelivery::start().await;
        let c = local(fake.port);
        let request = DeliveryRequest::default();
        fake.script([
            Reply::Status(400, "x".repeat(2000)),
            Reply::Status(503, String::new()),
        ]);
        match c.deliver(&request, "s", None, "test").await {
            Err(UpstreamError::Status { status: 400, body }) => assert_eq!(body.len(), 512),
            other => panic!("{other:?}"),
        }
        let err = c.deliver(&request, "s", None, "test").await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        fake.script([Reply::BadJson]);
        let err = c.deliver(&request, "s", None, "test").await.unwrap_err();
        assert!(matches!(err, UpstreamError::Decode(_)), "{err:?}");
        fake.script([Reply::Slow(Duration::from_millis(1500))]);
        let err = c.deliver(&request, "s", None, "test").await.unwrap_err();
        assert!(matches!(err, UpstreamError::Timeout(300)), "{err:?}");
        assert_eq!(calls(&c, "test", "error"), 4);
    }

    /// A notification lane's client to the fake over h2c, and a notification body.
    fn direct_h2c(port: u16) -> (DeliveryClient, bytes::Bytes) {
        let mut settings = settings(Some("127.0.0.1"), true, false, Some(port));
        settings.http2_prior_knowledge = true;
        let c = DeliveryClient::for_notifications(settings, Arc::new(Metrics::new())).unwrap();
        let request = DeliveryRequest {
            request_id: Some("n1".into()),
            ..Default::default()
        };
        (c, serde_json::to_vec(&request).unwrap().into())
    }

    #[actix_rt::test]
    async fn notifications_go_through_the_lean_client_over_h2c() {
        let fake = FakeDelivery::start().await;
        let (c, body) = direct_h2c(fake.port);
        assert!(c.direct().is_some());
        c.notify(body.clone(), 1, "s 1&x", None).await.unwrap();
        // Many at once share the one connection, within the server's stream limit.
        let sends = (0..300).map(|_| c.notify(body.clone(), 1, "s", None));
        let results = futures_util::future::join_all(sends).await;
        assert!(results.iter().all(Result::is_ok));
        let seen = fake.requests();
        assert_eq!(seen.len(), 301);
        assert_eq!(seen[0].query_param("client").as_deref(), Some("acme"));
        assert_eq!(seen[0].query_param("sessionId").as_deref(), Some("s 1&x"));
        assert_eq!(seen[0].body.request_id.as_deref(), Some("n1"));
        assert!(seen[0].user_agent.starts_with("offerd/"));
        assert!(c.direct().is_some(), "the lean client stepped aside");
        assert_eq!(calls(&c, "notifications", "ok"), 301);
    }

    #[actix_rt::test]
    async fn lean_client_failures_are_typed_as_reqwest_ones() {
        let fake = FakeDelivery::start().await;
        let (c, body) = direct_h2c(fake.port);
        fake.script([
            Reply::Status(400, "x".repeat(2000)),
            Reply::Status(503, String::new()),
            Reply::Slow(Duration::from_millis(1500)),
        ]);
        match c.notify(body.clone(), 1, "s", None).await {
            Err(UpstreamError::Status { status: 400, body }) => assert_eq!(body.len(), 512),
            other => panic!("{other:?}"),
        }
        let err = c.notify(body.clone(), 1, "s", None).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        let err = c.notify(body.clone(), 1, "s", None).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Timeout(300)), "{err:?}");
        assert_eq!(calls(&c, "notifications", "error"), 3);
        drop(fake);
        let (c, body) = direct_h2c(closed_port());
        let err = c.notify(body, 1, "s", None).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Connect(_)), "{err:?}");
    }

    #[actix_rt::test]
    async fn over_http_1_notifications_use_the_general_client() {
        let fake = FakeDelivery::start().await;
        let settings = settings(Some("127.0.0.1"), true, false, Some(fake.port));
        let c = DeliveryClient::for_notifications(settings, Arc::new(Metrics::new())).unwrap();
        assert!(c.direct().is_none());
        let body = serde_json::to_vec(&DeliveryRequest::default()).unwrap();
        c.notify(body.into(), 1, "s", None).await.unwrap();
        assert_eq!(fake.requests().len(), 1);
    }

    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port()
    }

    #[actix_rt::test]
    async fn a_closed_port_is_a_connect_error() {
        let err = local(closed_port())
            .deliver(&DeliveryRequest::default(), "s", None, "test")
            .await
            .unwrap_err();
        assert!(matches!(err, UpstreamError::Connect(_)), "{err:?}");
        assert!(err.is_retryable());
    }
}
