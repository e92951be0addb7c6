//! The client endpoints of PyPI virtual registries, under
//! `/api/v4/virtual_registries/packages/pypi/{id}`: the simple index (`simple/`, `simple/<project>/`,
//! PEP 503 HTML or PEP 691 JSON by `Accept`) and files (`files/<project>/<file name>`, and PEP 658's
//! `<file name>.metadata`).
//!
//! Which upstream answers: the registry's local upstreams (groups' hosted repositories) first, then its
//! remote upstreams by position; the first that has the project serves its whole page and its files,
//! and no later upstream is merged in. A project a team publishes can therefore never be answered by a
//! public index's project of the same name (dependency confusion).

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use packyard_core::hosted::{Owner, PackageRef};
use packyard_core::identity::Actor;
use packyard_core::pull::{PathClass, PublishedChecksum, Want};
use packyard_core::rows::{Package, Registry};
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{Format, PackageType, RepositoryPath, normalize_pypi_name};
use packyard_http::CoreData;
use packyard_http::virtual_client::{
    self, VirtualResult, authorize_pull, read_document, served_response,
};

use crate::index::{self, encode_segment};
use crate::proxied::{
    PAGE_MAX, UPSTREAM_ACCEPT, UpstreamFile, index_files, parse_page, versions_of,
};
use crate::routes::{
    METADATA_SUFFIX, add_slash, content_type_of, core_metadata_response, flavor, hosted_page,
    index_response, not_acceptable,
};

/// The client endpoints' prefix: a registry id follows.
pub const CLIENT_PREFIX: &str = "/api/v4/virtual_registries/packages/pypi";

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
    let get = || web::get();
    cfg.service(web::resource("/{id}/simple").route(get().to(add_slash)))
        .service(web::resource("/{id}/simple/").route(get().to(project_list)))
        .service(web::resource("/{id}/simple/{project}").route(get().to(add_slash)))
        .service(web::resource("/{id}/simple/{project}/").route(get().to(project_page)))
        .service(web::resource("/{id}/files/{project}/{file}").route(get().to(file)));
}

fn registry_id(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_owned()
}

fn package_ref(group: packyard_core::rows::Group, normalized: &str) -> PackageRef {
    PackageRef::named(
        Owner::Company(group),
        PackageType::Pypi,
        normalized,
        normalized.to_owned(),
    )
}

