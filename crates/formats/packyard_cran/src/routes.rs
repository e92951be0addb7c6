//! CRAN routes: GitFlic's content routes, GitFlic's upload and the source repository layout.

use std::io::Write;

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, web};
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::Need;
use packyard_core::rows::{Group, Package};
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{PackageType, UploadType};
use packyard_http::CoreData;
use packyard_http::hosted::{
    HostedActor, HostedResult, PackageFileModel, file_response, payload_stream,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::description::{
    Description, IndexEntry, Kind, compare_versions, parse_binary_file_name,
    parse_source_file_name, read_tarball_description, read_zip_description, render_packages,
};

/// The transport's base in the company scope: the repository root R's `repos` names.
const BASE: &str = "/cran";

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/cran/{languageVersion}/{fileName}").route(web::put().to(global_upload)),
    )
    .service(web::resource("/cran/{fileName}").route(web::get().to(global_download)));
}

/// Registers the client protocol, relative to `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(format!("{BASE}/src/{{fileName}}")).route(web::put().to(upload)))
        .service(
            web::resource(format!("{BASE}/src/contrib/PACKAGES")).route(web::get().to(packages)),
        )
        .service(
            web::resource(format!("{BASE}/src/contrib/PACKAGES.gz"))
                .route(web::get().to(packages_gz)),
        )
        .service(
            web::resource(format!("{BASE}/src/contrib/{{fileName}}"))
                .route(web::get().to(current_download)),
        )
        .service(
            web::resource(format!(
                "{BASE}/src/contrib/Archive/{{package}}/{{fileName}}"
            ))
            .route(web::get().to(archive_download)),
        )
        .service(
            web::resource(format!("{BASE}/bin/windows/contrib/{{r}}/{{fileName}}"))
                .route(web::get().to(windows_get))
                .route(web::put().to(windows_put)),
        )
        .service(
            web::resource(format!("{BASE}/bin/macosx/contrib/{{r}}/{{fileName}}"))
                .route(web::get().to(macos_get))
                .route(web::put().to(macos_put)),
        )
        .service(
            web::resource(format!(
                "{BASE}/bin/macosx/{{flavor}}/contrib/{{r}}/{{fileName}}"
            ))
            .route(web::get().to(macos_flavor_get))
            .route(web::put().to(macos_flavor_put)),
        );
}

/// A binary tree of the repository: `bin/windows/contrib/<x.y>` (zip) or
/// `bin/macosx[/<flavor>]/contrib/<x.y>` (tgz).
#[derive(Debug, Clone)]
struct Tree {
    /// `bin/…/contrib/<x.y>`, the prefix of its files' stored names.
    dir: String,
    /// `windows` or `macosx`, GitFlic's `platform`.
    platform: &'static str,
    /// `x.y`.
    r_version: String,
    /// `.zip` or `.tgz`.
    extension: &'static str,
    /// The last part of `Built` its packages carry.
    os_type: &'static str,
}

/// macOS flavours of CRAN's layout besides the plain `bin/macosx/contrib` (R 4.0 to 4.2).
const MACOS_FLAVORS: [&str; 2] = ["big-sur-arm64", "big-sur-x86_64"];

impl Tree {
    fn new(platform: &str, flavor: Option<&str>, r_version: &str) -> CoreResult<Self> {
        let parts: Vec<&str> = r_version.split('.').collect();
        if parts.len() != 2
            || !parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(CoreError::not_found("Package file"));
        }
        let (platform, extension, os_type) = match platform {
            "windows" => ("windows", ".zip", "windows"),
            _ => ("macosx", ".tgz", "unix"),
        };
        let dir = match flavor {
            None => format!("bin/{platform}/contrib/{r_version}"),
            Some(flavor) if MACOS_FLAVORS.contains(&flavor) => {
                format!("bin/{platform}/{flavor}/contrib/{r_version}")
            }
            Some(_) => return Err(CoreError::not_found("Package file")),
        };
        Ok(Self {
            dir,
            platform,
            r_version: r_version.to_owned(),
            extension,
            os_type,
        })
    }

    fn kind(&self) -> Kind<'_> {
        Kind::Binary {
            r_version: &self.r_version,
            os_type: self.os_type,
        }
    }

    fn content_type(&self) -> &'static str {
        if self.extension == ".zip" {
            "application/zip"
        } else {
            "application/gzip"
        }
    }
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

