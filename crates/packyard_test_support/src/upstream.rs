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

struct State {
    replies: Mutex<HashMap<String, Reply>>,
    log: UpstreamLog,
    root: Option<std::path::PathBuf>,
}

/// A scripted upstream on loopback; stopped when dropped.
pub struct FakeUpstream {
    /// Base URL, as `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
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
        Self { url, state, handle }
    }

    /// Scripts the answer for a path (with or without its leading slash).
    pub fn set(&self, path: &str, reply: Reply) {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.state.replies.lock().unwrap().insert(path, reply);
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

    /// Stops the server now (later requests fail to connect).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
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
    let mut reply = state.replies.lock().unwrap().get(req.path()).cloned();
    if reply.is_none()
        && let Some(root) = &state.root
    {
        let relative = req.path().trim_start_matches('/');
        let safe = !relative.split('/').any(|s| s == ".." || s.is_empty());
        if safe && let Ok(body) = tokio::fs::read(root.join(relative)).await {
            reply = Some(Reply::file(body, "application/octet-stream"));
        }
    }
    let head = req.method() == actix_web::http::Method::HEAD;
    respond(reply, head).await
}

async fn respond(reply: Option<Reply>, head: bool) -> HttpResponse {
    let mut reply = reply;
    while let Some(Reply::Delay(delay, inner)) = reply {
        tokio::time::sleep(delay).await;
        reply = Some(*inner);
    }
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
        Some(Reply::Delay(..)) => unreachable!("delays are unwrapped above"),
    }
}

use futures_util::StreamExt;
