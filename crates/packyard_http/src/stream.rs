//! Streaming response bodies: sized when the length is known, so a transfer cut short is seen as such.

use actix_web::body::{BoxBody, MessageBody, SizedStream};
use bytes::Bytes;
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
