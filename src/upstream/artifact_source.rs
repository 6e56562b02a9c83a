//! Where the rules artifact comes from and how it is fetched: a file, an HTTP(S) URL
//! (Target's CDN) or an inline payload from the configuration.
//!
//! [`ArtifactFetcher::fetch`] answers [`Fetched::Unchanged`] when the artifact is the
//! one the caller already has, so the refresher neither re-reads nor re-compiles it:
//! HTTP uses the CDN's ETag with `If-None-Match`, files use an mtime+length
//! fingerprint in the ETag's place, inline payloads a hash of the text.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use tracing::Instrument;

use super::UpstreamError;
use super::egress::Egress;
use crate::config::Config;
use crate::engine::ArtifactFormat;
use crate::otel;

/// The largest artifact accepted. Real artifacts are tens of KiB to a few MiB; the cap
/// keeps a misconfigured URL (a video, an endless stream) from exhausting memory.
pub const MAX_ARTIFACT_BYTES: usize = 50 * 1024 * 1024;

/// How much of an error body is kept in [`UpstreamError::Status`].
const ERROR_BODY_CHARS: usize = 200;

/// The demo artifact, compiled in: `offerd` started from any directory serves it.
pub const DEMO_ARTIFACT: &str = include_str!("../../examples/demo-artifact.json");

/// Where the artifact is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactSource {
    /// A local file (a plain path or a `file://` URL).
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Http(String),
    /// The artifact JSON itself (`artifact.payload`).
    Inline(String),
}

impl ArtifactSource {
    /// The source the configuration names: a non-empty inline `artifact.payload` wins,
    /// else [`Config::artifact_location`] decides between HTTP and a file.
    pub fn from_config(config: &Config) -> Self {
        match config.artifact.payload.as_deref() {
            Some(payload) if !payload.trim().is_empty() => Self::Inline(payload.to_string()),
            _ => Self::from_location(&config.artifact_location()),
        }
    }

    /// A location string: `http(s)://` URLs are HTTP, `file://` URLs and anything else
    /// a file path.
    pub fn from_location(location: &str) -> Self {
        let location = location.trim();
        if location == crate::config::EMBEDDED_DEMO {
            return Self::Inline(DEMO_ARTIFACT.to_owned());
        }
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Self::Http(location.to_string());
        }
        if lower.starts_with("file://") {
            // `Url::to_file_path` handles `file://localhost/...` and percent-escapes;
            // if it cannot, the text after the scheme is the best guess of a path.
            let path = url::Url::parse(location)
                .ok()
                .and_then(|url| url.to_file_path().ok())
                .unwrap_or_else(|| PathBuf::from(&location["file://".len()..]));
            return Self::File(path);
        }
        Self::File(PathBuf::from(location))
    }

    /// The path or URL, or `"inline"`, for logs and `/v1/artifact`.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Http(url) => url.clone(),
            Self::Inline(_) => "inline".to_string(),
        }
    }

    /// The encoding to decode with: `"json"` and `"bin"` force one, `"auto"` (or
    /// anything else) goes by the file name as the SDKs do. An inline payload is
    /// configuration text and so always JSON.
    pub fn format(&self, configured: &str) -> ArtifactFormat {
        match (self, configured) {
            (Self::Inline(_), _) => ArtifactFormat::Json,
            (_, "json") => ArtifactFormat::Json,
            (_, "bin") => ArtifactFormat::Binary,
            (Self::File(path), _) => ArtifactFormat::from_location(&path.to_string_lossy()),
            (Self::Http(url), _) => ArtifactFormat::from_location(url),
        }
    }
}

/// The result of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The artifact is the one whose ETag (or fingerprint) the caller passed.
    Unchanged,
    /// A new artifact, with the ETag to pass next time.
    New {
        /// The artifact as stored: JSON or obfuscated `rules.bin`.
        bytes: Vec<u8>,
        /// The ETag (or fingerprint) to send next time, if the source gave one.
        etag: Option<String>,
    },
}

/// Fetches the artifact from one [`ArtifactSource`], conditionally.
#[derive(Debug)]
pub struct ArtifactFetcher {
    source: ArtifactSource,
    timeout: Duration,
    max_bytes: usize,
    // Built only for HTTP sources. Building can fail (TLS setup); keeping the error
    // lets construction stay infallible and the failure surface as an ordinary
    // refresh failure: logged, counted and visible in `/v1/artifact`.
    http: Option<Result<reqwest::Client, String>>,
}

impl ArtifactFetcher {
    /// A fetcher whose every fetch (connect, headers and body) ends within `timeout`,
    /// through `egress` (its roots and proxy).
    pub fn new(source: ArtifactSource, timeout: Duration, egress: &Egress) -> Self {
        let http = matches!(source, ArtifactSource::Http(_)).then(|| {
            egress
                .client_builder()
                .map_err(|e| e.to_string())?
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        });
        Self {
            source,
            timeout,
            max_bytes: MAX_ARTIFACT_BYTES,
            http,
        }
    }