/// The package and version a source tarball's name gives, or a 400 saying what is expected.
fn check_file_name(file_name: &str) -> CoreResult<(String, String)> {
    parse_source_file_name(file_name)
        .map(|(name, version)| (name.to_owned(), version.to_owned()))
        .ok_or_else(|| {
            bad_request(format!(
                "{file_name:?} is not a source package name: expected <package>_<version>.tar.gz \
                 (binary packages go under bin/)"
            ))
        })
}

/// An R version as GitFlic's `languageVersion`: `x.y` or `x.y.z`.
fn check_language_version(version: &str) -> CoreResult<()> {
    let parts: Vec<&str> = version.split('.').collect();
    if (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{version:?} is not an R version such as 4.2 or 4.2.2"
        )))
    }
}

fn package_ref(owner: Owner, name: &str) -> PackageRef {
    PackageRef::named(owner, PackageType::Cran, name, name.to_owned())
}

/// Reads the DESCRIPTION out of the received package.
async fn inspect(received: &mut ReceivedFile, tree: Option<&Tree>) -> CoreResult<Description> {
    let tree = tree.cloned();
    received
        .inspect(move |reader| {
            match &tree {
                None => read_tarball_description(reader, Kind::Source),
                Some(tree) if tree.extension == ".zip" => read_zip_description(reader, tree.kind()),
                Some(tree) => read_tarball_description(reader, tree.kind()),
            }
            .map_err(|e| bad_request(format!("invalid package: {e}")))
        })
        .await
}

/// Checks a received package against its file name, reads its DESCRIPTION and keeps it: a source
/// tarball when `tree` is `None`, else a binary of that tree (stored as `<tree dir>/<file name>`).
/// Nothing is kept when a check fails.
async fn store_package(
    core: &Core,
    owner: Owner,
    (file_name, tree): (&str, Option<&Tree>),
    language_version: Option<String>,
    mut received: ReceivedFile,
    upload_type: UploadType,
) -> CoreResult<StoredFile> {
    let checked = async {
        let (name, version) = match tree {
            None => check_file_name(file_name)?,
            Some(tree) => check_binary_file_name(file_name, tree)?,
        };
        let description = inspect(&mut received, tree).await?;
        if description.package() != name {
            return Err(bad_request(format!(
                "invalid package: DESCRIPTION's Package {:?} is not the file name's {name:?}",
                description.package()
            )));
        }
        if description.version() != version {
            return Err(bad_request(format!(
                "invalid package: DESCRIPTION's Version {:?} is not the file name's {version:?}",
                description.version()
            )));
        }
        Ok(description)
    }
    .await;
    let description = match checked {
        Ok(description) => description,
        Err(error) => {
            received.discard().await;
            return Err(error);
        }
    };
    let package = package_ref(owner, description.package());
    let (stored_name, file_metadata) = match tree {
        None => (
            file_name.to_owned(),
            json!({"description": description.to_json()}),
        ),
        Some(tree) => (
            format!("{}/{file_name}", tree.dir),
            json!({
                "description": description.to_json(),
                "platform": tree.platform,
                "languageVersion": tree.r_version,
            }),
        ),
    };
    let upload = FileUpload {
        language_version,
        version_metadata: Some(description.to_json()),
        file_metadata: Some(file_metadata),
        ..FileUpload::new(description.version(), &stored_name, upload_type)
    };
    core.store_hosted_file(&package, upload, received).await
}

