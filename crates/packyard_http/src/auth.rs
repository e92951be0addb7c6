//! Credentials from requests: `PRIVATE-TOKEN`, `Deploy-Token`, `Authorization: Bearer|token|Basic` and
//! the `private_token` query parameter.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use packyard_core::identity::{Actor, Credential};
use packyard_core::{Core, CoreError};

use crate::ApiError;

/// The services as actix app data.
pub type CoreData = web::Data<Core>;

/// A header's value, trimmed; none when it is missing, empty or not text.
pub fn header_text(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The credential a request carries, if any.
pub fn credential_from_request(req: &HttpRequest) -> Option<Credential> {
    let header = |name: &str| header_text(req, name);
    if let Some(token) = header("PRIVATE-TOKEN") {
        return Some(Credential::Token(token));
    }
    if let Some(token) = header("Deploy-Token") {
        return Some(Credential::DeployOrPersonal(token));
    }
    if let Some(value) = header(AUTHORIZATION.as_str()) {
        let (scheme, rest) = value.split_once(' ').unwrap_or((&value, ""));
        let rest = rest.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" | "token" if !rest.is_empty() => {
                return Some(Credential::Token(rest.to_owned()));
            }
            "basic" => {
                let decoded = STANDARD.decode(rest).ok()?;
                let text = String::from_utf8(decoded).ok()?;
                let (_, password) = text.split_once(':')?;
                return (!password.is_empty())
                    .then(|| Credential::DeployOrPersonal(password.to_owned()));
            }
            _ => return None,
        }
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("private_token").cloned())
        .filter(|t| !t.is_empty())
        .map(Credential::Token)
}

/// An authenticated caller; extracting it answers 401 when the request has no valid credential.
pub struct Authenticated(pub Actor);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let credential = credential_from_request(req);
        let core = req.app_data::<CoreData>().cloned();
        Box::pin(async move {
            let core = core.ok_or_else(|| {
                ApiError(CoreError::Internal("core missing from app data".into()))
            })?;
            let credential = credential.ok_or(ApiError(CoreError::Unauthorized))?;
            Ok(Authenticated(core.authenticate(credential).await?))
        })
    }
}
