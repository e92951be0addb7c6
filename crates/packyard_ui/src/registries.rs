//! A virtual registry: its URL and client configuration, its upstreams in order, and its cache.

use actix_web::{HttpRequest, web};
use askama::Template;
use packyard_core::identity::Need;
use packyard_core::registries::{TestTarget, UpstreamChanges, UpstreamInput};
use packyard_core::rows::{CacheEntry, Group, Registry, RegistryUpstream, Upstream};
use packyard_core::{Core, CoreError};
use packyard_domain::{CacheEntryId, Format, RegistryId, RegistryUpstreamId, UpstreamId};
use serde::Deserialize;

use crate::error::UiError;
use crate::groups::format_label;
use crate::pages::{
    Layout, Page, base_url, human_size, may, query_escape, render, see_other, when,
};
use crate::session::{Post, Session};

/// The group's upstreams offered for linking, at most.
const LINKABLE_SHOWN: i64 = 100;

/// Cache entries per page.
pub const ENTRIES_PER_PAGE: i64 = 50;

fn format_of(text: &str) -> Result<Format, UiError> {
    Format::parse(text).ok_or_else(|| CoreError::not_found("").into())
}

struct UpstreamRow {
    upstream: Upstream,
    link: RegistryUpstream,
    /// Artifact validity for people.
    validity: String,
    /// Metadata validity for people, where the format has metadata documents.
    metadata_validity: Option<String>,
    has_credentials: bool,
}

struct EntryRow {
    id: String,
    path: String,
    size: String,
    upstream: String,
    downloads: i64,
    last_download: String,
    checked: String,
    stale: bool,
}

struct ClientConfig {
    title: &'static str,
    text: String,
}

#[derive(Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    layout: Layout,
    group: Group,
    registry: Registry,
    format: &'static str,
    has_metadata: bool,
    url: String,
    configs: Vec<ClientConfig>,
    upstreams: Vec<UpstreamRow>,
    /// The group's upstreams of this format that this registry does not use yet (Maintainers).
    linkable: Vec<Upstream>,
    can_write: bool,
    selected: Option<i64>,
    search: String,
    entries: Vec<EntryRow>,
    total: i64,
    page: i64,
    pages: i64,
    previous: Option<String>,
    next: Option<String>,
    notice: Option<String>,
    notice_ok: bool,
}

#[derive(Deserialize, Default)]
pub(crate) struct RegistryQuery {
    #[serde(default)]
    upstream: Option<i64>,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

fn hours(hours: i32, never: &str) -> String {
    match hours {
        0 => never.to_owned(),
        1 => "1 hour".to_owned(),
        n => format!("{n} hours"),
    }
}

/// How long a cached path stays fresh, in hours (0: never stale): metadata documents (Maven's
/// maven-metadata.xml, npm packuments, PyPI project pages) on the metadata validity, npm tarballs and PyPI
/// files never, everything else on the cache validity. The same split as the formats' pull requests.
fn validity_hours(format: Format, upstream: &Upstream, path: &str) -> i32 {
    let metadata = || upstream.metadata_cache_validity_hours.unwrap_or(24);
    match format {
        Format::Maven
            if path.ends_with("maven-metadata.xml") || path.contains("maven-metadata.xml.") =>
        {
            metadata()
        }
        Format::Maven | Format::Container => upstream.cache_validity_hours,
        Format::Npm if path.contains("/-/") => 0,
        Format::Pypi if path.contains('/') => 0,
        Format::Npm | Format::Pypi => metadata(),
    }
}

fn client_configs(format: Format, url: &str, host: &str, id: i64) -> Vec<ClientConfig> {
    match format {
        Format::Maven => vec![
            ClientConfig {
                title: "~/.m2/settings.xml",
                text: format!(
                    "<settings>\n  <mirrors>\n    <mirror>\n      <id>packyard</id>\n      \
                     <mirrorOf>*</mirrorOf>\n      <url>{url}</url>\n    </mirror>\n  </mirrors>\n  \
                     <servers>\n    <server>\n      <id>packyard</id>\n      <configuration>\n        \
                     <httpHeaders>\n          <property>\n            <name>Private-Token</name>\n            \
                     <value>YOUR_TOKEN</value>\n          </property>\n        </httpHeaders>\n      \
                     </configuration>\n    </server>\n  </servers>\n</settings>"
                ),
            },
            ClientConfig {
                title: "Gradle (settings.gradle.kts)",
                text: format!(
                    "dependencyResolutionManagement {{\n    repositories {{\n        maven {{\n            \
                     url = uri(\"{url}\")\n            credentials(HttpHeaderCredentials::class) {{\n                \
                     name = \"Private-Token\"\n                value = providers.gradleProperty(\"packyardToken\").get()\n            \
                     }}\n            authentication {{ create<HttpHeaderAuthentication>(\"header\") }}\n        \
                     }}\n    }}\n}}"
                ),
            },
        ],
        Format::Container => vec![
            ClientConfig {
                title: "docker login",
                text: format!(
                    "echo \"$PACKYARD_TOKEN\" | docker login {host} --username \"$PACKYARD_USER\" --password-stdin"
                ),
            },
            ClientConfig {
                title: "docker pull",
                text: format!(
                    "docker pull {host}/virtual_registries/container/{id}/library/alpine:3.20"
                ),
            },
        ],
        // The registry URL without its scheme keys npm's credential, final `/` included.
        Format::Npm => vec![ClientConfig {
            title: "~/.npmrc",
            text: format!(
                "registry={url}\n//{}:_authToken=${{PACKYARD_NPM_TOKEN}}",
                url.split_once("://").map_or(url, |(_, rest)| rest)
            ),
        }],
        Format::Pypi => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
            vec![
                ClientConfig {
                    title: "pip.conf",
                    text: format!(
                        "[global]\nindex-url = {scheme}://__token__:${{PACKYARD_TOKEN}}@{rest}"
                    ),
                },
                ClientConfig {
                    title: "pip install",
                    text: format!(
                        "pip install --index-url \"{scheme}://__token__:${{PACKYARD_TOKEN}}@{rest}\" PROJECT"
                    ),
                },
            ]
        }
    }
}