/// The package and version a binary's name gives, or a 400 saying what is expected.
fn check_binary_file_name(file_name: &str, tree: &Tree) -> CoreResult<(String, String)> {
    parse_binary_file_name(file_name, tree.extension)
        .map(|(name, version)| (name.to_owned(), version.to_owned()))
        .ok_or_else(|| {
            bad_request(format!(
                "{file_name:?} is not a binary package name for {}: expected <package>_<version>{}",
                tree.dir, tree.extension
            ))
        })
}

/// The binary tree GitFlic's service-level routes put a `.zip` or `.tgz` in: the plain Windows or
/// macOS tree of the R version's `x.y`. `None` for a source tarball.
fn global_tree(file_name: &str, language_version: &str) -> CoreResult<Option<Tree>> {
    let platform = if file_name.ends_with(".zip") {
        "windows"
    } else if file_name.ends_with(".tgz") {
        "macosx"
    } else {
        return Ok(None);
    };
    let major_minor: Vec<&str> = language_version.split('.').take(2).collect();
    Tree::new(platform, None, &major_minor.join("."))
        .map(Some)
        .map_err(|_| {
            bad_request(format!(
                "{language_version:?} is not an R version such as 4.2 or 4.2.2"
            ))
        })
}

/// `PUT /registry/package/cran/{languageVersion}/{fileName}`: a package at the service level: a
/// source tarball, a Windows binary (`.zip`) or a macOS binary (`.tgz`). `languageVersion` is the R
/// version the package is for, kept on the version; binaries go to that R version's tree.
async fn global_upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let (language_version, file_name) = path.into_inner();
    check_language_version(&language_version)?;
    let tree = global_tree(&file_name, &language_version)?;
    match &tree {
        None => check_file_name(&file_name).map(drop)?,
        Some(tree) => check_binary_file_name(&file_name, tree).map(drop)?,
    }
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(
        &core,
        Owner::Global,
        (&file_name, tree.as_ref()),
        Some(language_version),
        received,
        UploadType::Api,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// The query of GitFlic's download route.
#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(rename = "languageVersion")]
    language_version: Option<String>,
    platform: Option<String>,
}

/// `GET /registry/package/cran/{fileName}?languageVersion=&platform=`: a source tarball, or a binary
/// of the given platform and R version.
async fn global_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let file_name = path.into_inner();
    let platform = query.platform.as_deref().filter(|p| !p.is_empty());
    if let Some(platform) = platform
        && !matches!(platform, "windows" | "macosx")
    {
        return Err(bad_request(format!(
            "platform {platform:?} is neither windows nor macosx"
        ))
        .into());
    }
    if let Some((name, version)) = parse_source_file_name(&file_name) {
        let download = core
            .download_hosted_file(&package_ref(Owner::Global, name), version, &file_name)
            .await?;
        return Ok(file_response(download, "application/gzip"));
    }
    let expected = if file_name.ends_with(".zip") {
        "windows"
    } else if file_name.ends_with(".tgz") {
        "macosx"
    } else {
        return Err(CoreError::not_found("Package file").into());
    };
    if platform != Some(expected) {
        return Err(bad_request(format!(
            "{file_name} is a binary package: give platform={expected} and languageVersion"
        ))
        .into());
    }
    let language_version = query
        .language_version
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            bad_request(format!(
                "{file_name} is a binary package: give platform={expected} and languageVersion"
            ))
        })?;
    check_language_version(language_version)?;
    let Some(tree) = global_tree(&file_name, language_version)? else {
        return Err(CoreError::not_found("Package file").into());
    };
    serve_binary(&core, Owner::Global, &tree, &file_name).await
}

