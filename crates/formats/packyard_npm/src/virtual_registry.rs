//! The client endpoints of npm virtual registries, `GET /api/v4/virtual_registries/packages/npm/{id}/…`:
//! packuments (`name`, `@scope/name`, `@scope%2fname`) and tarballs (`…/-/{file}`).
//!
//! Which upstream answers: the registry's local upstreams (groups' hosted repositories) first, then its
//! remote upstreams by position; the first that has the package serves all of it, its packument and its
//! tarballs, and no later upstream is merged in. A name a team publishes can therefore never be answered
//! by a public registry's package of the same name (dependency confusion).

use actix_web::http::header::{ACCEPT, CONTENT_TYPE, VARY};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use packyard_core::hosted::Owner;
use packyard_core::identity::Actor;
use packyard_core::pull::{PathClass, PublishedChecksum, Want};
use packyard_core::rows::Registry;
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{Format, RepositoryPath};
use packyard_http::CoreData;
use packyard_http::virtual_client::{
    self, VirtualResult, authorize_pull, origin, read_document, served_response,
};

use crate::name::NpmName;
use crate::packument::ABBREVIATED;
use crate::proxied::{PACKUMENT_MAX, UpstreamPackument};
use crate::routes::{TARBALL_TYPE, hosted_document, package_ref, requested_name};

/// The client endpoints' prefix: a registry id and a package follow.
pub const CLIENT_PREFIX: &str = "/api/v4/virtual_registries/packages/npm";

/// Registers the client endpoints for numeric registry ids (every real one), ahead of the management
/// routes, which have no number after the prefix.
pub fn configure_virtual(cfg: &mut web::ServiceConfig) {
    virtual_client::configure_numeric_ids(cfg, CLIENT_PREFIX, client_routes);
}

/// Registers the client endpoints for any other id (which then answer 404 in GitLab's format), after
/// the management routes whose paths they would otherwise cover.
pub fn configure_other_ids(cfg: &mut web::ServiceConfig) {
    virtual_client::configure_other_ids(cfg, CLIENT_PREFIX, client_routes);
}

fn client_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/{id}/{name}/-/{file}", "/{id}/@{scope}/{name}/-/{file}"])
            .guard(guard::Get())
            .to(tarball),
    )
    .service(
        web::resource(["/{id}/{name}", "/{id}/@{scope}/{name}"])
            .guard(guard::Get())
            .to(packument),
    );
}

fn registry_id(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_owned()
}

/// Where this registry serves a package's tarballs, up to the file name.
fn tarballs_url(req: &HttpRequest, core: &Core, registry: &Registry, name: &NpmName) -> String {
    format!(
        "{}{CLIENT_PREFIX}/{}/{}/-/",
        origin(req, core),
        registry.id,
        name.full()
    )
}

/// The hosted package of this name in the first local upstream's group that has one.
async fn local_package(
    core: &Core,
    actor: &Actor,
    registry: &Registry,
    name: &NpmName,
) -> CoreResult<
    Option<(
        packyard_core::hosted::PackageRef,
        packyard_core::rows::Package,
    )>,
> {
    for group in core.local_upstream_groups(actor, registry).await? {
        let package = package_ref(Owner::Company(group), name);
        match core.find_hosted_package_by_ref(&package).await {
            Ok(found) => return Ok(Some((package, found))),
            Err(CoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}

/// The packument of the first remote upstream that has the package, and that upstream's id.
async fn upstream_packument(
    core: &Core,
    registry: &Registry,
    name: &NpmName,
) -> CoreResult<(UpstreamPackument, i64)> {
    let path = RepositoryPath::parse(&name.full())
        .map_err(|e| CoreError::BadRequest(format!("package name: {e}")))?;
    let mut want = Want::file(path, PathClass::Metadata, Some("application/json"));
    // The full document: the abbreviated one is derived from it.
    want.accept = Some("application/json");
    want.strict_order = true;
    let served = core.pull(registry, &want).await?;
    let upstream_id = served.upstream_id;
    let body = read_document(served.body, PACKUMENT_MAX).await?;
    // Parsing a document of megabytes is blocking work.
    let document = tokio::task::spawn_blocking(move || UpstreamPackument::parse(&body))
        .await
        .map_err(|e| CoreError::Internal(format!("reading a packument: {e}")))?
        .map_err(|e| CoreError::UpstreamUnavailable(e.to_string()))?;
    Ok((document, upstream_id))
}

async fn packument(req: HttpRequest, core: CoreData) -> VirtualResult<HttpResponse> {
    let name = requested_name(&req)?;
    let (actor, registry) = authorize_pull(&req, &core, Format::Npm, &registry_id(&req)).await?;
    let tarballs = tarballs_url(&req, &core, &registry, &name);
    if let Some((_, package)) = local_package(&core, &actor, &registry, &name).await? {
        return Ok(hosted_document(&req, &core, package, tarballs).await?);
    }
    let abbreviated = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(ABBREVIATED));
    let (mut document, _) = upstream_packument(&core, &registry, &name).await?;
    let body = tokio::task::spawn_blocking(move || {
        document.rewrite_tarballs(&tarballs);
        if abbreviated {
            document.to_abbreviated()
        } else {
            document.to_full()
        }
    })
    .await
    .map_err(|e| CoreError::Internal(format!("writing a packument: {e}")))?;
    let content_type = if abbreviated {
        ABBREVIATED
    } else {
        "application/json"
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((VARY, "Accept"))
        .body(body))
}

async fn tarball(req: HttpRequest, core: CoreData) -> VirtualResult<HttpResponse> {
    let name = requested_name(&req)?;
    let file_name = req.match_info().get("file").unwrap_or_default().to_owned();
    let (actor, registry) = authorize_pull(&req, &core, Format::Npm, &registry_id(&req)).await?;
    if let Some((package, _)) = local_package(&core, &actor, &registry, &name).await? {
        let version = name
            .version_of_tarball(&file_name)
            .ok_or_else(|| CoreError::not_found("Package file"))?;
        let download = core
            .download_hosted_file(&package, version, &file_name)
            .await?;
        return Ok(packyard_http::hosted::file_response(download, TARBALL_TYPE));
    }
    let path = RepositoryPath::parse(&format!("{}/-/{file_name}", name.full()))
        .map_err(|e| CoreError::BadRequest(format!("tarball: {e}")))?;
    let mut want = Want::file(path, PathClass::Immutable, Some(TARBALL_TYPE));
    // Tarballs never change, and a cached one was checked when it was stored.
    if let Some(served) = core.pull_cached(&registry, &want).await? {
        return Ok(served_response(served));
    }
    // The tarball comes from the upstream whose packument named it, checked against its integrity.
    let (document, upstream_id) = upstream_packument(&core, &registry, &name).await?;
    let source = document
        .tarball(&file_name)
        .ok_or_else(|| CoreError::not_found("Package file"))?;
    let url = url::Url::parse(&source.url).map_err(|e| {
        CoreError::UpstreamUnavailable(format!("tarball URL {:?}: {e}", source.url))
    })?;
    want.declared = source
        .sha512_hex
        .as_deref()
        .and_then(PublishedChecksum::sha512)
        .or_else(|| source.sha1_hex.as_deref().and_then(PublishedChecksum::sha1));
    want.source_url = Some(url);
    want.pinned = Some(upstream_id);
    let served = core.pull(&registry, &want).await?;
    Ok(served_response(served))
}
