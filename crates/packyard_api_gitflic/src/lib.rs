//! GitFlic's service-level package listing (`/registry/package…`): packages, their versions with their
//! files, and the files of a package, in GitFlic's HAL pages. Administrators only.
//!
//! Handlers are thin: they check the caller, call one `packyard_core` service and render GitFlic's models.
//! Depends on `packyard_http` and `packyard_core`; never on a format crate or on the database.
//!
//! Register [`configure`] after the format crates: their content routes
//! (`/registry/package/generic/…`, `/registry/package/pypi/…` …) share the `/registry/package` prefix,
//! and this crate ends with catch-all routes that answer 404 for anything that is not a package uuid.

mod models;

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use packyard_core::{CoreError, PackageFilter};
use packyard_domain::PackageType;
use packyard_http::CoreData;
use packyard_http::hosted::{HostedActor, HostedResult, PageRequest, hal_page};

pub use models::{PackageModel, PackageVersionModel};

/// A package uuid in a route: anything else never matches, so `generic`, `pypi` … are never taken for
/// one.
pub const UUID_PATTERN: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// Registers the listing routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`, after every format's
/// content routes: the last ones answer every other path.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let at = |suffix: &str| web::resource(format!("/{{packageUuid:{UUID_PATTERN}}}{suffix}"));
    cfg.service(web::resource("").route(web::get().to(list_packages)))
        .service(at("").route(web::get().to(show_package)))
        .service(at("/version-list").route(web::get().to(list_versions)))
        .service(at("/package-file").route(web::get().to(list_files)))
        .service(at("/{packageVersion}").route(web::get().to(show_version)))
        // Anything else under the prefix names no package.
        .service(web::resource(["/{id}", "/{id}/{rest:.*}"]).route(web::get().to(unknown_package)));
}

type Query = web::Query<HashMap<String, String>>;

async fn admin(core: &CoreData, actor: &HostedActor) -> HostedResult<()> {
    Ok(core.require_package_admin(&actor.0, false)?)
}

async fn list_packages(
    core: CoreData,
    actor: HostedActor,
    query: Query,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let request = PageRequest::from_query(&query)?;
    let package_type = match query.get("type").filter(|t| !t.is_empty()) {
        Some(name) => Some(
            PackageType::parse(name)
                .ok_or_else(|| {
                    CoreError::BadParameter(format!(
                        "type must be one of {}",
                        PackageType::ALL.map(PackageType::as_str).join(", ")
                    ))
                })?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let filter = PackageFilter {
        package_type,
        search: query
            .get("q")
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
    };
    let page = core
        .list_hosted_packages(filter, request.offset(), request.size)
        .await?;
    let page = packyard_core::Page {
        items: page.items.iter().map(PackageModel::from).collect(),
        total: page.total,
    };
    Ok(HttpResponse::Ok().json(hal_page("simplePackageInfoModelList", request, page)))
}

async fn show_package(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let package = core.find_hosted_package(&path.to_lowercase()).await?;
    Ok(HttpResponse::Ok().json(PackageModel::from(&package)))
}

async fn list_versions(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    query: Query,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let request = PageRequest::from_query(&query)?;
    let package = core.find_hosted_package(&path.to_lowercase()).await?;
    let page = core
        .list_hosted_versions(&package.package, request.offset(), request.size)
        .await?;
    let page = packyard_core::Page {
        items: page.items.iter().map(PackageVersionModel::from).collect(),
        total: page.total,
    };
    Ok(HttpResponse::Ok().json(hal_page("simplePackageVersionModelList", request, page)))
}

async fn list_files(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    query: Query,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let request = PageRequest::from_query(&query)?;
    let package = core.find_hosted_package(&path.to_lowercase()).await?;
    let page = core
        .list_hosted_package_files(&package.package, request.offset(), request.size)
        .await?;
    let page = packyard_core::Page {
        items: page
            .items
            .iter()
            .map(packyard_http::hosted::PackageFileModel::from)
            .collect(),
        total: page.total,
    };
    Ok(HttpResponse::Ok().json(hal_page("simplePackageFileModelList", request, page)))
}

async fn show_version(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let (uuid, version) = path.into_inner();
    let package = core.find_hosted_package(&uuid.to_lowercase()).await?;
    let version = core.find_hosted_version(&package.package, &version).await?;
    Ok(HttpResponse::Ok().json(PackageVersionModel::from(&version)))
}

async fn unknown_package(core: CoreData, actor: HostedActor) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    Err(CoreError::not_found("Package").into())
}
