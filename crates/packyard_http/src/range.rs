//! `HEAD`, conditional requests and range requests on downloads, for every surface at once.
//!
//! `HEAD` is routed as `GET` wherever `GET` is (RFC 9110 §9.3.2): the answer keeps the `GET`'s headers
//! and its body is dropped unread. A handler that can answer a `HEAD` more cheaply (a probe that
//! fetches nothing) asks [`is_head`].
//!
//! Conditional requests (RFC 9110 §13): a `200` to a `GET` or `HEAD` that carries an `ETag` or a
//! `Last-Modified` is answered `304 Not Modified` without its body when `If-None-Match` names its tag
//! (weak comparison) or, without `If-None-Match`, `If-Modified-Since` is no earlier than its date.
//!
//! Range requests (RFC 9110 §14): a handler marks a download as
//! seekable by answering `Accept-Ranges: bytes` with a sized body, and this middleware answers a `GET`
//! with one satisfiable byte range `206 Partial Content` and that slice of the body, an unsatisfiable one
//! `416 Range Not Satisfiable`. Clients resume interrupted transfers this way (containerd resumes blobs,
//! download managers resume artifacts).
//!
//! Stored content (a handler puts its [`packyard_core::SeekableContent`] in the response's extensions) is
//! read from the range's start; any other body is sliced from its stream, the bytes before the range read
//! and dropped, never buffered. Anything else is answered whole, as the RFC allows: several ranges, a range that does not
//! parse, a body of unknown length, an `If-Range` that does not name the response's strong `ETag`,
//! and every `HEAD`.

use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{
    ACCEPT_RANGES, CONTENT_RANGE, ETAG, HeaderMap, HeaderValue, HttpDate, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;

/// The one byte range unit there is.
pub const BYTES: &str = "bytes";

/// What a `Range` header asks of a body of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send the whole body.
    Whole,
    /// Send bytes `start..=end` (both within the body).
    Part {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// The range starts past the end of the body (or asks for a suffix of no bytes).
    Unsatisfiable,
}

impl RangeRequest {
    /// Reads one `Range` header value (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a body of `length`
    /// bytes. Several ranges, another unit or a malformed value mean [`RangeRequest::Whole`].
    pub fn parse(value: &str, length: u64) -> Self {
        let Some((unit, spec)) = value.trim().split_once('=') else {
            return Self::Whole;
        };
        if !unit.trim().eq_ignore_ascii_case(BYTES) || spec.contains(',') {
            return Self::Whole;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        let number = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        if first.is_empty() {
            // `bytes=-n`: the last n bytes.
            return match number(last) {
                None => Self::Whole,
                Some(0) => Self::Unsatisfiable,
                Some(_) if length == 0 => Self::Unsatisfiable,
                Some(suffix) => Self::Part {
                    start: length.saturating_sub(suffix),
                    end: length - 1,
                },
            };
        }
        let Some(start) = number(first) else {
            return Self::Whole;
        };
        let end = match (last.is_empty(), number(last)) {
            (true, _) => None,
            (false, Some(end)) if end >= start => Some(end),
            (false, _) => return Self::Whole,
        };
        if start >= length {
            return Self::Unsatisfiable;
        }
        Self::Part {
            start,
            end: end.map_or(length - 1, |end| end.min(length - 1)),
        }
    }
}

/// The range to answer for a request's headers and a response's headers, for a body of `length` bytes.
pub fn requested_range(request: &HeaderMap, response: &HeaderMap, length: u64) -> RangeRequest {
    let Some(range) = request.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeRequest::Whole;
    };
    if let Some(condition) = request.get(IF_RANGE) {
        // Only a strong validator that matches lets the range through; a date or a weak tag cannot
        // prove the client's part comes from these bytes.
        let matches = response
            .get(ETAG)
            .is_some_and(|etag| etag == condition && !etag.as_bytes().starts_with(b"W/"));
        if !matches {
            return RangeRequest::Whole;
        }
    }
    RangeRequest::parse(range, length)
}

/// Marks a `HEAD` routed as a `GET`.
#[derive(Debug, Clone, Copy)]
struct HeadRequest;

/// Whether the client sent `HEAD` (routed as `GET`): a handler may then skip producing the body.
pub fn is_head(req: &HttpRequest) -> bool {
    req.method() == Method::HEAD || req.extensions().contains::<HeadRequest>()
}

/// Whether a response's validators show the client's copy is current (RFC 9110 §13.2.2 order:
/// `If-None-Match` first, `If-Modified-Since` only without it).
pub fn not_modified(request: &HeaderMap, response: &HeaderMap) -> bool {
    let opaque = |tag: &[u8]| -> Vec<u8> { tag.strip_prefix(b"W/").unwrap_or(tag).to_vec() };
    if let Some(condition) = request.get(IF_NONE_MATCH) {
        let Some(etag) = response.get(ETAG) else {
            return false;
        };
        let etag = opaque(etag.as_bytes());
        return condition
            .as_bytes()
            .split(|b| *b == b',')
            .map(|tag| tag.trim_ascii())
            .any(|tag| tag == b"*" || opaque(tag) == etag);
    }
    let date = |headers: &HeaderMap, name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| v.parse::<HttpDate>().ok())
            .map(std::time::SystemTime::from)
    };
    match (
        date(request, IF_MODIFIED_SINCE),
        date(response, LAST_MODIFIED),
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// The middleware for `HEAD`, conditional and range requests on downloads; ranges only on those marked
/// `Accept-Ranges: bytes`.
pub struct Ranges;

impl<S, B> Transform<S, ServiceRequest> for Ranges
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Transform = RangesService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RangesService { service }))
    }
}

