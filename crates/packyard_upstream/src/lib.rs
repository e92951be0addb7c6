//! The only crate that uses reqwest: HEAD and streaming GET against upstream registries with Basic auth
//! and the registry token dance, connect / first-byte / idle timeouts, outbound proxies, extra root
//! certificates and the SSRF guard, plus the connection test.
//!
//! Depends on `packyard_domain` only.

mod guard;
#[cfg(test)]
mod proptests;
mod registry_auth;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, LAST_MODIFIED,
    TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use thiserror::Error;
use url::Url;

pub use guard::{
    AddressPolicy, Allowlist, Refusal, check_destination, check_url, embedded_ipv4, is_blocked_ip,
};
pub use registry_auth::{BearerChallenge, parse_bearer_challenge};

use registry_auth::{TokenCache, TokenKey, TokenResponse};

/// Timeouts and network policy for upstream requests.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Which addresses upstreams may have (the SSRF guard).
    pub addresses: AddressPolicy,
    /// Outbound proxies.
    pub proxy: ProxySettings,
    /// PEM files of certificate authorities trusted besides the system's.
    pub ca_certificates: Vec<PathBuf>,
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
            addresses: AddressPolicy::default(),
            proxy: ProxySettings::default(),
            ca_certificates: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            head_timeout: Duration::from_secs(5),
        }
    }
}

/// Outbound HTTP proxies for upstream traffic, with optional credentials in their URLs (never shown).
#[derive(Clone, Default)]
pub struct ProxySettings {
    /// The proxy for `http://` upstreams.
    pub http: Option<Url>,
    /// The proxy for `https://` upstreams, which it tunnels with `CONNECT`.
    pub https: Option<Url>,
    /// Upstreams reached directly, in `NO_PROXY`'s syntax: comma-separated host names (each matching its
    /// subdomains too), IP addresses, CIDR ranges, or `*` for all.
    pub no_proxy: Option<String>,
}

impl ProxySettings {
    /// Parses a proxy URL: `http://` or `https://`, a host, optional `user:password@`.
    pub fn parse_url(text: &str) -> Result<Url, String> {
        let url = Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "{} is not an http:// or https:// URL with a host",
                redacted(&url)
            ));
        }
        Ok(url)
    }

    /// The proxy requests to this URL are sent through when no `no_proxy` entry matches.
    fn for_url(&self, url: &Url) -> Option<&Url> {
        match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }
    }
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("http", &self.http.as_ref().map(redacted))
            .field("https", &self.https.as_ref().map(redacted))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// A URL fit for logs: its password replaced by `***`.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Reads the certificates of a PEM file (one or a bundle), refusing a file that holds none.
pub fn read_ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{shown}: not PEM certificates ({e})"))?;
    if certificates.is_empty() {
        return Err(format!("{shown}: holds no PEM certificate"));
    }
    Ok(certificates)
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

/// How to ask an upstream: its credentials and, for OCI registries, the media types to accept and the
/// token scope to request when the registry answers with a `Bearer` challenge.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fetch<'a> {
    /// Basic credentials, sent with the request (and to a token realm).
    pub credentials: Option<&'a Credentials>,
    /// The `Accept` header.
    pub accept: Option<&'a str>,
    /// `Some`: follow a `Bearer` challenge by fetching a token for this scope
    /// (`repository:<image>:pull`; empty for none, as for the `/v2/` ping), and reuse it for later
    /// requests of the same scope.
    pub token_scope: Option<&'a str>,
}

