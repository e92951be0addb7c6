//! The only crate that uses reqwest: HEAD and streaming GET against upstream registries with Basic auth,
//! connect / first-byte / idle timeouts, and the SSRF guard, plus the connection test.
//!
//! Depends on `packyard_domain` only.

mod guard;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap};
use reqwest::{Method, StatusCode};
use thiserror::Error;
use url::Url;

pub use guard::{check_url, is_blocked_ip};

/// Timeouts and network policy for upstream requests.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Allow loopback, private and link-local addresses (tests, internal mirrors).
    pub allow_local_network: bool,
    /// TCP + TLS connect.
    pub connect_timeout: Duration,
    /// From sending the request to the response headers.
    pub first_byte_timeout: Duration,
    /// Longest pause between two body chunks.
    pub idle_timeout: Duration,
    /// A whole HEAD request (resolution, revalidation, connection tests).
    pub head_timeout: Duration,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            allow_local_network: false,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            head_timeout: Duration::from_secs(5),
        }
    }
}

/// Upstream credentials, sent as HTTP Basic.
#[derive(Clone)]
pub struct Credentials {
    /// Username.
    pub username: String,
    /// Password (decrypted only for the request).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Errors of upstream requests.
#[derive(Debug, Error)]
pub enum UpstreamError {
    /// The URL or an address it resolves to is not allowed.
    #[error("upstream address is blocked: {0}")]
    Blocked(String),
    /// A timeout expired.
    #[error("upstream timed out ({0})")]
    Timeout(&'static str),
    /// Connecting or talking to the upstream failed.
    #[error("upstream request failed: {0}")]
    Transport(String),
    /// The body ended before its declared length.
    #[error("upstream body was cut short: {received} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        received: u64,
        /// Bytes declared.
        expected: u64,
    },
}

impl UpstreamError {
    /// True when the upstream could not be reached at all (serve stale copies then).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Timeout(_) | UpstreamError::Transport(_)
        )
    }
}

/// Result of upstream calls.
pub type UpstreamResult<T> = Result<T, UpstreamError>;

/// What a HEAD (or the head of a GET) said.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// Status.
    pub status: StatusCode,
    /// `ETag`, as sent.
    pub etag: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
}

impl ResponseMeta {
    fn from_headers(status: StatusCode, headers: &HeaderMap) -> Self {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            status,
            etag: text(ETAG),
            content_type: text(CONTENT_TYPE),
            content_length: text(CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        }
    }
}

/// A streaming GET response.
pub struct Download {
    /// Status and headers.
    pub meta: ResponseMeta,
    /// The body, chunk by chunk, with the idle timeout applied and a short body reported as an error.
    pub body: BoxStream<'static, UpstreamResult<Bytes>>,
}

/// Result of a connection test, in GitLab's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionTest {
    /// 2xx or 404.
    pub success: bool,
    /// `Error: <code> - <reason>` or `Error: <message>` on failure.
    pub result: Option<String>,
}

/// The HTTP client for upstreams.
#[derive(Clone)]
pub struct UpstreamClient {
    client: reqwest::Client,
    settings: Arc<UpstreamSettings>,
}

