//! Fake upstream servers on 127.0.0.1:0 whose answers a test scripts per path, and which log every request.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;

/// How the fake answers a path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body, content type and optional ETag (HEAD gets the headers only).
    File {
        /// The body.
        body: Bytes,
        /// Content type.
        content_type: String,
        /// ETag header, sent as given.
        etag: Option<String>,
    },
    /// This status with an empty body.
    Status(u16),
    /// Declares `declared` bytes, sends `body`, then stalls until the client gives up.
    Stall {
        /// Bytes sent before stalling.
        body: Bytes,
        /// Declared Content-Length.
        declared: u64,
    },
    /// Declares `declared` bytes, sends `body`, then closes the connection.
    Truncate {
        /// Bytes sent before closing.
        body: Bytes,
        /// Declared Content-Length.
        declared: u64,
    },
    /// Waits this long before answering with the inner reply.
    Delay(Duration, Box<Reply>),
    /// The inner reply with extra headers (`Docker-Content-Digest` …).
    WithHeaders(Vec<(String, String)>, Box<Reply>),
}

impl Reply {
    /// A 200 file with a content type.
    pub fn file(body: impl Into<Bytes>, content_type: &str) -> Self {
        Reply::File {
            body: body.into(),
            content_type: content_type.to_owned(),
            etag: None,
        }
    }