impl<'a> Fetch<'a> {
    /// Plain requests with optional Basic credentials.
    pub fn basic(credentials: Option<&'a Credentials>) -> Self {
        Self {
            credentials,
            ..Self::default()
        }
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

/// The header in which OCI registries name a manifest's digest.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// Largest token server answer read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

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
    /// `Docker-Content-Digest` (OCI registries).
    pub docker_content_digest: Option<String>,
    /// `Last-Modified`, as sent.
    pub last_modified: Option<String>,
    /// The body has neither a length nor chunked framing: it ends when the connection closes, so a body
    /// cut short looks complete.
    pub close_delimited: bool,
}

impl ResponseMeta {
    /// What tells this version of a document from another: its `ETag`, else its `Last-Modified` (as
    /// `Last-Modified: <date>`, so the two never compare equal).
    pub fn validator(&self) -> Option<String> {
        self.etag.clone().or_else(|| {
            self.last_modified
                .as_ref()
                .map(|date| format!("Last-Modified: {date}"))
        })
    }

    fn from_response(response: &reqwest::Response) -> Self {
        let headers = response.headers();
        let chunked = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        // HTTP/2 and later frame every body.
        let framed = response.version() >= reqwest::Version::HTTP_2
            || chunked
            || headers.contains_key(CONTENT_LENGTH);
        Self {
            close_delimited: !framed,
            ..Self::from_headers(response.status(), headers)
        }
    }

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
            docker_content_digest: text(HeaderName::from_static(DOCKER_CONTENT_DIGEST)),
            last_modified: text(LAST_MODIFIED),
            close_delimited: false,
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

/// Redirects followed before a request fails.
const MAX_REDIRECTS: usize = 5;

/// The HTTP client for upstreams.
#[derive(Clone)]
pub struct UpstreamClient {
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    settings: Arc<UpstreamSettings>,
    ca_certificates: Arc<Vec<reqwest::Certificate>>,
    tokens: Arc<TokenCache>,
}

impl UpstreamClient {
    /// Prepares the client, reading the extra CA certificates (a missing or empty file is an error);
    /// every connection goes through the SSRF guard unless local networks are allowed. The HTTP client
    /// itself (TLS context, root certificates) is built on the first request: an instance that only
    /// serves its cache and hosted files never pays its memory.
    pub fn new(settings: UpstreamSettings) -> UpstreamResult<Self> {
        let mut ca_certificates = Vec::new();
        for path in &settings.ca_certificates {
            ca_certificates.extend(read_ca_certificates(path).map_err(UpstreamError::Transport)?);
        }
        Ok(Self {
            client: Arc::default(),
            settings: Arc::new(settings),
            ca_certificates: Arc::new(ca_certificates),
            tokens: Arc::default(),
        })
    }

