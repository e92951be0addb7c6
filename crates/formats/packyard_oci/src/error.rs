//! OCI error responses: `{"errors":[{"code":…,"message":…}]}`, with the Bearer challenge on 401.

use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use packyard_core::CoreError;
use serde_json::json;

/// An error as container clients expect it.
#[derive(Debug)]
pub struct OciError {
    /// HTTP status.
    pub status: StatusCode,
    /// OCI error code (`MANIFEST_UNKNOWN`, `UNAUTHORIZED` …).
    pub code: &'static str,
    /// A message for people.
    pub message: String,
    /// `WWW-Authenticate` value, on 401.
    pub challenge: Option<String>,
    /// `Retry-After` seconds, when packyard itself is briefly unavailable (its database).
    pub retry_after: Option<u64>,
}

impl OciError {
    /// An error without a challenge.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 401 with the challenge that tells the client where to get a token.
    pub fn unauthorized(challenge: String) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            )
        }
    }

    /// 404 `NAME_UNKNOWN`: no such registry, or one the caller may not see (GitLab answers 404, not 403).
    pub fn name_unknown(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", message)
    }

    /// Maps a core error; `missing` is the code for "not on any upstream" (`MANIFEST_UNKNOWN` or
    /// `BLOB_UNKNOWN`).
    pub fn from_core(error: CoreError, missing: &'static str) -> Self {
        match error {
            CoreError::NotFound(what) if what == "Registry" => {
                Self::name_unknown("virtual registry not found")
            }
            CoreError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, missing, what),
            CoreError::Forbidden => Self::name_unknown("virtual registry not found"),
            CoreError::NoUpstreams => Self::name_unknown("No upstreams set"),
            CoreError::UpstreamUnavailable(detail) => {
                tracing::info!(%detail, "container upstream not available");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    format!("upstream not available: {detail}"),
                )
            }
            CoreError::TooLarge(message) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message)
            }
            CoreError::Unauthorized => Self::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            ),
            CoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "service unavailable");
                Self {
                    retry_after: Some(packyard_core::RETRY_AFTER_SECS),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "UNAVAILABLE",
                        "service unavailable, try again later",
                    )
                }
            }
            CoreError::InsufficientStorage(detail) => {
                tracing::error!(error = %detail, "storage is full");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "UNKNOWN",
                    "the server has no room left for the file",
                )
            }
            CoreError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                )
            }
            CoreError::Invalid(_)
            | CoreError::BadParameter(_)
            | CoreError::BadRequest(_)
            | CoreError::Conflict(_) => {
                Self::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", error.to_string())
            }
        }
    }
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(challenge) = &self.challenge {
            response.insert_header((WWW_AUTHENTICATE, challenge.clone()));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((RETRY_AFTER, seconds.to_string()));
        }
        response.json(json!({"errors": [{"code": self.code, "message": self.message}]}))
    }
}
