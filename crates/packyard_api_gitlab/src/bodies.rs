//! The request bodies of the management routes, for their OpenAPI description. Handlers read their
//! parameters through `Params` as Grape does (a JSON object, a form, or the query string, with numbers
//! also accepted as text), so these types only describe the JSON form: each field is a parameter its
//! handler reads, required where the handler answers `… is missing` without it.

use utoipa::ToSchema;

/// `POST /users`.
#[derive(ToSchema)]
pub struct UserCreateRequest {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Make the user an instance administrator.
    #[schema(default = false)]
    pub admin: Option<bool>,
}

/// `POST /users/:id/personal_access_tokens` and `POST /groups/:id/deploy_tokens`.
#[derive(ToSchema)]
pub struct TokenCreateRequest {
    /// Name.
    pub name: String,
    /// At least one scope.
    #[schema(min_items = 1, inline)]
    pub scopes: Vec<ScopeName>,
    /// Expiry: a date (`2030-01-31`, midnight UTC) or an RFC 3339 time.
    pub expires_at: Option<String>,
    /// Deploy tokens only: the username to send with the token (default `gitlab+deploy-token-<id>`).
    pub username: Option<String>,
}

/// A token scope.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ScopeName {
    /// Everything the user may do.
    Api,
    /// Reading through the API.
    ReadApi,
    /// Pulling through virtual registries.
    ReadVirtualRegistry,
    /// Downloading hosted packages.
    ReadPackageRegistry,
    /// Publishing hosted packages.
    WritePackageRegistry,
}

/// `POST /groups`.
#[derive(ToSchema)]
pub struct GroupCreateRequest {
    /// Display name.
    pub name: String,
    /// Path segment.
    pub path: String,
    /// Parent group, for a subgroup.
    pub parent_id: Option<i64>,
    /// Description.
    pub description: Option<String>,
}

/// `POST /groups/:id/members`.
#[derive(ToSchema)]
pub struct MemberCreateRequest {
    /// The user.
    pub user_id: i64,
    /// GitLab access level: 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
    pub access_level: i64,
}

/// `POST /groups/:id/-/virtual_registries/…/registries`.
#[derive(ToSchema)]
pub struct RegistryCreateRequest {
    /// Name, unique in the group.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// `PATCH /virtual_registries/…/registries/:id`: at least one field.
#[derive(ToSchema)]
pub struct RegistryUpdateRequest {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// `POST /virtual_registries/…/registries/:id/upstreams`.
#[derive(ToSchema)]
pub struct UpstreamCreateRequest {
    /// URL.
    pub url: String,
    /// Name; defaults to the URL.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Username (with `password`, or neither).
    pub username: Option<String>,
    /// Password (with `username`, or neither); never shown again.
    pub password: Option<String>,
    /// Hours an artifact stays fresh (default 24, 0 = never stale).
    pub cache_validity_hours: Option<i64>,
    /// Hours `maven-metadata.xml` stays fresh (Maven only, default 24).
    pub metadata_cache_validity_hours: Option<i64>,
}

/// `PATCH /virtual_registries/…/upstreams/:id`: at least one field.
#[derive(ToSchema)]
pub struct UpstreamUpdateRequest {
    /// New name.
    pub name: Option<String>,
    /// New description; null clears it.
    pub description: Option<String>,
    /// New URL.
    pub url: Option<String>,
    /// New username.
    pub username: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// Hours an artifact stays fresh (0 = never stale).
    pub cache_validity_hours: Option<i64>,
    /// Hours `maven-metadata.xml` stays fresh (Maven only).
    pub metadata_cache_validity_hours: Option<i64>,
}

/// `POST /groups/:id/-/virtual_registries/…/upstreams/test`.
#[derive(ToSchema)]
pub struct ConnectionTestRequest {
    /// URL to test.
    pub url: String,
    /// Username (with `password`, or neither).
    pub username: Option<String>,
    /// Password (with `username`, or neither).
    pub password: Option<String>,
}

/// `POST /virtual_registries/…/upstreams/:id/test`: overrides of the saved configuration.
#[derive(ToSchema)]
pub struct ConnectionTestOverrides {
    /// URL to test instead of the saved one.
    pub url: Option<String>,
    /// Username to test with.
    pub username: Option<String>,
    /// Password to test with.
    pub password: Option<String>,
}

/// `POST /virtual_registries/…/registry_upstreams`.
#[derive(ToSchema)]
pub struct RegistryUpstreamCreateRequest {
    /// Registry.
    pub registry_id: i64,
    /// Upstream of the same group; it goes last.
    pub upstream_id: i64,
}

/// `PATCH /virtual_registries/…/registry_upstreams/:id`.
#[derive(ToSchema)]
pub struct RegistryUpstreamUpdateRequest {
    /// New 1-based position; past the last one means last.
    #[schema(minimum = 1, maximum = 20)]
    pub position: i64,
}

/// `POST` and `PATCH /groups/:id/-/virtual_registries/cleanup/policy`: every field optional on
/// creation, at least one on update.
#[derive(ToSchema)]
pub struct CleanupPolicyRequest {
    /// Runs only when enabled.
    pub enabled: Option<bool>,
    /// Days without download before an entry is removed (1..365).
    pub keep_n_days_after_download: Option<i64>,
    /// Days between runs: 1, 7, 14, 30 or 90.
    pub cadence: Option<i64>,
    /// Notify the owners after a successful run.
    pub notify_on_success: Option<bool>,
    /// Notify the owners after a failed run.
    pub notify_on_failure: Option<bool>,
}
