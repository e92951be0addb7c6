//! One mapping from [`CoreError`] to HTTP, in GitLab's error format.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use packyard_core::CoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A core error as an HTTP response in GitLab's format.
#[derive(Debug)]
pub struct ApiError(pub CoreError);

/// Result of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<CoreError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError(error.into())
    }
}

/// The status of a core error.
pub fn status_of(error: &CoreError) -> StatusCode {
    match error {
        CoreError::Unauthorized => StatusCode::UNAUTHORIZED,
        CoreError::Forbidden => StatusCode::FORBIDDEN,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Invalid(_)
        | CoreError::BadParameter(_)
        | CoreError::BadRequest(_)
        | CoreError::NoUpstreams => StatusCode::BAD_REQUEST,
        CoreError::Conflict(_) => StatusCode::CONFLICT,
        CoreError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        CoreError::UpstreamUnavailable(_) | CoreError::Unavailable(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        CoreError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
        CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// GitLab's JSON error body: `{"message": …}`, or `{"error": …}` for a parameter Grape refuses.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum GitlabErrorBody {
    /// Most errors: `{"message": "404 Registry Not Found"}`.
    Message {
        /// The status and what went wrong.
        message: String,
    },
    /// A record that fails validation: `{"message": {"name": ["can't be blank"]}}`.
    Fields {
        /// Each invalid attribute with its messages.
        message: BTreeMap<String, Vec<String>>,
    },
    /// A missing or malformed parameter: `{"error": "url is missing"}`.
    Error {
        /// What is wrong with which parameter.
        error: String,
    },
}

/// GitLab's JSON error body for a core error.
pub fn gitlab_error_body(error: &CoreError) -> GitlabErrorBody {
    let message = |text: String| GitlabErrorBody::Message { message: text };
    match error {
        CoreError::Unauthorized => message("401 Unauthorized".into()),
        CoreError::Forbidden => message("403 Forbidden".into()),
        CoreError::NotFound(what) if what.is_empty() => message("404 Not found".into()),
        CoreError::NotFound(what) => message(format!("404 {what} Not Found")),
        CoreError::Invalid(fields) => GitlabErrorBody::Fields {
            message: fields.0.clone(),
        },
        CoreError::BadParameter(text) => GitlabErrorBody::Error {
            error: text.clone(),
        },
        CoreError::BadRequest(text) => message(format!("400 Bad request - {text}")),
        CoreError::NoUpstreams => message("400 Bad request - No upstreams set".into()),
        CoreError::Conflict(text) => message(format!("409 Conflict - {text}")),
        CoreError::TooLarge(text) => message(format!("413 Request Entity Too Large - {text}")),
        CoreError::UpstreamUnavailable(_) | CoreError::Unavailable(_) => {
            message("503 Service Unavailable".into())
        }
        CoreError::InsufficientStorage(text) => {
            message(format!("507 Insufficient Storage - {text}"))
        }
        CoreError::Internal(_) => message("500 Internal Server Error".into()),
    }
}

/// The start of an error response on every surface: the status, the cause logged when the client
/// can't be told it, and `Retry-After` when trying again later may work.
pub fn error_response_builder(error: &CoreError) -> HttpResponseBuilder {
    match error {
        CoreError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
        CoreError::Unavailable(detail) => tracing::warn!(error = %detail, "service unavailable"),
        CoreError::InsufficientStorage(detail) => {
            tracing::error!(error = %detail, "storage is full");
        }
        _ => {}
    }
    let mut response = HttpResponse::build(status_of(error));
    if matches!(error, CoreError::Unavailable(_)) {
        response.insert_header((RETRY_AFTER, packyard_core::RETRY_AFTER_SECS.to_string()));
    }
    response
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = error_response_builder(&self.0);
        if matches!(self.0, CoreError::Unauthorized) {
            response.insert_header((
                "WWW-Authenticate",
                "Basic realm=\"GitLab Virtual Registry\"",
            ));
        }
        response.json(gitlab_error_body(&self.0))
    }
}
