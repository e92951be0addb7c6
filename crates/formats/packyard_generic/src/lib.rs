//! Generic packages: files under a name and a version, uploaded and downloaded as raw bodies.
//!
//! Two surfaces: GitFlic's service-level content routes
//! `GET`/`PUT /registry/package/generic/{packageName}/{packageVersion}/{fileName}` (administrators,
//! GLOBAL packages, upload type API), and the group transport
//! `GET`/`PUT /company/{group}/package/-/generic/{packageName}/{packageVersion}/{fileName}` (group
//! members, COMPANY packages, upload type TRANSPORT). Names, versions and file names follow GitLab's
//! generic package rules.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

use actix_web::{HttpResponse, web};
use packyard_core::hosted::{FileUpload, Owner, PackageRef};
use packyard_core::identity::Need;
use packyard_core::{Core, CoreError};
use packyard_domain::{PackageType, UploadType, is_valid_generic_name, is_valid_generic_version};
use packyard_http::CoreData;
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_response, payload_stream,
};

/// Registers the GitFlic content routes, relative to [`packyard_http::hosted::GLOBAL_SCOPE`].
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/generic/{packageName}/{packageVersion}/{fileName}")
            // Named: the request metrics read a name without allocating.
            .name("generic.global_file")
            .route(web::get().to(global_download))
            .route(web::put().to(global_upload)),
    );
}

/// Registers the group transport, relative to [`packyard_http::hosted::COMPANY_SCOPE`].
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/generic/{packageName}/{packageVersion}/{fileName}")
            .name("generic.file")
            .route(web::get().to(company_download))
            .route(web::put().to(company_upload)),
    );
}

/// A validated file coordinate.
struct Coordinate {
    name: String,
    version: String,
    file_name: String,
}

impl Coordinate {
    fn parse(name: String, version: String, file_name: String) -> Result<Self, CoreError> {
        if !is_valid_generic_name(&name) {
            return Err(CoreError::BadRequest(
                "package name may contain only letters, digits, '.', '_', '-' and '+'".into(),
            ));
        }
        if !is_valid_generic_version(&version) {
            return Err(CoreError::BadRequest(
                "package version may contain only letters, digits, '.', '_', '-' and '+', and no '..'"
                    .into(),
            ));
        }
        if !is_valid_generic_name(&file_name) {
            return Err(CoreError::BadRequest(
                "file name may contain only letters, digits, '.', '_', '-' and '+'".into(),
            ));
        }
        Ok(Self {
            name,
            version,
            file_name,
        })
    }

    fn package(&self, owner: Owner) -> PackageRef {
        PackageRef::named(owner, PackageType::Generic, &self.name, self.name.clone())
    }
}

async fn download(core: &Core, owner: Owner, coordinate: Coordinate) -> HostedResult<HttpResponse> {
    let download = core
        .download_hosted_file(
            &coordinate.package(owner),
            &coordinate.version,
            &coordinate.file_name,
        )
        .await?;
    Ok(file_response(download, "application/octet-stream"))
}

async fn upload(
    core: &Core,
    owner: Owner,
    coordinate: Coordinate,
    upload_type: UploadType,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let received = core.receive_file(payload_stream(body), false).await?;
    let stored = core
        .store_hosted_file(
            &coordinate.package(owner),
            FileUpload::new(&coordinate.version, &coordinate.file_name, upload_type),
            received,
        )
        .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (name, version, file_name) = path.into_inner();
    download(
        &core,
        Owner::Global,
        Coordinate::parse(name, version, file_name)?,
    )
    .await
}

async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let (name, version, file_name) = path.into_inner();
    let coordinate = Coordinate::parse(name, version, file_name)?;
    upload(&core, Owner::Global, coordinate, UploadType::Api, body).await
}

async fn company_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group, name, version, file_name) = path.into_inner();
    let group = core.company_for(&actor.0, &group, Need::Install).await?;
    download(
        &core,
        Owner::Company(group),
        Coordinate::parse(name, version, file_name)?,
    )
    .await
}

async fn company_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group, name, version, file_name) = path.into_inner();
    let group = core.company_for(&actor.0, &group, Need::Publish).await?;
    let coordinate = Coordinate::parse(name, version, file_name)?;
    upload(
        &core,
        Owner::Company(group),
        coordinate,
        UploadType::Transport,
        body,
    )
    .await
}