/// The wrapped service.
pub struct RangesService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for RangesService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let head = req.method() == Method::HEAD;
        if head {
            req.head_mut().method = Method::GET;
            req.extensions_mut().insert(HeadRequest);
        }
        let readable = head || req.method() == Method::GET;
        let ranged = !head && req.method() == Method::GET && req.headers().contains_key(RANGE);
        let future = self.service.call(req);
        Box::pin(async move {
            let response = future.await?;
            let ok = response.status() == StatusCode::OK;
            if readable && ok && not_modified(response.request().headers(), response.headers()) {
                let mut response =
                    response.map_body(|_, _| BoxBody::new(actix_web::body::None::new()));
                *response.response_mut().status_mut() = StatusCode::NOT_MODIFIED;
                return Ok(response.map_into_right_body());
            }
            if head {
                // The client gets the headers alone: the body is announced by its size, never read.
                let response = response.map_body(|_, body| match body.size() {
                    BodySize::Sized(length) => crate::head_body(Some(length)),
                    BodySize::Stream => crate::head_body(None),
                    BodySize::None => BoxBody::new(actix_web::body::None::new()),
                });
                return Ok(response.map_into_right_body());
            }
            if !ranged || !ok {
                return Ok(response.map_into_left_body());
            }
            let seekable = response
                .headers()
                .get(ACCEPT_RANGES)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(BYTES.as_bytes()));
            let BodySize::Sized(length) = response.response().body().size() else {
                return Ok(response.map_into_left_body());
            };
            if !seekable {
                return Ok(response.map_into_left_body());
            }
            let wanted = requested_range(response.request().headers(), response.headers(), length);
            Ok(match wanted {
                RangeRequest::Whole => response.map_into_left_body(),
                RangeRequest::Unsatisfiable => {
                    let mut response = response.map_body(|_, _| BoxBody::new(()));
                    *response.response_mut().status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                    set_content_range(response.headers_mut(), &format!("*/{length}"));
                    response.map_into_right_body()
                }
                RangeRequest::Part { start, end } => {
                    // Stored content is read from the range's start; anything else is read through.
                    let seekable = response
                        .response()
                        .extensions()
                        .get::<packyard_core::SeekableContent>()
                        .cloned();
                    let part = match seekable {
                        Some(content) => content.read(start, end + 1).await.ok(),
                        None => None,
                    };
                    let left = end - start + 1;
                    let mut response = response.map_body(|_, body| match part {
                        Some(part) => crate::stream_body(Some(left), part),
                        None => BoxBody::new(SlicedBody {
                            body: BoxBody::new(body),
                            skip: start,
                            left,
                        }),
                    });
                    *response.response_mut().status_mut() = StatusCode::PARTIAL_CONTENT;
                    set_content_range(response.headers_mut(), &format!("{start}-{end}/{length}"));
                    response.map_into_right_body()
                }
            })
        })
    }
}

fn set_content_range(headers: &mut HeaderMap, value: &str) {
    if let Ok(value) = HeaderValue::from_str(&format!("{BYTES} {value}")) {
        headers.insert(CONTENT_RANGE, value);
    }
}

/// `left` bytes of a body after its first `skip` bytes; it stops reading the body once they are out.
struct SlicedBody {
    body: BoxBody,
    skip: u64,
    left: u64,
}

impl MessageBody for SlicedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.left)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        loop {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let mut chunk = match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                // A body that ends before the range does is cut short: the sized response fails.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            let length = chunk.len() as u64;
            if self.skip >= length {
                self.skip -= length;
                continue;
            }
            // Both are below the chunk's length here, so they fit in usize.
            let _ = chunk.split_to(self.skip as usize);
            self.skip = 0;
            if chunk.len() as u64 > self.left {
                chunk.truncate(self.left as usize);
            }
            self.left -= chunk.len() as u64;
            if chunk.is_empty() {
                continue;
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};
    use futures_util::StreamExt;

