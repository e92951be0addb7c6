//! opm routes: GitFlic's content routes and the opm hub (`list.txt`, `.ospx` downloads, `push`).

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::{Credential, Need};
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{PackageType, UploadType};
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_response, payload_stream,
};

use packyard_http::{CoreData, credential_from_request, header_text};

use crate::metadata::{Metadata, compare_versions, read_ospx};

/// The hub's base in the company scope: `ПутьНаСервере` in `opm.cfg`.
const BASE: &str = "/opm";

const OSPX: &str = "application/zip";

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/opm/{fileName}").route(web::put().to(global_upload)))
        .service(
            web::resource("/opm/{packageName}/{packageVersion}/{fileName}")
                .route(web::get().to(global_download)),
        );
}

/// Registers the client protocol, relative to `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(format!("{BASE}/list.txt")).route(web::get().to(list_txt)))
        .service(web::resource(format!("{BASE}/push")).route(web::post().to(push)))
        .service(
            web::resource(format!("{BASE}/{{name}}/{{fileName}}")).route(web::get().to(download)),
        );
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

/// opm matches names case-insensitively: one package per name whatever its case.
fn package_ref(owner: Owner, name: &str) -> PackageRef {
    PackageRef::named(owner, PackageType::Opm, name, name.to_lowercase())
}

/// The one file of a version, as `opm build` names it.
fn file_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.ospx")
}

/// Reads `opm-metadata.xml` out of the received `.ospx`.
async fn inspect(received: &mut ReceivedFile) -> CoreResult<Metadata> {
    received
        .inspect(|file| read_ospx(file).map_err(|e| bad_request(format!("invalid package: {e}"))))
        .await
}

/// The checks that need the metadata: the declared file name, and the name's case.
async fn check(
    core: &Core,
    owner: &Owner,
    declared_file: &str,
    metadata: &Metadata,
) -> CoreResult<()> {
    let expected = file_name(&metadata.name, &metadata.version);
    if declared_file != expected {
        return Err(bad_request(format!(
            "the file name {declared_file:?} does not match the package's opm-metadata.xml \
             ({expected:?})"
        )));
    }
    match core
        .find_hosted_package_by_ref(&package_ref(owner.clone(), &metadata.name))
        .await
    {
        Ok(existing) if existing.name != metadata.name => Err(CoreError::Conflict(format!(
            "the package exists already as {:?}",
            existing.name
        ))),
        Ok(_) | Err(CoreError::NotFound(_)) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Checks a received `.ospx`, reads its metadata and keeps it. Nothing is kept when a check fails.
async fn store_package(
    core: &Core,
    owner: Owner,
    declared_file: &str,
    mut received: ReceivedFile,
    upload_type: UploadType,
) -> CoreResult<StoredFile> {
    let checked = async {
        let metadata = inspect(&mut received).await?;
        check(core, &owner, declared_file, &metadata).await?;
        Ok(metadata)
    }
    .await;
    let metadata = match checked {
        Ok(metadata) => metadata,
        Err(error) => {
            received.discard().await;
            return Err(error);
        }
    };
    let package = package_ref(owner, &metadata.name);
    let upload = FileUpload {
        version_metadata: Some(metadata.version_metadata()),
        ..FileUpload::new(
            &metadata.version,
            &file_name(&metadata.name, &metadata.version),
            upload_type,
        )
    };
    core.store_hosted_file(&package, upload, received).await
}

async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let declared = path.into_inner();
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(&core, Owner::Global, &declared, received, UploadType::Api).await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (name, version, file) = path.into_inner();
    let package = package_ref(Owner::Global, &name);
    let download = core.download_hosted_file(&package, &version, &file).await?;
    Ok(file_response(download, OSPX))
}

/// `opm push`: the raw `.ospx` as a POST body, its name in `FILE-NAME`. opm sends `--token` as the
/// `Авторизация` header configured for the hub when there is one (the usual `Authorization`), and
/// otherwise as `OAUTH-TOKEN`: the header opm's own hub reads.
async fn push(
    req: HttpRequest,
    core: CoreData,
    path: web::Path<String>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let credential = credential_from_request(&req)
        .or_else(|| header_text(&req, "OAUTH-TOKEN").map(Credential::DeployOrPersonal));
    let actor = HostedActor::authenticate(&req, credential).await?;
    let group_path = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Publish)
        .await?;
    let declared = header_text(&req, "FILE-NAME")
        .ok_or_else(|| bad_request("the FILE-NAME header is missing"))?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(
        &core,
        Owner::Company(group),
        &declared,
        received,
        UploadType::Transport,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// `list.txt`: the package names exactly as published, one a line.
async fn list_txt(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group_path = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let mut names: Vec<String> = core
        .list_company_packages(&group, PackageType::Opm)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    let body: String = names.iter().map(|n| format!("{n}\n")).collect();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body))
}

/// `{name}/{name}-{version}.ospx` (that version) and `{name}/{name}.ospx` (the newest one).
async fn download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, name, file) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let not_found = || CoreError::not_found("Package");
    let stem = file.strip_suffix(".ospx").ok_or_else(not_found)?;
    let package_ref = package_ref(Owner::Company(group), &name);
    let package = core.find_hosted_package_by_ref(&package_ref).await?;
    if package.name != name {
        return Err(not_found().into());
    }
    let version = if stem == name {
        core.list_hosted_files_with_versions(&package)
            .await?
            .into_iter()
            .map(|(version, _)| version.version)
            .max_by(|a, b| compare_versions(a, b))
            .ok_or_else(not_found)?
    } else {
        stem.strip_prefix(&format!("{name}-"))
            .ok_or_else(not_found)?
            .to_owned()
    };
    let download = core
        .download_hosted_file(&package_ref, &version, &file_name(&name, &version))
        .await?;
    Ok(file_response(download, OSPX))
}
