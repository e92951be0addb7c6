//! NuGet routes: GitFlic's content routes and the v3 protocol of a group's repository.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_multipart::Multipart;
use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::{Credential, Need};
use packyard_core::rows::{Group, Package, PackageFile, PackageVersion};
use packyard_core::{Core, CoreError, CoreResult};
use packyard_domain::{PackageType, UploadType};
use packyard_http::CoreData;
use packyard_http::hosted::{
    HostedActor, HostedError, HostedResult, PackageFileModel, file_response, payload_stream,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::nuspec::{DependencyGroup, Nuspec, read_nupkg_nuspec};
use crate::version::{compare, is_valid_id, normalize_version};

/// The repository's base in the company scope, under which every resource lives (so that source
/// credentials apply to all).
const BASE: &str = "/nuget";
/// The header NuGet sends the API key in.
const API_KEY: &str = "X-NuGet-ApiKey";
/// Search results at most per page.
const MAX_TAKE: usize = 1000;

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/nuget", "/nuget/"]).route(web::put().to(global_upload)))
        .service(
            web::resource("/nuget/{packageName}/{packageVersion}")
                .route(web::get().to(global_download)),
        );
}

/// Registers the client protocol, relative to `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(format!("{BASE}/index.json")).route(web::get().to(service_index)))
        .service(
            web::resource([format!("{BASE}/package"), format!("{BASE}/package/")])
                .route(web::put().to(push)),
        )
        .service(
            web::resource(format!("{BASE}/package/{{id}}/{{version}}"))
                .route(web::delete().to(unlist))
                .route(web::post().to(relist)),
        )
        .service(
            web::resource(format!("{BASE}/v3-flatcontainer/{{id}}/index.json"))
                .route(web::get().to(flat_versions)),
        )
        .service(
            web::resource(format!(
                "{BASE}/v3-flatcontainer/{{id}}/{{version}}/{{file}}"
            ))
            .route(web::get().to(flat_download)),
        )
        .service(
            web::resource(format!("{BASE}/registration/{{id}}/index.json"))
                .route(web::get().to(registration_index)),
        )
        .service(
            web::resource(format!("{BASE}/registration/{{id}}/{{leaf}}"))
                .route(web::get().to(registration_leaf)),
        )
        .service(web::resource(format!("{BASE}/query")).route(web::get().to(search)));
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

/// A caller of the NuGet surfaces: the API key NuGet pushes with (a packyard token), else whatever the
/// hosted surfaces accept (NuGet sends Basic from `packageSourceCredentials` after a challenge).
struct NugetActor(packyard_core::identity::Actor);

impl FromRequest for NugetActor {
    type Error = HostedError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let key = req
            .headers()
            .get(API_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let Some(key) = key else {
            let hosted = HostedActor::from_request(req, payload);
            return Box::pin(async move { Ok(NugetActor(hosted.await?.0)) });
        };
        let core = req.app_data::<CoreData>().cloned();
        Box::pin(async move {
            let core = core.ok_or_else(|| {
                HostedError(CoreError::Internal("core missing from app data".into()))
            })?;
            Ok(NugetActor(
                core.authenticate(Credential::DeployOrPersonal(key)).await?,
            ))
        })
    }
}

fn package_ref(owner: Owner, id: &str) -> PackageRef {
    PackageRef::named(owner, PackageType::Nuget, id, id.to_ascii_lowercase())
}

/// The file name a version's package is kept and served under.
fn nupkg_name(id: &str, version: &str) -> String {
    format!("{}.{version}.nupkg", id.to_ascii_lowercase())
}

/// A version as a path names it, normalized when it parses.
fn path_version(version: &str) -> String {
    normalize_version(version).unwrap_or_else(|| version.to_ascii_lowercase())
}