    /// The same reply with an extra header.
    pub fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            Reply::WithHeaders(mut headers, inner) => {
                headers.push((name.to_owned(), value.to_owned()));
                Reply::WithHeaders(headers, inner)
            }
            other => Reply::WithHeaders(vec![(name.to_owned(), value.to_owned())], Box::new(other)),
        }
    }

    /// A 200 file with an ETag.
    pub fn file_with_etag(body: impl Into<Bytes>, content_type: &str, etag: &str) -> Self {
        Reply::File {
            body: body.into(),
            content_type: content_type.to_owned(),
            etag: Some(etag.to_owned()),
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The path, with its leading slash.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// The requests received.
pub type UpstreamLog = Arc<Mutex<Vec<LoggedRequest>>>;

/// Authentication a fake demands of every request but its token endpoint.
#[derive(Clone)]
pub enum FakeAuth {
    /// HTTP Basic with these credentials; 401 with a `Basic` challenge otherwise.
    Basic(String, String),
    /// An OCI registry's token dance: 401 with a `Bearer` challenge whose realm is `/token` on the fake;
    /// `/token` hands out tokens (to these Basic credentials only, when given) that expire after
    /// `lifetime` seconds, as the token answer says.
    Bearer {
        /// Credentials the token endpoint demands; `None`: anonymous tokens.
        credentials: Option<(String, String)>,
        /// `expires_in` of the tokens.
        lifetime: u64,
    },
}

/// The token endpoint of [`FakeAuth::Bearer`].
pub const FAKE_TOKEN_PATH: &str = "/token";

struct State {
    replies: Mutex<HashMap<String, Reply>>,
    log: UpstreamLog,
    root: Option<std::path::PathBuf>,
    auth: Mutex<Option<FakeAuth>>,
    issued_tokens: Mutex<Vec<String>>,
}

/// A scripted upstream on loopback; stopped when dropped.
pub struct FakeUpstream {
    /// Base URL, as `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
    /// After [`FakeUpstream::stop`]: holds the port and closes every connection, so no other test's
    /// server can take the port and answer in the stopped fake's place.
    squatter: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FakeUpstream {
    /// Starts a fake that answers 404 to everything not scripted.
    pub async fn start() -> Self {
        Self::start_serving(None).await
    }

    /// Starts a fake that serves the files under `root` (symlinks followed) besides what is scripted.
    pub async fn serve_directory(root: impl Into<std::path::PathBuf>) -> Self {
        Self::start_serving(Some(root.into())).await
    }

    async fn start_serving(root: Option<std::path::PathBuf>) -> Self {
        let state = Arc::new(State {
            replies: Mutex::new(HashMap::new()),
            log: Arc::new(Mutex::new(Vec::new())),
            root,
            auth: Mutex::new(None),
            issued_tokens: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            state,
            handle,
            squatter: Mutex::new(None),
        }
    }

    /// Scripts the answer for a path (with or without its leading slash).
    pub fn set(&self, path: &str, reply: Reply) {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.state.replies.lock().unwrap().insert(path, reply);
    }

    /// Demands authentication from now on.
    pub fn require(&self, auth: FakeAuth) {
        *self.state.auth.lock().unwrap() = Some(auth);
    }

    /// Forgets the tokens handed out so far (as a token expiring would).
    pub fn revoke_tokens(&self) {
        self.state.issued_tokens.lock().unwrap().clear();
    }

    /// Removes a path's script (it then answers 404).
    pub fn remove(&self, path: &str) {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.state.replies.lock().unwrap().remove(&path);
    }

    /// All requests so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many requests of `method` for `path` arrived.
    pub fn count(&self, method: &str, path: &str) -> usize {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Stops the server now: later requests fail (their connections are closed without an answer).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
        let address = self.url.trim_start_matches("http://").to_owned();
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(&address).await {
                Ok(bound) => {
                    listener = Some(bound);
                    break;
                }
                // The server's socket may take a moment to close.
                Err(_) => tokio::task::yield_now().await,
            }
        }
        let listener = listener.expect("the stopped fake's port could not be held");
        let squatter = tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                drop(connection);
            }
        });
        *self.squatter.lock().unwrap() = Some(squatter);
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(squatter) = self.squatter.lock().unwrap().take() {
            squatter.abort();
        }
        let handle = self.handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

async fn answer(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    state.log.lock().unwrap().push(LoggedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let auth = state.auth.lock().unwrap().clone();
    if let Some(auth) = auth
        && let Some(refusal) = check_auth(&req, &state, &auth)
    {
        return refusal;
    }
    let mut reply = state.replies.lock().unwrap().get(req.path()).cloned();
    let head = req.method() == actix_web::http::Method::HEAD;
    if reply.is_none()
        && let Some(root) = &state.root
    {
        let relative = req.path().trim_start_matches('/');
        let safe = !relative.split('/').any(|s| s == ".." || s.is_empty());
        let file = root.join(relative);
        if safe && head {
            // A HEAD reads the file's size only: reading whole jars made HEADs slow enough, on a busy
            // machine, to run past the server's HEAD timeout.
            if let Ok(metadata) = tokio::fs::metadata(&file).await
                && metadata.is_file()
            {
                return HttpResponse::Ok()
                    .content_type("application/octet-stream")
                    .no_chunking(metadata.len())
                    .finish();
            }
        } else if safe && let Ok(body) = tokio::fs::read(&file).await {
            reply = Some(Reply::file(body, "application/octet-stream"));
        }
    }
    respond(reply, head).await
}

fn basic_of(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (user, password) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some((user, password))
}

/// `Some(response)` when the request is refused, or is the token request itself.
fn check_auth(req: &HttpRequest, state: &State, auth: &FakeAuth) -> Option<HttpResponse> {
    match auth {
        FakeAuth::Basic(user, password) => {
            let presented = basic_of(req);
            (presented.as_ref() != Some(&(user.clone(), password.clone()))).then(|| {
                HttpResponse::Unauthorized()
                    .insert_header(("WWW-Authenticate", "Basic realm=\"fake\""))
                    .finish()
            })
        }
        FakeAuth::Bearer {
            credentials,
            lifetime,
        } => {
            if req.path() == FAKE_TOKEN_PATH {
                if credentials.is_some() && basic_of(req) != *credentials {
                    return Some(HttpResponse::Unauthorized().finish());
                }
                let mut issued = state.issued_tokens.lock().unwrap();
                let token = format!("fake-token-{}", issued.len() + 1);
                issued.push(token.clone());
                return Some(
                    HttpResponse::Ok()
                        .json(serde_json::json!({"token": token, "expires_in": lifetime})),
                );
            }
            let presented = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let valid = presented.is_some_and(|t| state.issued_tokens.lock().unwrap().contains(&t));
            if valid {
                return None;
            }
            let host = req.connection_info().host().to_owned();
            let image = req
                .path()
                .strip_prefix("/v2/")
                .and_then(|rest| rest.rsplitn(3, '/').nth(2))
                .unwrap_or("");
            let mut challenge =
                format!(r#"Bearer realm="http://{host}{FAKE_TOKEN_PATH}",service="fake-registry""#);
            if !image.is_empty() {
                challenge.push_str(&format!(r#",scope="repository:{image}:pull""#));
            }
            Some(
                HttpResponse::Unauthorized()
                    .insert_header(("WWW-Authenticate", challenge))
                    .finish(),
            )
        }
    }
}

async fn respond(reply: Option<Reply>, head: bool) -> HttpResponse {
    let mut reply = reply;
    let mut extra_headers = Vec::new();
    loop {
        match reply {
            Some(Reply::Delay(delay, inner)) => {
                tokio::time::sleep(delay).await;
                reply = Some(*inner);
            }
            Some(Reply::WithHeaders(headers, inner)) => {
                extra_headers.extend(headers);
                reply = Some(*inner);
            }
            other => {
                reply = other;
                break;
            }
        }
    }
    let mut response = respond_plain(reply, head);
    for (name, value) in extra_headers {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::try_from(name).unwrap(),
            actix_web::http::header::HeaderValue::try_from(value).unwrap(),
        );
    }
    response
}

fn respond_plain(reply: Option<Reply>, head: bool) -> HttpResponse {
    match reply {
        None => HttpResponse::NotFound().finish(),
        Some(Reply::Status(code)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
        }
        Some(Reply::File {
            body,
            content_type,
            etag,
        }) => {
            let mut response = HttpResponse::Ok();
            response.content_type(content_type);
            if let Some(etag) = etag {
                response.insert_header(("ETag", etag));
            }
            if head {
                response.no_chunking(body.len() as u64).finish()
            } else {
                response.body(body)
            }
        }
        Some(Reply::Stall { body, declared }) => {
            if head {
                return HttpResponse::Ok().no_chunking(declared).finish();
            }
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) })
                .chain(futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(Bytes::new())
                }));
            HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(actix_web::body::SizedStream::new(declared, stream))
        }
        Some(Reply::Truncate { body, declared }) => {
            if head {
                return HttpResponse::Ok().no_chunking(declared).finish();
            }
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) })
                .chain(futures_util::stream::once(async {
                    Err(std::io::Error::other("connection cut"))
                }));
            HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(actix_web::body::SizedStream::new(declared, stream))
        }
        Some(Reply::Delay(..) | Reply::WithHeaders(..)) => {
            unreachable!("delays and headers are unwrapped above")
        }
    }
}

