//! Streaming response bodies: sized when the length is known, so a transfer cut short is seen as such.

use actix_web::body::{BoxBody, MessageBody, SizedStream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// A response body from a byte stream; with a known length the client can tell a truncated transfer.
pub fn stream_body(
    length: Option<u64>,
    body: BoxStream<'static, std::io::Result<Bytes>>,
) -> BoxBody {
    match length {
        Some(length) => SizedStream::new(length, body).boxed(),
        None => actix_web::body::BodyStream::new(body).boxed(),
    }
}

/// Sets a download's validators for conditional requests: a strong `ETag` from its content digest
/// (stored content never changes under a digest) and `Last-Modified` from when it was stored.
pub fn set_validators(
    response: &mut actix_web::HttpResponseBuilder,
    digest: &str,
    modified: Option<chrono::NaiveDateTime>,
) {
    response.insert_header((actix_web::http::header::ETAG, format!("\"{digest}\"")));
    if let Some(modified) = modified {
        let at = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(modified.and_utc().timestamp().max(0) as u64);
        response.insert_header((
            actix_web::http::header::LAST_MODIFIED,
            actix_web::http::header::HttpDate::from(at),
        ));
    }
}

/// The body of a HEAD answer: announces `length` in the headers, and has no bytes to read.
pub fn head_body(length: Option<u64>) -> BoxBody {
    stream_body(length, futures_util::stream::empty().boxed())
}
