//! The request bodies of the management routes, for their OpenAPI description. Handlers read their
//! parameters through `Params` as Grape does (a JSON object, a form, or the query string, with numbers
//! also accepted as text), so these types only describe the JSON form: each field is a parameter its
//! handler reads, required where the handler answers `… is missing` without it, with the rules the
//! services check (lengths, patterns, ranges) so that a client can tell a valid body from its schema.
//! A field that may be left out but not sent as null is not nullable. Usernames and group paths are
//! GitLab path segments; `\S` marks a text that may not be blank.

use utoipa::ToSchema;

/// `POST /users`.
#[derive(ToSchema)]
pub struct UserCreateRequest {
    /// Login name.
    #[schema(pattern = r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,253}[A-Za-z0-9_-])?$")]
    pub username: String,
    /// Display name.
    #[schema(max_length = 255, pattern = r"\S")]
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Make the user an instance administrator.
    #[schema(default = false)]
    pub admin: Option<bool>,
}

/// `POST /users/:id/personal_access_tokens`.
#[derive(ToSchema)]
pub struct PersonalAccessTokenCreateRequest {
    /// Name.
    #[schema(pattern = r"\S")]
    pub name: String,
    /// At least one scope.
    #[schema(min_items = 1, inline)]
    pub scopes: Vec<ScopeName>,
    /// Expiry date (midnight UTC); an RFC 3339 time is accepted too.
    #[schema(format = Date)]
    pub expires_at: Option<String>,
}

/// `POST /groups/:id/deploy_tokens`.
#[derive(ToSchema)]
pub struct DeployTokenCreateRequest {
    /// Name.
    #[schema(pattern = r"\S")]
    pub name: String,
    /// At least one scope.
    #[schema(min_items = 1, inline)]
    pub scopes: Vec<ScopeName>,
    /// Expiry date (midnight UTC); an RFC 3339 time is accepted too.
    #[schema(format = Date)]
    pub expires_at: Option<String>,
    /// The username to send with the token (default `gitlab+deploy-token-<id>`).
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
    #[schema(max_length = 255, pattern = r"\S")]
    pub name: String,
    /// Path segment.
    #[schema(pattern = r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,253}[A-Za-z0-9_-])?$")]
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
    #[schema(minimum = 10, maximum = 50, multiple_of = 10)]
    pub access_level: i64,
}

/// `POST /groups/:id/-/virtual_registries/…/registries`.
#[derive(ToSchema)]
pub struct RegistryCreateRequest {
    /// Name, unique in the group.
    #[schema(max_length = 255, pattern = r"\S")]
    pub name: String,
    /// Description.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// `PATCH /virtual_registries/…/registries/:id`: at least one field.
#[derive(ToSchema)]
#[schema(min_properties = 1)]
pub struct RegistryUpdateRequest {
    /// New name.
    #[schema(nullable = false, max_length = 255, pattern = r"\S")]
    pub name: Option<String>,
    /// New description.
    #[schema(nullable = false, max_length = 1024, pattern = r"\S")]
    pub description: Option<String>,
}

/// `POST /virtual_registries/packages/maven/registries/:id/upstreams`.
#[derive(ToSchema)]
pub struct UpstreamCreateRequest {
    /// An http or https URL.
    #[schema(
        max_length = 255,
        pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub url: String,
    /// Name; defaults to the URL.
    #[schema(max_length = 255, pattern = r"\S")]
    pub name: Option<String>,
    /// Description.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// Username (with `password`, or neither).
    #[schema(max_length = 510, pattern = r"\S")]
    pub username: Option<String>,
    /// Password (with `username`, or neither); never shown again.
    #[schema(max_length = 510, pattern = r"\S")]
    pub password: Option<String>,
    /// Hours an artifact stays fresh (default 24, 0 = never stale).
    #[schema(minimum = 0, maximum = 32767)]
    pub cache_validity_hours: Option<i64>,
    /// Hours `maven-metadata.xml` stays fresh (Maven only, default 24).
    #[schema(minimum = 1, maximum = 32767)]
    pub metadata_cache_validity_hours: Option<i64>,
}

/// `POST /virtual_registries/container/registries/:id/upstreams`: the container API names its upstreams.
#[derive(ToSchema)]
pub struct ContainerUpstreamCreateRequest {
    /// An http or https URL.
    #[schema(
        max_length = 255,
        pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub url: String,
    /// Name.
    #[schema(max_length = 255, pattern = r"\S")]
    pub name: String,
    /// Description.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// Username (with `password`, or neither).
    #[schema(max_length = 510, pattern = r"\S")]
    pub username: Option<String>,
    /// Password (with `username`, or neither); never shown again.
    #[schema(max_length = 510, pattern = r"\S")]
    pub password: Option<String>,
    /// Hours an artifact stays fresh (default 24, 0 = never stale).
    #[schema(minimum = 0, maximum = 32767)]
    pub cache_validity_hours: Option<i64>,
}

/// `PATCH /virtual_registries/…/upstreams/:id`: at least one field.
#[derive(ToSchema)]
#[schema(min_properties = 1)]
pub struct UpstreamUpdateRequest {
    /// New name.
    #[schema(nullable = false, max_length = 255, pattern = r"\S")]
    pub name: Option<String>,
    /// New description; null clears it.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// New http or https URL.
    #[schema(
        nullable = false,
        max_length = 255,
        pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub url: Option<String>,
    /// New username.
    #[schema(max_length = 510, pattern = r"\S")]
    pub username: Option<String>,
    /// New password.
    #[schema(max_length = 510, pattern = r"\S")]
    pub password: Option<String>,
    /// Hours an artifact stays fresh (0 = never stale).
    #[schema(minimum = 0, maximum = 32767)]
    pub cache_validity_hours: Option<i64>,
    /// Hours `maven-metadata.xml` stays fresh (Maven only).
    #[schema(minimum = 1, maximum = 32767)]
    pub metadata_cache_validity_hours: Option<i64>,
}

/// `POST /groups/:id/-/virtual_registries/…/upstreams/test`.
#[derive(ToSchema)]
pub struct ConnectionTestRequest {
    /// An http or https URL to test.
    #[schema(
        max_length = 255,
        pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub url: String,
    /// Username (with `password`, or neither).
    #[schema(max_length = 510, pattern = r"\S")]
    pub username: Option<String>,
    /// Password (with `username`, or neither).
    #[schema(max_length = 510, pattern = r"\S")]
    pub password: Option<String>,
}

/// `POST /virtual_registries/…/upstreams/:id/test`: overrides of the saved configuration.
#[derive(ToSchema)]
pub struct ConnectionTestOverrides {
    /// An http or https URL to test instead of the saved one.
    #[schema(
        nullable = false,
        max_length = 255,
        pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub url: Option<String>,
    /// Username to test with.
    #[schema(max_length = 510, pattern = r"\S")]
    pub username: Option<String>,
    /// Password to test with.
    #[schema(max_length = 510, pattern = r"\S")]
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
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// Days without download before an entry is removed (1..365).
    #[schema(nullable = false, minimum = 1, maximum = 365)]
    pub keep_n_days_after_download: Option<i64>,
    /// Days between runs: 1, 7, 14, 30 or 90.
    #[schema(nullable = false, minimum = 1, maximum = 90)]
    pub cadence: Option<i64>,
    /// Notify the owners after a successful run.
    #[schema(nullable = false)]
    pub notify_on_success: Option<bool>,
    /// Notify the owners after a failed run.
    #[schema(nullable = false)]
    pub notify_on_failure: Option<bool>,
}
