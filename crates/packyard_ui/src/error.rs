//! Errors of the pages: a redirect to sign-in, or a page saying what went wrong with the status the API
//! would answer.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use packyard_core::CoreError;

/// What a page answers instead of itself.
#[derive(Debug)]
pub enum UiError {
    /// No valid session: go to sign-in, then back to `next`.
    SignIn {
        /// The page asked for.
        next: String,
    },
    /// A POST without the session's CSRF token.
    Csrf,
    /// A form that could not be read.
    BadForm(String),
    /// What the services answered.
    Core(CoreError),
}

impl UiError {
    /// Sends the person to sign-in, and back to this page (GETs only) after.
    pub fn sign_in(req: &HttpRequest) -> Self {
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default()
        } else {
            String::new()
        };
        UiError::SignIn { next }
    }
}

impl From<CoreError> for UiError {
    fn from(error: CoreError) -> Self {
        UiError::Core(error)
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::SignIn { .. } => f.write_str("sign-in required"),
            UiError::Csrf => f.write_str("CSRF token missing or wrong"),
            UiError::BadForm(message) => f.write_str(message),
            UiError::Core(error) => write!(f, "{error}"),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

/// Pages sent back to from sign-in: this interface's own, and no other site (no open redirect).
pub fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with(crate::PREFIX)
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control))
    .then_some(next)
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::SignIn { .. } => StatusCode::SEE_OTHER,
            UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::BadForm(_) => StatusCode::BAD_REQUEST,
            UiError::Core(error) => match error {
                CoreError::Unauthorized => StatusCode::UNAUTHORIZED,
                CoreError::Forbidden => StatusCode::FORBIDDEN,
                CoreError::NotFound(_) => StatusCode::NOT_FOUND,
                CoreError::Invalid(_)
                | CoreError::BadParameter(_)
                | CoreError::BadRequest(_)
                | CoreError::NoUpstreams => StatusCode::BAD_REQUEST,
                CoreError::Conflict(_) => StatusCode::CONFLICT,
                CoreError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                CoreError::UpstreamUnavailable(_) => StatusCode::BAD_GATEWAY,
                CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                CoreError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
                CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let UiError::SignIn { next } = self {
            let mut location = format!("{}/sign-in", crate::PREFIX);
            if let Some(next) = safe_next(next) {
                location.push_str("?next=");
                location.push_str(&crate::pages::query_escape(next));
            }
            return HttpResponse::SeeOther()
                .insert_header((LOCATION, location))
                .finish();
        }
        let status = self.status_code();
        let (title, message) = match self {
            UiError::Csrf => (
                "Form expired",
                "This form was not sent from a page of your session. Reload the page and try again."
                    .to_owned(),
            ),
            UiError::BadForm(message) => ("Bad request", message.clone()),
            UiError::Core(error) => match error {
                CoreError::Unauthorized => ("Not signed in", "Sign in again.".to_owned()),
                CoreError::Forbidden => (
                    "Not allowed",
                    "Your role or your token's scopes do not allow this.".to_owned(),
                ),
                CoreError::NotFound(_) => ("Not found", "There is nothing here.".to_owned()),
                CoreError::Invalid(errors) => ("Not saved", errors.to_string()),
                CoreError::BadParameter(message) | CoreError::BadRequest(message) => {
                    ("Not saved", message.clone())
                }
                CoreError::NoUpstreams => ("Not saved", "The registry has no upstreams.".to_owned()),
                CoreError::Conflict(message) => ("Conflict", message.clone()),
                CoreError::TooLarge(message) => ("Too large", message.clone()),
                CoreError::UpstreamUnavailable(_)
                | CoreError::Unavailable(_)
                | CoreError::InsufficientStorage(_)
                | CoreError::Internal(_) => {
                    tracing::error!(error = %error, "page failed");
                    (
                        "Something went wrong",
                        "The server could not answer this page; the cause is in its log.".to_owned(),
                    )
                }
            },
            UiError::SignIn { .. } => unreachable_sign_in(),
        };
        let body = ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| "error".to_owned());
        crate::pages::html_response(status, body)
    }
}

fn unreachable_sign_in() -> (&'static str, String) {
    ("Sign in", String::new())
}