/// A registry the person may read, with its group.
async fn load(
    core: &Core,
    session: &Session,
    format: &str,
    id: i64,
) -> Result<(Format, Registry, Vec<(Upstream, RegistryUpstream)>, Group), UiError> {
    let format = format_of(format)?;
    let (registry, _) = core
        .find_registry_with_associations(&session.actor, format, RegistryId(id))
        .await?;
    let upstreams = core
        .list_registry_upstreams(&session.actor, format, RegistryId(id))
        .await?;
    let group = core.find_group(&registry.group_id.to_string()).await?;
    Ok((format, registry, upstreams, group))
}

async fn page(
    req: &HttpRequest,
    core: &Core,
    session: Session,
    (format_name, id): (String, i64),
    query: RegistryQuery,
    notice: Option<(String, bool)>,
) -> Page {
    let (format, registry, linked, group) = load(core, &session, &format_name, id).await?;
    let can_write = may(core, &session.actor, &group, Need::Write).await?;
    let selected = query
        .upstream
        .filter(|u| linked.iter().any(|(up, _)| up.id == *u))
        .or_else(|| linked.first().map(|(up, _)| up.id));
    let page = query.page.unwrap_or(1).max(1);
    let search = query.q.trim().to_owned();
    let (entries, total) = match selected {
        Some(upstream_id) => {
            let listed = core
                .list_cache_entries(
                    &session.actor,
                    format,
                    UpstreamId(upstream_id),
                    Some(search.clone()),
                    (page - 1) * ENTRIES_PER_PAGE,
                    ENTRIES_PER_PAGE,
                )
                .await?;
            let upstream = linked.iter().find(|(u, _)| u.id == upstream_id);
            let now = core.now();
            let rows = listed
                .items
                .into_iter()
                .map(|entry| entry_row(format, upstream.map(|(u, _)| u), entry, now))
                .collect();
            (rows, listed.total)
        }
        None => (Vec::new(), 0),
    };
    let pages = ((total + ENTRIES_PER_PAGE - 1) / ENTRIES_PER_PAGE).max(1);
    let link_to = |to: i64| {
        format!(
            "{}/registries/{}/{}?upstream={}&q={}&page={to}",
            crate::PREFIX,
            format.as_str(),
            registry.id,
            selected.unwrap_or_default(),
            query_escape(&search)
        )
    };
    let base = base_url(req, core);
    let host = base
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(&base)
        .to_owned();
    let url = match format {
        Format::Maven => format!(
            "{base}/api/v4/virtual_registries/packages/maven/{}",
            registry.id
        ),
        Format::Container => format!("{host}/virtual_registries/container/{}", registry.id),
        Format::Npm => format!(
            "{base}/api/v4/virtual_registries/packages/npm/{}/",
            registry.id
        ),
        Format::Pypi => format!(
            "{base}/api/v4/virtual_registries/packages/pypi/{}/simple/",
            registry.id
        ),
    };
    let upstreams: Vec<UpstreamRow> = linked
        .into_iter()
        .map(|(upstream, link)| UpstreamRow {
            validity: hours(upstream.cache_validity_hours, "never stale"),
            metadata_validity: format.has_metadata().then(|| {
                hours(
                    upstream.metadata_cache_validity_hours.unwrap_or(24),
                    "never stale",
                )
            }),
            has_credentials: upstream.username.is_some(),
            upstream,
            link,
        })
        .collect();
    let linkable: Vec<Upstream> = if can_write {
        core.list_group_upstreams(
            &session.actor,
            format,
            &group.id.to_string(),
            None,
            0,
            LINKABLE_SHOWN,
        )
        .await?
        .items
        .into_iter()
        .filter(|u| {
            !upstreams
                .iter()
                .any(|row: &UpstreamRow| row.upstream.id == u.id)
        })
        .collect()
    } else {
        Vec::new()
    };
    let (previous, next) = (
        (page > 1).then(|| link_to(page - 1)),
        (page < pages).then(|| link_to(page + 1)),
    );
    render(&RegistryPage {
        layout: Layout::new(
            &session,
            format!("{} registry {}", format_label(format), registry.name),
        ),
        configs: client_configs(format, &url, &host, registry.id),
        url,
        format: format.as_str(),
        has_metadata: format.has_metadata(),
        group,
        upstreams,
        linkable,
        can_write,
        selected,
        search,
        entries,
        total,
        previous,
        next,
        page,
        pages,
        registry,
        notice_ok: notice.as_ref().is_some_and(|(_, ok)| *ok),
        notice: notice.map(|(text, _)| text),
    })
}

