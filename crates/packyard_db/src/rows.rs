//! Row structs (what a query returns) and insert structs (`New*`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::*;

/// A user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email, if known.
    pub email: Option<String>,
    /// Instance administrator.
    pub is_admin: bool,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
}

/// A new user.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Unique login name.
    pub username: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Email.
    pub email: Option<&'a str>,
    /// Instance administrator.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A group: top-level when `parent_id` is null.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = namespaces)]
pub struct Group {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Last path segment.
    pub path: String,
    /// Full path from the top-level group.
    pub full_path: String,
    /// Parent group.
    pub parent_id: Option<i64>,
    /// The top-level group (itself for a top-level group).
    pub root_id: Option<i64>,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl Group {
    /// The top-level group's id.
    pub fn top_level_id(&self) -> i64 {
        self.root_id.unwrap_or(self.id)
    }
}

/// A new group.
#[derive(Debug, Insertable)]
#[diesel(table_name = namespaces)]
pub struct NewGroup<'a> {
    /// Display name.
    pub name: &'a str,
    /// Last path segment.
    pub path: &'a str,
    /// Full path.
    pub full_path: &'a str,
    /// Parent group.
    pub parent_id: Option<i64>,
    /// Top-level group (None while inserting a top-level group).
    pub root_id: Option<i64>,
    /// Description.
    pub description: &'a str,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A membership.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_members)]
pub struct Member {
    /// Group.
    pub group_id: i64,
    /// User.
    pub user_id: i64,
    /// GitLab access level (10..50).
    pub access_level: i32,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A personal access token (its digest only).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = personal_access_tokens)]
pub struct PersonalAccessToken {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// sha256 hex of the secret.
    pub token_digest: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Revoked.
    pub revoked: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last use.
    pub last_used_at: Option<NaiveDateTime>,
}

/// A new personal access token.
#[derive(Debug, Insertable)]
#[diesel(table_name = personal_access_tokens)]
pub struct NewPersonalAccessToken<'a> {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: &'a str,
    /// sha256 hex of the secret.
    pub token_digest: &'a str,
    /// Space-separated scopes.
    pub scopes: &'a str,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A group deploy token (its digest only).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deploy_tokens)]
pub struct DeployToken {
    /// Id.
    pub id: i64,
    /// Group.
    pub group_id: i64,
    /// Name.
    pub name: String,
    /// Username to send with the token.
    pub username: String,
    /// sha256 hex of the secret.
    pub token_digest: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Revoked.
    pub revoked: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A new deploy token.
#[derive(Debug, Insertable)]
#[diesel(table_name = deploy_tokens)]
pub struct NewDeployToken<'a> {
    /// Group.
    pub group_id: i64,
    /// Name.
    pub name: &'a str,
    /// Username.
    pub username: &'a str,
    /// sha256 hex of the secret.
    pub token_digest: &'a str,
    /// Space-separated scopes.
    pub scopes: &'a str,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A virtual registry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = virtual_registries)]
pub struct Registry {
    /// Id.
    pub id: i64,
    /// Top-level group.
    pub group_id: i64,
    /// `maven` or `container`.
    pub format: String,
    /// Name, unique per group and format.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new virtual registry.
#[derive(Debug, Insertable)]
#[diesel(table_name = virtual_registries)]
pub struct NewRegistry<'a> {
    /// Top-level group.
    pub group_id: i64,
    /// Format.
    pub format: &'a str,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// An upstream.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = upstreams)]
pub struct Upstream {
    /// Id.
    pub id: i64,
    /// Top-level group.
    pub group_id: i64,
    /// Format.
    pub format: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Normalised URL.
    pub url: String,
    /// Username, if any.
    pub username: Option<String>,
    /// Password, encrypted with the server's secret key.
    pub password_encrypted: Option<String>,
    /// Hours an artifact stays fresh; 0 = never stale.
    pub cache_validity_hours: i32,
    /// Hours `maven-metadata.xml` stays fresh (Maven only).
    pub metadata_cache_validity_hours: Option<i32>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new upstream, or the full new state of one being updated.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = upstreams, treat_none_as_null = true)]
pub struct NewUpstream {
    /// Top-level group.
    pub group_id: i64,
    /// Format.
    pub format: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Normalised URL.
    pub url: String,
    /// Username.
    pub username: Option<String>,
    /// Encrypted password.
    pub password_encrypted: Option<String>,
    /// Artifact validity.
    pub cache_validity_hours: i32,
    /// Metadata validity.
    pub metadata_cache_validity_hours: Option<i32>,
    /// Creation time (kept on update).
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A registry-upstream association.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registry_upstreams)]
pub struct RegistryUpstream {
    /// Id.
    pub id: i64,
    /// Top-level group.
    pub group_id: i64,
    /// Registry.
    pub registry_id: i64,
    /// Upstream.
    pub upstream_id: i64,
    /// 1-based position in the registry.
    pub position: i32,
}