/// The first file of a push body: the first part of a multipart form, else the whole body.
async fn receive_package(
    core: &Core,
    req: &HttpRequest,
    body: web::Payload,
) -> CoreResult<ReceivedFile> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return core.receive_file(payload_stream(body), true).await;
    }
    // NuGet.exe quotes the boundary (`boundary="…"`); hand the multipart reader the bare value.
    let mut headers = HeaderMap::new();
    let unquoted = unquote_boundary(content_type);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&unquoted)
            .map_err(|_| bad_request("the Content-Type header is malformed"))?,
    );
    let mut form = Multipart::new(&headers, body);
    let mut received: Option<ReceivedFile> = None;
    while let Some(field) = form.next().await {
        let field = match field {
            Ok(field) => field,
            Err(e) => {
                if let Some(received) = received {
                    received.discard().await;
                }
                return Err(bad_request(format!("the form could not be read: {e}")));
            }
        };
        if received.is_some() {
            // Other parts are ignored; drain them.
            let mut field = field;
            while let Some(chunk) = field.next().await {
                if let Err(e) = chunk {
                    if let Some(received) = received {
                        received.discard().await;
                    }
                    return Err(bad_request(format!("the form could not be read: {e}")));
                }
            }
            continue;
        }
        let stream = field
            .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())))
            .boxed_local();
        received = Some(core.receive_file(stream, true).await?);
    }
    received.ok_or_else(|| bad_request("the form carries no package"))
}

