//! Virtual registry management: registries, upstreams, their ordered associations and cache entries.
//!
//! Format-generic: every call takes the [`Format`] of the API it serves, so the Maven and container
//! management APIs share one implementation of GitLab's rules. Each call checks in GitLab's order: the
//! record exists and the actor has a part in its top-level group (404 otherwise, the same answer for
//! both), the actor's role and token allow the action (403), then the parameters and the model rules
//! (400). The first two are one gate: `managed_group` and `authorize_record` (in `identity`).

use std::net::IpAddr;

use packyard_db::queries::{cache as cq, registries as rq};
use packyard_db::rows::{
    CacheEntry, NewRegistry, NewUpstream, Registry, RegistryUpstream, Upstream,
};
use packyard_domain::{
    CacheEntryId, FieldErrors, Format, RegistryId, RegistryUpstreamId, UpstreamId,
    UpstreamUrlError, limits, local_upstream_group, local_upstream_url, normalize_upstream_url,
    stored_url, upstream_url_twin,
};
pub use packyard_upstream::ConnectionTest;
use packyard_upstream::{
    AddressPolicy, Credentials, Fetch, Refusal, check_destination, embedded_ipv4, is_blocked_ip,
};
use url::Url;

use crate::identity::{Actor, Need};
use crate::jobs::{JobKind, wake};
use crate::pull::request_url;
use crate::secrets::SecretKey;
use crate::{Core, CoreError, CoreResult, Page};

/// The path a connection test of a Maven upstream HEADs when it has nothing cached.
pub const MAVEN_TEST_PATH: &str = "com/company/app/maven-metadata.xml";
/// The path a connection test of an npm upstream HEADs: the registry's ping.
pub const NPM_TEST_PATH: &str = "-/ping";
/// URLs starting with this get `cache_validity_hours = 0` on create (Maven Central never changes).
pub const MAVEN_CENTRAL_URL: &str = "https://repo1.maven.org/maven2";
/// Default of `cache_validity_hours` and `metadata_cache_validity_hours`.
pub const DEFAULT_VALIDITY_HOURS: i64 = 24;
/// Largest position a PATCH accepts (Grape's `values: 1..20`), for every format.
pub const MAX_POSITION_PARAMETER: i64 = 20;

/// A registry to create.
#[derive(Debug, Clone)]
pub struct RegistryInput {
    /// Name, unique in the group.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// Changes to a registry; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RegistryChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// An upstream to create in a registry.
#[derive(Debug, Clone, Default)]
pub struct UpstreamInput {
    /// URL (normalised before it is validated and stored).
    pub url: String,
    /// Name; defaults to the normalised URL.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Username (with `password`, or neither).
    pub username: Option<String>,
    /// Password (with `username`, or neither).
    pub password: Option<String>,
    /// Hours an artifact stays fresh (default 24, 0 = never stale).
    pub cache_validity_hours: Option<i64>,
    /// Hours `maven-metadata.xml` stays fresh (Maven only, default 24, > 0).
    pub metadata_cache_validity_hours: Option<i64>,
}

/// Changes to an upstream; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpstreamChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New URL: clears the credentials unless both are sent too.
    pub url: Option<String>,
    /// New username.
    pub username: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// New artifact validity.
    pub cache_validity_hours: Option<i64>,
    /// New metadata validity (Maven only).
    pub metadata_cache_validity_hours: Option<i64>,
}

impl UpstreamChanges {
    fn is_empty(&self, format: Format) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.url.is_none()
            && self.username.is_none()
            && self.password.is_none()
            && self.cache_validity_hours.is_none()
            && (!format.has_metadata() || self.metadata_cache_validity_hours.is_none())
    }
}

/// What a connection test targets: a URL and credentials, each optional where the endpoint allows it.
#[derive(Debug, Clone, Default)]
pub struct TestTarget {
    /// URL.
    pub url: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

/// An upstream with the registries it is linked to.
#[derive(Debug, Clone)]
pub struct UpstreamDetails {
    /// The upstream.
    pub upstream: Upstream,
    /// Its associations, by registry.
    pub associations: Vec<RegistryUpstream>,
}

fn not_found() -> CoreError {
    // GitLab's answer for `Model.find` of a missing record: `404 Not found`.
    CoreError::not_found("")
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn both_or_neither(username: &Option<String>, password: &Option<String>) -> CoreResult<()> {
    if username.is_some() == password.is_some() {
        Ok(())
    } else {
        Err(CoreError::BadParameter(
            "username, password provide all or none of parameters".into(),
        ))
    }
}

fn same_credentials_message(format: Format) -> &'static str {
    match format {
        Format::Maven | Format::Npm | Format::Pypi => {
            "already has a remote upstream with the same url and credentials"
        }
        Format::Container => "already has an upstream with the same credentials",
    }
}

fn check_credentials(
    errors: &mut FieldErrors,
    username: &Option<String>,
    password: &Option<String>,
) {
    for (attribute, value) in [("username", username), ("password", password)] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > limits::CREDENTIAL_MAX)
        {
            errors.add(attribute, "is too long (maximum is 510 characters)");
        }
    }
    if password.is_some() && username.is_none() {
        errors.add("username", "can't be blank");
    }
    if username.is_some() && password.is_none() {
        errors.add("password", "can't be blank");
    }
}

/// A local upstream reads the group's repository as the caller: it takes no credentials.
fn check_local_credentials(
    errors: &mut FieldErrors,
    username: &Option<String>,
    password: &Option<String>,
) {
    for (attribute, value) in [("username", username), ("password", password)] {
        if value.as_ref().is_some_and(|v| !v.is_empty()) {
            errors.add(attribute, "must be blank for a local upstream");
        }
    }
}