/// `PUT /company/{group}/package/-/cran/src/{fileName}`: GitFlic's source upload
/// (`curl --upload-file pkg_1.0.tar.gz …/cran/src/pkg_1.0.tar.gz`).
async fn upload(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group_path, file_name) = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Publish)
        .await?;
    check_file_name(&file_name)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(
        &core,
        Owner::Company(group),
        (&file_name, None),
        None,
        received,
        UploadType::Transport,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// One version of a package in one tree: `(version, stored file name, md5, DESCRIPTION fields)`.
type Listed = (String, String, String, Map<String, Value>);

/// The DESCRIPTION fields kept with a file (or, for files stored before they were, its version).
fn fields_of(file_metadata: Option<&str>, version_metadata: Option<&str>) -> Map<String, Value> {
    let parse = |text: Option<&str>| {
        text.and_then(|m| serde_json::from_str::<Value>(m).ok())
            .unwrap_or_default()
    };
    match parse(file_metadata)["description"].take() {
        Value::Object(fields) => fields,
        _ => match parse(version_metadata) {
            Value::Object(fields) => fields,
            _ => Map::new(),
        },
    }
}

/// A package's versions in a tree (the source tree when `tree` is `None`), newest first.
async fn tree_versions(
    core: &Core,
    package: &Package,
    tree: Option<&Tree>,
) -> CoreResult<Vec<Listed>> {
    let mut versions: Vec<Listed> = core
        .list_hosted_files_with_versions(package)
        .await?
        .into_iter()
        .filter(|(version, file)| {
            let parsed = match tree {
                None => parse_source_file_name(&file.name),
                Some(tree) => file
                    .name
                    .strip_prefix(&tree.dir)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .and_then(|rest| parse_binary_file_name(rest, tree.extension)),
            };
            parsed.is_some_and(|(_, v)| v == version.version)
        })
        .map(|(version, file)| {
            let fields = fields_of(file.metadata.as_deref(), version.metadata.as_deref());
            (version.version, file.name, file.file_md5, fields)
        })
        .collect();
    versions.sort_by(|a, b| compare_versions(&b.0, &a.0));
    Ok(versions)
}

/// A tree's `PACKAGES`: the newest version of every package in it, sorted by name.
async fn render_index(core: &Core, group: &Group, tree: Option<&Tree>) -> CoreResult<String> {
    let mut packages = core.list_company_packages(group, PackageType::Cran).await?;
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let mut entries = Vec::new();
    for package in packages {
        if let Some((_, _, md5, fields)) = tree_versions(core, &package, tree)
            .await?
            .into_iter()
            .next()
        {
            entries.push(IndexEntry { fields, md5 });
        }
    }
    Ok(render_packages(&entries))
}

fn index_response(text: String, gzip: bool) -> CoreResult<HttpResponse> {
    if !gzip {
        return Ok(HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(text));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| {
            HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/gzip"))
                .body(bytes)
        })
        .map_err(|e| CoreError::Internal(format!("gzip: {e}")))
}

async fn packages(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &path.into_inner(), Need::Install)
        .await?;
    Ok(index_response(
        render_index(&core, &group, None).await?,
        false,
    )?)
}

async fn packages_gz(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &path.into_inner(), Need::Install)
        .await?;
    Ok(index_response(
        render_index(&core, &group, None).await?,
        true,
    )?)
}

/// Serves `file_name` when its version is (`current`) or is not (archive) the package's newest.
async fn serve(
    core: &Core,
    actor: &HostedActor,
    group_path: &str,
    file_name: &str,
    current: bool,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, group_path, Need::Install)
        .await?;
    let Some((name, version)) = parse_source_file_name(file_name) else {
        return Err(CoreError::not_found("Package file").into());
    };
    let package = package_ref(Owner::Company(group), name);
    let found = core.find_hosted_package_by_ref(&package).await?;
    let newest = tree_versions(core, &found, None)
        .await?
        .into_iter()
        .next()
        .map(|(v, ..)| v);
    if (newest.as_deref() == Some(version)) != current {
        return Err(CoreError::not_found("Package file").into());
    }
    let download = core
        .download_hosted_file(&package, version, file_name)
        .await?;
    Ok(file_response(download, "application/gzip"))
}