use futures_util::StreamExt;

/// An HTTP/1.1 upstream whose bodies have neither a length nor chunked framing: they end when the
/// connection closes, so a body cut short looks whole. Paths not scripted answer 404.
pub struct CloseDelimitedUpstream {
    /// Base URL, as `http://127.0.0.1:PORT`.
    pub url: String,
    files: Arc<Mutex<HashMap<String, Bytes>>>,
    gets: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl CloseDelimitedUpstream {
    /// Starts the server.
    pub async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Bytes>>> = Arc::default();
        let gets: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served, logged) = (files.clone(), gets.clone());
        let server = tokio::spawn(async move {
            while let Ok((mut connection, _)) = listener.accept().await {
                let (files, gets) = (served.clone(), logged.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match connection.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let mut words = head.split_whitespace();
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    if method == "GET" {
                        gets.lock().unwrap().push(path.to_owned());
                    }
                    let body = files.lock().unwrap().get(path).cloned();
                    let answer = match body {
                        Some(body) => {
                            let mut answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/java-archive\r\nConnection: close\r\n\r\n".to_vec();
                            if method == "GET" {
                                answer.extend_from_slice(&body);
                            }
                            answer
                        }
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec(),
                    };
                    let _ = connection.write_all(&answer).await;
                    let _ = connection.shutdown().await;
                });
            }
        });
        Self {
            url,
            files,
            gets,
            server,
        }
    }

    /// Serves `body` at `path` (with or without its leading slash).
    pub fn set(&self, path: &str, body: impl Into<Bytes>) {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.files.lock().unwrap().insert(path, body.into());
    }

    /// How many GETs of `path` arrived.
    pub fn gets(&self, path: &str) -> usize {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.gets
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == path)
            .count()
    }
}

impl Drop for CloseDelimitedUpstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}