fn check_cache_validity(errors: &mut FieldErrors, hours: i64) {
    if hours < 0 {
        errors.add("cache_validity_hours", "must be greater than or equal to 0");
    } else if hours > limits::VALIDITY_HOURS_MAX {
        errors.add(
            "cache_validity_hours",
            "must be less than or equal to 32767",
        );
    }
}

fn check_metadata_validity(errors: &mut FieldErrors, hours: i64) {
    if hours <= 0 {
        errors.add("metadata_cache_validity_hours", "must be greater than 0");
    } else if hours > limits::VALIDITY_HOURS_MAX {
        errors.add(
            "metadata_cache_validity_hours",
            "must be less than or equal to 32767",
        );
    }
}

/// GitLab's wording for a refused address, or `None` when the address is public.
fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    if !is_blocked_ip(ip) {
        return None;
    }
    let ip = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    Some(if ip.is_loopback() || ip.is_unspecified() {
        "is blocked: Requests to localhost are not allowed"
    } else if link_local {
        "is blocked: Requests to the link local network are not allowed"
    } else {
        "is blocked: Requests to the local network are not allowed"
    })
}

/// Normalises an upstream URL and refuses one that points at localhost or a local or private network
/// (IP literals, and every address a host name resolves to) that the policy does not allow: local
/// networks allowed, or the host or its addresses on the allowlist. A host that does not resolve is
/// accepted: the SSRF guard checks again on every request. The error is the message for the `url`
/// attribute.
pub async fn validate_upstream_url(raw: &str, policy: &AddressPolicy) -> Result<Url, String> {
    let url = normalize_upstream_url(raw).map_err(|error| match error {
        UpstreamUrlError::Malformed => "is blocked: URI is invalid".to_owned(),
        other => other.to_string(),
    })?;
    match check_destination(&url, policy).await {
        Ok(()) => Ok(url),
        Err(Refusal::Localhost) => Err("is blocked: Requests to localhost are not allowed".into()),
        Err(Refusal::Address(ip)) => Err(blocked_reason(ip)
            .unwrap_or("is blocked: Requests to the local network are not allowed")
            .into()),
        Err(Refusal::Scheme(_)) => Err(UpstreamUrlError::Scheme.to_string()),
        Err(Refusal::NoHost) => Err("is blocked: URI is invalid".into()),
    }
}

/// How a connection test asks: container registries get the token dance (a `/v2/` ping answered 401
/// with a `Bearer` challenge is retried with a token, which tells whether the credentials work).
fn test_fetch(format: Format, credentials: Option<&Credentials>) -> Fetch<'_> {
    match format {
        Format::Maven | Format::Npm | Format::Pypi => Fetch::basic(credentials),
        Format::Container => Fetch {
            credentials,
            accept: None,
            token_scope: Some(""),
        },
    }
}

fn default_test_path(format: Format) -> &'static str {
    match format {
        Format::Maven => MAVEN_TEST_PATH,
        Format::Npm => NPM_TEST_PATH,
        // The simple index's root.
        Format::Container | Format::Pypi => "",
    }
}

fn credentials(username: Option<String>, password: Option<String>) -> Option<Credentials> {
    match (username, password) {
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        _ => None,
    }
}

/// True when another upstream of the group has the same URL (or its http/https twin) and the same
/// credentials; passwords are compared decrypted.
fn same_url_and_credentials(
    conn: &mut packyard_db::AnyConnection,
    secret: &SecretKey,
    candidate: &NewUpstream,
    password: &Option<String>,
    except: Option<i64>,
) -> packyard_db::DbResult<CoreResult<bool>> {
    let twin = upstream_url_twin(&candidate.url);
    let others = rq::upstreams_with_url(
        conn,
        candidate.group_id,
        &candidate.format,
        &candidate.url,
        &twin,
        except,
    )?;
    for other in others {
        if other.username != candidate.username {
            continue;
        }
        let other_password = match &other.password_encrypted {
            Some(sealed) => match secret.decrypt(sealed) {
                Ok(plain) => Some(plain),
                Err(e) => return Ok(Err(e)),
            },
            None => None,
        };
        if &other_password == password {
            return Ok(Ok(true));
        }
    }
    Ok(Ok(false))
}

impl Core {
    async fn load_registry(&self, format: Format, id: RegistryId) -> CoreResult<Registry> {
        self.db
            .run(move |conn| rq::find_registry(conn, id.0, format.as_str()))
            .await?
            .ok_or_else(not_found)
    }

    async fn load_upstream(&self, format: Format, id: UpstreamId) -> CoreResult<Upstream> {
        self.db
            .run(move |conn| rq::find_upstream(conn, id.0, format.as_str()))
            .await?
            .ok_or_else(not_found)
    }

    /// An association whose registry is of `format`.
    async fn load_association(
        &self,
        format: Format,
        id: RegistryUpstreamId,
    ) -> CoreResult<RegistryUpstream> {
        let found = self
            .db
            .run(move |conn| {
                let Some(association) = rq::find_association(conn, id.0)? else {
                    return Ok(None);
                };
                let registry = rq::find_registry(conn, association.registry_id, format.as_str())?;
                Ok(registry.map(|_| association))
            })
            .await?;
        found.ok_or_else(not_found)
    }

    /// A registry of `format` on which the actor may do `need`.
    async fn managed_registry(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryId,
        need: Need,
    ) -> CoreResult<Registry> {
        let registry = self.load_registry(format, id).await?;
        self.authorize_record(actor, registry.group_id, need)
            .await?;
        Ok(registry)
    }

    /// An upstream of `format` on which the actor may do `need`.
    async fn managed_upstream(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
        need: Need,
    ) -> CoreResult<Upstream> {
        let upstream = self.load_upstream(format, id).await?;
        self.authorize_record(actor, upstream.group_id, need)
            .await?;
        Ok(upstream)
    }

