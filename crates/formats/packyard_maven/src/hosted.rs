//! Hosted Maven repositories.
//!
//! Two surfaces: the Maven 2 layout on a group's repository,
//! `GET`/`HEAD`/`PUT /company/{group}/package/-/maven/{path}` (what `mvn deploy` and resolution use;
//! COMPANY packages, upload type TRANSPORT), and GitFlic's service-level content routes
//! `PUT /registry/package/maven/{groupId}/{artifactId}/{version}/{fileName}` and
//! `GET /registry/package/maven/{packageUuid}/{packageVersion}/{fileUuid}/download` (administrators,
//! GLOBAL packages, upload type API).
//!
//! A package is one groupId and artifactId, named `groupId:artifactId`; a SNAPSHOT version
//! (`1.1-SNAPSHOT`) is one version holding every timestamped file deployed to it. Release files are
//! immutable; SNAPSHOT files may be replaced. `maven-metadata.xml` is generated from what is stored, so a
//! client's copy is accepted and dropped; checksum sidecars are answered from the stored digests, and an
//! uploaded one is checked against them.

use std::io::{BufReader, Seek, SeekFrom};

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use packyard_core::hosted::{FileUpload, OnExisting, Owner, PackageRef, ReceivedFile};
use packyard_core::identity::Need;
use packyard_core::{Core, CoreError, CoreResult, Hashers};
use packyard_domain::{PackageType, UploadType};
use packyard_http::CoreData;
use packyard_http::head_body;
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_head, file_response, payload_stream,
};

use crate::layout::{
    Artifact, LayoutError, LayoutPath, Sidecar, is_snapshot, parse_layout, split_file_name,
};
use crate::metadata::{artifact_metadata, snapshot_metadata};
use crate::path::content_type_for;
use crate::pom::{check_coordinates, read_coordinates};

/// The largest checksum sidecar accepted (a sha512 in hex is 128 bytes).
const MAX_SIDECAR: usize = 1024;

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/maven/{packageUuid}/{packageVersion}/{fileUuid}/download")
            .route(web::get().to(global_download)),
    )
    .service(
        web::resource("/maven/{groupId}/{artifactId}/{version}/{fileName}")
            .route(web::put().to(global_upload)),
    );
}

/// Registers the hosted repository `mvn deploy` and resolution use, relative to
/// `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/maven/{path:.*}")
            .route(web::get().to(company_read))
            .route(web::put().to(company_upload)),
    );
}

/// The package a groupId and artifactId name.
fn package_ref(owner: Owner, artifact: &Artifact) -> PackageRef {
    let name = format!("{}:{}", artifact.group_id, artifact.artifact_id);
    PackageRef {
        owner,
        package_type: PackageType::Maven,
        normalized_name: name.clone(),
        name,
        group_name: artifact.group_id.clone(),
        artifact_id: artifact.artifact_id.clone(),
    }
}

fn text_response(text: String, content_type: &str, head: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((CONTENT_TYPE, content_type.to_owned()));
    if head {
        response.body(head_body(Some(text.len() as u64)))
    } else {
        response.body(text)
    }
}

/// Generated metadata of an artifact, or of one of its SNAPSHOT versions.
async fn generate_metadata(
    core: &Core,
    package: &PackageRef,
    artifact: &Artifact,
    version: Option<&str>,
) -> CoreResult<String> {
    let stored = core.find_hosted_package_by_ref(package).await?;
    match version {
        None => {
            let files = core.list_hosted_files_with_versions(&stored).await?;
            Ok(artifact_metadata(artifact, &files))
        }
        Some(version) => {
            let found = core.find_hosted_version(&stored, version).await?;
            Ok(snapshot_metadata(artifact, version, &found.files))
        }
    }
}

fn digest_of_text(text: &str, sidecar: Sidecar) -> String {
    let mut hashers = Hashers::default();
    hashers.update(text.as_bytes());
    sidecar.of(&hashers.finish()).to_owned()
}

async fn read(core: &Core, owner: Owner, raw_path: &str, head: bool) -> HostedResult<HttpResponse> {
    let layout = match parse_layout(raw_path) {
        Ok(layout) => layout,
        Err(LayoutError::Invalid(message)) => return Err(CoreError::BadRequest(message).into()),
        Err(LayoutError::NotInLayout(_)) => return Err(CoreError::not_found("Package file").into()),
    };
    match layout {
        LayoutPath::Metadata {
            artifact,
            version,
            sidecar,
        } => {
            let package = package_ref(owner, &artifact);
            let xml = generate_metadata(core, &package, &artifact, version.as_deref()).await?;
            Ok(match sidecar {
                None => text_response(xml, "text/xml", head),
                Some(sidecar) => text_response(digest_of_text(&xml, sidecar), "text/plain", head),
            })
        }
        LayoutPath::File {
            artifact,
            version,
            file_name,
            sidecar,
        } => {
            let package = package_ref(owner, &artifact);
            if let Some(sidecar) = sidecar {
                let found = core
                    .find_hosted_file(&package, &version, &file_name)
                    .await?;
                let digest = sidecar.of(&digests_of(&found.file)).to_owned();
                return Ok(text_response(digest, "text/plain", head));
            }
            let content_type = content_type_for(&file_name);
            if head {
                let found = core
                    .find_hosted_file(&package, &version, &file_name)
                    .await?;
                return Ok(file_head(&found.file, content_type));
            }
            let download = core
                .download_hosted_file(&package, &version, &file_name)
                .await?;
            Ok(file_response(download, content_type))
        }
    }
}

