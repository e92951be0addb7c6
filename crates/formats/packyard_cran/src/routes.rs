//! CRAN routes: GitFlic's content routes, GitFlic's upload and the source repository layout.

use std::io::{BufReader, Seek, SeekFrom, Write};

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web};
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::Need;
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{PackageType, UploadType};
use packyard_http::CoreData;
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_response, payload_stream,
};
use serde::Deserialize;
use serde_json::Value;

use crate::description::{
    Description, IndexEntry, compare_versions, parse_source_file_name, read_source_description,
    render_packages,
};

/// The transport's base: the repository root R's `repos` names.
const BASE: &str = "/company/{group}/package/-/cran";

/// Registers the CRAN routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/registry/package/cran/{languageVersion}/{fileName}")
            .route(web::put().to(global_upload)),
    )
    .service(
        web::resource("/registry/package/cran/{fileName}").route(web::get().to(global_download)),
    )
    .service(web::resource(format!("{BASE}/src/{{fileName}}")).route(web::put().to(upload)))
    .service(web::resource(format!("{BASE}/src/contrib/PACKAGES")).route(web::get().to(packages)))
    .service(
        web::resource(format!("{BASE}/src/contrib/PACKAGES.gz")).route(web::get().to(packages_gz)),
    )
    .service(
        web::resource(format!("{BASE}/src/contrib/{{fileName}}"))
            .route(web::get().to(current_download)),
    )
    .service(
        web::resource(format!(
            "{BASE}/src/contrib/Archive/{{package}}/{{fileName}}"
        ))
        .route(web::get().to(archive_download)),
    );
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

/// The package and version a source tarball's name gives, or a 400 saying what is expected.
fn check_file_name(file_name: &str) -> CoreResult<(String, String)> {
    parse_source_file_name(file_name)
        .map(|(name, version)| (name.to_owned(), version.to_owned()))
        .ok_or_else(|| {
            bad_request(format!(
                "{file_name:?} is not a source package name: expected <package>_<version>.tar.gz \
                 (binary packages are not hosted yet)"
            ))
        })
}

/// An R version as GitFlic's `languageVersion`: `x.y` or `x.y.z`.
fn check_language_version(version: &str) -> CoreResult<()> {
    let parts: Vec<&str> = version.split('.').collect();
    if (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{version:?} is not an R version such as 4.2 or 4.2.2"
        )))
    }
}

fn package_ref(owner: Owner, name: &str) -> PackageRef {
    PackageRef::named(owner, PackageType::Cran, name, name.to_owned())
}