fn unquote_boundary(content_type: &str) -> String {
    content_type
        .split(';')
        .map(|part| {
            let trimmed = part.trim();
            match trimmed.split_once('=') {
                Some((name, value)) if name.trim().eq_ignore_ascii_case("boundary") => {
                    format!("boundary={}", value.trim().trim_matches('"'))
                }
                _ => trimmed.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads the `.nuspec` out of the received package.
async fn inspect(received: &mut ReceivedFile) -> CoreResult<(Nuspec, String)> {
    received
        .inspect(|file| {
            read_nupkg_nuspec(file).map_err(|e| bad_request(format!("invalid package: {e}")))
        })
        .await
}

/// Reads a received package's `.nuspec` and keeps the package as its id's version; nothing is kept when
/// the package is not valid.
async fn store_package(
    core: &Core,
    owner: Owner,
    mut received: ReceivedFile,
    upload_type: UploadType,
) -> CoreResult<StoredFile> {
    let (nuspec, text) = match inspect(&mut received).await {
        Ok(read) => read,
        Err(error) => {
            received.discard().await;
            return Err(error);
        }
    };
    let Nuspec {
        id,
        version: declared_version,
        normalized_version: version,
        description,
        authors,
        tags,
        dependency_groups,
    } = nuspec;
    let file_name = nupkg_name(&id, &version);
    let package = package_ref(owner, &id);
    // Moved in, not copied (`json!` copies): a description and a nuspec may each be 4 MiB.
    let metadata: serde_json::Map<String, Value> = [
        ("id", Value::String(id)),
        ("version", Value::String(declared_version)),
        ("description", Value::String(description)),
        ("authors", Value::String(authors)),
        ("tags", json!(tags)),
        ("dependencyGroups", json!(dependency_groups)),
        ("listed", Value::Bool(true)),
        ("nuspec", Value::String(text)),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let upload = FileUpload {
        version_metadata: Some(Value::Object(metadata)),
        ..FileUpload::new(&version, &file_name, upload_type)
    };
    core.store_hosted_file(&package, upload, received).await
}

async fn global_upload(
    req: HttpRequest,
    core: CoreData,
    actor: NugetActor,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let received = receive_package(&core, &req, body).await?;
    let stored = store_package(&core, Owner::Global, received, UploadType::Api).await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

async fn global_download(
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (id, version) = path.into_inner();
    let version = path_version(&version);
    let download = core
        .download_hosted_file(
            &package_ref(Owner::Global, &id),
            &version,
            &nupkg_name(&id, &version),
        )
        .await?;
    Ok(file_response(download, "application/octet-stream"))
}

/// Where this repository is reached: the configured external URL, else the request's scheme and host.
fn repository_url(req: &HttpRequest, core: &Core, group: &str) -> String {
    let origin = match &core.settings().external_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{origin}/company/{group}/package/-/nuget")
}

/// The service index's resources: every type and version alias clients ask for (NuGet.exe 5.8 needs the
/// `/3.0.0-beta` and `/3.4.0` registration aliases).
pub(crate) fn render_service_index(base: &str) -> Value {
    let mut resources = vec![
        json!({"@id": format!("{base}/package"), "@type": "PackagePublish/2.0.0"}),
        json!({"@id": format!("{base}/v3-flatcontainer/"), "@type": "PackageBaseAddress/3.0.0"}),
    ];
    for alias in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.4.0", "/3.6.0"] {
        resources.push(json!({
            "@id": format!("{base}/registration/"),
            "@type": format!("RegistrationsBaseUrl{alias}"),
        }));
    }
    for alias in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0"] {
        resources.push(json!({
            "@id": format!("{base}/query"),
            "@type": format!("SearchQueryService{alias}"),
        }));
    }
    json!({"version": "3.0.0", "resources": resources})
}

async fn service_index(
    req: HttpRequest,
    core: CoreData,
    actor: NugetActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group_path = path.into_inner();
    core.company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let base = repository_url(&req, &core, &group_path);
    Ok(HttpResponse::Ok().json(render_service_index(&base)))
}

async fn push(
    req: HttpRequest,
    core: CoreData,
    actor: NugetActor,
    path: web::Path<String>,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &path.into_inner(), Need::Publish)
        .await?;
    let received = receive_package(&core, &req, body).await?;
    let stored = store_package(
        &core,
        Owner::Company(group),
        received,
        UploadType::Transport,
    )
    .await?;
    // 201 for a new version, 200 for the same bytes again (a retried push).
    let mut response = if stored.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(PackageFileModel::from(&stored.file)))
}

/// A version of a group's package with its metadata, for unlisting and relisting.
async fn set_listed(
    core: &Core,
    actor: &NugetActor,
    (group_path, id, version): (String, String, String),
    listed: bool,
) -> CoreResult<()> {
    let group = core
        .company_for(&actor.0, &group_path, Need::Publish)
        .await?;
    let package = core
        .find_hosted_package_by_ref(&package_ref(Owner::Company(group), &id))
        .await?;
    let found = core
        .find_hosted_version(&package, &path_version(&version))
        .await?;
    let mut metadata = version_metadata(&found.version);
    metadata["listed"] = Value::Bool(listed);
    core.set_hosted_version_metadata(&found.version, &metadata, None)
        .await
}

async fn unlist(
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    set_listed(&core, &actor, path.into_inner(), false).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn relist(
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    set_listed(&core, &actor, path.into_inner(), true).await?;
    Ok(HttpResponse::Ok().finish())
}

fn version_metadata(version: &PackageVersion) -> Value {
    version
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// A package's versions with their files, ordered by version.
async fn package_versions(
    core: &Core,
    package: &Package,
) -> CoreResult<Vec<(PackageVersion, Vec<PackageFile>)>> {
    let mut versions: BTreeMap<String, (PackageVersion, Vec<PackageFile>)> = BTreeMap::new();
    for (version, file) in core.list_hosted_files_with_versions(package).await? {
        versions
            .entry(version.version.clone())
            .or_insert_with(|| (version, Vec::new()))
            .1
            .push(file);
    }
    let mut versions: Vec<_> = versions.into_values().collect();
    versions.sort_by(|a, b| compare(&a.0.version, &b.0.version));
    Ok(versions)
}

async fn group_package(
    core: &Core,
    actor: &NugetActor,
    group_path: &str,
    id: &str,
) -> CoreResult<(Group, Package)> {
    let group = core
        .company_for(&actor.0, group_path, Need::Install)
        .await?;
    if !is_valid_id(id) {
        return Err(CoreError::not_found("Package"));
    }
    let package = core
        .find_hosted_package_by_ref(&package_ref(Owner::Company(group.clone()), id))
        .await?;
    Ok((group, package))
}

async fn flat_versions(
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, id) = path.into_inner();
    let (_, package) = group_package(&core, &actor, &group_path, &id).await?;
    let versions: Vec<String> = package_versions(&core, &package)
        .await?
        .into_iter()
        .map(|(version, _)| version.version)
        .collect();
    if versions.is_empty() {
        return Err(CoreError::not_found("Package").into());
    }
    Ok(HttpResponse::Ok().json(json!({ "versions": versions })))
}

async fn flat_download(
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, id, version, file) = path.into_inner();
    let (group, package) = group_package(&core, &actor, &group_path, &id).await?;
    let version = path_version(&version);
    let file = file.to_ascii_lowercase();
    if file == format!("{}.nuspec", id.to_ascii_lowercase()) {
        let found = core.find_hosted_version(&package, &version).await?;
        let nuspec = version_metadata(&found.version)["nuspec"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CoreError::not_found("Package file"))?;
        return Ok(HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "application/xml"))
            .body(nuspec));
    }
    if file != nupkg_name(&id, &version) {
        return Err(CoreError::not_found("Package file").into());
    }
    let download = core
        .download_hosted_file(&package_ref(Owner::Company(group), &id), &version, &file)
        .await?;
    Ok(file_response(download, "application/octet-stream"))
}