    /// An association of a registry of `format` on which the actor may do `need`.
    async fn managed_association(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryUpstreamId,
        need: Need,
    ) -> CoreResult<RegistryUpstream> {
        let association = self.load_association(format, id).await?;
        self.authorize_record(actor, association.group_id, need)
            .await?;
        Ok(association)
    }

    fn decrypt_password(&self, upstream: &Upstream) -> CoreResult<Option<String>> {
        upstream
            .password_encrypted
            .as_deref()
            .map(|sealed| self.secret.decrypt(sealed))
            .transpose()
    }

    async fn checked_url(&self, raw: &str, errors: &mut FieldErrors) -> Option<Url> {
        match validate_upstream_url(raw, &self.settings.upstream.addresses).await {
            Ok(url) => Some(url),
            Err(message) => {
                errors.add("url", message);
                None
            }
        }
    }

    /// Lists a group's registries of a format, by id (not paginated).
    pub async fn list_registries(
        &self,
        actor: &Actor,
        format: Format,
        group: &str,
    ) -> CoreResult<Vec<Registry>> {
        let group = self.managed_group(actor, group, Need::Read).await?;
        let group_id = group.id;
        Ok(self
            .db
            .run(move |conn| rq::list_registries(conn, group_id, format.as_str()))
            .await?)
    }

    /// Creates a registry in a top-level group, within the format's limit per group.
    pub async fn create_registry(
        &self,
        actor: &Actor,
        format: Format,
        group: &str,
        input: RegistryInput,
    ) -> CoreResult<Registry> {
        let group = self.managed_group(actor, group, Need::Write).await?;
        // Registries belong to top-level groups; GitLab's policy refuses a subgroup outright.
        if group.parent_id.is_some() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = FieldErrors::new();
        errors.check_name("name", &input.name);
        errors.check_description("description", input.description.as_deref());
        errors.into_result()?;
        let group_id = group.id;
        let now = self.now();
        let created = self
            .db
            .transaction(move |conn| {
                let mut errors = FieldErrors::new();
                if rq::registry_name_taken(conn, group_id, format.as_str(), &input.name, None)? {
                    errors.add("name", "has already been taken");
                }
                let max = format.max_registries_per_group();
                if rq::count_registries(conn, group_id, format.as_str())? >= max {
                    let noun = if max == 1 { "registry" } else { "registries" };
                    errors.add(
                        "base",
                        format!("{max} {noun} is the maximum allowed per top-level group."),
                    );
                }
                if !errors.is_empty() {
                    return Ok(Err(errors));
                }
                rq::insert_registry(
                    conn,
                    &NewRegistry {
                        group_id,
                        format: format.as_str(),
                        name: &input.name,
                        description: input.description.as_deref(),
                        created_at: now,
                        updated_at: now,
                    },
                )
                .map(Ok)
            })
            .await?;
        Ok(created?)
    }

    /// A registry the actor may read, with its associations by position.
    pub async fn find_registry_with_associations(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryId,
    ) -> CoreResult<(Registry, Vec<RegistryUpstream>)> {
        let registry = self.managed_registry(actor, format, id, Need::Read).await?;
        let associations = self
            .db
            .run(move |conn| rq::list_registry_associations(conn, id.0))
            .await?;
        Ok((registry, associations))
    }

    /// Renames or re-describes a registry; at least one change is required.
    pub async fn update_registry(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryId,
        changes: RegistryChanges,
    ) -> CoreResult<Registry> {
        let registry = self
            .managed_registry(actor, format, id, Need::Write)
            .await?;
        if changes.name.is_none() && changes.description.is_none() {
            return Err(CoreError::BadParameter(
                "name, description are missing, at least one parameter must be provided".into(),
            ));
        }
        let name = changes.name.unwrap_or(registry.name);
        let description = changes.description.unwrap_or(registry.description);
        let mut errors = FieldErrors::new();
        errors.check_name("name", &name);
        errors.check_description("description", description.as_deref());
        errors.into_result()?;
        let group_id = registry.group_id;
        let now = self.now();
        let updated = self
            .db
            .transaction(move |conn| {
                if rq::registry_name_taken(conn, group_id, format.as_str(), &name, Some(id.0))? {
                    return Ok(Err(FieldErrors::single("name", "has already been taken")));
                }
                rq::update_registry(conn, id.0, &name, description.as_deref(), now).map(Ok)
            })
            .await?;
        Ok(updated?)
    }

    /// Deletes a registry with its associations and its exclusive upstreams (and their cache).
    pub async fn delete_registry(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryId,
    ) -> CoreResult<()> {
        self.managed_registry(actor, format, id, Need::Write)
            .await?;
        let now = self.now();
        self.db
            .transaction(move |conn| {
                rq::delete_registry(conn, id.0)?;
                // Entry rows went with their upstreams; their blobs may now be unreferenced.
                wake(conn, JobKind::CollectBlobs, now, now)
            })
            .await?;
        self.wake_job_workers();
        Ok(())
    }

    /// Hides the cache entries of a registry's exclusive upstreams; a job removes them.
    pub async fn purge_registry_cache(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryId,
    ) -> CoreResult<()> {
        self.managed_registry(actor, format, id, Need::Write)
            .await?;
        let now = self.now();
        self.db
            .transaction(move |conn| {
                let exclusive = rq::exclusive_upstream_ids(conn, id.0)?;
                cq::mark_upstream_entries_for_destruction(conn, &exclusive, now)?;
                wake(conn, JobKind::DestroyCacheEntries, now, now)
            })
            .await?;
        self.wake_job_workers();
        Ok(())
    }

