//! Hosted packages: packages, versions and files that clients publish, stored in the same
//! content-addressed blob store as the cache.
//!
//! A file arrives in two steps. [`Core::receive_file`] streams the body into an unfinished blob write
//! (hashing as it goes, under the size cap) and, when the format must look inside the file, into a spool
//! file; nothing is visible yet. The format inspects the spool, then [`Core::store_hosted_file`] decides:
//! identical bytes already stored are an idempotent success, different bytes a conflict unless the caller
//! allows replacing; otherwise the blob is finished and the package, version and file rows are committed
//! in one transaction. A body that fails half-way leaves nothing behind.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, LocalBoxStream, StreamExt, TryStreamExt};
use packyard_blob::BlobWriter;
use packyard_db::queries::hosted::{self as q, ListedMetadata, PackageFilter, PackageIdentity};
use packyard_db::rows::{
    Group, NewPackage, NewPackageFile, NewPackageVersion, Package, PackageFile, PackageVersion,
    VersionListing,
};
use packyard_domain::{FileDigests, OwnerType, PackageType, UploadType};
use tokio::io::AsyncWriteExt;

use crate::identity::{Actor, Need};
use crate::{Core, CoreError, CoreResult, Page};

/// Who owns a package.
#[derive(Debug, Clone)]
pub enum Owner {
    /// The service (GitFlic's GLOBAL level).
    Global,
    /// A top-level group (GitFlic's COMPANY level).
    Company(Group),
}

impl Owner {
    fn group_id(&self) -> Option<i64> {
        match self {
            Owner::Global => None,
            Owner::Company(group) => Some(group.id),
        }
    }
}

/// A package as a request names it: owner, type and identity.
#[derive(Debug, Clone)]
pub struct PackageRef {
    /// The owner.
    pub owner: Owner,
    /// The type.
    pub package_type: PackageType,
    /// The name as given (kept as the package's name when it is created).
    pub name: String,
    /// The name lookups compare.
    pub normalized_name: String,
    /// Maven groupId or npm scope; empty when the format has none.
    pub group_name: String,
    /// Maven artifactId; empty when the format has none.
    pub artifact_id: String,
}

impl PackageRef {
    /// A package of a format without groups, looked up by `normalized_name`.
    pub fn named(
        owner: Owner,
        package_type: PackageType,
        name: &str,
        normalized_name: String,
    ) -> Self {
        Self {
            owner,
            package_type,
            name: name.to_owned(),
            normalized_name,
            group_name: String::new(),
            artifact_id: String::new(),
        }
    }

    fn identity(&self) -> PackageIdentity<'_> {
        PackageIdentity {
            owner_group_id: self.owner.group_id(),
            package_type: self.package_type.as_str(),
            normalized_name: &self.normalized_name,
            group_name: &self.group_name,
            artifact_id: &self.artifact_id,
        }
    }
}

/// What to do when the file already exists with other bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Refuse with a conflict.
    Refuse,
    /// Replace it (Maven SNAPSHOTs and metadata).
    Replace,
}

/// A file to store into a version.
#[derive(Debug, Clone)]
pub struct FileUpload {
    /// The version; created when missing.
    pub version: String,
    /// The base version (defaults to `version`).
    pub base_version: Option<String>,
    /// The language version the version targets, if the format has one.
    pub language_version: Option<String>,
    /// The file name.
    pub file_name: String,
    /// How it arrived.
    pub upload_type: UploadType,
    /// Whether other bytes may replace an existing file.
    pub on_existing: OnExisting,
    /// sha256 hex the client declared, checked before anything is kept.
    pub expected_sha256: Option<String>,
    /// md5 hex the client declared, checked before anything is kept.
    pub expected_md5: Option<String>,
    /// Format metadata of the version, stored when the version is created.
    pub version_metadata: Option<serde_json::Value>,
    /// The part of `version_metadata` the format's index serves, as JSON text, stored beside it.
    pub index_metadata: Option<String>,
    /// Format metadata of the file.
    pub file_metadata: Option<serde_json::Value>,
}