/// NuGet's timestamps (UTC, milliseconds); unlisted versions are published in 1900, as the gallery does.
fn published(version: &PackageVersion, listed: bool) -> String {
    if listed {
        version
            .created_at
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    } else {
        "1900-01-01T00:00:00.000Z".into()
    }
}

/// A registration leaf with its catalog entry.
pub(crate) fn render_leaf(base: &str, package: &Package, version: &PackageVersion) -> Value {
    let metadata = version_metadata(version);
    let lower_id = &package.normalized_name;
    let ver = &version.version;
    let leaf_url = format!("{base}/registration/{lower_id}/{ver}.json");
    let content = format!(
        "{base}/v3-flatcontainer/{lower_id}/{ver}/{}",
        nupkg_name(lower_id, ver)
    );
    let listed = metadata["listed"].as_bool().unwrap_or(true);
    let groups: Vec<DependencyGroup> =
        serde_json::from_value(metadata["dependencyGroups"].clone()).unwrap_or_default();
    let dependency_groups: Vec<Value> = groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let group_url = format!("{leaf_url}#dependencygroup/{g}");
            let dependencies: Vec<Value> = group
                .dependencies
                .iter()
                .map(|d| {
                    json!({
                        "@id": format!("{group_url}/{}", d.id.to_ascii_lowercase()),
                        "id": d.id,
                        "range": if d.range.is_empty() { "(, )" } else { d.range.as_str() },
                        "registration": format!(
                            "{base}/registration/{}/index.json",
                            d.id.to_ascii_lowercase()
                        ),
                    })
                })
                .collect();
            let mut value = json!({"@id": group_url, "dependencies": dependencies});
            if !group.target_framework.is_empty() {
                value["targetFramework"] = json!(group.target_framework);
            }
            value
        })
        .collect();
    json!({
        "@id": leaf_url,
        "@type": "Package",
        "catalogEntry": {
            "@id": leaf_url,
            "@type": "PackageDetails",
            "id": metadata["id"].as_str().unwrap_or(&package.name),
            "version": ver,
            "description": metadata["description"].as_str().unwrap_or_default(),
            "authors": metadata["authors"].as_str().unwrap_or_default(),
            "tags": metadata["tags"].as_array().cloned().unwrap_or_default(),
            "dependencyGroups": dependency_groups,
            "listed": listed,
            "published": published(version, listed),
            "packageContent": content,
        },
        "listed": listed,
        "packageContent": content,
        "published": published(version, listed),
        "registration": format!("{base}/registration/{lower_id}/index.json"),
    })
}

/// A registration index with one page, its leaves inlined.
pub(crate) fn render_registration(
    base: &str,
    package: &Package,
    versions: &[PackageVersion],
) -> Value {
    let index_url = format!("{base}/registration/{}/index.json", package.normalized_name);
    let leaves: Vec<Value> = versions
        .iter()
        .map(|v| render_leaf(base, package, v))
        .collect();
    let lower = versions
        .first()
        .map(|v| v.version.as_str())
        .unwrap_or_default();
    let upper = versions
        .last()
        .map(|v| v.version.as_str())
        .unwrap_or_default();
    json!({
        "@id": index_url,
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": 1,
        "items": [{
            "@id": format!("{index_url}#page/{lower}/{upper}"),
            "@type": "catalog:CatalogPage",
            "count": leaves.len(),
            "lower": lower,
            "upper": upper,
            "parent": index_url,
            "items": leaves,
        }],
    })
}

async fn registration_index(
    req: HttpRequest,
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, id) = path.into_inner();
    let (_, package) = group_package(&core, &actor, &group_path, &id).await?;
    let versions: Vec<PackageVersion> = package_versions(&core, &package)
        .await?
        .into_iter()
        .map(|(version, _)| version)
        .collect();
    if versions.is_empty() {
        return Err(CoreError::not_found("Package").into());
    }
    let base = repository_url(&req, &core, &group_path);
    Ok(HttpResponse::Ok().json(render_registration(&base, &package, &versions)))
}

async fn registration_leaf(
    req: HttpRequest,
    core: CoreData,
    actor: NugetActor,
    path: web::Path<(String, String, String)>,
) -> HostedResult<HttpResponse> {
    let (group_path, id, leaf) = path.into_inner();
    let version = leaf
        .strip_suffix(".json")
        .ok_or_else(|| CoreError::not_found("Package version"))?;
    let (_, package) = group_package(&core, &actor, &group_path, &id).await?;
    let found = core
        .find_hosted_version(&package, &path_version(version))
        .await?;
    let base = repository_url(&req, &core, &group_path);
    Ok(HttpResponse::Ok().json(render_leaf(&base, &package, &found.version)))
}

