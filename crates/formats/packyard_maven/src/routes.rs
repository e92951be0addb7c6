//! `GET`/`HEAD /api/v4/virtual_registries/packages/maven/{id}/{path}` and the internal upload endpoint.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, guard, web};
use packyard_core::CoreError;
use packyard_core::pull::{Probed, Want};
use packyard_domain::{Format, RepositoryPathError};
use packyard_http::virtual_client::{self, authorize_pull};
use packyard_http::{ApiError, ApiResult, CoreData, head_body};

use crate::path::{MavenPath, classify, content_type_for};

/// The client endpoints' prefix: a registry id and a repository path follow.
const CLIENT_PREFIX: &str = "/api/v4/virtual_registries/packages/maven";

/// Registers the client endpoints of numeric registry ids (every real one) in one literal scope, meant to
/// come before every other route: a warm hit is then routed by a prefix comparison and one short
/// pattern. No management route has a number after the prefix; the scope's guard lets every other path
/// go on to them.
pub fn configure_numeric_ids(cfg: &mut web::ServiceConfig) {
    virtual_client::configure_numeric_ids(cfg, CLIENT_PREFIX, client_routes);
}

/// Registers the client endpoints of any other id (which then answer 404), to come after the management
/// routes whose paths they would otherwise cover.
pub fn configure_other_ids(cfg: &mut web::ServiceConfig) {
    virtual_client::configure_other_ids(cfg, CLIENT_PREFIX, client_routes);
}

fn client_routes(cfg: &mut web::ServiceConfig) {
    // Downloads first: their pattern is the one a warm hit needs, and the method guard keeps uploads out.
    cfg.service(
        web::resource("/{id}/{path:.*}")
            // Named: the request metrics read a name without allocating.
            .name("maven.download")
            // A HEAD comes routed as a GET (see `packyard_http::Ranges`).
            .guard(guard::Get())
            .to(download),
    )
    .service(web::resource("/{id}/{path:.*}/upload").route(web::post().to(upload)));
}

/// Maven clients get 400 for everything but "unauthorised", "forbidden" and "not found" (GitLab's rule).
fn client_error(error: CoreError) -> ApiError {
    match error {
        CoreError::UpstreamUnavailable(detail) => {
            tracing::info!(%detail, "upstream not available");
            ApiError(CoreError::BadRequest("Upstream not available".into()))
        }
        other => ApiError(other),
    }
}

fn path_error(error: RepositoryPathError) -> ApiError {
    match error {
        RepositoryPathError::Empty => ApiError(CoreError::BadParameter("path is missing".into())),
        other => ApiError(CoreError::BadParameter(
            format!("path {other}").replace("path path", "path"),
        )),
    }
}

fn probe_response(probed: Probed) -> HttpResponse {
    let mut response = packyard_http::virtual_client::download_response();
    response.insert_header((CONTENT_TYPE, probed.content_type));
    if let Some(sha1) = probed.sha1 {
        response.insert_header(("x-checksum-sha1", sha1));
    }
    if let Some(md5) = probed.md5 {
        response.insert_header(("x-checksum-md5", md5));
    }
    if let Some((sha256, stored_at)) = &probed.stored {
        packyard_http::set_validators(&mut response, sha256, Some(*stored_at));
    }
    response.body(head_body(probed.content_length))
}

async fn download(
    req: HttpRequest,
    core: CoreData,
    route: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (registry_id, raw_path) = route.into_inner();
    let (actor, registry) = authorize_pull(&req, &core, Format::Maven, &registry_id).await?;
    let head = packyard_http::is_head(&req);
    let path = classify(&raw_path).map_err(path_error)?;
    // Local upstreams first: a group's own artifacts win over any remote one of the same path.
    for group in core.local_upstream_groups(&actor, &registry).await? {
        match crate::hosted::read_local(&core, group, &raw_path, head).await {
            // A path outside the hosted layout is not there either.
            Err(CoreError::NotFound(_) | CoreError::BadRequest(_)) => {}
            served => return Ok(served?),
        }
    }
    match path {
        MavenPath::File { path, class } => {
            let hint = content_type_for(path.file_name());
            let want = Want::file(path, class, Some(hint));
            if head {
                let probed = core.probe(&registry, &want).await.map_err(client_error)?;
                return Ok(probe_response(probed));
            }
            let served = core.pull(&registry, &want).await.map_err(client_error)?;
            Ok(packyard_http::virtual_client::served_response(served))
        }
        MavenPath::Checksum {
            base,
            algorithm,
            base_class,
        } => {
            let digest = core
                .pull_checksum(&registry, &base, algorithm, base_class)
                .await
                .map_err(client_error)?;
            let mut response = packyard_http::virtual_client::download_response();
            response.content_type("text/plain");
            if head {
                return Ok(response.body(head_body(Some(digest.len() as u64))));
            }
            Ok(response.body(digest))
        }
    }
}

/// The upload callback of GitLab's design: only an internal caller holding the server's secret may store
/// a file as a cache entry of one of the registry's upstreams.
async fn upload(
    req: HttpRequest,
    core: CoreData,
    route: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (registry_id, raw_path) = route.into_inner();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // Only the server itself may call: anyone else, with or without the header, is refused (403), as
    // GitLab refuses a request that did not come through its proxy.
    let internal = header("X-Packyard-Internal-Token").is_some_and(|t| core.is_internal_token(&t));
    if !internal {
        return Err(ApiError(CoreError::Forbidden));
    }
    let registry = core
        .find_registry_by_text(Format::Maven, &registry_id)
        .await?;
    let MavenPath::File { path, .. } = classify(&raw_path).map_err(path_error)? else {
        return Err(ApiError(CoreError::BadRequest(
            "checksum files are not cache entries".into(),
        )));
    };
    let gid = header("X-Gitlab-Virtual-Registry-Upstream-Global-Id")
        .or_else(|| header("Upstream-GID"))
        .ok_or_else(|| ApiError(CoreError::BadParameter("Upstream-GID is missing".into())))?;
    let upstream_id = gid
        .rsplit('/')
        .next()
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| ApiError(CoreError::BadParameter("Upstream-GID is invalid".into())))?;
    let content_type = header("GitLab-Workhorse-Send-Dependency-Content-Type")
        .unwrap_or_else(|| content_type_for(path.file_name()).to_owned());
    let etag = header("Etag");
    let body = futures_util::StreamExt::map(body, |chunk| {
        chunk.map_err(|e| std::io::Error::other(e.to_string()))
    });
    core.store_upload(
        &registry,
        upstream_id,
        &path,
        &content_type,
        etag,
        Box::pin(body),
    )
    .await?;
    Ok(HttpResponse::Ok().finish())
}