/// Reads the DESCRIPTION out of the received tarball.
async fn inspect(received: &ReceivedFile) -> CoreResult<Description> {
    let mut file = received
        .spool()?
        .ok_or_else(|| CoreError::Internal("the package was not spooled".into()))?;
    tokio::task::spawn_blocking(move || {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
        read_source_description(BufReader::new(file))
            .map_err(|e| bad_request(format!("invalid package: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("inspecting a package: {e}")))?
}

/// Checks a received source tarball against its file name, reads its DESCRIPTION and keeps it.
/// Nothing is kept when a check fails.
async fn store_source(
    core: &Core,
    owner: Owner,
    file_name: &str,
    language_version: Option<String>,
    received: ReceivedFile,
    upload_type: UploadType,
) -> CoreResult<StoredFile> {
    let checked = async {
        let (name, version) = check_file_name(file_name)?;
        let description = inspect(&received).await?;
        if description.package() != name {
            return Err(bad_request(format!(
                "invalid package: DESCRIPTION's Package {:?} is not the file name's {name:?}",
                description.package()
            )));
        }
        if description.version() != version {
            return Err(bad_request(format!(
                "invalid package: DESCRIPTION's Version {:?} is not the file name's {version:?}",
                description.version()
            )));
        }
        Ok(description)
    }
    .await;
    let description = match checked {
        Ok(description) => description,
        Err(error) => {
            received.discard().await;
            return Err(error);
        }
    };
    let package = package_ref(owner, description.package());
    let upload = FileUpload {
        language_version,
        version_metadata: Some(description.to_json()),
        ..FileUpload::new(description.version(), file_name, upload_type)
    };
    core.store_hosted_file(&package, upload, received).await
}

/// `PUT /registry/package/cran/{languageVersion}/{fileName}`: a source tarball at the service level.
/// `languageVersion` is the R version the package is meant for, kept on the version.
async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let (language_version, file_name) = path.into_inner();
    check_language_version(&language_version)?;
    check_file_name(&file_name)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_source(
        &core,
        Owner::Global,
        &file_name,
        Some(language_version),
        received,
        UploadType::Api,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// The query of GitFlic's download route; `platform` is for binaries, which are not hosted yet.
#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(rename = "languageVersion")]
    #[allow(dead_code)]
    language_version: Option<String>,
    platform: Option<String>,
}

/// `GET /registry/package/cran/{fileName}?languageVersion=&platform=`: a source tarball.
async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let file_name = path.into_inner();
    if let Some(platform) = query.platform.as_deref().filter(|p| !p.is_empty())
        && !matches!(platform, "windows" | "macosx")
    {
        return Err(bad_request(format!(
            "platform {platform:?} is neither windows nor macosx"
        ))
        .into());
    }
    let Some((name, version)) = parse_source_file_name(&file_name) else {
        return Err(CoreError::not_found("Package file").into());
    };
    let download = core
        .download_hosted_file(&package_ref(Owner::Global, name), version, &file_name)
        .await?;
    Ok(file_response(download, "application/gzip"))
}

/// `PUT /company/{group}/package/-/cran/src/{fileName}`: GitFlic's source upload
/// (`curl --upload-file pkg_1.0.tar.gz …/cran/src/pkg_1.0.tar.gz`).
async fn upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group_path, file_name) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Publish)
        .await?;
    check_file_name(&file_name)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_source(
        &core,
        Owner::Company(group),
        &file_name,
        None,
        received,
        UploadType::Transport,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// A package's source versions: `(version, file name, md5, DESCRIPTION fields)`, newest first.
async fn source_versions(
    core: &Core,
    package: &packyard_core::rows::Package,
) -> CoreResult<Vec<(String, String, String, serde_json::Map<String, Value>)>> {
    let mut versions: Vec<_> = core
        .list_hosted_files_with_versions(package)
        .await?
        .into_iter()
        .filter(|(version, file)| {
            parse_source_file_name(&file.name).is_some_and(|(_, v)| v == version.version)
        })
        .map(|(version, file)| {
            let fields = version
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|m| match m {
                    Value::Object(fields) => Some(fields),
                    _ => None,
                })
                .unwrap_or_default();
            (version.version, file.name, file.file_md5, fields)
        })
        .collect();
    versions.sort_by(|a, b| compare_versions(&b.0, &a.0));
    Ok(versions)
}

/// The group's `PACKAGES`: the newest source version of every package, sorted by name.
async fn render_index(core: &Core, group_path: &str, actor: &HostedActor) -> CoreResult<String> {
    let group = core
        .company_for(&actor.0, group_path, Need::Install)
        .await?;
    let mut packages = core
        .list_company_packages(&group, PackageType::Cran)
        .await?;
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let mut entries = Vec::new();
    for package in packages {
        if let Some((_, _, md5, fields)) = source_versions(core, &package).await?.into_iter().next()
        {
            entries.push(IndexEntry { fields, md5 });
        }
    }
    Ok(render_packages(&entries))
}

async fn packages(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let text = render_index(&core, &path.into_inner(), &actor).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(text))
}

async fn packages_gz(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let text = render_index(&core, &path.into_inner(), &actor).await?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| {
            HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/gzip"))
                .body(bytes)
        })
        .map_err(|e| CoreError::Internal(format!("gzip: {e}")).into())
}

/// Serves `file_name` when its version is (`current`) or is not (archive) the package's newest.
async fn serve(
    core: &Core,
    actor: &HostedActor,
    group_path: &str,
    file_name: &str,
    current: bool,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, group_path, Need::Install)
        .await?;
    let Some((name, version)) = parse_source_file_name(file_name) else {
        return Err(CoreError::not_found("Package file").into());
    };
    let package = package_ref(Owner::Company(group), name);
    let found = core.find_hosted_package_by_ref(&package).await?;
    let newest = source_versions(core, &found)
        .await?
        .into_iter()
        .next()
        .map(|(v, ..)| v);
    if (newest.as_deref() == Some(version)) != current {
        return Err(CoreError::not_found("Package file").into());
    }
    let download = core
        .download_hosted_file(&package, version, file_name)
        .await?;
    Ok(file_response(download, "application/gzip"))
}

/// `GET …/src/contrib/<pkg>_<ver>.tar.gz`: the newest version of a package.
async fn current_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, file_name) = path.into_inner();
    serve(&core, &actor, &group_path, &file_name, true).await
}

/// `GET …/src/contrib/Archive/<pkg>/<pkg>_<ver>.tar.gz`: an older version.
async fn archive_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, package, file_name) = path.into_inner();
    if parse_source_file_name(&file_name).is_none_or(|(name, _)| name != package) {
        return Err(CoreError::not_found("Package file").into());
    }
    serve(&core, &actor, &group_path, &file_name, false).await
}