/// A cache entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cache_entries)]
pub struct CacheEntry {
    /// Row id.
    pub id: i64,
    /// Top-level group.
    pub group_id: i64,
    /// Upstream it came from.
    pub upstream_id: i64,
    /// Path relative to the upstream, without a leading slash.
    pub relative_path: String,
    /// The blob holding the bytes.
    pub blob_sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// sha1 hex.
    pub file_sha1: String,
    /// md5 hex.
    pub file_md5: Option<String>,
    /// Content type to serve.
    pub content_type: String,
    /// The upstream's ETag, as it sent it.
    pub upstream_etag: Option<String>,
    /// Last time the upstream confirmed it.
    pub upstream_checked_at: NaiveDateTime,
    /// Downloads served.
    pub downloads_count: i64,
    /// Last download.
    pub downloaded_at: Option<NaiveDateTime>,
    /// [`packyard_domain::CacheEntryStatus`].
    pub status: i32,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The content of a cache entry being committed.
#[derive(Debug, Clone)]
pub struct NewCacheEntry {
    /// Top-level group.
    pub group_id: i64,
    /// Upstream.
    pub upstream_id: i64,
    /// Relative path without a leading slash.
    pub relative_path: String,
    /// Blob.
    pub blob_sha256: String,
    /// Size.
    pub size: i64,
    /// sha1 hex.
    pub file_sha1: String,
    /// md5 hex.
    pub file_md5: Option<String>,
    /// Content type.
    pub content_type: String,
    /// Upstream ETag.
    pub upstream_etag: Option<String>,
}

/// A background job.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// What to do, as the services name it.
    pub kind: String,
    /// Arguments, as JSON text.
    pub payload: String,
    /// Set on recurring jobs: one row per key.
    pub unique_key: Option<String>,
    /// Seconds between runs of a recurring job; `None` for a one-off job.
    pub interval_secs: Option<i64>,
    /// `queued`, `succeeded` or `failed`.
    pub status: String,
    /// When it is due.
    pub run_at: NaiveDateTime,
    /// Times it was claimed.
    pub attempts: i32,
    /// Claims allowed before a one-off job is given up.
    pub max_attempts: i32,
    /// The worker holding it.
    pub locked_by: Option<String>,
    /// When the holder's lease ends.
    pub locked_until: Option<NaiveDateTime>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When a one-off job succeeded or was given up.
    pub finished_at: Option<NaiveDateTime>,
}

/// A group's cache cleanup policy.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cleanup_policies)]
pub struct CleanupPolicy {
    /// The top-level group.
    pub group_id: i64,
    /// Runs only when enabled.
    pub enabled: bool,
    /// Entries not downloaded for this many days are removed.
    pub keep_n_days_after_download: i32,
    /// Days between runs.
    pub cadence: i32,
    /// Notify the owners after a successful run.
    pub notify_on_success: bool,
    /// Notify the owners after a failed run.
    pub notify_on_failure: bool,
    /// `scheduled`, `running` or `failed`.
    pub status: String,
    /// When it runs next.
    pub next_run_at: Option<NaiveDateTime>,
    /// When it last completed.
    pub last_run_at: Option<NaiveDateTime>,
    /// Bytes removed by the last run.
    pub last_run_deleted_size: i64,
    /// Entries removed by the last run.
    pub last_run_deleted_entries_count: i64,
    /// Per-format counts of the last run, as JSON text.
    pub last_run_detailed_metrics: String,
    /// Why the last run failed.
    pub failure_message: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The settings of a cleanup policy, as created or updated.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = cleanup_policies)]
pub struct CleanupPolicySettings {
    /// Runs only when enabled.
    pub enabled: bool,
    /// Days without download before an entry is removed.
    pub keep_n_days_after_download: i32,
    /// Days between runs.
    pub cadence: i32,
    /// Notify on success.
    pub notify_on_success: bool,
    /// Notify on failure.
    pub notify_on_failure: bool,
    /// When it runs next.
    pub next_run_at: Option<NaiveDateTime>,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A stored blob: content addressed by its sha256.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = blobs)]
pub struct Blob {
    /// sha256 hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// The last time a writer published or committed it.
    pub written_at: NaiveDateTime,
    /// Since when collection has seen it unreferenced.
    pub orphaned_at: Option<NaiveDateTime>,
    /// Its object is being deleted.
    pub deleting: bool,
}

