//! A hosted package: versions, files with sizes and digests, download counts, install commands.

use actix_web::{HttpRequest, web};
use askama::Template;
use packyard_core::identity::Need;
use packyard_core::rows::{Group, Package};
use packyard_core::{Core, CoreError};
use packyard_domain::PackageType;

use crate::groups::visible_group;
use crate::pages::{Layout, Page, base_url, human_size, may, render, see_other, when};
use crate::session::{Post, Session};

/// Versions shown on a package's page.
const VERSIONS_SHOWN: i64 = 100;

struct FileRow {
    name: String,
    size: String,
    sha256: String,
    sha1: String,
    md5: String,
}

struct VersionRow {
    version: String,
    published: String,
    downloads: i64,
    files: Vec<FileRow>,
}

struct Install {
    client: &'static str,
    command: String,
}

#[derive(Template)]
#[template(path = "package.html")]
struct PackagePage {
    layout: Layout,
    group: Group,
    package: Package,
    description: Option<String>,
    versions: Vec<VersionRow>,
    total_versions: i64,
    /// How many versions the page lists (the newest).
    shown: usize,
    installs: Vec<Install>,
    can_delete: bool,
}

/// The install commands of a package's version, per client.
fn installs(
    repo: &str,
    package: &Package,
    version: &str,
    first_file: Option<&str>,
) -> Vec<Install> {
    let name = &package.name;
    let kind = PackageType::parse(&package.package_type);
    let one = |client, command| vec![Install { client, command }];
    match kind {
        Some(PackageType::Npm) => vec![
            Install {
                client: "npm",
                command: format!("npm install {name}@{version} --registry={repo}/npm/"),
            },
            Install {
                client: "pnpm",
                command: format!("pnpm add {name}@{version} --registry={repo}/npm/"),
            },
        ],
        Some(PackageType::Pypi) => vec![
            Install {
                client: "pip",
                command: format!("pip install --index-url {repo}/pypi/simple/ {name}=={version}"),
            },
            Install {
                client: "uv",
                command: format!("uv pip install --index-url {repo}/pypi/simple/ {name}=={version}"),
            },
        ],
        Some(PackageType::Maven) => one(
            "Maven (pom.xml)",
            format!(
                "<dependency>\n  <groupId>{}</groupId>\n  <artifactId>{}</artifactId>\n  <version>{version}</version>\n</dependency>",
                package.group_name, package.artifact_id
            ),
        ),
        Some(PackageType::Nuget) => one(
            "dotnet",
            format!("dotnet add package {name} --version {version} --source {repo}/nuget/index.json"),
        ),
        Some(PackageType::Composer) => one(
            "composer",
            format!(
                "composer config repositories.packyard composer {repo}/composer && composer require {name}:{version}"
            ),
        ),
        Some(PackageType::Cran) => one(
            "R",
            format!("install.packages(\"{name}\", repos = \"{repo}/cran\")"),
        ),
        Some(PackageType::Opm) => one("opm", format!("opm install -s {repo}/opm/ {name}")),
        Some(PackageType::Generic) => first_file
            .map(|file| {
                one(
                    "curl",
                    format!(
                        "curl --header \"PRIVATE-TOKEN: $PACKYARD_TOKEN\" -O {repo}/generic/{name}/{version}/{file}"
                    ),
                )
            })
            .unwrap_or_default(),
        Some(PackageType::Container) | None => Vec::new(),
    }
}

/// The package of a group by uuid, if the person may install from the group (outsiders: 404).
async fn find(
    core: &Core,
    session: &Session,
    group: &str,
    uuid: &str,
) -> Result<(Group, Package), crate::UiError> {
    let group = visible_group(core, session, group).await?;
    core.authorize_or_hide(
        &session.actor,
        &group,
        Need::Install,
        CoreError::not_found("Package"),
    )
    .await?;
    let info = core.find_hosted_package(uuid).await?;
    if info.package.owner_group_id != Some(group.id) {
        return Err(CoreError::not_found("Package").into());
    }
    Ok((group, info.package))
}

/// The description a version's metadata carries (npm, PyPI, NuGet …), if any.
fn description(metadata: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(metadata?).ok()?;
    ["description", "summary"]
        .iter()
        .find_map(|key| value.get(key).and_then(|v| v.as_str()))
        .map(str::to_owned)
        .filter(|d| !d.is_empty())
}

/// A package's page.
pub async fn show(
    req: HttpRequest,
    session: Session,
    core: web::Data<Core>,
    path: web::Path<(String, String)>,
) -> Page {
    let (group, uuid) = path.into_inner();
    let (group, package) = find(&core, &session, &group, &uuid).await?;
    // Versions come oldest first: the newest are the last page.
    let total = core.list_hosted_versions(&package, 0, 1).await?.total;
    let listed = core
        .list_hosted_versions(&package, (total - VERSIONS_SHOWN).max(0), VERSIONS_SHOWN)
        .await?;
    let newest = listed.items.last();
    let description = newest.and_then(|v| description(v.version.metadata.as_deref()));
    let repo = format!(
        "{}/company/{}/package/-",
        base_url(&req, &core),
        group.full_path
    );
    let installs = newest
        .map(|v| {
            installs(
                &repo,
                &package,
                &v.version.version,
                v.files.first().map(|f| f.name.as_str()),
            )
        })
        .unwrap_or_default();
    let versions = listed
        .items
        .into_iter()
        .rev()
        .map(|v| VersionRow {
            version: v.version.version,
            published: when(Some(v.version.created_at)),
            downloads: v.version.download_count,
            files: v
                .files
                .into_iter()
                .map(|f| FileRow {
                    name: f.name,
                    size: human_size(f.size),
                    sha256: f.blob_sha256,
                    sha1: f.file_sha1,
                    md5: f.file_md5,
                })
                .collect(),
        })
        .collect();
    let can_delete = package.package_type == PackageType::Npm.as_str()
        && may(&core, &session.actor, &group, Need::Publish).await?;
    render(&PackagePage {
        layout: Layout::new(&session, package.name.clone()),
        group,
        description,
        versions,
        total_versions: listed.total,
        shown: VERSIONS_SHOWN as usize,
        installs,
        can_delete,
        package,
    })
}

/// Deletes a package with every version, where the format's API allows it (npm's unpublish, for
/// Developers and up).
pub async fn delete(
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<(String, String)>,
) -> Page {
    let Post { session, .. } = post;
    let (group, uuid) = path.into_inner();
    let (group, package) = find(&core, &session, &group, &uuid).await?;
    if package.package_type != PackageType::Npm.as_str() {
        return Err(CoreError::Forbidden.into());
    }
    core.authorize(&session.actor, &group, Need::Publish)
        .await?;
    core.delete_hosted_package(&package).await?;
    Ok(see_other(&format!("/groups/{}", group.id)))
}