    /// Lowers the size cap (tests; the default is [`MAX_ARTIFACT_BYTES`]).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The source this fetcher reads.
    pub fn source(&self) -> &ArtifactSource {
        &self.source
    }

    /// Fetches the artifact unless it is the one `etag` names.
    pub async fn fetch(&self, etag: Option<&str>) -> Result<Fetched, UpstreamError> {
        match &self.source {
            ArtifactSource::Inline(payload) => Ok(fetch_inline(payload, etag)),
            ArtifactSource::File(path) => {
                // A hung network file system must not stall refreshes forever.
                tokio::time::timeout(self.timeout, self.fetch_file(path, etag))
                    .await
                    .map_err(|_| UpstreamError::Timeout(millis(self.timeout)))?
            }
            ArtifactSource::Http(url) => self.fetch_http(url, etag).await,
        }
    }

    async fn fetch_file(&self, path: &Path, etag: Option<&str>) -> Result<Fetched, UpstreamError> {
        let unreadable = |e: std::io::Error| {
            UpstreamError::Other(format!("cannot read {}: {e}", path.display()))
        };
        let meta = tokio::fs::metadata(path).await.map_err(unreadable)?;
        // Taken before reading: if the file changes while it is read, the next poll
        // sees a new fingerprint and reads it again.
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let fingerprint = format!("file-{mtime_ns}-{}", meta.len());
        if etag == Some(fingerprint.as_str()) {
            return Ok(Fetched::Unchanged);
        }
        if meta.len() > self.max_bytes as u64 {
            return Err(too_large(self.max_bytes));
        }
        let bytes = tokio::fs::read(path).await.map_err(unreadable)?;
        if bytes.len() > self.max_bytes {
            return Err(too_large(self.max_bytes));
        }
        Ok(Fetched::New {
            bytes,
            etag: Some(fingerprint),
        })
    }

    async fn fetch_http(&self, url: &str, etag: Option<&str>) -> Result<Fetched, UpstreamError> {
        let span = otel::client_span("GET artifact", "GET", "artifact");
        let result = self.download(url, etag).instrument(span.clone()).await;
        match &result {
            Ok(Fetched::Unchanged) => otel::record_status(&span, 304),
            _ => super::record_outcome(&span, &result),
        }
        result
    }

    /// [`Self::fetch_http`]'s work, inside its span.
    async fn download(&self, url: &str, etag: Option<&str>) -> Result<Fetched, UpstreamError> {
        let client = match &self.http {
            Some(Ok(client)) => client,
            Some(Err(e)) => return Err(UpstreamError::Other(e.clone())),
            None => return Err(UpstreamError::Other("no HTTP client".into())),
        };
        let mut request = client.get(url);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| request_error(&e, self.timeout))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        if !status.is_success() {
            return Err(status_error(response).await);
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(&mut response, self.max_bytes, self.timeout).await?;
        Ok(Fetched::New { bytes, etag })
    }
}

/// An [`UpstreamError::Status`] with the start of the answer's body. Only the first
/// chunk is read: an error page can be large and only its opening helps a reader.
pub(crate) async fn status_error(mut response: reqwest::Response) -> UpstreamError {
    let status = response.status().as_u16();
    let chunk = response.chunk().await.ok().flatten().unwrap_or_default();
    let body = String::from_utf8_lossy(&chunk)
        .chars()
        .take(ERROR_BODY_CHARS)
        .collect();
    UpstreamError::Status { status, body }
}

/// Reads a body chunk by chunk, refusing it as soon as it passes `max` bytes, so an
/// oversized answer is never held whole (shared with the geo client).
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, UpstreamError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large(max));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| request_error(&e, timeout))?
    {
        if bytes.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// An inline payload never changes while offerd runs; its hash stands in for an ETag
/// so that every poll after the first is `Unchanged`.
fn fetch_inline(payload: &str, etag: Option<&str>) -> Fetched {
    let mut hasher = DefaultHasher::new();
    payload.hash(&mut hasher);
    let fingerprint = format!("inline-{:016x}-{}", hasher.finish(), payload.len());
    if etag == Some(fingerprint.as_str()) {
        Fetched::Unchanged
    } else {
        Fetched::New {
            bytes: payload.as_bytes().to_vec(),
            etag: Some(fingerprint),
        }
    }
}

fn too_large(max: usize) -> UpstreamError {
    UpstreamError::Other(format!(
        "artifact refused: larger than the {max}-byte limit"
    ))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Maps a reqwest failure onto [`UpstreamError`] (shared with the geo client).
pub(crate) fn request_error(err: &reqwest::Error, timeout: Duration) -> UpstreamError {
    if err.is_timeout() {
        return UpstreamError::Timeout(millis(timeout));
    }
    // reqwest's own message is only "error sending request for url (...)"; the cause
    // (refused, DNS, TLS) is in the source chain.
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if err.is_connect() {
        UpstreamError::Connect(message)
    } else if err.is_body() || err.is_decode() {
        UpstreamError::Decode(message)
    } else {
        UpstreamError::Other(message)
    }
}

#[cfg(test)]
mod tests;
