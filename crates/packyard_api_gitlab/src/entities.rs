//! GitLab's API entities: the JSON shapes of registries, upstreams, associations, cache entries, connection
//! tests, users, groups, members and tokens. Passwords and token digests are never part of them.

use chrono::NaiveDateTime;
use packyard_core::identity::IssuedToken;
use packyard_core::registries::ConnectionTest;
use packyard_core::rows::{
    CacheEntry, CleanupPolicy, Group, Member, Registry, RegistryUpstream, Upstream, User,
};
use packyard_domain::{CacheEntryId, Format, UpstreamId};
use serde::Serialize;
use utoipa::ToSchema;

/// A stored UTC time as GitLab shows it: RFC 3339 with milliseconds and `Z` (`2024-05-30T12:28:27.855Z`).
pub fn timestamp(at: NaiveDateTime) -> String {
    at.and_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A virtual registry.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryResponse {
    /// Id.
    pub id: i64,
    /// Top-level group.
    pub group_id: i64,
    /// Name.
    pub name: String,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Its associations by position (single GET only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_upstreams: Option<Vec<RegistryUpstreamLink>>,
}

/// An association as nested under its registry (`registry_id` left out).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryUpstreamLink {
    /// Association id.
    pub id: i64,
    /// Upstream.
    pub upstream_id: i64,
    /// 1-based position in the registry.
    pub position: i32,
}

impl From<&RegistryUpstream> for RegistryUpstreamLink {
    fn from(association: &RegistryUpstream) -> Self {
        Self {
            id: association.id,
            upstream_id: association.upstream_id,
            position: association.position,
        }
    }
}

impl RegistryResponse {
    /// The registry with its associations, by position.
    pub fn with_upstreams(registry: &Registry, associations: &[RegistryUpstream]) -> Self {
        Self {
            registry_upstreams: Some(associations.iter().map(Into::into).collect()),
            ..registry.into()
        }
    }
}

impl From<&Registry> for RegistryResponse {
    fn from(registry: &Registry) -> Self {
        Self {
            id: registry.id,
            group_id: registry.group_id,
            name: registry.name.clone(),
            description: registry.description.clone(),
            created_at: timestamp(registry.created_at),
            updated_at: timestamp(registry.updated_at),
            registry_upstreams: None,
        }
    }
}

/// An association as nested under its upstream (`upstream_id` left out).
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamRegistryLink {
    /// Association id.
    pub id: i64,
    /// Registry.
    pub registry_id: i64,
    /// 1-based position in the registry.
    pub position: i32,
}

impl From<&RegistryUpstream> for UpstreamRegistryLink {
    fn from(association: &RegistryUpstream) -> Self {
        Self {
            id: association.id,
            registry_id: association.registry_id,
            position: association.position,
        }
    }
}

/// An association on its own.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryUpstreamResponse {
    /// Id.
    pub id: i64,
    /// Registry.
    pub registry_id: i64,
    /// Upstream.
    pub upstream_id: i64,
    /// 1-based position in the registry.
    pub position: i32,
}

impl From<&RegistryUpstream> for RegistryUpstreamResponse {
    fn from(association: &RegistryUpstream) -> Self {
        Self {
            id: association.id,
            registry_id: association.registry_id,
            upstream_id: association.upstream_id,
            position: association.position,
        }
    }
}

/// An upstream; the password is never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamResponse {
    /// Id.
    pub id: i64,
    /// Top-level group.
    pub group_id: i64,
    /// Normalised URL.
    pub url: String,
    /// Name.
    pub name: String,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Hours an artifact stays fresh (0 = never stale).
    pub cache_validity_hours: i32,
    /// Hours `maven-metadata.xml` stays fresh (Maven upstreams only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_cache_validity_hours: Option<i32>,
    /// Username, null for anonymous upstreams.
    #[schema(required = true)]
    pub username: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The association with the registry in whose context it is listed or was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_upstream: Option<UpstreamRegistryLink>,
    /// Every association (single GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_upstreams: Option<Vec<UpstreamRegistryLink>>,
}

impl From<&Upstream> for UpstreamResponse {
    fn from(upstream: &Upstream) -> Self {
        Self {
            id: upstream.id,
            group_id: upstream.group_id,
            url: upstream.url.clone(),
            name: upstream.name.clone(),
            description: upstream.description.clone(),
            cache_validity_hours: upstream.cache_validity_hours,
            metadata_cache_validity_hours: upstream.metadata_cache_validity_hours,
            username: upstream.username.clone(),
            created_at: timestamp(upstream.created_at),
            updated_at: timestamp(upstream.updated_at),
            registry_upstream: None,
            registry_upstreams: None,
        }
    }
}