impl FileUpload {
    /// A plain upload: no declared digests, no metadata, conflicts refused.
    pub fn new(version: &str, file_name: &str, upload_type: UploadType) -> Self {
        Self {
            version: version.to_owned(),
            base_version: None,
            language_version: None,
            file_name: file_name.to_owned(),
            upload_type,
            on_existing: OnExisting::Refuse,
            expected_sha256: None,
            expected_md5: None,
            version_metadata: None,
            index_metadata: None,
            file_metadata: None,
        }
    }
}

/// Uploads whose insides are read at once (see [`ReceivedFile::inspect`]): the machine's cores are busy
/// with two anyway.
pub const PARALLEL_INSPECTIONS: usize = 2;
static INSPECTIONS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PARALLEL_INSPECTIONS);

/// A body received completely but not yet kept: an unfinished blob write, and a spool copy when asked.
pub struct ReceivedFile {
    writer: BlobWriter,
    spool: Option<std::fs::File>,
    /// The inspection slot, once taken: held until the file is stored or dropped (see [`Self::inspect`]).
    inspection: Option<tokio::sync::SemaphorePermit<'static>>,
}

impl ReceivedFile {
    /// The digests and size of the body.
    pub fn digests(&self) -> FileDigests {
        self.writer.digests()
    }

    /// A handle on the spool copy (for a format to read inside the file), when one was kept.
    pub fn spool(&self) -> CoreResult<Option<std::fs::File>> {
        self.spool
            .as_ref()
            .map(|file| file.try_clone())
            .transpose()
            .map_err(|e| CoreError::Internal(format!("spool file: {e}")))
    }

    /// Reads inside the received file (its spool copy, from the start) on the blocking pool. At most
    /// [`PARALLEL_INSPECTIONS`] uploads are inspected at once across the server, each from its first
    /// inspection until it is stored or dropped: an inspection may hold an archive's central directory,
    /// and what it read (a metadata document of several MiB) is held until its row is written, so their
    /// number, not the number of uploads, bounds that memory.
    pub async fn inspect<T: Send + 'static>(
        &mut self,
        read: impl FnOnce(std::io::BufReader<std::fs::File>) -> CoreResult<T> + Send + 'static,
    ) -> CoreResult<T> {
        use std::io::{Seek, SeekFrom};
        let mut file = self
            .spool()?
            .ok_or_else(|| CoreError::Internal("the upload was not spooled".into()))?;
        if self.inspection.is_none() {
            self.inspection = Some(
                INSPECTIONS
                    .acquire()
                    .await
                    .map_err(|e| CoreError::Internal(format!("inspecting an upload: {e}")))?,
            );
        }
        tokio::task::spawn_blocking(move || {
            file.seek(SeekFrom::Start(0))
                .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
            read(std::io::BufReader::new(file))
        })
        .await
        .map_err(|e| CoreError::Internal(format!("inspecting an upload: {e}")))?
    }

    /// Drops the body; nothing is kept.
    pub async fn discard(self) {
        self.writer.abort().await;
    }
}

/// A file as stored: its package, version and row.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// The package.
    pub package: Package,
    /// The version.
    pub version: PackageVersion,
    /// The file.
    pub file: PackageFile,
    /// False when identical bytes were there already.
    pub created: bool,
}

/// A hosted file being served.
pub struct HostedDownload {
    /// The file.
    pub file: PackageFile,
    /// Its bytes; the download is counted when they are first read.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
    /// Its stored content, read from an offset for a range request (a resumption, not counted again).
    pub seekable: crate::SeekableContent,
}

/// A package with its owner group's uuid.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    /// The package.
    pub package: Package,
    /// The owning group's uuid (COMPANY packages).
    pub owner_uuid: Option<String>,
}

impl PackageInfo {
    /// GLOBAL or COMPANY.
    pub fn owner_type(&self) -> OwnerType {
        match self.package.owner_group_id {
            None => OwnerType::Global,
            Some(_) => OwnerType::Company,
        }
    }
}

/// A version with its files.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    /// The version.
    pub version: PackageVersion,
    /// Its files, oldest first.
    pub files: Vec<PackageFile>,
}

enum Outcome {
    Committed(Box<StoredFile>, Option<String>),
    /// The file exists with other bytes.
    Conflict,
    /// A concurrent upload created the same package, version or file first: try again.
    LostRace,
    /// The blob's pin ran out and collection is deleting it: nothing was committed.
    Collected,
}

