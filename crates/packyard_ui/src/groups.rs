//! Groups: the list a person can see, a group's registries and hosted packages, its cleanup policy.

use actix_web::{HttpRequest, web};
use askama::Template;
use packyard_core::cleanup::{CADENCES, CleanupPolicyChanges, DEFAULT_CADENCE};
use packyard_core::identity::Need;
use packyard_core::registries::RegistryInput;
use packyard_core::rows::{CleanupPolicy, Group, Package, Registry};
use packyard_core::{Core, CoreError};
use packyard_domain::{Format, PackageType};
use serde::Deserialize;

use crate::error::UiError;
use crate::pages::{Layout, Page, base_url, may, query_escape, render, see_other, when};
use crate::session::{Post, Session};

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    layout: Layout,
    groups: Vec<Group>,
}

/// The groups the person can see.
pub async fn list(session: Session, core: web::Data<Core>) -> Page {
    let groups = core.list_groups(&session.actor).await?;
    render(&GroupsPage {
        layout: Layout::new(&session, "Groups"),
        groups,
    })
}

/// A group named in a URL by id, if the person may read it; outsiders get 404, as from the API.
pub(crate) async fn visible_group(
    core: &Core,
    session: &Session,
    id: &str,
) -> Result<Group, UiError> {
    if id.parse::<i64>().is_err() {
        return Err(CoreError::not_found("Group").into());
    }
    Ok(core.find_visible_group(&session.actor, id).await?)
}

/// Packages a page of a group lists.
const PACKAGES_PER_PAGE: usize = 100;

#[derive(Deserialize, Default)]
pub(crate) struct GroupQuery {
    /// Package names containing this, any case.
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<usize>,
}

struct FormatRegistries {
    label: &'static str,
    format: &'static str,
    registries: Vec<Registry>,
}

struct PackageRow {
    package: Package,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    layout: Layout,
    group: Group,
    top_level: bool,
    can_write: bool,
    can_own: bool,
    formats: Vec<FormatRegistries>,
    /// A page of the packages the search finds, when the person may read them.
    packages: Option<Vec<PackageRow>>,
    /// How many packages the search finds.
    total: usize,
    search: String,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
    repository: String,
    host: String,
}

/// A format's name for people.
pub(crate) fn format_label(format: Format) -> &'static str {
    match format {
        Format::Maven => "Maven",
        Format::Container => "Container",
        Format::Npm => "npm",
        Format::Pypi => "PyPI",
    }
}