impl UpstreamClient {
    /// Builds the client; every connection goes through the SSRF guard unless local networks are allowed.
    pub fn new(settings: UpstreamSettings) -> UpstreamResult<Self> {
        let allow_local = settings.allow_local_network;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if let Err(e) = check_url(attempt.url(), allow_local) {
                attempt.error(e)
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("packyard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .redirect(redirects)
            .no_proxy();
        if !allow_local {
            builder = builder.dns_resolver(Arc::new(guard::GuardedResolver));
        }
        let client = builder
            .build()
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        Ok(Self {
            client,
            settings: Arc::new(settings),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    fn request(
        &self,
        method: Method,
        url: &Url,
        credentials: Option<&Credentials>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url.clone());
        match credentials {
            Some(c) => request.basic_auth(&c.username, Some(&c.password)),
            None => request,
        }
    }

    /// Sends a HEAD, bounded by the HEAD timeout.
    pub async fn head(
        &self,
        url: &Url,
        credentials: Option<&Credentials>,
    ) -> UpstreamResult<ResponseMeta> {
        check_url(url, self.settings.allow_local_network).map_err(UpstreamError::Blocked)?;
        let send = self.request(Method::HEAD, url, credentials).send();
        let response = tokio::time::timeout(self.settings.head_timeout, send)
            .await
            .map_err(|_| UpstreamError::Timeout("HEAD"))?
            .map_err(transport)?;
        Ok(ResponseMeta::from_headers(
            response.status(),
            response.headers(),
        ))
    }

    /// Starts a GET and returns its status, headers and streaming body.
    pub async fn get(
        &self,
        url: &Url,
        credentials: Option<&Credentials>,
    ) -> UpstreamResult<Download> {
        check_url(url, self.settings.allow_local_network).map_err(UpstreamError::Blocked)?;
        let send = self.request(Method::GET, url, credentials).send();
        let response = tokio::time::timeout(self.settings.first_byte_timeout, send)
            .await
            .map_err(|_| UpstreamError::Timeout("waiting for the response"))?
            .map_err(transport)?;
        let meta = ResponseMeta::from_headers(response.status(), response.headers());
        let body = guarded_body(response, meta.content_length, self.settings.idle_timeout);
        Ok(Download { meta, body })
    }

    /// GETs a small document whole (checksum files), refusing more than `max` bytes.
    pub async fn get_small(
        &self,
        url: &Url,
        credentials: Option<&Credentials>,
        max: usize,
    ) -> UpstreamResult<(ResponseMeta, Bytes)> {
        let mut download = self.get(url, credentials).await?;
        let mut body = Vec::new();
        while let Some(chunk) = download.body.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > max {
                return Err(UpstreamError::Transport(format!(
                    "document larger than {max} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((download.meta, Bytes::from(body)))
    }

    /// GitLab's connection test: HEAD the URL; 2xx or 404 is a success.
    pub async fn test_connection(
        &self,
        url: &Url,
        credentials: Option<&Credentials>,
    ) -> ConnectionTest {
        match self.head(url, credentials).await {
            Ok(meta) if meta.status.is_success() || meta.status == StatusCode::NOT_FOUND => {
                ConnectionTest {
                    success: true,
                    result: None,
                }
            }
            Ok(meta) => ConnectionTest {
                success: false,
                result: Some(format!(
                    "Error: {} - {}",
                    meta.status.as_u16(),
                    meta.status.canonical_reason().unwrap_or("Unknown")
                )),
            },
            Err(error) => ConnectionTest {
                success: false,
                result: Some(format!("Error: {error}")),
            },
        }
    }
}

fn transport(error: reqwest::Error) -> UpstreamError {
    // reqwest wraps the guard's refusal; say it plainly.
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<guard::BlockedAddress>() {
            return UpstreamError::Blocked(blocked.to_string());
        }
        source = e.source();
    }
    if error.is_timeout() {
        return UpstreamError::Timeout("connect");
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    UpstreamError::Transport(message)
}

/// Applies the idle timeout to every chunk and turns a body shorter than its `Content-Length` into an error.
fn guarded_body(
    response: reqwest::Response,
    expected: Option<u64>,
    idle: Duration,
) -> BoxStream<'static, UpstreamResult<Bytes>> {
    struct State {
        inner: BoxStream<'static, reqwest::Result<Bytes>>,
        received: u64,
        done: bool,
    }
    let state = State {
        inner: response.bytes_stream().boxed(),
        received: 0,
        done: false,
    };
    futures_util::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        match tokio::time::timeout(idle, state.inner.next()).await {
            Err(_) => {
                state.done = true;
                Some((Err(UpstreamError::Timeout("idle body")), state))
            }
            Ok(Some(Ok(chunk))) => {
                state.received += chunk.len() as u64;
                Some((Ok(chunk), state))
            }
            Ok(Some(Err(e))) => {
                state.done = true;
                Some((Err(transport(e)), state))
            }
            Ok(None) => {
                state.done = true;
                match expected {
                    Some(expected) if expected != state.received => Some((
                        Err(UpstreamError::Truncated {
                            received: state.received,
                            expected,
                        }),
                        state,
                    )),
                    _ => None,
                }
            }
        }
    })
    .boxed()
}

/// The upstream URL of a repository path: `File.join(upstream.url, path)`.
pub fn join_url(base: &str, path: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
}