/// `GET …/src/contrib/<pkg>_<ver>.tar.gz`: the newest version of a package.
async fn current_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, file_name) = path.into_inner();
    serve(&core, &actor, &group_path, &file_name, true).await
}

/// `GET …/src/contrib/Archive/<pkg>/<pkg>_<ver>.tar.gz`: an older version.
async fn archive_download(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, package, file_name) = path.into_inner();
    if parse_source_file_name(&file_name).is_none_or(|(name, _)| name != package) {
        return Err(CoreError::not_found("Package file").into());
    }
    serve(&core, &actor, &group_path, &file_name, false).await
}

/// A binary from a tree; any version (its file name names it), as the tree has no archive.
async fn serve_binary(
    core: &Core,
    owner: Owner,
    tree: &Tree,
    file_name: &str,
) -> HostedResult<HttpResponse> {
    let Some((name, version)) = parse_binary_file_name(file_name, tree.extension) else {
        return Err(CoreError::not_found("Package file").into());
    };
    let download = core
        .download_hosted_file(
            &package_ref(owner, name),
            version,
            &format!("{}/{file_name}", tree.dir),
        )
        .await?;
    let mut response = file_response(download, tree.content_type());
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `GET` in a binary tree: its `PACKAGES`, `PACKAGES.gz`, or a package.
async fn tree_get(
    core: &Core,
    actor: &HostedActor,
    (group_path, platform, flavor): (&str, &str, Option<&str>),
    (r_version, file_name): (&str, &str),
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, group_path, Need::Install)
        .await?;
    let tree = Tree::new(platform, flavor, r_version)?;
    match file_name {
        "PACKAGES" | "PACKAGES.gz" => Ok(index_response(
            render_index(core, &group, Some(&tree)).await?,
            file_name == "PACKAGES.gz",
        )?),
        _ => serve_binary(core, Owner::Company(group), &tree, file_name).await,
    }
}

/// `PUT` of a binary package into a tree (the path it is then read from).
async fn tree_put(
    core: &Core,
    actor: &HostedActor,
    (group_path, platform, flavor): (&str, &str, Option<&str>),
    (r_version, file_name): (&str, &str),
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, group_path, Need::Publish)
        .await?;
    let tree = Tree::new(platform, flavor, r_version).map_err(|_| {
        bad_request(format!(
            "{r_version:?} is not an R version such as 4.2, or the tree is not one of CRAN's"
        ))
    })?;
    check_binary_file_name(file_name, &tree)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let stored = store_package(
        core,
        Owner::Company(group),
        (file_name, Some(&tree)),
        Some(tree.r_version.clone()),
        received,
        UploadType::Transport,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

async fn windows_get(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group, r, file) = path.into_inner();
    tree_get(&core, &actor, (&group, "windows", None), (&r, &file)).await
}

async fn windows_put(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group, r, file) = path.into_inner();
    tree_put(&core, &actor, (&group, "windows", None), (&r, &file), body).await
}

async fn macos_get(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group, r, file) = path.into_inner();
    tree_get(&core, &actor, (&group, "macosx", None), (&r, &file)).await
}

async fn macos_put(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group, r, file) = path.into_inner();
    tree_put(&core, &actor, (&group, "macosx", None), (&r, &file), body).await
}

async fn macos_flavor_get(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group, flavor, r, file) = path.into_inner();
    tree_get(
        &core,
        &actor,
        (&group, "macosx", Some(&flavor)),
        (&r, &file),
    )
    .await
}

async fn macos_flavor_put(
    core: CoreData,
    actor: HostedActor,
    path: web::Path<(String, String, String, String)>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let (group, flavor, r, file) = path.into_inner();
    tree_put(
        &core,
        &actor,
        (&group, "macosx", Some(&flavor)),
        (&r, &file),
        body,
    )
    .await
}