fn entry_row(
    format: Format,
    upstream: Option<&Upstream>,
    entry: CacheEntry,
    now: chrono::NaiveDateTime,
) -> EntryRow {
    let validity = upstream.map(|u| validity_hours(format, u, &entry.relative_path));
    let stale = validity.is_some_and(|hours| {
        hours > 0 && entry.upstream_checked_at + chrono::Duration::hours(i64::from(hours)) <= now
    });
    EntryRow {
        id: CacheEntryId {
            upstream_id: UpstreamId(entry.upstream_id),
            relative_path: entry.relative_path.clone(),
        }
        .encode(),
        size: human_size(entry.size),
        upstream: upstream.map(|u| u.name.clone()).unwrap_or_default(),
        downloads: entry.downloads_count,
        last_download: when(entry.downloaded_at),
        checked: when(Some(entry.upstream_checked_at)),
        stale,
        path: entry.relative_path,
    }
}

/// A registry page: client configuration, upstreams, and a page of the selected upstream's cache.
pub async fn show(
    req: HttpRequest,
    session: Session,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
    query: web::Query<RegistryQuery>,
) -> Page {
    page(
        &req,
        &core,
        session,
        path.into_inner(),
        query.into_inner(),
        None,
    )
    .await
}

fn back(format: &str, id: i64) -> String {
    format!("/registries/{format}/{id}")
}

fn text(value: String) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

fn number(field: &str, value: &str) -> Result<Option<i64>, UiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| UiError::BadForm(format!("{field} must be a whole number of hours")))
}

#[derive(Deserialize)]
pub(crate) struct UpstreamForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    cache_validity_hours: String,
    #[serde(default)]
    metadata_cache_validity_hours: String,
}

/// Creates an upstream in the registry's group and links it last.
pub async fn add_upstream(
    post: Post<UpstreamForm>,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
) -> Page {
    let Post { session, form } = post;
    let (format_name, id) = path.into_inner();
    let format = format_of(&format_name)?;
    let input = UpstreamInput {
        url: form.url.trim().to_owned(),
        name: text(form.name),
        description: text(form.description),
        username: text(form.username),
        password: text(form.password),
        cache_validity_hours: number("cache validity", &form.cache_validity_hours)?,
        metadata_cache_validity_hours: number(
            "metadata validity",
            &form.metadata_cache_validity_hours,
        )?,
    };
    core.create_upstream(&session.actor, format, RegistryId(id), input)
        .await?;
    Ok(see_other(&back(&format_name, id)))
}

/// Changes an upstream; a blank password keeps the stored one.
pub async fn edit_upstream(
    post: Post<UpstreamForm>,
    core: web::Data<Core>,
    path: web::Path<(String, i64, i64)>,
) -> Page {
    let Post { session, form } = post;
    let (format_name, id, upstream) = path.into_inner();
    let format = format_of(&format_name)?;
    let username = text(form.username);
    let password = text(form.password);
    let changes = UpstreamChanges {
        name: text(form.name),
        description: Some(text(form.description)),
        url: text(form.url),
        // A username alone keeps the stored password; no username clears both.
        password: if username.is_none() {
            Some(String::new())
        } else {
            password
        },
        username: Some(username.unwrap_or_default()),
        cache_validity_hours: number("cache validity", &form.cache_validity_hours)?,
        metadata_cache_validity_hours: number(
            "metadata validity",
            &form.metadata_cache_validity_hours,
        )?,
    };
    core.update_upstream(&session.actor, format, UpstreamId(upstream), changes)
        .await?;
    Ok(see_other(&back(&format_name, id)))
}

#[derive(Deserialize)]
pub(crate) struct PositionForm {
    position: i64,
}