/// A group: its virtual registries of every format and its hosted packages, with the forms its role
/// allows.
pub async fn show(
    req: HttpRequest,
    session: Session,
    core: web::Data<Core>,
    path: web::Path<String>,
    query: web::Query<GroupQuery>,
) -> Page {
    let group = visible_group(&core, &session, &path).await?;
    let query = query.into_inner();
    let top_level = group.parent_id.is_none();
    let can_write = may(&core, &session.actor, &group, Need::Write).await?;
    let can_own = top_level && may(&core, &session.actor, &group, Need::Own).await?;
    let mut formats = Vec::new();
    if top_level {
        for format in Format::ALL {
            let registries = core
                .list_registries(&session.actor, format, &group.id.to_string())
                .await?;
            formats.push(FormatRegistries {
                label: format_label(format),
                format: format.as_str(),
                registries,
            });
        }
    }
    let search = query.q.trim().to_owned();
    let needle = search.to_lowercase();
    let packages = if top_level && may(&core, &session.actor, &group, Need::Install).await? {
        let mut rows = Vec::new();
        for kind in PackageType::ALL {
            for package in core.list_company_packages(&group, kind).await? {
                if package.name.to_lowercase().contains(&needle) {
                    rows.push(PackageRow {
                        package,
                        kind: kind.as_str(),
                    });
                }
            }
        }
        Some(rows)
    } else {
        None
    };
    // A group page stays small whatever the group holds: a page of packages at a time.
    let total = packages.as_ref().map_or(0, Vec::len);
    let pages = total.div_ceil(PACKAGES_PER_PAGE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let packages = packages.map(|rows| {
        rows.into_iter()
            .skip((page - 1) * PACKAGES_PER_PAGE)
            .take(PACKAGES_PER_PAGE)
            .collect::<Vec<_>>()
    });
    let link_to = |to: usize| {
        format!(
            "{}/groups/{}?q={}&page={to}#hosted",
            crate::PREFIX,
            group.id,
            query_escape(&search)
        )
    };
    let previous = (page > 1).then(|| link_to(page - 1));
    let next = (page < pages).then(|| link_to(page + 1));
    let base = base_url(&req, &core);
    let host = base
        .split_once("://")
        .map(|(_, host)| host.to_owned())
        .unwrap_or_else(|| base.clone());
    render(&GroupPage {
        layout: Layout::new(&session, group.name.clone()),
        repository: format!("{base}/company/{}/package/-", group.full_path),
        host,
        group,
        top_level,
        can_write,
        can_own,
        formats,
        packages,
        total,
        search,
        page,
        pages,
        previous,
        next,
    })
}

#[derive(Deserialize)]
pub(crate) struct NewRegistry {
    format: String,
    name: String,
    #[serde(default)]
    description: String,
}

/// Creates a virtual registry and opens it.
pub async fn create_registry(
    post: Post<NewRegistry>,
    core: web::Data<Core>,
    path: web::Path<String>,
) -> Page {
    let Post { session, form } = post;
    let group = visible_group(&core, &session, &path).await?;
    let format = Format::parse(&form.format)
        .ok_or_else(|| UiError::BadForm(format!("unknown format {:?}", form.format)))?;
    let description = Some(form.description.trim().to_owned()).filter(|d| !d.is_empty());
    let registry = core
        .create_registry(
            &session.actor,
            format,
            &group.id.to_string(),
            RegistryInput {
                name: form.name.trim().to_owned(),
                description,
            },
        )
        .await?;
    Ok(see_other(&format!(
        "/registries/{}/{}",
        format.as_str(),
        registry.id
    )))
}

#[derive(Template)]
#[template(path = "cleanup.html")]
struct CleanupPage {
    layout: Layout,
    group: Group,
    policy: Option<CleanupPolicy>,
    /// Each cadence, and whether it is the policy's.
    cadences: Vec<(i64, bool)>,
    last_run: String,
    next_run: String,
}

/// A group's cleanup policy (Owners): settings, last run and its statistics.
pub async fn cleanup(session: Session, core: web::Data<Core>, path: web::Path<String>) -> Page {
    let group = visible_group(&core, &session, &path).await?;
    let policy = match core
        .find_cleanup_policy(&session.actor, &group.id.to_string())
        .await
    {
        Ok(policy) => Some(policy),
        Err(CoreError::NotFound(what)) if what.is_empty() => None,
        Err(other) => return Err(other.into()),
    };
    render(&CleanupPage {
        layout: Layout::new(&session, format!("Cleanup policy of {}", group.name)),
        last_run: when(policy.as_ref().and_then(|p| p.last_run_at)),
        next_run: when(policy.as_ref().and_then(|p| p.next_run_at)),
        cadences: CADENCES
            .iter()
            .map(|&c| {
                let current = policy
                    .as_ref()
                    .map_or(i64::from(DEFAULT_CADENCE), |p| i64::from(p.cadence));
                (c, c == current)
            })
            .collect(),
        group,
        policy,
    })
}

#[derive(Deserialize)]
pub(crate) struct CleanupForm {
    #[serde(default)]
    enabled: Option<String>,
    keep_n_days_after_download: i64,
    cadence: i64,
    #[serde(default)]
    notify_on_success: Option<String>,
    #[serde(default)]
    notify_on_failure: Option<String>,
}

/// Creates or changes a group's cleanup policy.
pub async fn save_cleanup(
    post: Post<CleanupForm>,
    core: web::Data<Core>,
    path: web::Path<String>,
) -> Page {
    let Post { session, form } = post;
    let group = visible_group(&core, &session, &path).await?;
    let id = group.id.to_string();
    let changes = CleanupPolicyChanges {
        enabled: Some(form.enabled.is_some()),
        keep_n_days_after_download: Some(form.keep_n_days_after_download),
        cadence: Some(form.cadence),
        notify_on_success: Some(form.notify_on_success.is_some()),
        notify_on_failure: Some(form.notify_on_failure.is_some()),
    };
    match core.find_cleanup_policy(&session.actor, &id).await {
        Ok(_) => {
            core.update_cleanup_policy(&session.actor, &id, changes)
                .await?;
        }
        Err(CoreError::NotFound(what)) if what.is_empty() => {
            core.create_cleanup_policy(&session.actor, &id, changes)
                .await?;
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!("/groups/{}/cleanup", group.id)))
}