/// Attempts at the commit transaction when a concurrent upload created the same package or version.
const COMMIT_ATTEMPTS: usize = 3;

fn not_found_package() -> CoreError {
    CoreError::not_found("Package")
}

impl Core {
    /// Streams a body into an unfinished blob write under the size cap, and into a spool file when
    /// `spool` is set. A body that fails or is too large leaves nothing behind.
    pub async fn receive_file(
        &self,
        mut body: LocalBoxStream<'_, std::io::Result<Bytes>>,
        spool: bool,
    ) -> CoreResult<ReceivedFile> {
        let mut spool_file = if spool {
            let file = tempfile::tempfile_in(&self.settings.spool_dir)
                .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
            Some(tokio::fs::File::from_std(file))
        } else {
            None
        };
        let mut writer = self.blobs.writer(self.settings.max_file_size).await?;
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(chunk) => match writer.write(&chunk).await {
                    Ok(()) => match spool_file.as_mut() {
                        Some(file) => file
                            .write_all(&chunk)
                            .await
                            .map_err(|e| CoreError::from_write("spool write", e)),
                        None => Ok(()),
                    },
                    Err(e) => Err(CoreError::from(e)),
                },
                Err(e) => Err(CoreError::BadRequest(format!("upload interrupted: {e}"))),
            };
            if let Err(error) = written {
                writer.abort().await;
                return Err(error);
            }
        }
        let spool = match spool_file {
            Some(mut file) => match file.flush().await {
                Ok(()) => Some(file.into_std().await),
                Err(e) => {
                    writer.abort().await;
                    return Err(CoreError::from_write("spool write", e));
                }
            },
            None => None,
        };
        Ok(ReceivedFile {
            writer,
            spool,
            inspection: None,
        })
    }

    /// Keeps a received file as `upload.file_name` of `upload.version` of the package, creating the
    /// package and version when missing.
    pub async fn store_hosted_file(
        &self,
        package: &PackageRef,
        mut upload: FileUpload,
        received: ReceivedFile,
    ) -> CoreResult<StoredFile> {
        // The inspection slot is released when this returns, once the documents are written.
        let ReceivedFile {
            writer,
            spool,
            inspection: _inspection,
        } = received;
        drop(spool);
        let digests = writer.digests();
        let mismatch = [
            ("sha256", upload.expected_sha256.as_deref(), &digests.sha256),
            ("md5", upload.expected_md5.as_deref(), &digests.md5),
        ]
        .into_iter()
        .find_map(|(name, expected, actual)| {
            expected
                .filter(|e| !e.trim().eq_ignore_ascii_case(actual))
                .map(|e| format!("the {name} digest {e} does not match the file's ({actual})"))
        });
        if let Some(message) = mismatch {
            writer.abort().await;
            return Err(CoreError::BadRequest(message));
        }
        let existing = match self
            .find_hosted_file(package, &upload.version, &upload.file_name)
            .await
        {
            Ok(existing) => Some(existing),
            Err(CoreError::NotFound(_)) => None,
            Err(error) => {
                writer.abort().await;
                return Err(error);
            }
        };
        if let Some(existing) = existing {
            if existing.file.blob_sha256 == digests.sha256 {
                writer.abort().await;
                return Ok(StoredFile {
                    created: false,
                    ..existing
                });
            }
            if upload.on_existing == OnExisting::Refuse {
                writer.abort().await;
                return Err(file_conflict(&upload));
            }
        }

        let Some(digests) = self.publish_blob(writer.finish().await?).await? else {
            return Err(CoreError::UpstreamUnavailable(
                "storage is removing this content right now; try again".into(),
            ));
        };
        // Written once and shared by the attempts: a version document may be several MiB.
        let version_metadata: Option<Arc<str>> = upload
            .version_metadata
            .take()
            .map(|document| document.to_string().into());
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match self
                .commit_hosted_file(
                    package.clone(),
                    upload.clone(),
                    version_metadata.clone(),
                    digests.clone(),
                )
                .await
            {
                Ok(Outcome::LostRace) if attempt < COMMIT_ATTEMPTS => continue,
                other => break other,
            }
        };
        // A replaced blob, or the one just published when nothing references it, goes to collection.
        if !matches!(outcome, Ok(Outcome::Committed(_, None))) {
            self.collect_blobs_soon().await?;
        }
        match outcome {
            Ok(Outcome::Committed(stored, _)) => Ok(*stored),
            Ok(Outcome::Conflict | Outcome::LostRace) => Err(file_conflict(&upload)),
            Ok(Outcome::Collected) => Err(CoreError::UpstreamUnavailable(
                "storage is removing this content right now; try again".into(),
            )),
            Err(error) => Err(error),
        }
    }

    async fn commit_hosted_file(
        &self,
        package: PackageRef,
        upload: FileUpload,
        version_metadata: Option<Arc<str>>,
        digests: FileDigests,
    ) -> CoreResult<Outcome> {
        let now = self.now();
        let owner_uuid = uuid::Uuid::new_v4().to_string();
        let new_package = NewPackage {
            uuid: uuid::Uuid::new_v4().to_string(),
            owner_group_id: package.owner.group_id(),
            package_type: package.package_type.as_str().to_owned(),
            name: package.name.clone(),
            normalized_name: package.normalized_name.clone(),
            group_name: package.group_name.clone(),
            artifact_id: package.artifact_id.clone(),
            created_at: now,
            updated_at: now,
        };
        let version_uuid = uuid::Uuid::new_v4().to_string();
        let metadata_text =
            |value: &Option<serde_json::Value>| value.as_ref().map(|v| v.to_string());
        let new_file = NewPackageFile {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: upload.file_name.clone(),
            blob_sha256: digests.sha256.clone(),
            size: digests.size,
            file_md5: digests.md5.clone(),
            file_sha1: digests.sha1.clone(),
            file_sha512: digests.sha512.clone(),
            upload_type: upload.upload_type.as_str().to_owned(),
            metadata: metadata_text(&upload.file_metadata),
        };
        let result = self
            .db
            .transaction(move |conn| {
                if !packyard_db::queries::cache::refresh_pin(conn, &digests.sha256, now)? {
                    return Ok(Outcome::Collected);
                }
                if let Some(group_id) = package.owner.group_id() {
                    q::ensure_group_uuid(conn, group_id, &owner_uuid)?;
                }
                let stored_package = match q::find_package(conn, package.identity())? {
                    Some(found) => found,
                    None => q::insert_package(conn, &new_package)?,
                };
                let (version, version_created) =
                    match q::find_version(conn, stored_package.id, &upload.version)? {
                        Some(found) => (found, false),
                        None => {
                            let version = q::insert_version(
                                conn,
                                &NewPackageVersion {
                                    uuid: version_uuid,
                                    package_id: stored_package.id,
                                    version: upload.version.clone(),
                                    base_version: upload
                                        .base_version
                                        .clone()
                                        .unwrap_or_else(|| upload.version.clone()),
                                    lower_version: upload.version.to_lowercase(),
                                    language_version: upload.language_version.clone(),
                                    upload_type: upload.upload_type.as_str().to_owned(),
                                    metadata: version_metadata.as_deref(),
                                    created_at: now,
                                    updated_at: now,
                                    index_metadata: upload.index_metadata.clone(),
                                },
                            )?;
                            (version, true)
                        }
                    };
                if let Some(existing) = q::find_file(conn, version.id, &upload.file_name)?
                    && existing.blob_sha256 != digests.sha256
                    && upload.on_existing == OnExisting::Refuse
                {
                    return Ok(Outcome::Conflict);
                }
                let (file, replaced) = q::commit_file(conn, version.id, &new_file, now)?;
                let stored_package = if version_created {
                    q::set_latest_version(conn, stored_package.id, &version.version, now)?;
                    Package {
                        latest_version: Some(version.version.clone()),
                        updated_at: now,
                        ..stored_package
                    }
                } else {
                    stored_package
                };
                Ok(Outcome::Committed(
                    Box::new(StoredFile {
                        package: stored_package,
                        version,
                        file,
                        created: true,
                    }),
                    replaced,
                ))
            })
            .await;
        match result {
            Ok(outcome) => Ok(outcome),
            Err(e) if e.is_unique_violation() => Ok(Outcome::LostRace),
            Err(e) => Err(e.into()),
        }
    }

    /// Finds a package, one of its versions and one of that version's files (remembered in the hot
    /// index), without the version's documents (`metadata`, `index_metadata`).
    pub async fn find_hosted_file(
        &self,
        package: &PackageRef,
        version: &str,
        file_name: &str,
    ) -> CoreResult<StoredFile> {
        let identity = package.identity();
        let key = [
            identity.owner_group_id.unwrap_or(0).to_string().as_str(),
            identity.package_type,
            identity.normalized_name,
            identity.group_name,
            identity.artifact_id,
            version,
            file_name,
        ]
        .join("\0");
        let package = package.clone();
        let (version, file_name) = (version.to_owned(), file_name.to_owned());
        let load = async {
            let found = self
                .db
                .run(move |conn| {
                    let Some(found) = q::find_package(conn, package.identity())? else {
                        return Ok(Err(not_found_package()));
                    };
                    let Some(version) = q::find_version(conn, found.id, &version)? else {
                        return Ok(Err(CoreError::not_found("Package version")));
                    };
                    let Some(file) = q::find_file(conn, version.id, &file_name)? else {
                        return Ok(Err(CoreError::not_found("Package file")));
                    };
                    // A file's callers need none of its version's documents (an npm version
                    // document may be 4 MiB): they are neither remembered nor copied on a warm hit.
                    let version = PackageVersion {
                        metadata: None,
                        index_metadata: None,
                        ..version
                    };
                    Ok(Ok(StoredFile {
                        package: found,
                        version,
                        file,
                        created: false,
                    }))
                })
                .await??;
            Ok(std::sync::Arc::new(found))
        };
        let found = self.remembered(|hot| &hot.hosted_files, key, load).await?;
        Ok((*found).clone())
    }

    /// Serves a hosted file; reading its body counts the download on its version.
    pub async fn download_hosted_file(
        &self,
        package: &PackageRef,
        version: &str,
        file_name: &str,
    ) -> CoreResult<HostedDownload> {
        let found = self.find_hosted_file(package, version, file_name).await?;
        self.serve_hosted_file(found.version.id, found.file).await
    }

    /// Serves a hosted file named by its package's, version's and own uuid; reading it counts the
    /// download.
    pub async fn download_hosted_file_by_uuid(
        &self,
        package_uuid: &str,
        version: &str,
        file_uuid: &str,
    ) -> CoreResult<HostedDownload> {
        let package = self.find_hosted_package(package_uuid).await?;
        let (package_id, version, file_uuid) =
            (package.package.id, version.to_owned(), file_uuid.to_owned());
        let found = self
            .db
            .run(move |conn| {
                let Some(version) = q::find_version(conn, package_id, &version)? else {
                    return Ok(None);
                };
                Ok(q::find_file_by_uuid(conn, version.id, &file_uuid)?.map(|file| (version, file)))
            })
            .await?;
        let (version, file) = found.ok_or_else(|| CoreError::not_found("Package file"))?;
        self.serve_hosted_file(version.id, file).await
    }

    async fn serve_hosted_file(
        &self,
        version_id: i64,
        file: PackageFile,
    ) -> CoreResult<HostedDownload> {
        let body = match self.blobs.read(&file.blob_sha256).await {
            Ok(body) => body,
            Err(error) => {
                self.metrics.storage_errors.inc();
                return Err(match error {
                    packyard_blob::BlobError::NotFound(sha256) => CoreError::Internal(format!(
                        "package file {} has lost its blob {sha256}",
                        file.uuid
                    )),
                    error => error.into(),
                });
            }
        };
        let body = body.map_err(std::io::Error::other).boxed();
        Ok(HostedDownload {
            seekable: self.seekable(&file.blob_sha256),
            file,
            body: self.counted_when_read(body, move |counters| {
                counters.version_downloaded(version_id)
            }),
        })
    }

    /// One page of every hosted package, oldest first.
    pub async fn list_hosted_packages(
        &self,
        filter: PackageFilter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Page<PackageInfo>> {
        let page = self
            .db
            .run(move |conn| q::list_packages(conn, &filter, offset, limit))
            .await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|(package, owner_uuid)| PackageInfo {
                    package,
                    owner_uuid,
                })
                .collect(),
            total: page.total,
        })
    }

    /// A hosted package by uuid.
    pub async fn find_hosted_package(&self, uuid: &str) -> CoreResult<PackageInfo> {
        let uuid = uuid.to_owned();
        self.db
            .run(move |conn| q::find_package_by_uuid(conn, &uuid))
            .await?
            .map(|(package, owner_uuid)| PackageInfo {
                package,
                owner_uuid,
            })
            .ok_or_else(not_found_package)
    }

    /// A hosted package by owner, type and name.
    pub async fn find_hosted_package_by_ref(&self, package: &PackageRef) -> CoreResult<Package> {
        let package = package.clone();
        self.db
            .run(move |conn| q::find_package(conn, package.identity()))
            .await?
            .ok_or_else(not_found_package)
    }

    /// One page of a package's versions with their files, oldest first.
    pub async fn list_hosted_versions(
        &self,
        package: &Package,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Page<VersionInfo>> {
        self.flush_before_read().await;
        let package_id = package.id;
        Ok(self
            .db
            .run(move |conn| {
                let page = q::list_versions(conn, package_id, offset, limit)?;
                let ids: Vec<i64> = page.items.iter().map(|v| v.id).collect();
                let mut files = q::list_files_of_versions(conn, &ids)?;
                let items = page
                    .items
                    .into_iter()
                    .map(|version| {
                        let (mine, rest) =
                            files.drain(..).partition(|f| f.version_id == version.id);
                        files = rest;
                        VersionInfo {
                            version,
                            files: mine,
                        }
                    })
                    .collect();
                Ok(Page {
                    items,
                    total: page.total,
                })
            })
            .await?)
    }

    /// One version of a package with its files.
    pub async fn find_hosted_version(
        &self,
        package: &Package,
        version: &str,
    ) -> CoreResult<VersionInfo> {
        self.flush_before_read().await;
        let (package_id, version) = (package.id, version.to_owned());
        self.db
            .run(move |conn| {
                let Some(version) = q::find_version(conn, package_id, &version)? else {
                    return Ok(None);
                };
                let files = q::list_files_of_versions(conn, &[version.id])?;
                Ok(Some(VersionInfo { version, files }))
            })
            .await?
            .ok_or_else(|| CoreError::not_found("Package version"))
    }

    /// One page of the files of every version of a package, oldest first.
    pub async fn list_hosted_package_files(
        &self,
        package: &Package,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Page<PackageFile>> {
        let package_id = package.id;
        Ok(self
            .db
            .run(move |conn| q::list_package_files(conn, package_id, offset, limit))
            .await?)
    }

    /// Every package of a type that a group owns, by normalised name (index pages).
    pub async fn list_company_packages(
        &self,
        group: &Group,
        package_type: PackageType,
    ) -> CoreResult<Vec<Package>> {
        let group_id = group.id;
        Ok(self
            .db
            .run(move |conn| q::list_owner_packages(conn, group_id, package_type.as_str()))
            .await?)
    }

    /// Every file of a package with its version, oldest first (index pages).
    pub async fn list_hosted_files_with_versions(
        &self,
        package: &Package,
    ) -> CoreResult<Vec<(PackageVersion, PackageFile)>> {
        self.flush_before_read().await;
        let package_id = package.id;
        Ok(self
            .db
            .run(move |conn| q::list_package_files_with_versions(conn, package_id))
            .await?)
    }

    /// Replaces the format metadata of a version and its index's part of it (npm deprecations).
    pub async fn set_hosted_version_metadata(
        &self,
        version: &PackageVersion,
        metadata: &serde_json::Value,
        index_metadata: Option<String>,
    ) -> CoreResult<()> {
        let (version_id, metadata, now) = (version.id, metadata.to_string(), self.now());
        Ok(self
            .db
            .write(move |conn| {
                q::set_version_metadata(conn, version_id, &metadata, index_metadata.as_deref(), now)
            })
            .await?)
    }

    /// A page of a package's versions with their `*{suffix}` file, oldest first, after the version
    /// with row id `after` (0 for the first page): package indexes are read a page at a time.
    pub async fn list_hosted_version_page(
        &self,
        package: &Package,
        suffix: &'static str,
        after: i64,
        limit: i64,
        metadata: ListedMetadata,
    ) -> CoreResult<Vec<VersionListing>> {
        let package_id = package.id;
        Ok(self
            .db
            .run(move |conn| q::list_version_page(conn, package_id, suffix, after, limit, metadata))
            .await?)
    }

    /// Deletes versions of a package with their files and the dist-tags pointing at them (npm
    /// unpublish); their blobs go to collection when nothing else references them. Unknown versions
    /// are skipped.
    pub async fn delete_hosted_versions(
        &self,
        package: &Package,
        versions: Vec<String>,
    ) -> CoreResult<()> {
        let (package_id, now) = (package.id, self.now());
        self.db
            .transaction(move |conn| {
                for version in &versions {
                    if let Some(found) = q::find_version(conn, package_id, version)? {
                        q::delete_version(conn, &found, now)?;
                    }
                }
                Ok(())
            })
            .await?;
        self.collect_blobs_soon().await
    }

    /// Deletes a package with every version, file and dist-tag (npm unpublish of a whole package);
    /// its blobs go to collection when nothing else references them.
    pub async fn delete_hosted_package(&self, package: &Package) -> CoreResult<()> {
        let package_id = package.id;
        self.db
            .write(move |conn| q::delete_package(conn, package_id))
            .await?;
        self.collect_blobs_soon().await
    }

    /// The dist-tags of an npm package (tag, version), by tag.
    pub async fn list_dist_tags(&self, package: &Package) -> CoreResult<Vec<(String, String)>> {
        let package_id = package.id;
        Ok(self
            .db
            .run(move |conn| q::list_dist_tags(conn, package_id))
            .await?
            .into_iter()
            .map(|tag| (tag.tag, tag.version))
            .collect())
    }

    /// Points a dist-tag of an npm package at one of its versions (404 when the version is missing).
    pub async fn set_dist_tag(
        &self,
        package: &Package,
        tag: &str,
        version: &str,
    ) -> CoreResult<()> {
        let (package_id, tag, version, now) =
            (package.id, tag.to_owned(), version.to_owned(), self.now());
        let found = self
            .db
            .transaction(move |conn| {
                if q::find_version(conn, package_id, &version)?.is_none() {
                    return Ok(false);
                }
                q::set_dist_tag(conn, package_id, &tag, &version, now)?;
                Ok(true)
            })
            .await?;
        found
            .then_some(())
            .ok_or_else(|| CoreError::not_found("Package version"))
    }

    /// Removes a dist-tag of an npm package (404 when it does not exist).
    pub async fn delete_dist_tag(&self, package: &Package, tag: &str) -> CoreResult<()> {
        let (package_id, tag) = (package.id, tag.to_owned());
        let deleted = self
            .db
            .write(move |conn| q::delete_dist_tag(conn, package_id, &tag))
            .await?;
        deleted
            .then_some(())
            .ok_or_else(|| CoreError::not_found("Dist-tag"))
    }

    /// The top-level group behind a `/company/<path>` URL, if the actor may `need` there. A group the
    /// actor may neither install from nor publish to is hidden behind a 404, as GitLab hides private
    /// groups; one it can see but not `need` on is a 403.
    pub async fn company_for(&self, actor: &Actor, path: &str, need: Need) -> CoreResult<Group> {
        let group = Some(self.find_group_by_path(path).await?)
            .filter(|group| group.parent_id.is_none())
            .ok_or_else(|| CoreError::not_found("Group"))?;
        let allowed = |result: CoreResult<()>| match result {
            Ok(()) => Ok(true),
            Err(CoreError::Forbidden) => Ok(false),
            Err(e) => Err(e),
        };
        let may_need = allowed(self.authorize(actor, &group, need).await)?;
        if may_need {
            return Ok(group);
        }
        let visible =
            need != Need::Install && allowed(self.authorize(actor, &group, Need::Install).await)?;
        if visible {
            Err(CoreError::Forbidden)
        } else {
            Err(CoreError::not_found("Group"))
        }
    }

    /// Requires an administrator for the service-level package API: reading needs a token that may
    /// read the API, writing one with `api`.
    pub fn require_package_admin(&self, actor: &Actor, write: bool) -> CoreResult<()> {
        let need = if write { Need::Write } else { Need::Read };
        if actor.is_admin() && actor.has_scope_for(need) {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }
}

fn file_conflict(upload: &FileUpload) -> CoreError {
    CoreError::Conflict(format!(
        "File {} of version {} already exists with different content",
        upload.file_name, upload.version
    ))
}
