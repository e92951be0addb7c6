//! Composer routes: GitFlic's content routes, the Composer 2 repository, uploads and dist downloads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{Header, HttpDate, IfModifiedSince, LastModified};
use actix_web::{HttpRequest, HttpResponse, web};
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::Need;
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{PackageType, UploadType};
use packyard_http::CoreData;
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_response, payload_stream,
};
use serde_json::json;

use crate::manifest::{Manifest, is_dev_version, is_valid_package_name, normalize_version};
use crate::repository::{DistVersion, render_package_document, render_packages_json};

/// The transport's base in the company scope: the repository URL Composer is configured with.
const BASE: &str = "/composer";

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/composer/{packageVersion}").route(web::put().to(global_upload)))
        .service(
            web::resource("/composer/{groupId}/{artifactId}/{packageVersion}")
                .route(web::get().to(global_download)),
        );
}

/// Registers the client protocol, relative to `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(format!("{BASE}/packages.json")).route(web::get().to(packages_json)))
        .service(web::resource(format!("{BASE}/p2/{{vendor}}/{{file}}")).route(web::get().to(p2)))
        .service(
            web::resource(format!(
                "{BASE}/files/{{vendor}}/{{name}}/{{version}}/{{fileName}}"
            ))
            .route(web::get().to(company_download)),
        )
        .service(web::resource(format!("{BASE}/{{packageVersion}}")).route(web::put().to(upload)));
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

/// The package `vendor/name` names: vendor as its group, name as its artifact.
fn package_ref(owner: Owner, name: &str) -> PackageRef {
    let (vendor, artifact) = name.split_once('/').unwrap_or(("", name));
    PackageRef {
        group_name: vendor.to_owned(),
        artifact_id: artifact.to_owned(),
        ..PackageRef::named(owner, PackageType::Composer, name, name.to_owned())
    }
}

/// The one file of a version: `<name>-<version>.zip`.
fn dist_file_name(name: &str, version: &str) -> String {
    let artifact = name.split_once('/').map_or(name, |(_, a)| a);
    format!("{artifact}-{version}.zip")
}

fn check_version(version: &str) -> CoreResult<()> {
    if version.contains(['/', '\\']) || normalize_version(version).is_none() {
        return Err(bad_request(format!(
            "{version:?} is not a valid Composer version"
        )));
    }
    Ok(())
}

/// Reads `composer.json` out of the received zip.
async fn inspect(received: &mut ReceivedFile) -> CoreResult<Manifest> {
    received
        .inspect(|file| {
            crate::manifest::read_zip_manifest(file)
                .map_err(|e| bad_request(format!("invalid package: {e}")))
        })
        .await
}

/// Checks a received zip, reads its `composer.json` and keeps it as the version's dist. Nothing is
/// kept when a check fails.
async fn store_package(
    core: &Core,
    owner: Owner,
    version: &str,
    mut received: ReceivedFile,
    upload_type: UploadType,
) -> CoreResult<StoredFile> {
    let checked = async {
        check_version(version)?;
        let manifest = inspect(&mut received).await?;
        if let Some(declared) = manifest.document.get("version").and_then(|v| v.as_str())
            && normalize_version(declared) != normalize_version(version)
        {
            return Err(bad_request(format!(
                "composer.json has version {declared:?}, not {version:?}"
            )));
        }
        Ok(manifest)
    }
    .await;
    let manifest = match checked {
        Ok(manifest) => manifest,
        Err(error) => {
            received.discard().await;
            return Err(error);
        }
    };
    let package = package_ref(owner, &manifest.name);
    if let Err(error) = check_spelling(core, &package, version).await {
        received.discard().await;
        return Err(error);
    }
    let upload = FileUpload {
        version_metadata: Some(manifest.package_metadata()),
        file_metadata: Some(json!({
            "version_normalized": normalize_version(version),
        })),
        ..FileUpload::new(
            version,
            &dist_file_name(&manifest.name, version),
            upload_type,
        )
    };
    core.store_hosted_file(&package, upload, received).await
}