    fn client(&self) -> UpstreamResult<&reqwest::Client> {
        let built = self.client.get_or_init(|| {
            let settings = &self.settings;
            // Redirects are followed by `send`, which checks each destination as it checks the first.
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("packyard/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(settings.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                // No proxy from the environment: the settings name them.
                .no_proxy();
            let no_proxy = settings
                .proxy
                .no_proxy
                .as_deref()
                .and_then(reqwest::NoProxy::from_string);
            let proxy = &settings.proxy;
            if let Some(url) = &proxy.http {
                let route = reqwest::Proxy::http(url.as_str()).map_err(|e| e.to_string())?;
                builder = builder.proxy(route.no_proxy(no_proxy.clone()));
            }
            if let Some(url) = &proxy.https {
                let route = reqwest::Proxy::https(url.as_str()).map_err(|e| e.to_string())?;
                builder = builder.proxy(route.no_proxy(no_proxy));
            }
            let proxy_hosts = [&proxy.http, &proxy.https]
                .into_iter()
                .flatten()
                .filter_map(|url| url.host_str().map(str::to_owned))
                .collect();
            for certificate in self.ca_certificates.iter() {
                builder = builder.add_root_certificate(certificate.clone());
            }
            if !settings.addresses.allow_local_network {
                builder = builder.dns_resolver(Arc::new(guard::GuardedResolver {
                    policy: settings.addresses.clone(),
                    proxy_hosts,
                }));
            }
            builder.build().map_err(|e| e.to_string())
        });
        built
            .as_ref()
            .map_err(|e| UpstreamError::Transport(e.clone()))
    }

    /// Refuses a destination the SSRF guard does not allow. A request through a proxy is resolved by
    /// the proxy, never by the guarded resolver: its host's addresses are checked here instead.
    async fn check_destination(&self, url: &Url) -> UpstreamResult<()> {
        let policy = &self.settings.addresses;
        let checked = if self.settings.proxy.for_url(url).is_some() {
            check_destination(url, policy).await
        } else {
            check_url(url, policy)
        };
        checked.map_err(|refusal| UpstreamError::Blocked(refusal.to_string()))
    }

    /// Sends a request and follows up to [`MAX_REDIRECTS`] redirects, each destination checked before
    /// it is asked. Credentials go to the first origin only, as browsers and reqwest do: a registry that
    /// redirects a blob to a CDN must not hand the CDN its users' passwords.
    async fn send_following(
        &self,
        method: &Method,
        url: &Url,
        fetch: &Fetch<'_>,
        bearer: Option<&str>,
    ) -> UpstreamResult<reqwest::Response> {
        let mut url = url.clone();
        let origin = url.origin();
        for _ in 0..=MAX_REDIRECTS {
            self.check_destination(&url).await?;
            let request = if url.origin() == origin {
                self.request(method.clone(), &url, fetch, bearer)?
            } else {
                let anonymous = Fetch {
                    credentials: None,
                    ..*fetch
                };
                self.request(method.clone(), &url, &anonymous, None)?
            };
            let response = request.send().await.map_err(transport)?;
            let Some(next) = redirect_target(&response) else {
                return Ok(response);
            };
            url = next;
        }
        Err(UpstreamError::Transport("too many redirects".into()))
    }

    /// The settings in force.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    fn request(
        &self,
        method: Method,
        url: &Url,
        fetch: &Fetch<'_>,
        bearer: Option<&str>,
    ) -> UpstreamResult<reqwest::RequestBuilder> {
        let mut request = self.client()?.request(method, url.clone());
        if let Some(accept) = fetch.accept {
            request = request.header(ACCEPT, accept);
        }
        Ok(match (bearer, fetch.credentials) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some(c)) => request.basic_auth(&c.username, Some(&c.password)),
            (None, None) => request,
        })
    }

