//! What the client endpoints of every format's virtual registries share: routing numeric registry ids
//! ahead of the management routes, authorising a pull, the server's external origin, reading a small
//! metadata document whole under a cap, and errors in GitLab's format with a Basic challenge (package
//! managers send their credentials when challenged).

use actix_web::http::StatusCode;
use actix_web::http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_TYPE, USER_AGENT, WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, guard, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use packyard_core::identity::{Actor, Credential};
use packyard_core::pull::Served;
use packyard_core::rows::Registry;
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::Format;

use crate::error::status_of;
use crate::hosted::BASIC_CHALLENGE;
use crate::{credential_from_request, error_response_builder, gitlab_error_body};

/// True when `path` is `<prefix>/<digits>/…`: a client request of a registry, never a management route
/// (none has a number right after the prefix).
pub fn has_numeric_registry_id(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// Registers a format's client routes under `prefix` for numeric registry ids only, so they can come
/// ahead of the management routes (the warm path's are tried first).
pub fn configure_numeric_ids(
    cfg: &mut web::ServiceConfig,
    prefix: &'static str,
    routes: fn(&mut web::ServiceConfig),
) {
    cfg.service(
        web::scope(prefix)
            .guard(guard::fn_guard(move |ctx| {
                has_numeric_registry_id(prefix, ctx.head().uri.path())
            }))
            .configure(routes),
    );
}

/// Registers a format's client routes under `prefix` for any other id (which then answer 404 in
/// GitLab's format), after the management routes whose paths they would otherwise cover.
pub fn configure_other_ids(
    cfg: &mut web::ServiceConfig,
    prefix: &'static str,
    routes: fn(&mut web::ServiceConfig),
) {
    cfg.service(web::scope(prefix).configure(routes));
}

/// Authenticates the caller and checks they may pull through the registry of `format` with this id;
/// browsers are turned away (GitLab's rule: these endpoints serve package managers).
pub async fn authorize_pull(
    req: &HttpRequest,
    core: &Core,
    format: Format,
    registry_id: &str,
) -> CoreResult<(Actor, Registry)> {
    let is_browser = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Mozilla/"));
    if is_browser {
        return Err(CoreError::BadRequest(
            "This endpoint is not meant to be accessed by a web browser.".into(),
        ));
    }
    let mut credential = credential_from_request(req).ok_or(CoreError::Unauthorized)?;
    // npm and pip send every token the same way (`Bearer`, Basic), deploy tokens included, as they do
    // to the hosted repositories.
    if format != Format::Maven
        && let Credential::Token(secret) = credential
    {
        credential = Credential::DeployOrPersonal(secret);
    }
    let actor = core.authenticate(credential).await?;
    let registry = core.find_registry_by_text(format, registry_id).await?;
    core.authorize_pull(&actor, &registry).await?;
    Ok((actor, registry))
}

/// Where clients reach this server: the configured external URL, else the request's scheme and host.
pub fn origin(req: &HttpRequest, core: &Core) -> String {
    match &core.settings().external_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// Reads a metadata document whole, refusing one larger than `cap` bytes; an interrupted body is an
/// unavailable upstream.
pub async fn read_document(
    mut body: BoxStream<'static, std::io::Result<Bytes>>,
    cap: u64,
) -> CoreResult<Bytes> {
    let mut document = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CoreError::UpstreamUnavailable(e.to_string()))?;
        if (document.len() + chunk.len()) as u64 > cap {
            return Err(CoreError::TooLarge(format!(
                "the upstream's metadata document is larger than {cap} bytes"
            )));
        }
        document.extend_from_slice(&chunk);
    }
    Ok(document.freeze())
}

/// A successful download, cached or not: a file to save, never a page a browser runs or sniffs
/// (GitLab's answer carries the same three headers), and seekable: a `Range` gets its part.
pub fn download_response() -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((ACCEPT_RANGES, crate::BYTES))
        .insert_header((CONTENT_DISPOSITION, "attachment"))
        .insert_header(("Content-Security-Policy", "default-src 'none'"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    response
}

/// A file pulled through a virtual registry, with its stored digests and validators when it came from
/// the cache.
pub fn served_response(served: Served) -> HttpResponse {
    let mut response = download_response();
    response.insert_header((CONTENT_TYPE, served.content_type));
    if let Some(sha1) = served.sha1 {
        response.insert_header(("x-checksum-sha1", sha1));
    }
    if let Some(md5) = served.md5 {
        response.insert_header(("x-checksum-md5", md5));
    }
    if let Some((sha256, stored_at)) = &served.stored {
        crate::set_validators(&mut response, sha256, Some(*stored_at));
    }
    if let Some(seekable) = served.seekable {
        response.extensions_mut().insert(seekable);
    }
    response.body(crate::stream_body(served.content_length, served.body))
}

/// A client endpoint's error: GitLab's JSON body, and a Basic challenge on 401.
#[derive(Debug)]
pub struct VirtualError(pub CoreError);

/// Result of the client endpoints.
pub type VirtualResult<T> = Result<T, VirtualError>;

impl<E: Into<CoreError>> From<E> for VirtualError {
    fn from(error: E) -> Self {
        VirtualError(error.into())
    }
}

impl std::fmt::Display for VirtualError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for VirtualError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        if let CoreError::UpstreamUnavailable(detail) = &self.0 {
            tracing::info!(%detail, "upstream not available");
        }
        let mut response = error_response_builder(&self.0);
        if matches!(self.0, CoreError::Unauthorized) {
            response.insert_header((WWW_AUTHENTICATE, BASIC_CHALLENGE));
        }
        response.json(gitlab_error_body(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numeric_ids_are_client_requests() {
        let prefix = "/api/v4/virtual_registries/packages/npm";
        assert!(has_numeric_registry_id(
            prefix,
            &format!("{prefix}/12/left-pad")
        ));
        for path in ["/registries/1", "/upstreams/2/test", "/1a/x", "//x", "/12"] {
            assert!(
                !has_numeric_registry_id(prefix, &format!("{prefix}{path}")),
                "{path}"
            );
        }
    }
}