/// The hosted project of this name in the first local upstream's group that has one.
async fn local_project(
    core: &Core,
    actor: &Actor,
    registry: &Registry,
    normalized: &str,
) -> CoreResult<Option<(PackageRef, Package)>> {
    for group in core.local_upstream_groups(actor, registry).await? {
        let package = package_ref(group, normalized);
        match core.find_hosted_package_by_ref(&package).await {
            Ok(found) => return Ok(Some((package, found))),
            Err(CoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}

/// The project page of the first remote upstream that has the project, read into its files, and that
/// upstream's id.
async fn upstream_page(
    core: &Core,
    registry: &Registry,
    normalized: &str,
) -> CoreResult<(Vec<UpstreamFile>, i64)> {
    let path = RepositoryPath::parse(normalized)
        .map_err(|e| CoreError::BadRequest(format!("project name: {e}")))?;
    let mut want = Want::file(path, PathClass::Metadata, Some("text/html"));
    want.accept = Some(UPSTREAM_ACCEPT);
    want.strict_order = true;
    let served = core.pull(registry, &want).await?;
    let upstream_id = served.upstream_id;
    let content_type = served.content_type.clone();
    let page_url = core
        .registry_upstream_url(registry, upstream_id, normalized)
        .await?;
    let body = read_document(served.body, PAGE_MAX).await?;
    let files = tokio::task::spawn_blocking(move || parse_page(&page_url, &content_type, &body))
        .await
        .map_err(|e| CoreError::Internal(format!("reading a project page: {e}")))?
        .map_err(|e| CoreError::UpstreamUnavailable(e.to_string()))?;
    Ok((files, upstream_id))
}

/// The index root lists the local upstreams' projects: remote indexes' lists (hundreds of thousands
/// of names on pypi.org) are not merged in, and installers never read them.
async fn project_list(req: HttpRequest, core: CoreData) -> VirtualResult<HttpResponse> {
    let (actor, registry) = authorize_pull(&req, &core, Format::Pypi, &registry_id(&req)).await?;
    let Some(flavor) = flavor(&req) else {
        return Ok(not_acceptable());
    };
    let mut projects: Vec<(String, String)> = Vec::new();
    for group in core.local_upstream_groups(&actor, &registry).await? {
        for package in core
            .list_company_packages(&group, PackageType::Pypi)
            .await?
        {
            if !projects.iter().any(|(_, n)| *n == package.normalized_name) {
                projects.push((package.name, package.normalized_name));
            }
        }
    }
    Ok(index_response(
        flavor,
        index::render_project_list(flavor, &projects),
    ))
}

async fn project_page(req: HttpRequest, core: CoreData) -> VirtualResult<HttpResponse> {
    let project = req
        .match_info()
        .get("project")
        .unwrap_or_default()
        .to_owned();
    let (actor, registry) = authorize_pull(&req, &core, Format::Pypi, &registry_id(&req)).await?;
    let normalized = normalize_pypi_name(&project);
    if project != normalized {
        let location = format!(
            "{CLIENT_PREFIX}/{}/simple/{}/",
            registry.id,
            encode_segment(&normalized)
        );
        return Ok(HttpResponse::MovedPermanently()
            .insert_header((LOCATION, location))
            .finish());
    }
    let Some(flavor) = flavor(&req) else {
        return Ok(not_acceptable());
    };
    // Files are listed relative to the page: `…/{id}/simple/<project>/` → `…/{id}/files/<project>/`.
    let file_url = |file: &str| {
        format!(
            "../../files/{}/{}",
            encode_segment(&normalized),
            encode_segment(file)
        )
    };
    if let Some((_, package)) = local_project(&core, &actor, &registry, &normalized).await? {
        let page = hosted_page(&core, &package, flavor, |_, file| file_url(file)).await?;
        return Ok(index_response(flavor, page));
    }
    let (files, _) = upstream_page(&core, &registry, &normalized).await?;
    let versions = versions_of(&files);
    let listed = index_files(&files, file_url);
    Ok(index_response(
        flavor,
        index::render_project_page(flavor, &normalized, &versions, &listed),
    ))
}

async fn file(req: HttpRequest, core: CoreData) -> VirtualResult<HttpResponse> {
    let info = req.match_info();
    let project = info.get("project").unwrap_or_default().to_owned();
    let file_name = info.get("file").unwrap_or_default().to_owned();
    let (actor, registry) = authorize_pull(&req, &core, Format::Pypi, &registry_id(&req)).await?;
    let normalized = normalize_pypi_name(&project);
    let metadata_of = file_name.strip_suffix(METADATA_SUFFIX);
    let distribution = metadata_of.unwrap_or(&file_name);
    if let Some((package, found)) = local_project(&core, &actor, &registry, &normalized).await? {
        let (version, stored) = core
            .list_hosted_files_with_versions(&found)
            .await?
            .into_iter()
            .find(|(_, file)| file.name == distribution)
            .ok_or_else(|| CoreError::not_found("Package file"))?;
        if metadata_of.is_some() {
            return Ok(core_metadata_response(&stored)?);
        }
        let download = core
            .download_hosted_file(&package, &version.version, distribution)
            .await?;
        return Ok(packyard_http::hosted::file_response(
            download,
            content_type_of(distribution),
        ));
    }
    let path = RepositoryPath::parse(&format!("{normalized}/{file_name}"))
        .map_err(|e| CoreError::BadRequest(format!("file name: {e}")))?;
    let content_type = if metadata_of.is_some() {
        "application/octet-stream"
    } else {
        content_type_of(&file_name)
    };
    let mut want = Want::file(path, PathClass::Immutable, Some(content_type));
    // Files never change, and a cached one was checked when it was stored.
    if let Some(served) = core.pull_cached(&registry, &want).await? {
        return Ok(served_response(served));
    }
    // The file comes from the upstream whose page listed it, checked against the digest listed there.
    let (files, upstream_id) = upstream_page(&core, &registry, &normalized).await?;
    let listed = files
        .into_iter()
        .find(|f| f.filename == distribution)
        .ok_or_else(|| CoreError::not_found("Package file"))?;
    let (source, sha256) = match metadata_of {
        None => (listed.url, listed.sha256),
        Some(_) => {
            let sha256 = listed
                .core_metadata_sha256
                .ok_or_else(|| CoreError::not_found("Core metadata"))?;
            let mut url = listed.url;
            url.set_path(&format!("{}{METADATA_SUFFIX}", url.path()));
            (url, Some(sha256))
        }
    };
    want.declared = sha256.as_deref().and_then(PublishedChecksum::sha256);
    want.source_url = Some(source);
    want.pinned = Some(upstream_id);
    let served = core.pull(&registry, &want).await?;
    Ok(served_response(served))
}