    /// Sends one request, answering a `Bearer` challenge with a token when `fetch` asks for that.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        fetch: &Fetch<'_>,
        timeout: Duration,
        waiting_for: &'static str,
    ) -> UpstreamResult<reqwest::Response> {
        let key = fetch
            .token_scope
            .map(|scope| TokenKey::new(url, scope, fetch.credentials));
        let cached = key.as_ref().and_then(|key| self.tokens.get(key));
        let send_once = |bearer: Option<String>| {
            let method = &method;
            async move {
                let sent = self.send_following(method, url, fetch, bearer.as_deref());
                tokio::time::timeout(timeout, sent)
                    .await
                    .map_err(|_| UpstreamError::Timeout(waiting_for))?
            }
        };
        let response = send_once(cached).await?;
        let (Some(key), StatusCode::UNAUTHORIZED) = (key, response.status()) else {
            return Ok(response);
        };
        let Some(challenge) = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer_challenge)
        else {
            return Ok(response);
        };
        match self.fetch_token(&challenge, fetch).await {
            Ok(Some((token, lifetime))) => {
                self.tokens.put(key, token.clone(), lifetime);
                send_once(Some(token)).await
            }
            // The token server refused: the registry's own 401 is the answer.
            Ok(None) => Ok(response),
            Err(error) => Err(error),
        }
    }

    /// Asks a challenge's realm for a token; `None` when the token server refuses.
    async fn fetch_token(
        &self,
        challenge: &BearerChallenge,
        fetch: &Fetch<'_>,
    ) -> UpstreamResult<Option<(String, Duration)>> {
        let mut realm = Url::parse(&challenge.realm).map_err(|e| {
            UpstreamError::Transport(format!("token realm {}: {e}", challenge.realm))
        })?;
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            let scope = challenge.scope.as_deref().or(fetch.token_scope);
            if let Some(scope) = scope.filter(|scope| !scope.is_empty()) {
                query.append_pair("scope", scope);
            }
        }
        // Not through `send`: a token server is never asked for a token itself.
        let basic = Fetch::basic(fetch.credentials);
        let send = self.send_following(&Method::GET, &realm, &basic, None);
        let response = tokio::time::timeout(self.settings.first_byte_timeout, send)
            .await
            .map_err(|_| UpstreamError::Timeout("token server"))??;
        let (meta, body) = self.collect_small(response, MAX_TOKEN_RESPONSE).await?;
        if !meta.status.is_success() {
            tracing::info!(status = %meta.status, realm = %challenge.realm, "token server refused");
            return Ok(None);
        }
        let answer: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Transport(format!("token server answer: {e}")))?;
        Ok(answer.into_token())
    }

    /// Sends a HEAD, bounded by the HEAD timeout.
    pub async fn head(&self, url: &Url, fetch: &Fetch<'_>) -> UpstreamResult<ResponseMeta> {
        let response = self
            .send(Method::HEAD, url, fetch, self.settings.head_timeout, "HEAD")
            .await?;
        Ok(ResponseMeta::from_headers(
            response.status(),
            response.headers(),
        ))
    }

    /// Starts a GET and returns its status, headers and streaming body.
    pub async fn get(&self, url: &Url, fetch: &Fetch<'_>) -> UpstreamResult<Download> {
        let response = self
            .send(
                Method::GET,
                url,
                fetch,
                self.settings.first_byte_timeout,
                "waiting for the response",
            )
            .await?;
        let meta = ResponseMeta::from_response(&response);
        let body = guarded_body(response, meta.content_length, self.settings.idle_timeout);
        Ok(Download { meta, body })
    }

    /// GETs a small document whole (checksum files, tokens), refusing more than `max` bytes.
    pub async fn get_small(
        &self,
        url: &Url,
        fetch: &Fetch<'_>,
        max: usize,
    ) -> UpstreamResult<(ResponseMeta, Bytes)> {
        let download = self.get(url, fetch).await?;
        collect_small(download, max).await
    }

    async fn collect_small(
        &self,
        response: reqwest::Response,
        max: usize,
    ) -> UpstreamResult<(ResponseMeta, Bytes)> {
        let meta = ResponseMeta::from_headers(response.status(), response.headers());
        let body = guarded_body(response, meta.content_length, self.settings.idle_timeout);
        collect_small(Download { meta, body }, max).await
    }

    /// GitLab's connection test: HEAD the URL; 2xx or 404 is a success.
    pub async fn test_connection(&self, url: &Url, fetch: &Fetch<'_>) -> ConnectionTest {
        match self.head(url, fetch).await {
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

/// Where a redirect points, resolved against the URL that answered it; `None` for any other answer.
fn redirect_target(response: &reqwest::Response) -> Option<Url> {
    let redirects = [301, 302, 303, 307, 308];
    if !redirects.contains(&response.status().as_u16()) {
        return None;
    }
    let location = response.headers().get(reqwest::header::LOCATION)?;
    response.url().join(location.to_str().ok()?).ok()
}

/// Reads a whole body, refusing more than `max` bytes.
async fn collect_small(
    mut download: Download,
    max: usize,
) -> UpstreamResult<(ResponseMeta, Bytes)> {
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

/// The upstream URL of a repository path: `File.join(upstream.url, path)`. The path is decoded, so a `?`
/// or `#` in it is part of a file name and is sent encoded, never as the start of a query or fragment.
pub fn join_url(base: &str, path: &str) -> Result<Url, url::ParseError> {
    let path = path
        .trim_start_matches('/')
        .replace('?', "%3F")
        .replace('#', "%23");
    Url::parse(&format!("{}/{path}", base.trim_end_matches('/')))
}
