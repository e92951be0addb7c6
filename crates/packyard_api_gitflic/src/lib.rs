//! GitFlic's service-level package listing (`/registry/package…`): packages, their versions with their
//! files, and the files of a package, in GitFlic's HAL pages. Administrators only.
//!
//! Handlers are thin: they check the caller, call one `packyard_core` service and render GitFlic's models.
//! Each carries its OpenAPI path (utoipa), and [`openapi()`] gathers them.
//! Depends on `packyard_http` and `packyard_core`; never on a format crate or on the database.
//!
//! Register [`configure`] after the format crates: their content routes
//! (`/registry/package/generic/…`, `/registry/package/pypi/…` …) share the `/registry/package` prefix,
//! and this crate ends with catch-all routes that answer 404 for anything that is not a package uuid.

mod models;
mod openapi;

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use packyard_core::{CoreError, PackageFilter};
use packyard_domain::PackageType;
use packyard_http::CoreData;
use packyard_http::hosted::{
    HalPage, HostedActor, HostedErrorBody, HostedResult, PackageFileModel, PageRequest,
};
use serde::Deserialize;
use utoipa::IntoParams;

pub use models::{FileList, PackageList, PackageModel, PackageVersionModel, VersionList};
pub use openapi::openapi;

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

/// The package listing's filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PackageSearch {
    /// Only packages of this type.
    #[serde(rename = "type")]
    pub package_type: Option<String>,
    /// Only packages whose name contains this.
    pub q: Option<String>,
}

/// The package path segment: a package uuid.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "describes the route; handlers read it as a string"
)]
struct PackagePath {
    /// The package's uuid.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    package_uuid: String,
}

async fn admin(core: &CoreData, actor: &HostedActor) -> HostedResult<()> {
    Ok(core.require_package_admin(&actor.0, false)?)
}

/// `GET /registry/package`: every package, filtered by type and name.
#[utoipa::path(get, path = "/registry/package", operation_id = "gitflic_list_packages",
    tag = "GitFlic packages", params(PageRequest, PackageSearch),
    responses(
        (status = 200, description = "A page of packages", body = HalPage<PackageList>),
        (status = 400, description = "A parameter is invalid", body = HostedErrorBody),
    ))]
async fn list_packages(
    core: CoreData,
    actor: HostedActor,
    query: Query,
    search: web::Query<PackageSearch>,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let request = PageRequest::from_query(&query)?;
    let search = search.into_inner();
    let package_type = match search.package_type.filter(|t| !t.is_empty()) {
        Some(name) => Some(
            PackageType::parse(&name)
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
        search: search
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
    };
    let page = core
        .list_hosted_packages(filter, request.offset(), request.size)
        .await?;
    let packages = PackageList {
        simple_package_info_model_list: page.items.iter().map(PackageModel::from).collect(),
    };
    Ok(HttpResponse::Ok().json(HalPage::new(packages, request, page.total)))
}

/// `GET /registry/package/:packageUuid`.
#[utoipa::path(get, path = "/registry/package/{packageUuid}", operation_id = "gitflic_show_package",
    tag = "GitFlic packages", params(PackagePath),
    responses(
        (status = 200, description = "The package", body = PackageModel),
        (status = 404, description = "No such package", body = HostedErrorBody),
    ))]
async fn show_package(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    admin(&core, &actor).await?;
    let package = core.find_hosted_package(&path.to_lowercase()).await?;
    Ok(HttpResponse::Ok().json(PackageModel::from(&package)))
}

/// `GET /registry/package/:packageUuid/version-list`: newest first, each with its files.
#[utoipa::path(get, path = "/registry/package/{packageUuid}/version-list",
    operation_id = "gitflic_list_versions", tag = "GitFlic packages",
    params(PackagePath, PageRequest),
    responses(
        (status = 200, description = "A page of the package's versions", body = HalPage<VersionList>),
        (status = 400, description = "A parameter is invalid", body = HostedErrorBody),
        (status = 404, description = "No such package", body = HostedErrorBody),
    ))]
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
    let versions = VersionList {
        simple_package_version_model_list: page
            .items
            .iter()
            .map(PackageVersionModel::from)
            .collect(),
    };
    Ok(HttpResponse::Ok().json(HalPage::new(versions, request, page.total)))
}

/// `GET /registry/package/:packageUuid/package-file`: the files of every version.
#[utoipa::path(get, path = "/registry/package/{packageUuid}/package-file",
    operation_id = "gitflic_list_files", tag = "GitFlic packages",
    params(PackagePath, PageRequest),
    responses(
        (status = 200, description = "A page of the package's files", body = HalPage<FileList>),
        (status = 400, description = "A parameter is invalid", body = HostedErrorBody),
        (status = 404, description = "No such package", body = HostedErrorBody),
    ))]
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
    let files = FileList {
        simple_package_file_model_list: page.items.iter().map(PackageFileModel::from).collect(),
    };
    Ok(HttpResponse::Ok().json(HalPage::new(files, request, page.total)))
}

/// `GET /registry/package/:packageUuid/:packageVersion`: one version with its files.
#[utoipa::path(get, path = "/registry/package/{packageUuid}/{packageVersion}",
    operation_id = "gitflic_show_version", tag = "GitFlic packages",
    params(PackagePath, ("packageVersion" = String, Path, description = "The version")),
    responses(
        (status = 200, description = "The version with its files", body = PackageVersionModel),
        (status = 404, description = "No such package or version", body = HostedErrorBody),
    ))]
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
