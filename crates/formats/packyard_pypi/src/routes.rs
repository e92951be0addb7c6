//! PyPI routes: GitFlic's content routes, twine's legacy upload, the simple index, downloads and the
//! PEP 658 core metadata of wheels (`<file URL>.metadata`).

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE, LOCATION, VARY};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::Need;
use packyard_core::rows::{Package, PackageFile};
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{
    PackageType, UploadType, is_valid_pypi_name, is_valid_pypi_version, normalize_pypi_name,
};
use packyard_http::CoreData;
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_response, payload_stream,
};
use serde_json::json;

use crate::filename::{DistributionKind, DistributionName};
use crate::index::{self, IndexFile, encode_segment, negotiate};
use crate::metadata::{CoreMetadata, read_sdist_metadata, read_wheel_metadata};

/// The transport's base (in the company scope), relative to which the index and files live.
const BASE: &str = "/pypi";
/// Text an upload form may carry besides the file (descriptions can be long).
const MAX_FORM_TEXT: usize = 8 * 1024 * 1024;
/// What PEP 658 appends to a distribution's URL for its core metadata.
pub(crate) const METADATA_SUFFIX: &str = ".metadata";

/// What a project page shows of the JSON kept with each distribution file (the core metadata's text is
/// skipped, not copied, for every file of the page).
#[derive(Debug, Default, serde::Deserialize)]
struct IndexedMetadata {
    requires_python: Option<String>,
    /// The sha256 of the wheel's `METADATA`.
    core_metadata_sha256: Option<String>,
}

/// The core metadata kept with a wheel.
#[derive(Debug, Default, serde::Deserialize)]
struct KeptCoreMetadata {
    /// The wheel's `METADATA`, byte for byte.
    core_metadata: Option<String>,
    /// Its sha256.
    core_metadata_sha256: Option<String>,
}

/// Reads the JSON kept with a file; files stored without it (or before a field existed) have none.
fn kept_metadata<T: serde::de::DeserializeOwned + Default>(file: &PackageFile) -> T {
    file.metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default()
}

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/pypi/{packageName}/{packageVersion}/{fileName}")
            .route(web::get().to(global_download))
            .route(web::put().to(global_upload)),
    );
}

/// Registers the client protocol, relative to `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource([BASE.to_owned(), format!("{BASE}/")]).route(web::post().to(upload)))
        .service(web::resource(format!("{BASE}/simple")).route(web::get().to(add_slash)))
        .service(web::resource(format!("{BASE}/simple/")).route(web::get().to(project_list)))
        .service(
            web::resource(format!("{BASE}/simple/{{project}}")).route(web::get().to(add_slash)),
        )
        .service(
            web::resource(format!("{BASE}/simple/{{project}}/")).route(web::get().to(project_page)),
        )
        .service(
            web::resource(format!("{BASE}/files/{{project}}/{{version}}/{{fileName}}"))
                .route(web::get().to(company_download)),
        );
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

fn check_project(name: &str, version: &str) -> CoreResult<()> {
    if !is_valid_pypi_name(name) {
        return Err(bad_request(format!(
            "{name:?} is not a valid project name: use ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit"
        )));
    }
    if !is_valid_pypi_version(version) {
        return Err(bad_request(format!("{version:?} is not a valid version")));
    }
    Ok(())
}

fn check_file_name(name: &str, version: &str, file_name: &str) -> CoreResult<DistributionName> {
    let distribution = DistributionName::parse(file_name).ok_or_else(|| {
        bad_request(format!(
            "{file_name:?} is neither a wheel (.whl) nor an sdist (.tar.gz)"
        ))
    })?;
    if !distribution.matches(name, version) {
        return Err(bad_request(format!(
            "the file name {file_name:?} does not match project {name:?} version {version:?}"
        )));
    }
    Ok(distribution)
}

/// Reads the core metadata out of the received file.
async fn inspect(received: &mut ReceivedFile, kind: DistributionKind) -> CoreResult<CoreMetadata> {
    received
        .inspect(move |reader| {
            let parsed = match kind {
                DistributionKind::Wheel => read_wheel_metadata(reader),
                DistributionKind::Sdist => read_sdist_metadata(reader),
            };
            parsed.map_err(|e| bad_request(format!("invalid distribution: {e}")))
        })
        .await
}

/// What the client declared besides the file.
#[derive(Default)]
struct Declared {
    sha256: Option<String>,
    md5: Option<String>,
}