impl UpstreamResponse {
    /// The upstream with the association of one registry.
    pub fn in_registry(upstream: &Upstream, association: &RegistryUpstream) -> Self {
        Self {
            registry_upstream: Some(association.into()),
            ..upstream.into()
        }
    }

    /// The upstream with all its associations.
    pub fn with_registries(upstream: &Upstream, associations: &[RegistryUpstream]) -> Self {
        Self {
            registry_upstreams: Some(associations.iter().map(Into::into).collect()),
            ..upstream.into()
        }
    }
}

/// A cache entry; its `id` is the opaque base64 of `"<upstream_id> <relative_path>"`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheEntryResponse {
    /// Opaque id.
    pub id: String,
    /// Top-level group.
    pub group_id: i64,
    /// Upstream.
    pub upstream_id: i64,
    /// Last time the upstream confirmed it.
    pub upstream_checked_at: String,
    /// md5 hex; Maven entries only (GitLab's container entity has no `file_md5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub file_md5: Option<Option<String>>,
    /// sha1 hex.
    pub file_sha1: String,
    /// Size in bytes.
    pub size: i64,
    /// Path relative to the upstream, without a leading slash.
    pub relative_path: String,
    /// Content type.
    pub content_type: String,
    /// The upstream's ETag, with its quotes.
    #[schema(required = true)]
    pub upstream_etag: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Downloads served.
    pub downloads_count: i64,
    /// Last download.
    #[schema(required = true)]
    pub downloaded_at: Option<String>,
}

impl CacheEntryResponse {
    /// The entry as the API of its format shows it.
    pub fn new(entry: &CacheEntry, format: Format) -> Self {
        let relative_path = entry.relative_path.trim_start_matches('/').to_owned();
        let id = CacheEntryId {
            upstream_id: UpstreamId(entry.upstream_id),
            relative_path: relative_path.clone(),
        };
        Self {
            id: id.encode(),
            group_id: entry.group_id,
            upstream_id: entry.upstream_id,
            upstream_checked_at: timestamp(entry.upstream_checked_at),
            file_md5: (format == Format::Maven).then(|| entry.file_md5.clone()),
            file_sha1: entry.file_sha1.clone(),
            size: entry.size,
            relative_path,
            content_type: entry.content_type.clone(),
            upstream_etag: entry.upstream_etag.clone(),
            created_at: timestamp(entry.created_at),
            updated_at: timestamp(entry.updated_at),
            downloads_count: entry.downloads_count,
            downloaded_at: entry.downloaded_at.map(timestamp),
        }
    }
}

/// The outcome of a connection test: `{"success": true}` or `{"success": false, "result": "Error: …"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTestResponse {
    /// 2xx or 404 from the upstream.
    pub success: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl From<ConnectionTest> for ConnectionTestResponse {
    fn from(test: ConnectionTest) -> Self {
        Self {
            success: test.success,
            result: test.result,
        }
    }
}

/// A group's cleanup policy, with the outcome of its last run.
#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupPolicyResponse {
    /// The top-level group.
    pub group_id: i64,
    /// When it runs next.
    #[schema(required = true)]
    pub next_run_at: Option<String>,
    /// When it last ran.
    #[schema(required = true)]
    pub last_run_at: Option<String>,
    /// Bytes removed by the last run.
    pub last_run_deleted_size: i64,
    /// Entries removed by the last run.
    pub last_run_deleted_entries_count: i64,
    /// Days without download before an entry is removed.
    pub keep_n_days_after_download: i32,
    /// `scheduled`, `running` or `failed`.
    #[schema(pattern = "^(scheduled|running|failed)$")]
    pub status: String,
    /// Days between runs.
    pub cadence: i32,
    /// Runs only when enabled.
    pub enabled: bool,
    /// Why the last run failed.
    #[schema(required = true)]
    pub failure_message: Option<String>,
    /// Per-format counts of the last run (`{"maven": {"deleted_entries_count": …, "deleted_size": …}}`).
    #[schema(value_type = Object)]
    pub last_run_detailed_metrics: serde_json::Value,
    /// Notify the owners after a successful run.
    pub notify_on_success: bool,
    /// Notify the owners after a failed run.
    pub notify_on_failure: bool,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl From<&CleanupPolicy> for CleanupPolicyResponse {
    fn from(policy: &CleanupPolicy) -> Self {
        Self {
            group_id: policy.group_id,
            next_run_at: policy.next_run_at.map(timestamp),
            last_run_at: policy.last_run_at.map(timestamp),
            last_run_deleted_size: policy.last_run_deleted_size,
            last_run_deleted_entries_count: policy.last_run_deleted_entries_count,
            keep_n_days_after_download: policy.keep_n_days_after_download,
            status: policy.status.clone(),
            cadence: policy.cadence,
            enabled: policy.enabled,
            failure_message: policy.failure_message.clone(),
            last_run_detailed_metrics: serde_json::from_str(&policy.last_run_detailed_metrics)
                .unwrap_or_else(|_| serde_json::json!({})),
            notify_on_success: policy.notify_on_success,
            notify_on_failure: policy.notify_on_failure,
            created_at: timestamp(policy.created_at),
            updated_at: timestamp(policy.updated_at),
        }
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Always `active`.
    #[schema(value_type = String, pattern = "^active$")]
    pub state: &'static str,
    /// Email.
    #[schema(required = true)]
    pub email: Option<String>,
    /// Instance administrator.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: String,
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            name: user.name.clone(),
            state: "active",
            email: user.email.clone(),
            is_admin: user.is_admin,
            created_at: timestamp(user.created_at),
        }
    }
}

