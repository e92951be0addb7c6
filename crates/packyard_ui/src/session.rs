//! Sessions and CSRF protection.
//!
//! A session is a cookie naming the personal access token a person signed in with (by its id, never its
//! secret) and when it was issued, signed with a key derived from the instance's secret key: every
//! instance sharing the key accepts it, and each request checks that the token is still valid, so
//! revoking the token ends its sessions. Every form carries a CSRF token bound to the session (an HMAC of
//! the cookie), which [`Post`] checks before a handler runs; the sign-in form, which has no session yet,
//! uses a random double-submit cookie instead.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use hmac::{Hmac, Mac};
use packyard_core::identity::{Actor, TokenRef};
use packyard_core::{Core, CoreError};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::UiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "packyard_session";
/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "packyard_sign_in";
/// How long a session lasts after sign-in.
pub const SESSION_SECS: i64 = 12 * 60 * 60;
/// The largest form body the pages accept.
const MAX_FORM: usize = 64 * 1024;

type HmacSha256 = Hmac<Sha256>;

fn mac(core: &Core, purpose: &[u8], message: &str) -> String {
    let key = core.secret().derive(purpose);
    #[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
    let mut mac = HmacSha256::new_from_slice(&key).expect("any key length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compares two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The cookie value of a new session for a personal access token. A random part makes each session's
/// value, and so its CSRF token, its own.
pub fn session_value(core: &Core, token_id: i64, issued_at: i64) -> String {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let body = format!("v1.{token_id}.{issued_at}.{nonce}");
    let signature = mac(core, b"ui-session", &body);
    format!("{body}.{signature}")
}

/// The token id of a session cookie that is signed by this instance's key and not expired.
fn verify_session(core: &Core, value: &str, now: i64) -> Option<i64> {
    let (body, signature) = value.rsplit_once('.')?;
    if !same(&mac(core, b"ui-session", body), signature) {
        return None;
    }
    let mut parts = body.split('.');
    let (Some("v1"), Some(id), Some(issued), Some(_nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let (id, issued) = (id.parse::<i64>().ok()?, issued.parse::<i64>().ok()?);
    (issued <= now + 60 && now - issued < SESSION_SECS).then_some(id)
}

/// The CSRF token of a session: only pages of that session can show it.
fn csrf_for(core: &Core, session: &str) -> String {
    mac(core, b"ui-csrf", session)
}

/// True when the page was requested over TLS or the instance's external URL is https: cookies then
/// carry `Secure`.
pub fn is_secure(req: &HttpRequest, core: &Core) -> bool {
    req.app_config().secure()
        || core
            .settings()
            .external_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
}

/// A `Set-Cookie` value of the pages: `HttpOnly`, `SameSite=Strict`, under the pages' path, `Secure`
/// behind TLS. Values are made here (hex and digits), so they need no quoting.
pub fn cookie(req: &HttpRequest, core: &Core, name: &str, value: &str) -> String {
    set_cookie(req, core, name, value, SESSION_SECS)
}

/// A `Set-Cookie` value that removes `name`.
pub fn removal(req: &HttpRequest, core: &Core, name: &str) -> String {
    set_cookie(req, core, name, "", 0)
}

/// A `Set-Cookie` value like [`cookie`]'s that lasts `max_age` seconds.
pub fn set_cookie(req: &HttpRequest, core: &Core, name: &str, value: &str, max_age: i64) -> String {
    let secure = if is_secure(req, core) { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        crate::PREFIX
    )
}

/// The value of a cookie the request carries.
pub fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A new random value for the sign-in form's double-submit cookie.
pub fn new_sign_in_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// True when the sign-in form's field matches its cookie.
pub fn sign_in_token_matches(req: &HttpRequest, field: &str) -> bool {
    read_cookie(req, SIGN_IN_COOKIE).is_some_and(|c| !c.is_empty() && same(&c, field))
}

/// A signed-in person: the actor of their token and the CSRF token their forms carry.
pub struct Session {
    /// Who is signed in (always a user).
    pub actor: Actor,
    /// The CSRF token of this session.
    pub csrf: String,
}

impl Session {
    async fn load(req: &HttpRequest) -> Result<Self, UiError> {
        let core = core_of(req)?;
        let value = read_cookie(req, SESSION_COOKIE).ok_or_else(|| UiError::sign_in(req))?;
        let now = chrono::Utc::now().timestamp();
        let token_id = verify_session(&core, &value, now).ok_or_else(|| UiError::sign_in(req))?;
        let actor = match core.actor_by_token_id(TokenRef::Personal(token_id)).await {
            Ok(actor) => actor,
            Err(CoreError::Unauthorized) => return Err(UiError::sign_in(req)),
            Err(other) => return Err(other.into()),
        };
        Ok(Session {
            csrf: csrf_for(&core, &value),
            actor,
        })
    }

    /// The signed-in user's name.
    pub fn username(&self) -> &str {
        self.actor.username()
    }
}

fn core_of(req: &HttpRequest) -> Result<web::Data<Core>, UiError> {
    req.app_data::<web::Data<Core>>()
        .cloned()
        .ok_or_else(|| UiError::Core(CoreError::Internal("core missing from app data".into())))
}

impl FromRequest for Session {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Session::load(&req).await })
    }
}

/// A form POSTed in a session: the session, and the form once its CSRF token checked out. Every page's
/// POST handler takes one, so none runs without the check.
pub struct Post<T> {
    /// The session.
    pub session: Session,
    /// The form's fields.
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for Post<T> {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let session = Session::load(&req).await?;
            let body = body
                .await
                .map_err(|_| UiError::BadForm("the form could not be read".into()))?;
            if body.len() > MAX_FORM {
                return Err(UiError::BadForm("the form is too large".into()));
            }
            let field: CsrfField = serde_urlencoded::from_bytes(&body)
                .map_err(|_| UiError::BadForm("the form could not be read".into()))?;
            if field.csrf.is_empty() || !same(&field.csrf, &session.csrf) {
                return Err(UiError::Csrf);
            }
            let form = serde_urlencoded::from_bytes(&body)
                .map_err(|e| UiError::BadForm(format!("the form is incomplete: {e}")))?;
            Ok(Post { session, form })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_exact() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
