//! Limits every connection gets, whatever the surface: a declared body above the largest one any route
//! accepts is refused before it is read, a body that stops arriving fails after an idle timeout, and a
//! request whose body may be partly unread is answered on a connection that is then closed, so a peer
//! can't keep it open by trickling or by never finishing a body nobody reads.

use std::cell::RefCell;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::{Error, HttpMessage, HttpResponse};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{Stream, StreamExt};
use packyard_core::CoreError;

use crate::gitlab_error_body;

/// The limits, from settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// The largest body any route accepts; a larger declared `Content-Length` is a 413 at once.
    pub max_body_size: u64,
}

/// The middleware that applies [`ConnectionLimits`].
pub struct Connections(pub ConnectionLimits);

impl<S, B> Transform<S, ServiceRequest> for Connections
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Transform = ConnectionsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ConnectionsService {
            service,
            limits: self.0,
        }))
    }
}

/// The wrapped service.
pub struct ConnectionsService<S> {
    service: S,
    limits: ConnectionLimits,
}

/// The request body, shared between the stream the handler reads and the response: the connection
/// sees it unread (and closes after the response) until the response has gone out, even when the
/// handler answered without reading it. A body dropped unread would instead be drained, however slowly
/// the peer sends it.
type SharedPayload = Rc<RefCell<Payload>>;

/// A response body that keeps the request body alive until it has been sent.
struct KeepingRequestBody {
    body: BoxBody,
    _request_body: SharedPayload,
}

impl MessageBody for KeepingRequestBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// A request body that ends in an error when no piece arrives within `idle`.
struct IdleLimited {
    payload: SharedPayload,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    ended: bool,
}

impl Stream for IdleLimited {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let polled = self.payload.borrow_mut().poll_next_unpin(cx);
        match polled {
            Poll::Ready(Some(item)) => {
                let next = tokio::time::Instant::now() + self.idle;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.ended = true;
                    let stalled = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no request body arrived for {} seconds",
                            self.idle.as_secs()
                        ),
                    );
                    Poll::Ready(Some(Err(PayloadError::Io(stalled))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S, B> Service<ServiceRequest> for ConnectionsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let headers = req.headers();
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let has_body =
            declared.is_some_and(|length| length > 0) || headers.contains_key(TRANSFER_ENCODING);
        let max = self.limits.max_body_size;
        if declared.is_some_and(|length| length > max) {
            let refusal =
                CoreError::TooLarge(format!("the request body is larger than {max} bytes"));
            let mut response = HttpResponse::PayloadTooLarge().json(gitlab_error_body(&refusal));
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
            return Box::pin(ready(Ok(req.into_response(response).map_into_right_body())));
        }
        let unread = has_body.then(|| {
            let payload: SharedPayload = Rc::new(RefCell::new(req.take_payload()));
            let idle = self.limits.body_idle_timeout;
            req.set_payload(Payload::Stream {
                payload: Box::pin(IdleLimited {
                    payload: payload.clone(),
                    idle,
                    deadline: Box::pin(tokio::time::sleep(idle)),
                    ended: false,
                }),
            });
            payload
        });
        let future = self.service.call(req);
        Box::pin(async move {
            let response = future.await?;
            Ok(match unread {
                Some(request_body) => response.map_body(|_, body| {
                    EitherBody::right(BoxBody::new(KeepingRequestBody {
                        body: BoxBody::new(body),
                        _request_body: request_body,
                    }))
                }),
                None => response.map_into_left_body(),
            })
        })
    }
}