/// A personal access token just created; `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalAccessTokenResponse {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Never revoked when new.
    pub revoked: bool,
    /// Creation time.
    pub created_at: String,
    /// Scopes.
    pub scopes: Vec<&'static str>,
    /// Owner.
    pub user_id: i64,
    /// True while usable.
    pub active: bool,
    /// Expiry date (`YYYY-MM-DD`).
    #[schema(required = true)]
    pub expires_at: Option<String>,
    /// The secret.
    pub token: String,
}

impl PersonalAccessTokenResponse {
    /// The response for a token issued to `user_id`.
    pub fn new(token: &IssuedToken, user_id: i64) -> Self {
        Self {
            id: token.id,
            name: token.name.clone(),
            revoked: false,
            created_at: timestamp(token.created_at),
            scopes: token.scopes.iter().map(|s| s.as_str()).collect(),
            user_id,
            active: true,
            expires_at: token
                .expires_at
                .map(|at| at.date().format("%Y-%m-%d").to_string()),
            token: token.token.clone(),
        }
    }
}

/// A group deploy token just created; `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeployTokenResponse {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Username to send with the token.
    pub username: String,
    /// Expiry.
    #[schema(required = true)]
    pub expires_at: Option<String>,
    /// Scopes.
    pub scopes: Vec<&'static str>,
    /// Never revoked when new.
    pub revoked: bool,
    /// Never expired when new.
    pub expired: bool,
    /// The secret.
    pub token: String,
}

impl From<&IssuedToken> for DeployTokenResponse {
    fn from(token: &IssuedToken) -> Self {
        Self {
            id: token.id,
            name: token.name.clone(),
            username: token.owner.clone(),
            expires_at: token.expires_at.map(timestamp),
            scopes: token.scopes.iter().map(|s| s.as_str()).collect(),
            revoked: false,
            expired: false,
            token: token.token.clone(),
        }
    }
}

/// A group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupResponse {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Last path segment.
    pub path: String,
    /// Full path from the top-level group.
    pub full_path: String,
    /// Description.
    pub description: String,
    /// Always `private`.
    #[schema(value_type = String, pattern = "^private$")]
    pub visibility: &'static str,
    /// Parent group, null for a top-level group.
    #[schema(required = true)]
    pub parent_id: Option<i64>,
    /// Creation time.
    pub created_at: String,
}

impl From<&Group> for GroupResponse {
    fn from(group: &Group) -> Self {
        Self {
            id: group.id,
            name: group.name.clone(),
            path: group.path.clone(),
            full_path: group.full_path.clone(),
            description: group.description.clone(),
            visibility: "private",
            parent_id: group.parent_id,
            created_at: timestamp(group.created_at),
        }
    }
}

/// A group member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResponse {
    /// The user's id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Always `active`.
    #[schema(value_type = String, pattern = "^active$")]
    pub state: &'static str,
    /// GitLab access level (10..50).
    pub access_level: i32,
    /// Membership creation time.
    pub created_at: String,
    /// Memberships do not expire.
    #[schema(required = true)]
    pub expires_at: Option<String>,
}

impl From<&(Member, User)> for MemberResponse {
    fn from((member, user): &(Member, User)) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            name: user.name.clone(),
            state: "active",
            access_level: member.access_level,
            created_at: timestamp(member.created_at),
            expires_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = chrono::NaiveDate::from_ymd_opt(2024, 5, 30)
            .unwrap()
            .and_hms_milli_opt(12, 28, 27, 855)
            .unwrap();
        assert_eq!(timestamp(at), "2024-05-30T12:28:27.855Z");
        let whole = chrono::NaiveDate::from_ymd_opt(2024, 5, 30)
            .unwrap()
            .and_hms_opt(1, 2, 3)
            .unwrap();
        assert_eq!(timestamp(whole), "2024-05-30T01:02:03.000Z");
    }
}