/// Moves an upstream to another position in this registry.
pub async fn move_upstream(
    post: Post<PositionForm>,
    core: web::Data<Core>,
    path: web::Path<(String, i64, i64)>,
) -> Page {
    let Post { session, form } = post;
    let (format_name, id, link) = path.into_inner();
    let format = format_of(&format_name)?;
    own_link(&core, &session, format, id, link).await?;
    core.move_association(
        &session.actor,
        format,
        RegistryUpstreamId(link),
        form.position,
    )
    .await?;
    Ok(see_other(&back(&format_name, id)))
}

/// Unlinks an upstream from this registry only: other registries that use it keep it, and so does the
/// group.
pub async fn remove_upstream(
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<(String, i64, i64)>,
) -> Page {
    let Post { session, .. } = post;
    let (format_name, id, link) = path.into_inner();
    let format = format_of(&format_name)?;
    own_link(&core, &session, format, id, link).await?;
    core.dissociate_upstream(&session.actor, format, RegistryUpstreamId(link))
        .await?;
    Ok(see_other(&back(&format_name, id)))
}

/// The link must belong to the registry of the URL: a form of one registry never changes another.
async fn own_link(
    core: &Core,
    session: &Session,
    format: Format,
    id: i64,
    link: i64,
) -> Result<(), UiError> {
    let (_, links) = core
        .find_registry_with_associations(&session.actor, format, RegistryId(id))
        .await?;
    if links.iter().any(|l| l.id == link) {
        Ok(())
    } else {
        Err(CoreError::not_found("").into())
    }
}

/// Tests an upstream's connection as saved, and shows the result on the registry's page.
pub async fn test_upstream(
    req: HttpRequest,
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<(String, i64, i64)>,
) -> Page {
    let Post { session, .. } = post;
    let (format_name, id, upstream) = path.into_inner();
    let format = format_of(&format_name)?;
    let result = core
        .test_upstream(
            &session.actor,
            format,
            UpstreamId(upstream),
            TestTarget::default(),
        )
        .await?;
    let notice = if result.success {
        ("Connection test succeeded.".to_owned(), true)
    } else {
        (
            format!(
                "Connection test failed: {}",
                result.result.unwrap_or_else(|| "no answer".to_owned())
            ),
            false,
        )
    };
    let query = RegistryQuery {
        upstream: Some(upstream),
        ..RegistryQuery::default()
    };
    page(&req, &core, session, (format_name, id), query, Some(notice)).await
}

/// Purges the cache of the registry's upstreams that no other registry uses.
pub async fn purge(
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
) -> Page {
    let Post { session, .. } = post;
    let (format_name, id) = path.into_inner();
    let format = format_of(&format_name)?;
    core.purge_registry_cache(&session.actor, format, RegistryId(id))
        .await?;
    Ok(see_other(&back(&format_name, id)))
}

/// Deletes the registry and goes back to its group.
pub async fn delete(
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
) -> Page {
    let Post { session, .. } = post;
    let (format_name, id) = path.into_inner();
    let format = format_of(&format_name)?;
    let (registry, _) = core
        .find_registry_with_associations(&session.actor, format, RegistryId(id))
        .await?;
    core.delete_registry(&session.actor, format, RegistryId(id))
        .await?;
    Ok(see_other(&format!("/groups/{}", registry.group_id)))
}

#[derive(Deserialize)]
pub(crate) struct EntryForm {
    entry: String,
}

/// Deletes one cache entry of one of the registry's upstreams.
pub async fn delete_entry(
    post: Post<EntryForm>,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
) -> Page {
    let Post { session, form } = post;
    let (format_name, id) = path.into_inner();
    let format = format_of(&format_name)?;
    let entry = CacheEntryId::decode(&form.entry).ok_or_else(|| CoreError::not_found(""))?;
    let (_, links) = core
        .find_registry_with_associations(&session.actor, format, RegistryId(id))
        .await?;
    if !links.iter().any(|l| l.upstream_id == entry.upstream_id.0) {
        return Err(CoreError::not_found("").into());
    }
    core.delete_cache_entry(&session.actor, format, &form.entry)
        .await?;
    Ok(see_other(&format!(
        "{}?upstream={}",
        back(&format_name, id),
        entry.upstream_id.0
    )))
}

#[derive(Deserialize)]
pub(crate) struct LinkForm {
    upstream: i64,
}

/// Links an upstream the group already has (another registry's, say) at this registry's last position.
pub async fn link_upstream(
    post: Post<LinkForm>,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
) -> Page {
    let Post { session, form } = post;
    let (format_name, id) = path.into_inner();
    let format = format_of(&format_name)?;
    core.associate_upstream(
        &session.actor,
        format,
        RegistryId(id),
        UpstreamId(form.upstream),
    )
    .await?;
    Ok(see_other(&back(&format_name, id)))
}