fn digests_of(file: &packyard_core::rows::PackageFile) -> packyard_domain::FileDigests {
    packyard_domain::FileDigests {
        sha256: file.blob_sha256.clone(),
        sha1: file.file_sha1.clone(),
        md5: file.file_md5.clone(),
        sha512: file.file_sha512.clone(),
        size: file.size,
    }
}

/// A small body read whole (a checksum sidecar), refused when larger than `MAX_SIDECAR`.
async fn read_sidecar(body: web::Payload) -> CoreResult<String> {
    let mut stream = payload_stream(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| CoreError::BadRequest(format!("upload interrupted: {e}")))?;
        if bytes.len() + chunk.len() > MAX_SIDECAR {
            return Err(CoreError::BadRequest(
                "a checksum file holds one hex digest".into(),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&bytes);
    // `sha1sum` writes `<hex>  <file name>`; Maven writes the hex alone.
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase())
}

/// Checks a received `.pom` against the coordinates of its path.
async fn check_pom(received: &ReceivedFile, artifact: &Artifact, version: &str) -> CoreResult<()> {
    let max = packyard_domain::limits::METADATA_DOCUMENT_MAX;
    if received.digests().size as u64 > max {
        return Err(CoreError::TooLarge(format!(
            "a .pom is limited to {max} bytes"
        )));
    }
    let mut file = received
        .spool()?
        .ok_or_else(|| CoreError::Internal("the pom was not spooled".into()))?;
    let (group_id, artifact_id, version) = (
        artifact.group_id.clone(),
        artifact.artifact_id.clone(),
        version.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
        read_coordinates(BufReader::new(file))
            .and_then(|pom| check_coordinates(&pom, &group_id, &artifact_id, &version))
            .map_err(|e| CoreError::BadRequest(format!("invalid pom: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("pom check: {e}")))?
}

async fn upload(
    core: &Core,
    owner: Owner,
    raw_path: &str,
    upload_type: UploadType,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let layout = parse_layout(raw_path).map_err(|e| match e {
        LayoutError::Invalid(message) | LayoutError::NotInLayout(message) => {
            CoreError::BadRequest(message)
        }
    })?;
    match layout {
        // Metadata is generated from what is stored: the client's copy and its sidecars are dropped.
        LayoutPath::Metadata { .. } => {
            core.receive_file(payload_stream(body), false)
                .await?
                .discard()
                .await;
            Ok(HttpResponse::Ok().finish())
        }
        LayoutPath::File {
            artifact,
            version,
            file_name,
            sidecar: Some(sidecar),
        } => {
            let declared = read_sidecar(body).await?;
            let package = package_ref(owner, &artifact);
            let found = core
                .find_hosted_file(&package, &version, &file_name)
                .await?;
            let digests = digests_of(&found.file);
            let actual = sidecar.of(&digests);
            if declared != actual {
                return Err(CoreError::BadRequest(format!(
                    "the {} checksum {declared} does not match {file_name}'s ({actual})",
                    sidecar.name()
                ))
                .into());
            }
            Ok(HttpResponse::Ok().finish())
        }
        LayoutPath::File {
            artifact,
            version,
            file_name,
            sidecar: None,
        } => {
            let is_pom = split_file_name(&artifact.artifact_id, &version, &file_name)
                .is_some_and(|parts| parts.extension == "pom" && parts.classifier.is_none());
            let received = core.receive_file(payload_stream(body), is_pom).await?;
            if is_pom && let Err(error) = check_pom(&received, &artifact, &version).await {
                received.discard().await;
                return Err(error.into());
            }
            let mut file_upload = FileUpload::new(&version, &file_name, upload_type);
            if is_snapshot(&version) {
                file_upload.on_existing = OnExisting::Replace;
            }
            let stored = core
                .store_hosted_file(&package_ref(owner, &artifact), file_upload, received)
                .await?;
            Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
        }
    }
}

/// Reads a path of a group's hosted repository for a virtual registry whose local upstream it is (the
/// caller's access to the group is checked by then).
pub(crate) async fn read_local(
    core: &Core,
    group: packyard_core::rows::Group,
    raw_path: &str,
    head: bool,
) -> CoreResult<HttpResponse> {
    read(core, Owner::Company(group), raw_path, head)
        .await
        .map_err(|error| error.0)
}

async fn company_read(
    req: HttpRequest,
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    let (group, raw_path) = path.into_inner();
    let group = core.company_for(&actor.0, &group, Need::Install).await?;
    let head = packyard_http::is_head(&req);
    read(&core, Owner::Company(group), &raw_path, head).await
}

async fn company_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group, raw_path) = path.into_inner();
    let group = core.company_for(&actor.0, &group, Need::Publish).await?;
    upload(
        &core,
        Owner::Company(group),
        &raw_path,
        UploadType::Transport,
        body,
    )
    .await
}

async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let (group_id, artifact_id, version, file_name) = path.into_inner();
    // The groupId's dots become the layout's directories; `..` in it becomes an empty segment, refused.
    let raw_path = format!(
        "{}/{artifact_id}/{version}/{file_name}",
        group_id.replace('.', "/")
    );
    if [&group_id, &artifact_id, &version, &file_name]
        .iter()
        .any(|part| part.contains('/'))
    {
        return Err(CoreError::BadRequest("path is invalid".into()).into());
    }
    upload(&core, Owner::Global, &raw_path, UploadType::Api, body).await
}

async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (package_uuid, version, file_uuid) = path.into_inner();
    let package = core.find_hosted_package(&package_uuid).await?;
    if package.package.package_type != PackageType::Maven.as_str() {
        return Err(CoreError::not_found("Package").into());
    }
    let download = core
        .download_hosted_file_by_uuid(&package_uuid, &version, &file_uuid)
        .await?;
    let content_type = content_type_for(&download.file.name);
    Ok(file_response(download, content_type))
}