/// The search query's parameters.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    skip: Option<String>,
    #[serde(default)]
    take: Option<String>,
    #[serde(default)]
    prerelease: Option<String>,
}

async fn search(
    req: HttpRequest,
    core: CoreData,
    actor: NugetActor,
    path: web::Path<String>,
) -> HostedResult<HttpResponse> {
    let group_path = path.into_inner();
    let group = core
        .company_for(&actor.0, &group_path, Need::Install)
        .await?;
    let query = web::Query::<SearchQuery>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("invalid search query: {e}")))?
        .into_inner();
    let number = |value: &Option<String>, default: usize| -> CoreResult<usize> {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| bad_request(format!("{v:?} is not a number"))),
        }
    };
    let skip = number(&query.skip, 0)?;
    let take = number(&query.take, 20)?.min(MAX_TAKE);
    let prerelease = query
        .prerelease
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("true"));
    let terms: Vec<String> = query
        .q
        .split_whitespace()
        .map(|t| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("packageid:")
                .or_else(|| t.strip_prefix("id:"))
                .map_or(t.clone(), str::to_owned)
        })
        .collect();
    let base = repository_url(&req, &core, &group_path);
    let mut hits = Vec::new();
    for package in core
        .list_company_packages(&group, PackageType::Nuget)
        .await?
    {
        if !terms
            .iter()
            .all(|term| package.normalized_name.contains(term.as_str()))
        {
            continue;
        }
        let versions: Vec<PackageVersion> = package_versions(&core, &package)
            .await?
            .into_iter()
            .map(|(version, _)| version)
            .filter(|v| version_metadata(v)["listed"].as_bool().unwrap_or(true))
            .filter(|v| prerelease || !v.version.contains('-'))
            .collect();
        let Some(latest) = versions.last() else {
            continue;
        };
        hits.push(render_search_hit(&base, &package, latest, &versions));
    }
    let total = hits.len();
    let data: Vec<Value> = hits.into_iter().skip(skip).take(take).collect();
    Ok(HttpResponse::Ok().json(json!({"totalHits": total, "data": data})))
}

fn render_search_hit(
    base: &str,
    package: &Package,
    latest: &PackageVersion,
    versions: &[PackageVersion],
) -> Value {
    let metadata = version_metadata(latest);
    let lower_id = &package.normalized_name;
    let registration = format!("{base}/registration/{lower_id}/index.json");
    json!({
        "@id": registration,
        "@type": "Package",
        "registration": registration,
        "id": metadata["id"].as_str().unwrap_or(&package.name),
        "version": latest.version,
        "description": metadata["description"].as_str().unwrap_or_default(),
        "authors": metadata["authors"].as_str().unwrap_or_default(),
        "tags": metadata["tags"].as_array().cloned().unwrap_or_default(),
        "totalDownloads": versions.iter().map(|v| v.download_count).sum::<i64>(),
        "packageTypes": [{"name": "Dependency"}],
        "versions": versions
            .iter()
            .map(|v| json!({
                "version": v.version,
                "downloads": v.download_count,
                "@id": format!("{base}/registration/{lower_id}/{}.json", v.version),
            }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertises_every_alias() {
        let index = render_service_index("http://h/company/g/package/-/nuget");
        let types: Vec<&str> = index["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["@type"].as_str().unwrap())
            .collect();
        for wanted in [
            "PackagePublish/2.0.0",
            "PackageBaseAddress/3.0.0",
            "RegistrationsBaseUrl",
            "RegistrationsBaseUrl/3.0.0-beta",
            "RegistrationsBaseUrl/3.0.0-rc",
            "RegistrationsBaseUrl/3.4.0",
            "RegistrationsBaseUrl/3.6.0",
            "SearchQueryService",
            "SearchQueryService/3.0.0-beta",
            "SearchQueryService/3.0.0-rc",
            "SearchQueryService/3.5.0",
        ] {
            assert!(types.contains(&wanted), "{wanted}");
        }
    }

    #[test]
    fn unquotes_the_boundary() {
        assert_eq!(
            unquote_boundary("multipart/form-data; boundary=\"abc-1\""),
            "multipart/form-data; boundary=abc-1"
        );
        assert_eq!(
            unquote_boundary("multipart/form-data; boundary=abc"),
            "multipart/form-data; boundary=abc"
        );
    }
}