/// A hosted package.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = packages)]
pub struct Package {
    /// Row id.
    pub id: i64,
    /// Public identifier.
    pub uuid: String,
    /// The owning top-level group; `None` for a service-level (GLOBAL) package.
    pub owner_group_id: Option<i64>,
    /// [`packyard_domain::PackageType`] name.
    pub package_type: String,
    /// The name as first published.
    pub name: String,
    /// The name lookups compare (PyPI: PEP 503 normalised).
    pub normalized_name: String,
    /// Maven groupId or npm scope; empty when the format has none.
    pub group_name: String,
    /// Maven artifactId; empty when the format has none.
    pub artifact_id: String,
    /// The version published last.
    pub latest_version: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new hosted package.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = packages)]
pub struct NewPackage {
    /// Public identifier.
    pub uuid: String,
    /// Owning top-level group, or `None` (GLOBAL).
    pub owner_group_id: Option<i64>,
    /// Type name.
    pub package_type: String,
    /// Name.
    pub name: String,
    /// Normalised name.
    pub normalized_name: String,
    /// Maven groupId or npm scope, or empty.
    pub group_name: String,
    /// Maven artifactId, or empty.
    pub artifact_id: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A version of a hosted package.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = package_versions)]
pub struct PackageVersion {
    /// Row id.
    pub id: i64,
    /// Public identifier.
    pub uuid: String,
    /// The package.
    pub package_id: i64,
    /// The version as published.
    pub version: String,
    /// The version without a SNAPSHOT timestamp (equal to `version` elsewhere).
    pub base_version: String,
    /// The version lowercased.
    pub lower_version: String,
    /// The language version it targets (CRAN's R version), if any.
    pub language_version: Option<String>,
    /// Files of this version served to clients.
    pub download_count: i64,
    /// [`packyard_domain::UploadType`] of its first file.
    pub upload_type: String,
    /// Format metadata as JSON text.
    pub metadata: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// The part of `metadata` the format's index serves, as JSON text.
    pub index_metadata: Option<String>,
}

/// A new version.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = package_versions)]
pub struct NewPackageVersion<'a> {
    /// Public identifier.
    pub uuid: String,
    /// The package.
    pub package_id: i64,
    /// Version.
    pub version: String,
    /// Base version.
    pub base_version: String,
    /// Lowercased version.
    pub lower_version: String,
    /// Language version.
    pub language_version: Option<String>,
    /// Upload type.
    pub upload_type: String,
    /// Format metadata as JSON text, borrowed: it may be several MiB.
    pub metadata: Option<&'a str>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// The part of `metadata` the format's index serves, as JSON text.
    pub index_metadata: Option<String>,
}

/// A version as a package index lists it: one of its files, and the metadata the index needs.
#[derive(Debug, Clone, Queryable)]
pub struct VersionListing {
    /// The version's row id.
    pub version_id: i64,
    /// The version.
    pub version: String,
    /// When it was published.
    pub created_at: NaiveDateTime,
    /// The metadata asked for, as JSON text: the whole or the index's part.
    pub metadata: Option<String>,
    /// The file's name.
    pub file_name: String,
    /// The file's sha1, hex.
    pub file_sha1: String,
    /// The file's sha512, hex.
    pub file_sha512: String,
}

/// A file of a hosted package version.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = package_files)]
pub struct PackageFile {
    /// Row id.
    pub id: i64,
    /// Public identifier.
    pub uuid: String,
    /// The version.
    pub version_id: i64,
    /// File name.
    pub name: String,
    /// sha256 hex of the content: its blob.
    pub blob_sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// md5 hex.
    pub file_md5: String,
    /// sha1 hex.
    pub file_sha1: String,
    /// sha512 hex.
    pub file_sha512: String,
    /// [`packyard_domain::UploadType`] name.
    pub upload_type: String,
    /// Format metadata as JSON text.
    pub metadata: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change (a replaced file).
    pub updated_at: NaiveDateTime,
}

/// The content of a file being committed.
#[derive(Debug, Clone)]
pub struct NewPackageFile {
    /// Public identifier, used when the file is new.
    pub uuid: String,
    /// File name.
    pub name: String,
    /// sha256 hex: its blob.
    pub blob_sha256: String,
    /// Size.
    pub size: i64,
    /// md5 hex.
    pub file_md5: String,
    /// sha1 hex.
    pub file_sha1: String,
    /// sha512 hex.
    pub file_sha512: String,
    /// Upload type name.
    pub upload_type: String,
    /// Format metadata as JSON text.
    pub metadata: Option<String>,
}

/// A dist-tag of a hosted npm package.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = npm_dist_tags)]
pub struct NpmDistTag {
    /// Row id.
    pub id: i64,
    /// The package.
    pub package_id: i64,
    /// The tag (`latest`, `next` ...).
    pub tag: String,
    /// The version it points at.
    pub version: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new dist-tag.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = npm_dist_tags)]
pub struct NewNpmDistTag {
    /// The package.
    pub package_id: i64,
    /// The tag.
    pub tag: String,
    /// The version it points at.
    pub version: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}