/// Checks a received distribution against its project, version and file name, reads its metadata,
/// and keeps it. Nothing is kept when a check fails.
async fn store_distribution(
    core: &Core,
    owner: Owner,
    (name, version, file_name): (&str, &str, &str),
    mut received: ReceivedFile,
    upload_type: UploadType,
    declared: Declared,
) -> CoreResult<StoredFile> {
    let checked = async {
        check_project(name, version)?;
        let distribution = check_file_name(name, version, file_name)?;
        let metadata = inspect(&mut received, distribution.kind).await?;
        if normalize_pypi_name(metadata.name()) != normalize_pypi_name(name) {
            return Err(bad_request(format!(
                "the distribution's metadata names project {:?}, not {name:?}",
                metadata.name()
            )));
        }
        if metadata.version() != version {
            return Err(bad_request(format!(
                "the distribution's metadata has version {:?}, not {version:?}",
                metadata.version()
            )));
        }
        Ok((distribution, metadata))
    }
    .await;
    let (distribution, metadata) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            received.discard().await;
            return Err(error);
        }
    };
    let package = PackageRef::named(
        owner,
        PackageType::Pypi,
        metadata.name(),
        normalize_pypi_name(name),
    );
    let mut file_metadata = json!({
        "packagetype": distribution.kind.package_type(),
        "requires_python": metadata.requires_python(),
    });
    // Only a wheel's METADATA is what installs (an sdist's PKG-INFO may leave fields dynamic), so only
    // wheels offer it to resolvers, as PyPI does.
    if distribution.kind == DistributionKind::Wheel {
        file_metadata["core_metadata"] = json!(metadata.text());
        file_metadata["core_metadata_sha256"] = json!(metadata.sha256());
    }
    let upload = FileUpload {
        expected_sha256: declared.sha256,
        expected_md5: declared.md5,
        version_metadata: Some(metadata.to_json()),
        file_metadata: Some(file_metadata),
        ..FileUpload::new(version, file_name, upload_type)
    };
    core.store_hosted_file(&package, upload, received).await
}

pub(crate) fn content_type_of(file_name: &str) -> &'static str {
    if file_name.ends_with(".tar.gz") {
        "application/gzip"
    } else if file_name.ends_with(".whl") {
        "application/zip"
    } else {
        "application/octet-stream"
    }
}

async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (name, version, file_name) = path.into_inner();
    let package = PackageRef::named(
        Owner::Global,
        PackageType::Pypi,
        &name,
        normalize_pypi_name(&name),
    );
    let download = core
        .download_hosted_file(&package, &version, &file_name)
        .await?;
    Ok(file_response(download, content_type_of(&file_name)))
}

async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let (name, version, file_name) = path.into_inner();
    check_project(&name, &version)?;
    check_file_name(&name, &version, &file_name)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_distribution(
        &core,
        Owner::Global,
        (&name, &version, &file_name),
        received,
        UploadType::Api,
        Declared::default(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// The fields of an upload form: text fields (first value wins) and the one `content` file.
struct UploadForm {
    fields: HashMap<String, String>,
    content: Option<(String, ReceivedFile)>,
}

impl UploadForm {
    async fn read(core: &Core, form: &mut Multipart) -> CoreResult<Self> {
        let mut fields = HashMap::new();
        let mut content: Option<(String, ReceivedFile)> = None;
        let mut text_left = MAX_FORM_TEXT;
        let read = async {
            while let Some(field) = form.next().await {
                let mut field =
                    field.map_err(|e| bad_request(format!("the form could not be read: {e}")))?;
                let name = field.name().unwrap_or_default().to_owned();
                if name == "content" {
                    let file_name = field
                        .content_disposition()
                        .and_then(|d| d.get_filename())
                        .map(str::to_owned)
                        .ok_or_else(|| bad_request("the content part has no file name"))?;
                    if content.is_some() {
                        return Err(bad_request("an upload carries one content file"));
                    }
                    let body = field
                        .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())))
                        .boxed_local();
                    content = Some((file_name, core.receive_file(body, true).await?));
                    continue;
                }
                let mut text = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk
                        .map_err(|e| bad_request(format!("the form could not be read: {e}")))?;
                    text_left = text_left.checked_sub(chunk.len()).ok_or_else(|| {
                        CoreError::TooLarge(format!(
                            "the form's text is larger than {MAX_FORM_TEXT} bytes"
                        ))
                    })?;
                    text.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(text)
                    .map_err(|_| bad_request(format!("the form field {name} is not UTF-8")))?;
                fields.entry(name).or_insert(text);
            }
            Ok(())
        }
        .await;
        match read {
            Ok(()) => Ok(Self { fields, content }),
            Err(error) => {
                if let Some((_, received)) = content {
                    received.discard().await;
                }
                Err(error)
            }
        }
    }

    fn field(&self, name: &str) -> Option<String> {
        self.fields
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// twine's upload: `POST` of a multipart form with `:action=file_upload`.
async fn upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    mut form: Multipart,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &path.into_inner(), Need::Publish)
        .await?;
    let form = UploadForm::read(&core, &mut form).await?;
    let checked = (|| {
        let action = form.field(":action").unwrap_or_default();
        if action != "file_upload" {
            return Err(bad_request(format!(
                "unsupported :action {action:?}; only file_upload is"
            )));
        }
        let name = form
            .field("name")
            .ok_or_else(|| bad_request("name is missing"))?;
        let version = form
            .field("version")
            .ok_or_else(|| bad_request("version is missing"))?;
        Ok((name, version))
    })();
    let declared = Declared {
        sha256: form.field("sha256_digest"),
        md5: form.field("md5_digest"),
    };
    let Some((file_name, received)) = form.content else {
        return Err(bad_request("content is missing").into());
    };
    let (name, version) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            received.discard().await;
            return Err(error.into());
        }
    };
    let stored = store_distribution(
        &core,
        Owner::Company(group),
        (&name, &version, &file_name),
        received,
        UploadType::Transport,
        declared,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// Simple index URLs end with `/`: redirect the form without it.
pub(crate) async fn add_slash(req: HttpRequest) -> HttpResponse {
    let location = match req.query_string() {
        "" => format!("{}/", req.path()),
        query => format!("{}/?{query}", req.path()),
    };
    HttpResponse::MovedPermanently()
        .insert_header((LOCATION, location))
        .finish()
}

pub(crate) fn flavor(req: &HttpRequest) -> Option<index::Flavor> {
    negotiate(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()))
}