    #[test]
    fn single_byte_ranges_are_read_and_the_rest_served_whole() {
        use RangeRequest::{Part, Unsatisfiable, Whole};
        let cases = [
            ("bytes=0-0", Part { start: 0, end: 0 }),
            ("bytes=2-5", Part { start: 2, end: 5 }),
            ("bytes=2-", Part { start: 2, end: 9 }),
            ("bytes=2-1000", Part { start: 2, end: 9 }),
            ("bytes=-3", Part { start: 7, end: 9 }),
            ("bytes=-30", Part { start: 0, end: 9 }),
            (" Bytes = 9-9 ", Part { start: 9, end: 9 }),
            ("bytes=10-", Unsatisfiable),
            ("bytes=10-20", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=5-2", Whole),
            ("bytes=0-1,4-5", Whole),
            ("items=0-1", Whole),
            ("bytes=a-b", Whole),
            ("bytes=-", Whole),
            ("bytes=+1-2", Whole),
            ("bytes", Whole),
        ];
        for (value, expected) in cases {
            assert_eq!(RangeRequest::parse(value, 10), expected, "{value}");
        }
        assert_eq!(RangeRequest::parse("bytes=0-", 0), Unsatisfiable);
    }

    const CONTENT: &[u8] = b"0123456789abcdefghij";

    /// A download in three chunks, marked seekable, with a strong ETag.
    async fn download() -> HttpResponse {
        let chunks = [&CONTENT[..7], &CONTENT[7..8], &CONTENT[8..]]
            .map(|chunk| Ok::<_, std::io::Error>(Bytes::from_static(chunk)));
        HttpResponse::Ok()
            .insert_header((ACCEPT_RANGES, BYTES))
            .insert_header((ETAG, "\"v1\""))
            .body(crate::stream_body(
                Some(CONTENT.len() as u64),
                futures_util::stream::iter(chunks).boxed(),
            ))
    }

    async fn unmarked() -> HttpResponse {
        HttpResponse::Ok().body(CONTENT)
    }

    async fn answer(headers: &[(&str, &str)], path: &str) -> (u16, Option<String>, Vec<u8>) {
        let app = actix_test::init_service(
            App::new()
                .wrap(Ranges)
                .route("/download", web::get().to(download))
                .route("/download", web::head().to(download))
                .route("/unmarked", web::get().to(unmarked)),
        )
        .await;
        let mut request = actix_test::TestRequest::get().uri(path);
        for (name, value) in headers {
            if *name == "method" {
                request = request.method(Method::from_bytes(value.as_bytes()).unwrap());
            } else {
                request = request.insert_header((*name, *value));
            }
        }
        let response = actix_test::call_service(&app, request.to_request()).await;
        let status = response.status().as_u16();
        let range = response
            .headers()
            .get(CONTENT_RANGE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = actix_test::read_body(response).await.to_vec();
        (status, range, body)
    }

    #[actix_web::test]
    async fn a_range_across_chunks_is_answered_206_with_its_bytes() {
        let (status, range, body) = answer(&[("Range", "bytes=5-12")], "/download").await;
        assert_eq!(status, 206);
        assert_eq!(range.as_deref(), Some("bytes 5-12/20"));
        assert_eq!(body, &CONTENT[5..=12]);

        let (status, range, body) = answer(&[("Range", "bytes=8-")], "/download").await;
        assert_eq!((status, range.as_deref()), (206, Some("bytes 8-19/20")));
        assert_eq!(body, &CONTENT[8..]);

        let (status, range, body) = answer(&[("Range", "bytes=-2")], "/download").await;
        assert_eq!((status, range.as_deref()), (206, Some("bytes 18-19/20")));
        assert_eq!(body, b"ij");
    }

    #[actix_web::test]
    async fn a_range_past_the_end_is_416_with_the_length() {
        let (status, range, body) = answer(&[("Range", "bytes=20-")], "/download").await;
        assert_eq!(status, 416);
        assert_eq!(range.as_deref(), Some("bytes */20"));
        assert!(body.is_empty());
    }

    #[actix_web::test]
    async fn otherwise_the_whole_body_is_sent() {
        let whole = (200, None, CONTENT.to_vec());
        for headers in [
            &[][..],
            &[("Range", "bytes=0-1,5-6")],
            &[("Range", "bytes=x")],
            &[("Range", "bytes=2-3"), ("If-Range", "\"v0\"")],
            &[
                ("Range", "bytes=2-3"),
                ("If-Range", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
        ] {
            assert_eq!(answer(headers, "/download").await, whole, "{headers:?}");
        }
        assert_eq!(
            answer(&[("Range", "bytes=2-3")], "/unmarked").await,
            whole,
            "a response not marked seekable"
        );
        // The server leaves out a HEAD's body; the middleware leaves it whole.
        let (status, range, _) =
            answer(&[("Range", "bytes=2-3"), ("method", "HEAD")], "/download").await;
        assert_eq!((status, range), (200, None), "HEAD");
        let (status, range, body) = answer(
            &[("Range", "bytes=2-3"), ("If-Range", "\"v1\"")],
            "/download",
        )
        .await;
        assert_eq!(
            (status, range.as_deref(), body),
            (206, Some("bytes 2-3/20"), b"23".to_vec())
        );
    }
}
