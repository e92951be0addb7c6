//! The core's error: a kind that every surface maps to its own status and wire format.

use packyard_domain::FieldErrors;
use thiserror::Error;

/// Errors of the services.
#[derive(Debug, Clone, Error)]
pub enum CoreError {
    /// No valid credentials (401).
    #[error("401 Unauthorized")]
    Unauthorized,
    /// Credentials without the rights (403).
    #[error("403 Forbidden")]
    Forbidden,
    /// A record does not exist (404); the text names it, as in `Upstream` or `Registry`.
    #[error("404 {0} Not Found")]
    NotFound(String),
    /// Model validation failed (400, `{"message": {attr: [msgs]}}`).
    #[error("invalid: {0}")]
    Invalid(FieldErrors),
    /// A parameter is missing or malformed (400, `{"error": msg}`).
    #[error("{0}")]
    BadParameter(String),
    /// Other bad requests (400, `{"message": "400 Bad request - msg"}`).
    #[error("400 Bad request - {0}")]
    BadRequest(String),
    /// A virtual registry without upstreams: 400 for Maven (GitLab's rule), 404 for container clients.
    #[error("400 Bad request - No upstreams set")]
    NoUpstreams,
    /// A conflict with existing data (409).
    #[error("409 Conflict - {0}")]
    Conflict(String),
    /// A body or file over its limit (413).
    #[error("413 Payload Too Large - {0}")]
    TooLarge(String),
    /// The upstream could not be reached and nothing is cached.
    #[error("upstream not available: {0}")]
    UpstreamUnavailable(String),
    /// A service packyard depends on (the database) can't be reached now: 503 with `Retry-After`; the
    /// cause is logged.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Storage is full (507).
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// A failure of ours; logged, answered with a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Seconds a client is asked to wait before retrying after [`CoreError::Unavailable`].
pub const RETRY_AFTER_SECS: u64 = 5;

impl CoreError {
    /// A 404 naming the record.
    pub fn not_found(what: &str) -> Self {
        CoreError::NotFound(what.to_owned())
    }
}

impl From<packyard_db::DbError> for CoreError {
    fn from(error: packyard_db::DbError) -> Self {
        if error.is_unavailable() {
            CoreError::Unavailable(format!("database: {error}"))
        } else {
            CoreError::Internal(format!("database: {error}"))
        }
    }
}

impl From<packyard_blob::BlobError> for CoreError {
    fn from(error: packyard_blob::BlobError) -> Self {
        match error {
            packyard_blob::BlobError::TooLarge(max) => {
                CoreError::TooLarge(format!("file is larger than {max} bytes"))
            }
            other if is_storage_full(&other) => {
                CoreError::InsufficientStorage("the server has no room left for the file".into())
            }
            other => CoreError::Internal(format!("storage: {other}")),
        }
    }
}

/// True when an error comes from a full disk (or an exhausted quota), wherever in its chain.
pub fn is_storage_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        source = current.source();
    }
    false
}

impl CoreError {
    /// A failed spool or staging write: 507 when the disk is full, otherwise internal.
    pub fn from_write(what: &str, error: std::io::Error) -> Self {
        if is_storage_full(&error) {
            CoreError::InsufficientStorage("the server has no room left for the file".into())
        } else {
            CoreError::Internal(format!("{what}: {error}"))
        }
    }
}

impl From<FieldErrors> for CoreError {
    fn from(errors: FieldErrors) -> Self {
        CoreError::Invalid(errors)
    }
}

/// Result of service calls.
pub type CoreResult<T> = Result<T, CoreError>;