    /// A registry's upstreams with their associations, by position (not paginated).
    pub async fn list_registry_upstreams(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryId,
    ) -> CoreResult<Vec<(Upstream, RegistryUpstream)>> {
        self.managed_registry(actor, format, id, Need::Read).await?;
        Ok(self
            .db
            .run(move |conn| rq::list_registry_upstreams(conn, id.0))
            .await?)
    }

    /// Creates an upstream in the registry's group and links it at the registry's last position.
    pub async fn create_upstream(
        &self,
        actor: &Actor,
        format: Format,
        registry_id: RegistryId,
        input: UpstreamInput,
    ) -> CoreResult<(Upstream, RegistryUpstream)> {
        let registry = self
            .managed_registry(actor, format, registry_id, Need::Write)
            .await?;
        // Container upstreams need a name; the Maven seed lets the URL name one.
        if format == Format::Container && input.name.is_none() {
            return Err(CoreError::BadParameter("name is missing".into()));
        }
        both_or_neither(&input.username, &input.password)?;
        let mut errors = FieldErrors::new();
        let url = self
            .checked_upstream_url(actor, format, &input.url, &mut errors)
            .await?;
        let url_valid = url.is_some();
        let url_text = url.unwrap_or_default();
        if local_upstream_group(&url_text).is_some() {
            check_local_credentials(&mut errors, &input.username, &input.password);
        }
        // Without a name the normalised URL names the upstream (the seed's rule); an invalid URL has
        // already been reported on `url`.
        if input.name.is_some() || url_valid {
            errors.check_name("name", input.name.as_deref().unwrap_or(&url_text));
        }
        let name = input.name.unwrap_or_else(|| url_text.clone());
        errors.check_description("description", input.description.as_deref());
        let username = blank_to_none(input.username);
        let password = blank_to_none(input.password);
        check_credentials(&mut errors, &username, &password);
        let mut cache_validity_hours = input.cache_validity_hours.unwrap_or(DEFAULT_VALIDITY_HOURS);
        if format == Format::Maven && url_text.starts_with(MAVEN_CENTRAL_URL) {
            cache_validity_hours = 0;
        }
        check_cache_validity(&mut errors, cache_validity_hours);
        let metadata_cache_validity_hours = if format.has_metadata() {
            let hours = input
                .metadata_cache_validity_hours
                .unwrap_or(DEFAULT_VALIDITY_HOURS);
            check_metadata_validity(&mut errors, hours);
            Some(hours)
        } else {
            None
        };
        errors.into_result()?;
        let now = self.now();
        let new = NewUpstream {
            group_id: registry.group_id,
            format: format.as_str().to_owned(),
            name,
            description: input.description,
            url: url_text,
            username,
            password_encrypted: password
                .as_deref()
                .map(|p| self.secret.encrypt(p))
                .transpose()?,
            cache_validity_hours: i32::try_from(cache_validity_hours).unwrap_or(i32::MAX),
            metadata_cache_validity_hours: metadata_cache_validity_hours
                .map(|h| i32::try_from(h).unwrap_or(i32::MAX)),
            created_at: now,
            updated_at: now,
        };
        let secret = self.secret.clone();
        let max = format.max_upstreams_per_registry();
        self.db
            .transaction(move |conn| {
                let mut errors = FieldErrors::new();
                match same_url_and_credentials(conn, &secret, &new, &password, None)? {
                    Ok(true) => errors.add("group", same_credentials_message(format)),
                    Ok(false) => {}
                    Err(e) => return Ok(Err(e)),
                }
                let position = rq::max_position(conn, registry_id.0)? + 1;
                if i64::from(position) > max {
                    // The upstream is saved with its association, so GitLab names the nested attribute.
                    errors.add(
                        "registry_upstreams.position",
                        format!("must be less than or equal to {max}"),
                    );
                }
                if !errors.is_empty() {
                    return Ok(Err(errors.into()));
                }
                let upstream = rq::insert_upstream(conn, &new)?;
                let association = rq::insert_association(
                    conn,
                    upstream.group_id,
                    registry_id.0,
                    upstream.id,
                    position,
                )?;
                Ok(Ok((upstream, association)))
            })
            .await?
    }

    /// The URL to store for an upstream: a local upstream's own spelling, or a remote URL that passed
    /// the checks; `None`, with the errors reported, when a remote URL did not.
    async fn checked_upstream_url(
        &self,
        actor: &Actor,
        format: Format,
        raw: &str,
        errors: &mut FieldErrors,
    ) -> CoreResult<Option<String>> {
        match local_upstream_group(raw.trim()) {
            Some(group_id) => {
                self.check_local_upstream(actor, format, group_id, errors)
                    .await?;
                Ok(Some(local_upstream_url(group_id)))
            }
            None => Ok(self.checked_url(raw, errors).await.map(|u| stored_url(&u))),
        }
    }