/// 406, naming what the index is served as.
pub(crate) fn not_acceptable() -> HttpResponse {
    HttpResponse::NotAcceptable().json(json!({
        "status": 406,
        "error": "Not Acceptable",
        "message": "the simple index is served as application/vnd.pypi.simple.v1+json, \
                    application/vnd.pypi.simple.v1+html and text/html",
    }))
}

pub(crate) fn index_response(flavor: index::Flavor, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, flavor.content_type()))
        .insert_header((VARY, "Accept"))
        .body(body)
}

async fn project_list(
    req: HttpRequest,
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &path.into_inner(), Need::Install)
        .await?;
    let Some(flavor) = flavor(&req) else {
        return Ok(not_acceptable());
    };
    let projects: Vec<(String, String)> = core
        .list_company_packages(&group, PackageType::Pypi)
        .await?
        .into_iter()
        .map(|p| (p.name, p.normalized_name))
        .collect();
    Ok(index_response(
        flavor,
        index::render_project_list(flavor, &projects),
    ))
}

async fn project_page(
    req: HttpRequest,
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, project) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let normalized = normalize_pypi_name(&project);
    if project != normalized {
        return Ok(HttpResponse::MovedPermanently()
            .insert_header((
                LOCATION,
                format!(
                    "/company/{}/package/-/pypi/simple/{}/",
                    encode_segment(&group_path),
                    encode_segment(&normalized)
                ),
            ))
            .finish());
    }
    let Some(flavor) = flavor(&req) else {
        return Ok(not_acceptable());
    };
    let package = core
        .find_hosted_package_by_ref(&PackageRef::named(
            Owner::Company(group),
            PackageType::Pypi,
            &project,
            normalized.clone(),
        ))
        .await?;
    let page = hosted_page(&core, &package, flavor, |version, file| {
        format!(
            "../../files/{}/{}/{}",
            encode_segment(&normalized),
            encode_segment(version),
            encode_segment(file)
        )
    })
    .await?;
    Ok(index_response(flavor, page))
}

/// A hosted project's page, each file at the URL `file_url(version, file name)` gives (relative to the
/// page): the group's index, or a virtual registry's whose local upstream the group is.
pub(crate) async fn hosted_page(
    core: &Core,
    package: &Package,
    flavor: index::Flavor,
    file_url: impl Fn(&str, &str) -> String,
) -> CoreResult<String> {
    let mut versions: Vec<String> = Vec::new();
    let files: Vec<IndexFile> = core
        .list_hosted_files_with_versions(package)
        .await?
        .into_iter()
        .map(|(version, file)| {
            if !versions.contains(&version.version) {
                versions.push(version.version.clone());
            }
            let IndexedMetadata {
                requires_python,
                core_metadata_sha256,
            } = kept_metadata(&file);
            IndexFile {
                url: file_url(&version.version, &file.name),
                filename: file.name,
                sha256: file.blob_sha256,
                requires_python,
                size: Some(file.size),
                upload_time: Some(file.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
                core_metadata_sha256,
                yanked: None,
            }
        })
        .collect();
    Ok(index::render_project_page(
        flavor,
        &package.normalized_name,
        &versions,
        &files,
    ))
}

async fn company_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, project, version, file_name) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let package = PackageRef::named(
        Owner::Company(group),
        PackageType::Pypi,
        &project,
        normalize_pypi_name(&project),
    );
    if let Some(distribution) = file_name.strip_suffix(METADATA_SUFFIX) {
        let stored = core
            .find_hosted_file(&package, &version, distribution)
            .await?;
        return Ok(core_metadata_response(&stored.file)?);
    }
    let download = core
        .download_hosted_file(&package, &version, &file_name)
        .await?;
    Ok(file_response(download, content_type_of(&file_name)))
}

/// A wheel's core metadata as PEP 658 serves it (not counted as a download: resolvers read it to
/// decide, not to install).
pub(crate) fn core_metadata_response(file: &PackageFile) -> CoreResult<HttpResponse> {
    let KeptCoreMetadata {
        core_metadata,
        core_metadata_sha256,
    } = kept_metadata(file);
    let (Some(text), Some(sha256)) = (core_metadata, core_metadata_sha256) else {
        return Err(CoreError::not_found("Core metadata"));
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header(("x-checksum-sha256", sha256))
        .body(text))
}