/// One version per normalised version: `1.0` after `1.0.0` would list the same version twice.
async fn check_spelling(core: &Core, package: &PackageRef, version: &str) -> CoreResult<()> {
    let existing = match core.find_hosted_package_by_ref(package).await {
        Ok(existing) => existing,
        Err(CoreError::NotFound(_)) => return Ok(()),
        Err(error) => return Err(error),
    };
    let normalized = normalize_version(version);
    let clash = core
        .list_hosted_files_with_versions(&existing)
        .await?
        .into_iter()
        .map(|(v, _)| v.version)
        .find(|v| v != version && normalize_version(v) == normalized);
    match clash {
        Some(other) => Err(CoreError::Conflict(format!(
            "version {version:?} of {} exists already as {other:?}",
            package.name
        ))),
        None => Ok(()),
    }
}

async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let version = path.into_inner();
    check_version(&version)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(&core, Owner::Global, &version, received, UploadType::Api).await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (vendor, artifact, version) = path.into_inner();
    let name = format!("{vendor}/{artifact}");
    let package = package_ref(Owner::Global, &name);
    let download = core
        .download_hosted_file(&package, &version, &dist_file_name(&name, &version))
        .await?;
    Ok(file_response(download, "application/zip"))
}

/// An upload to a group repository: the zip as the body of `PUT <repository>/<version>`.
async fn upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group_path, version) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Publish)
        .await?;
    check_version(&version)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(
        &core,
        Owner::Company(group),
        &version,
        received,
        UploadType::Transport,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// Where this repository is reached: the configured external URL, else the request's scheme and host.
fn repository_url(req: &HttpRequest, core: &Core, group: &str) -> String {
    let origin = match &core.settings().external_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{origin}/company/{group}/package/-/composer")
}

async fn packages_json(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group_path = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let names: Vec<String> = core
        .list_company_packages(&group, PackageType::Composer)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(HttpResponse::Ok().json(render_packages_json(
        &format!("/company/{group_path}/package/-/composer"),
        &names,
    )))
}

/// `p2/<vendor>/<name>.json` (tagged versions) and `p2/<vendor>/<name>~dev.json` (dev versions).
async fn p2(
    req: HttpRequest,
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, vendor, file) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let not_found = || CoreError::not_found("Package");
    let stem = file.strip_suffix(".json").ok_or_else(not_found)?;
    let (artifact, dev) = match stem.strip_suffix("~dev") {
        Some(artifact) => (artifact, true),
        None => (stem, false),
    };
    let name = format!("{vendor}/{artifact}");
    if !is_valid_package_name(&name) {
        return Err(not_found().into());
    }
    let package = core
        .find_hosted_package_by_ref(&package_ref(Owner::Company(group), &name))
        .await?;
    let base = repository_url(&req, &core, &group_path);
    let files = core.list_hosted_files_with_versions(&package).await?;
    // Composer caches the document and asks again with If-Modified-Since. HTTP dates have whole
    // seconds: a change within the current second is not dated, so a later one in the same second
    // cannot hide behind a 304.
    let changed = files
        .iter()
        .flat_map(|(version, file)| [version.updated_at, file.updated_at])
        .chain([package.updated_at])
        .max()
        .map_or(0, |at| at.and_utc().timestamp().max(0).unsigned_abs());
    let now = core.now().and_utc().timestamp().max(0).unsigned_abs();
    let last_modified = (changed < now)
        .then(|| LastModified(HttpDate::from(UNIX_EPOCH + Duration::from_secs(changed))));
    if let Some(last_modified) = &last_modified
        && let Ok(IfModifiedSince(since)) = IfModifiedSince::parse(&req)
        && SystemTime::from(since) >= UNIX_EPOCH + Duration::from_secs(changed)
    {
        return Ok(HttpResponse::NotModified()
            .insert_header(last_modified.clone())
            .finish());
    }
    let versions: Vec<DistVersion> = files
        .into_iter()
        .filter(|(version, _)| {
            normalize_version(&version.version).is_some_and(|n| is_dev_version(&n)) == dev
        })
        .map(|(version, file)| DistVersion {
            url: format!("{base}/files/{name}/{}/{}", version.version, file.name),
            metadata: version
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_else(|| json!({})),
            shasum: file.file_sha1,
            time: version
                .created_at
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string(),
            version: version.version,
        })
        .collect();
    let mut response = HttpResponse::Ok();
    if let Some(last_modified) = last_modified {
        response.insert_header(last_modified);
    }
    Ok(response.json(render_package_document(&package.name, &versions)))
}

async fn company_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, vendor, artifact, version, file_name) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let package = package_ref(Owner::Company(group), &format!("{vendor}/{artifact}"));
    let download = core
        .download_hosted_file(&package, &version, &file_name)
        .await?;
    Ok(file_response(download, "application/zip"))
}