    /// Checks that a local upstream may name `group_id`: the format has local upstreams, the group is a
    /// top-level group, and the actor may read its packages (a group the actor cannot see is reported
    /// as it is for a missing one).
    async fn check_local_upstream(
        &self,
        actor: &Actor,
        format: Format,
        group_id: i64,
        errors: &mut FieldErrors,
    ) -> CoreResult<()> {
        if !format.has_local_upstreams() {
            errors.add(
                "url",
                "is blocked: local upstreams are not available for this format",
            );
            return Ok(());
        }
        match self.find_group(&group_id.to_string()).await {
            Ok(group) if group.parent_id.is_none() => {
                if !self.may_read_local_upstream(actor, &group).await? {
                    errors.add("url", "must name a top-level group you can read");
                }
            }
            Ok(_) | Err(CoreError::NotFound(_)) => {
                errors.add("url", "must name a top-level group you can read");
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    /// Whether the actor may read the hosted packages of a local upstream's group: as a puller through
    /// virtual registries or as an installer of hosted packages.
    pub(crate) async fn may_read_local_upstream(
        &self,
        actor: &Actor,
        group: &packyard_db::rows::Group,
    ) -> CoreResult<bool> {
        for need in [Need::Pull, Need::Install] {
            match self.authorize(actor, group, need).await {
                Ok(()) => return Ok(true),
                Err(CoreError::Forbidden | CoreError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(false)
    }

    /// The connection test of a local upstream: nothing to reach, so it succeeds once the group checks
    /// out (and credentials, which a local upstream does not take, are absent).
    async fn test_local_upstream(
        &self,
        actor: &Actor,
        format: Format,
        group_id: i64,
        username: &Option<String>,
        password: &Option<String>,
    ) -> CoreResult<ConnectionTest> {
        let mut errors = FieldErrors::new();
        self.check_local_upstream(actor, format, group_id, &mut errors)
            .await?;
        check_local_credentials(&mut errors, username, password);
        errors.into_result()?;
        Ok(ConnectionTest {
            success: true,
            result: None,
        })
    }

    /// One page of a top-level group's upstreams of a format, optionally filtered by a fuzzy name match.
    pub async fn list_group_upstreams(
        &self,
        actor: &Actor,
        format: Format,
        group: &str,
        name_filter: Option<String>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Page<Upstream>> {
        let group = self.managed_group(actor, group, Need::Read).await?;
        if group.parent_id.is_some() {
            return Err(CoreError::BadRequest(
                "only available on top-level groups.".into(),
            ));
        }
        let group_id = group.id;
        let filter = name_filter.filter(|n| !n.is_empty());
        Ok(self
            .db
            .run(move |conn| {
                rq::list_group_upstreams(
                    conn,
                    group_id,
                    format.as_str(),
                    filter.as_deref(),
                    offset,
                    limit,
                )
            })
            .await?)
    }

    /// Tests an upstream before it is created: validates the URL and credentials as a create would, then
    /// HEADs the format's test path.
    pub async fn test_new_upstream(
        &self,
        actor: &Actor,
        format: Format,
        group: &str,
        target: TestTarget,
    ) -> CoreResult<ConnectionTest> {
        let group = self.managed_group(actor, group, Need::Read).await?;
        if group.parent_id.is_some() {
            return Err(CoreError::BadRequest(
                "only available on top-level groups.".into(),
            ));
        }
        let raw_url = target
            .url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| CoreError::BadParameter("url is missing".into()))?;
        both_or_neither(&target.username, &target.password)?;
        if let Some(group_id) = local_upstream_group(raw_url.trim()) {
            return self
                .test_local_upstream(actor, format, group_id, &target.username, &target.password)
                .await;
        }
        self.test_unsaved(format, &raw_url, target.username, target.password, None)
            .await
    }

    /// Validates an unsaved configuration and tests it.
    async fn test_unsaved(
        &self,
        format: Format,
        raw_url: &str,
        username: Option<String>,
        password: Option<String>,
        path: Option<String>,
    ) -> CoreResult<ConnectionTest> {
        let mut errors = FieldErrors::new();
        let url = self.checked_url(raw_url, &mut errors).await;
        let username = blank_to_none(username);
        let password = blank_to_none(password);
        check_credentials(&mut errors, &username, &password);
        errors.into_result()?;
        let base = url.as_ref().map(stored_url).unwrap_or_default();
        let path = path.unwrap_or_else(|| default_test_path(format).to_owned());
        let target = request_url(format.as_str(), &base, &path)?;
        let credentials = credentials(username, password);
        Ok(self
            .upstream
            .test_connection(&target, &test_fetch(format, credentials.as_ref()))
            .await)
    }

    /// Tests an existing upstream: as saved (HEADing one of its cached paths, if any), or with overrides of
    /// its URL and/or credentials, which are validated first.
    pub async fn test_upstream(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
        overrides: TestTarget,
    ) -> CoreResult<ConnectionTest> {
        let upstream = self.managed_upstream(actor, format, id, Need::Read).await?;
        if overrides.url.as_ref().is_some_and(|u| u.trim().is_empty()) {
            return Err(CoreError::BadParameter("url is empty".into()));
        }
        let url = overrides.url.as_deref().unwrap_or(&upstream.url);
        if let Some(group_id) = local_upstream_group(url.trim()) {
            return self
                .test_local_upstream(
                    actor,
                    format,
                    group_id,
                    &overrides.username,
                    &overrides.password,
                )
                .await;
        }
        let stored_password = self.decrypt_password(&upstream)?;
        let url_changed = overrides.url.as_ref().is_some_and(|u| *u != upstream.url);
        let username_changed =
            overrides.username.is_some() && overrides.username != upstream.username;
        let password_changed = overrides.password.as_ref().is_some_and(|p| !p.is_empty())
            && overrides.password != stored_password;
        // Maven tests one of the cached files; container registries are pinged at `/v2/`.
        let cached_path = match format {
            Format::Maven => {
                self.db
                    .run(move |conn| cq::any_entry_path(conn, id.0))
                    .await?
            }
            // npm and PyPI entries are named by package, not fetched by these paths (files come
            // from wherever the metadata points): ping the registry instead.
            Format::Container | Format::Npm | Format::Pypi => None,
        };
        if url_changed || username_changed || password_changed {
            if url_changed {
                both_or_neither(&overrides.username, &overrides.password)?;
            }
            let url = overrides.url.unwrap_or_else(|| upstream.url.clone());
            // A new URL is unlikely to hold the old URL's cached files.
            let path = if url_changed { None } else { cached_path };
            return self
                .test_unsaved(format, &url, overrides.username, overrides.password, path)
                .await;
        }
        let path = cached_path.unwrap_or_else(|| default_test_path(format).to_owned());
        let target = request_url(format.as_str(), &upstream.url, &path)?;
        let credentials = credentials(upstream.username.clone(), stored_password);
        Ok(self
            .upstream
            .test_connection(&target, &test_fetch(format, credentials.as_ref()))
            .await)
    }

    /// Finds an upstream the actor may read, with its associations.
    pub async fn find_upstream(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
    ) -> CoreResult<UpstreamDetails> {
        let upstream = self.managed_upstream(actor, format, id, Need::Read).await?;
        let associations = self
            .db
            .run(move |conn| rq::list_upstream_associations(conn, id.0))
            .await?;
        Ok(UpstreamDetails {
            upstream,
            associations,
        })
    }

    /// Updates an upstream. A URL change clears the credentials unless the same request sends both; a
    /// username sent without a password keeps the stored password.
    pub async fn update_upstream(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
        changes: UpstreamChanges,
    ) -> CoreResult<Upstream> {
        let stored = self
            .managed_upstream(actor, format, id, Need::Write)
            .await?;
        if changes.is_empty(format) {
            let names = match format {
                Format::Maven | Format::Npm | Format::Pypi => {
                    "name, description, url, username, password, cache_validity_hours, metadata_cache_validity_hours"
                }
                Format::Container => {
                    "name, description, url, username, password, cache_validity_hours"
                }
            };
            return Err(CoreError::BadParameter(format!(
                "{names} are missing, at least one parameter must be provided"
            )));
        }
        let stored_password = self.decrypt_password(&stored)?;
        let mut errors = FieldErrors::new();
        let name = changes.name.unwrap_or_else(|| stored.name.clone());
        errors.check_name("name", &name);
        let description = changes
            .description
            .unwrap_or_else(|| stored.description.clone());
        errors.check_description("description", description.as_deref());
        let url = match &changes.url {
            Some(raw) => {
                self.checked_upstream_url(actor, format, raw, &mut errors)
                    .await?
            }
            None => Some(stored.url.clone()),
        };
        let url_changed = url.as_ref().is_some_and(|u| *u != stored.url);
        let sent_both = changes.username.is_some() && changes.password.is_some();
        let mut username = match changes.username {
            Some(sent) => blank_to_none(Some(sent)),
            None => stored.username.clone(),
        };
        let mut password = match changes.password {
            Some(sent) => blank_to_none(Some(sent)),
            None => stored_password.clone(),
        };
        if username.is_some() && password.is_none() && username == stored.username {
            password = stored_password.clone();
        }
        check_credentials(&mut errors, &username, &password);
        if url_changed && !sent_both {
            username = None;
            password = None;
        }
        if url.as_deref().and_then(local_upstream_group).is_some() {
            check_local_credentials(&mut errors, &username, &password);
        }
        let cache_validity_hours = changes
            .cache_validity_hours
            .unwrap_or_else(|| i64::from(stored.cache_validity_hours));
        check_cache_validity(&mut errors, cache_validity_hours);
        let metadata_cache_validity_hours = if format.has_metadata() {
            let hours = changes
                .metadata_cache_validity_hours
                .unwrap_or_else(|| i64::from(stored.metadata_cache_validity_hours.unwrap_or(24)));
            check_metadata_validity(&mut errors, hours);
            Some(hours)
        } else {
            None
        };
        errors.into_result()?;
        let credentials_changed = username != stored.username || password != stored_password;
        let password_encrypted = if password == stored_password {
            stored.password_encrypted.clone()
        } else {
            password
                .as_deref()
                .map(|p| self.secret.encrypt(p))
                .transpose()?
        };
        let new = NewUpstream {
            group_id: stored.group_id,
            format: stored.format.clone(),
            name,
            description,
            url: url.unwrap_or_default(),
            username,
            password_encrypted,
            cache_validity_hours: i32::try_from(cache_validity_hours).unwrap_or(i32::MAX),
            metadata_cache_validity_hours: metadata_cache_validity_hours
                .map(|h| i32::try_from(h).unwrap_or(i32::MAX)),
            created_at: stored.created_at,
            updated_at: self.now(),
        };
        let secret = self.secret.clone();
        self.db
            .transaction(move |conn| {
                if url_changed || credentials_changed {
                    match same_url_and_credentials(conn, &secret, &new, &password, Some(id.0))? {
                        Ok(true) => {
                            return Ok(Err(FieldErrors::single(
                                "group",
                                same_credentials_message(format),
                            )
                            .into()));
                        }
                        Ok(false) => {}
                        Err(e) => return Ok(Err(e)),
                    }
                }
                rq::update_upstream(conn, id.0, &new).map(Ok)
            })
            .await?
    }

    /// Deletes an upstream with its associations (re-packing each registry's positions) and its cache.
    pub async fn delete_upstream(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
    ) -> CoreResult<()> {
        self.managed_upstream(actor, format, id, Need::Write)
            .await?;
        let now = self.now();
        self.db
            .transaction(move |conn| {
                rq::delete_upstream(conn, id.0)?;
                wake(conn, JobKind::CollectBlobs, now, now)
            })
            .await?;
        self.wake_job_workers();
        Ok(())
    }

    /// Hides every cache entry of an upstream; a job removes them.
    pub async fn purge_upstream_cache(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
    ) -> CoreResult<()> {
        self.managed_upstream(actor, format, id, Need::Write)
            .await?;
        let now = self.now();
        self.db
            .transaction(move |conn| {
                cq::mark_upstream_entries_for_destruction(conn, &[id.0], now)?;
                wake(conn, JobKind::DestroyCacheEntries, now, now)
            })
            .await?;
        self.wake_job_workers();
        Ok(())
    }

    /// Links an existing upstream of the registry's group at the registry's last position.
    pub async fn associate_upstream(
        &self,
        actor: &Actor,
        format: Format,
        registry_id: RegistryId,
        upstream_id: UpstreamId,
    ) -> CoreResult<RegistryUpstream> {
        let registry = self
            .managed_registry(actor, format, registry_id, Need::Write)
            .await?;
        let upstream = self
            .db
            .run(move |conn| rq::find_upstream(conn, upstream_id.0, format.as_str()))
            .await?
            .filter(|u| u.group_id == registry.group_id)
            .ok_or_else(|| CoreError::not_found("Upstream"))?;
        let max = format.max_upstreams_per_registry();
        let group_id = registry.group_id;
        let created = self
            .db
            .transaction(move |conn| {
                let mut errors = FieldErrors::new();
                let linked = rq::list_registry_associations(conn, registry_id.0)?;
                if linked.iter().any(|a| a.upstream_id == upstream.id) {
                    errors.add("upstream_id", "has already been taken");
                }
                let position = linked.iter().map(|a| a.position).max().unwrap_or(0) + 1;
                if i64::from(position) > max {
                    errors.add("position", format!("must be less than or equal to {max}"));
                }
                if !errors.is_empty() {
                    return Ok(Err(errors));
                }
                rq::insert_association(conn, group_id, registry_id.0, upstream.id, position).map(Ok)
            })
            .await?;
        Ok(created?)
    }

    /// Moves an association to `position` (1..=20, capped at the registry's last position), shifting the
    /// others so positions stay contiguous.
    pub async fn move_association(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryUpstreamId,
        position: i64,
    ) -> CoreResult<RegistryUpstream> {
        self.managed_association(actor, format, id, Need::Write)
            .await?;
        if !(1..=MAX_POSITION_PARAMETER).contains(&position) {
            return Err(CoreError::BadParameter(
                "position does not have a valid value".into(),
            ));
        }
        let target = i32::try_from(position).unwrap_or(i32::MAX);
        self.db
            .transaction(move |conn| rq::move_association(conn, id.0, target))
            .await?
            .ok_or_else(not_found)
    }

    /// Unlinks an upstream from a registry and closes the gap; the upstream itself stays.
    pub async fn dissociate_upstream(
        &self,
        actor: &Actor,
        format: Format,
        id: RegistryUpstreamId,
    ) -> CoreResult<()> {
        self.managed_association(actor, format, id, Need::Write)
            .await?;
        let deleted = self
            .db
            .transaction(move |conn| rq::delete_association(conn, id.0))
            .await?;
        if deleted { Ok(()) } else { Err(not_found()) }
    }

    /// One page of an upstream's live cache entries, newest first, optionally filtered by path.
    pub async fn list_cache_entries(
        &self,
        actor: &Actor,
        format: Format,
        id: UpstreamId,
        search: Option<String>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Page<CacheEntry>> {
        self.managed_upstream(actor, format, id, Need::Read).await?;
        let search = search.filter(|s| !s.is_empty());
        self.flush_before_read().await;
        Ok(self
            .db
            .run(move |conn| cq::list_entries(conn, id.0, search.as_deref(), offset, limit))
            .await?)
    }

    /// Deletes a cache entry by its opaque id: hidden at once, removed in the background.
    pub async fn delete_cache_entry(
        &self,
        actor: &Actor,
        format: Format,
        id: &str,
    ) -> CoreResult<()> {
        let id = CacheEntryId::decode(id).ok_or_else(not_found)?;
        let upstream = self.load_upstream(format, id.upstream_id).await?;
        let (upstream_id, path) = (upstream.id, id.relative_path.clone());
        let exists = self
            .db
            .run(move |conn| cq::find_entry(conn, upstream_id, &path))
            .await?
            .is_some();
        if !exists {
            return Err(not_found());
        }
        self.authorize_record(actor, upstream.group_id, Need::Write)
            .await?;
        let path = id.relative_path;
        let now = self.now();
        let marked = self
            .db
            .transaction(move |conn| {
                let marked = cq::mark_entry_for_destruction(conn, upstream_id, &path, now)?;
                if marked {
                    wake(conn, JobKind::DestroyCacheEntries, now, now)?;
                }
                Ok(marked)
            })
            .await?;
        if !marked {
            return Err(not_found());
        }
        self.wake_job_workers();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow_local_network: bool, allowlist: &[&str]) -> AddressPolicy {
        AddressPolicy {
            allow_local_network,
            allowlist: packyard_upstream::Allowlist::parse(allowlist).unwrap(),
        }
    }

    async fn refused(raw: &str) -> String {
        validate_upstream_url(raw, &policy(false, &[]))
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn refuses_local_addresses_unless_allowed() {
        assert_eq!(
            refused("http://127.0.0.1:8080/maven").await,
            "is blocked: Requests to localhost are not allowed"
        );
        assert_eq!(
            refused("http://[::1]/").await,
            "is blocked: Requests to localhost are not allowed"
        );
        assert_eq!(
            refused("http://0.0.0.0/").await,
            "is blocked: Requests to localhost are not allowed"
        );
        for localhost in [
            "http://localhost:8081/",
            "http://localhost./",
            "http://LOCALHOST../",
            "http://registry.localhost./",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
        ] {
            assert_eq!(
                refused(localhost).await,
                "is blocked: Requests to localhost are not allowed",
                "{localhost}"
            );
        }
        assert_eq!(
            refused("http://[64:ff9b::a9fe:a9fe]/").await,
            "is blocked: Requests to the link local network are not allowed"
        );
        assert_eq!(
            refused("http://169.254.169.254/latest/meta-data").await,
            "is blocked: Requests to the link local network are not allowed"
        );
        for private in [
            "http://10.0.0.1/",
            "http://192.168.1.10/",
            "http://172.16.5.4/",
            "http://[fd00::1]/",
        ] {
            assert_eq!(
                refused(private).await,
                "is blocked: Requests to the local network are not allowed",
                "{private}"
            );
        }
        assert_eq!(
            refused("http://[::ffff:10.0.0.1]/").await,
            "is blocked: Requests to the local network are not allowed"
        );
        for raw in [
            "http://127.0.0.1:8080/maven",
            "http://169.254.169.254/",
            "http://localhost/",
        ] {
            assert!(
                validate_upstream_url(raw, &policy(true, &[])).await.is_ok(),
                "{raw}"
            );
        }
    }

    #[tokio::test]
    async fn normalises_and_accepts_public_and_unresolvable_hosts() {
        let url = validate_upstream_url(
            " HTTPS://Repo.Example.COM:443/maven2.git/ ",
            &policy(false, &[]),
        )
        .await
        .unwrap();
        assert_eq!(stored_url(&url), "https://repo.example.com/maven2");
        assert!(
            validate_upstream_url("https://93.184.216.34/maven2", &policy(false, &[]))
                .await
                .is_ok()
        );
        assert!(
            validate_upstream_url("https://no-such-host.invalid/maven2", &policy(false, &[]))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_allowlist_admits_listed_private_upstreams_only() {
        let listed = policy(false, &["10.20.0.0/16", "nexus.corp.example", "localhost"]);
        for raw in [
            "http://10.20.1.2/maven",
            "https://nexus.corp.example/repository/maven",
            "http://localhost:8081/",
        ] {
            assert!(validate_upstream_url(raw, &listed).await.is_ok(), "{raw}");
        }
        assert_eq!(
            validate_upstream_url("http://10.30.1.2/maven", &listed)
                .await
                .unwrap_err(),
            "is blocked: Requests to the local network are not allowed"
        );
        assert_eq!(
            validate_upstream_url("http://169.254.169.254/", &listed)
                .await
                .unwrap_err(),
            "is blocked: Requests to the link local network are not allowed"
        );
    }

    #[tokio::test]
    async fn refuses_other_schemes_and_junk() {
        assert_eq!(
            refused("ftp://example.com/").await,
            "is blocked: Only allowed schemes are http, https"
        );
        assert_eq!(refused("not a url").await, "is blocked: URI is invalid");
        assert_eq!(refused("   ").await, "can't be blank");
        let long = format!("https://example.com/{}", "a".repeat(300));
        assert_eq!(
            refused(&long).await,
            "is too long (maximum is 255 characters)"
        );
    }

    #[test]
    fn credentials_are_both_or_neither() {
        assert!(both_or_neither(&None, &None).is_ok());
        assert!(both_or_neither(&Some("u".into()), &Some("p".into())).is_ok());
        let error = both_or_neither(&Some("u".into()), &None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "username, password provide all or none of parameters"
        );
        let mut errors = FieldErrors::new();
        check_credentials(&mut errors, &Some("u".into()), &None);
        check_credentials(&mut errors, &None, &Some("p".into()));
        check_credentials(&mut errors, &Some("u".repeat(511)), &Some("p".into()));
        assert_eq!(errors.0["password"], vec!["can't be blank"]);
        assert_eq!(
            errors.0["username"],
            vec!["can't be blank", "is too long (maximum is 510 characters)"]
        );
    }

    #[test]
    fn validity_hours_follow_gitlab() {
        let mut errors = FieldErrors::new();
        check_cache_validity(&mut errors, 0);
        check_metadata_validity(&mut errors, 1);
        assert!(errors.is_empty());
        check_cache_validity(&mut errors, -1);
        check_metadata_validity(&mut errors, 0);
        assert_eq!(
            errors.0["cache_validity_hours"],
            vec!["must be greater than or equal to 0"]
        );
        assert_eq!(
            errors.0["metadata_cache_validity_hours"],
            vec!["must be greater than 0"]
        );
    }

    #[test]
    fn upstream_urls_per_format() {
        assert_eq!(
            request_url(
                Format::Maven.as_str(),
                "https://repo.example.com/maven2",
                MAVEN_TEST_PATH
            )
            .unwrap()
            .as_str(),
            "https://repo.example.com/maven2/com/company/app/maven-metadata.xml"
        );
        for base in [
            "https://registry-1.docker.io",
            "https://registry-1.docker.io/v2/",
        ] {
            assert_eq!(
                request_url(
                    Format::Container.as_str(),
                    base,
                    "library/alpine/manifests/latest"
                )
                .unwrap()
                .as_str(),
                "https://registry-1.docker.io/v2/library/alpine/manifests/latest"
            );
        }
        // npm: scoped packuments with an encoded slash; PyPI: project pages end with one.
        let npm = |path| {
            request_url(Format::Npm.as_str(), "https://registry.npmjs.org/", path)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            npm("@types/node"),
            "https://registry.npmjs.org/@types%2fnode"
        );
        assert_eq!(npm("left-pad"), "https://registry.npmjs.org/left-pad");
        assert_eq!(npm(NPM_TEST_PATH), "https://registry.npmjs.org/-/ping");
        let pypi = |path| {
            request_url(Format::Pypi.as_str(), "https://pypi.org/simple", path)
                .unwrap()
                .to_string()
        };
        assert_eq!(pypi("demo-pkg"), "https://pypi.org/simple/demo-pkg/");
        assert_eq!(pypi(""), "https://pypi.org/simple/");
    }
}
