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

/// The body of a HEAD answer: announces `length` (actix sends a HEAD's headers from its body's size and
/// never polls the body).
pub fn head_body(length: Option<u64>) -> BoxBody {
    stream_body(length, futures_util::stream::empty().boxed())
}
