//! npm routes: GitFlic's content routes and, under `/company/{group}/package/-/npm/`, the registry
//! protocol npm speaks.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io::{BufReader, Seek, SeekFrom};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE, VARY, WWW_AUTHENTICATE};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use packyard_core::hosted::{FileUpload, Owner, PackageRef, ReceivedFile, StoredFile};
use packyard_core::identity::{Actor, Credential, Need};
use packyard_core::rows::{Group, Package};
use packyard_core::{Core, CoreError, CoreResult, ListedMetadata};
use packyard_domain::{PackageType, UploadType};
use packyard_http::CoreData;
use packyard_http::hosted::{
    BASIC_CHALLENGE, HostedActor, HostedError, HostedResult, PackageFileModel, file_response,
    hosted_error_message, payload_stream,
};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use crate::attachment::{decode_attachment, measure_document};
use crate::manifest::{Manifest, read_tarball_manifest};
use crate::name::{NpmName, is_valid_tag, is_valid_version};
use crate::packument::{
    ABBREVIATED, ABBREVIATED_CLOSING, PackageHead, StoredDocument, VersionDist, install_fields,
};
use crate::publish::PackageUpdate;

/// The registry URL users configure, in the company scope.
const BASE: &str = "/npm";
/// What a package document may hold besides the base64 tarball: its version documents and dist-tags,
/// which are read into memory.
const PUBLISH_SLACK: u64 = packyard_core::DOCUMENTS_BESIDE_A_FILE;
/// The largest version document (a `package.json` with its readme), kept and served with the version.
const VERSION_DOCUMENT_MAX: u64 = packyard_domain::limits::METADATA_DOCUMENT_MAX;
/// The largest install fields of a version (its dependencies, bin, engines, …: what the abbreviated
/// document serves), far above any real package's.
const INSTALL_FIELDS_MAX: u64 = 1024 * 1024;
/// The largest body of the small JSON requests (login, dist-tags).
const MAX_SMALL_BODY: usize = 64 * 1024;
/// Tarballs are served as the npm registry serves them.
pub(crate) const TARBALL_TYPE: &str = "application/octet-stream";

/// Registers the GitFlic content routes, relative to `packyard_http::hosted::GLOBAL_SCOPE`.
pub fn configure_global(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/npm/{packageName}/{packageVersion}/{fileName}")
            .route(web::get().to(global_download))
            .route(web::put().to(global_upload)),
    )
    .service(
        web::resource("/npm/{packageName}/{packageScope}/{packageVersion}/{fileName}")
            .route(web::get().to(global_download))
            .route(web::put().to(global_upload)),
    );
}

/// Registers the client protocol, relative to `packyard_http::hosted::COMPANY_SCOPE`.
pub fn configure_company(cfg: &mut web::ServiceConfig) {
    // What `npm install` asks for first: no other route's paths have these shapes.
    cfg.service(
        web::resource([
            format!("{BASE}/{{name}}/-/{{file}}"),
            format!("{BASE}/@{{scope}}/{{name}}/-/{{file}}"),
        ])
        .route(web::get().to(tarball)),
    )
    .service(
        web::resource([
            format!("{BASE}/{{name}}"),
            format!("{BASE}/@{{scope}}/{{name}}"),
        ])
        .route(web::get().to(packument))
        .route(web::put().to(publish)),
    )
    .service(
        web::resource([
            BASE.to_owned(),
            format!("{BASE}/"),
            format!("{BASE}/-/ping"),
        ])
        .route(web::get().to(ping)),
    )
    .service(web::resource(format!("{BASE}/-/whoami")).route(web::get().to(whoami)))
    .service(web::resource(format!("{BASE}/-/user/{{user}}")).route(web::put().to(login)))
    // No web login: npm falls back to the CouchDB login on a 4xx.
    .service(web::resource(format!("{BASE}/-/v1/login")).to(no_web_login))
    .service(
        web::resource([
            format!("{BASE}/-/package/{{name}}/dist-tags"),
            format!("{BASE}/-/package/@{{scope}}/{{name}}/dist-tags"),
        ])
        .route(web::get().to(list_tags)),
    )
    .service(
        web::resource([
            format!("{BASE}/-/package/{{name}}/dist-tags/{{tag}}"),
            format!("{BASE}/-/package/@{{scope}}/{{name}}/dist-tags/{{tag}}"),
        ])
        .route(web::put().to(set_tag))
        .route(web::delete().to(delete_tag)),
    )
    // npm unpublish: the document without a version, the tarball, the whole package.
    .service(
        web::resource([
            format!("{BASE}/{{name}}/-rev/{{rev}}"),
            format!("{BASE}/@{{scope}}/{{name}}/-rev/{{rev}}"),
        ])
        .route(web::put().to(rewrite))
        .route(web::delete().to(unpublish_package)),
    )
    .service(
        web::resource([
            format!("{BASE}/{{name}}/-/{{file}}/-rev/{{rev}}"),
            format!("{BASE}/@{{scope}}/{{name}}/-/{{file}}/-rev/{{rev}}"),
        ])
        .route(web::delete().to(unpublish_tarball)),
    );
}

/// A core error as npm reads it: `{"error": …}`, which npm prints after the status line. The status
/// and challenge are the hosted surfaces'.
#[derive(Debug)]
struct NpmError(HostedError);

type NpmResult<T> = Result<T, NpmError>;

impl<E: Into<CoreError>> From<E> for NpmError {
    fn from(error: E) -> Self {
        NpmError(HostedError(error.into()))
    }
}

impl std::fmt::Display for NpmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for NpmError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let error = &self.0.0;
        let mut response = packyard_http::error_response_builder(error);
        if matches!(error, CoreError::Unauthorized) {
            response.insert_header((WWW_AUTHENTICATE, BASIC_CHALLENGE));
        }
        // The npm registry's own answer to an unknown package, which npm recognises.
        let message = match error {
            CoreError::NotFound(_) => "Not found".to_owned(),
            other => hosted_error_message(other),
        };
        response.json(json!({ "error": message }))
    }
}

/// An authenticated npm client: a personal or deploy token as `Authorization: Bearer` (or any form the
/// hosted surfaces accept); 401 with a Basic challenge otherwise.
struct NpmActor(Actor);

impl FromRequest for NpmActor {
    type Error = NpmError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let actor = HostedActor::from_request(req, payload);
        Box::pin(async move { actor.await.map(|actor| NpmActor(actor.0)).map_err(NpmError) })
    }
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

fn parse_name(text: &str) -> CoreResult<NpmName> {
    NpmName::parse(text).ok_or_else(|| {
        bad_request(format!(
            "{text:?} is not a valid package name: use name or @scope/name with letters, digits, \
             '-', '.', '_' and '~', not starting with '.' or '_'"
        ))
    })
}

fn check_version(version: &str) -> CoreResult<()> {
    if is_valid_version(version) {
        Ok(())
    } else {
        Err(bad_request(format!("{version:?} is not a valid version")))
    }
}

/// The package a request names: `{name}`, `@{scope}/{name}` or `@scope%2fname`.
pub(crate) fn requested_name(req: &HttpRequest) -> CoreResult<NpmName> {
    let info = req.match_info();
    let name = info.get("name").unwrap_or_default();
    match info.get("scope") {
        Some(scope) => NpmName::scoped(scope, name)
            .ok_or_else(|| bad_request(format!("@{scope}/{name} is not a valid package name"))),
        None => parse_name(name),
    }
}

fn group_path(req: &HttpRequest) -> String {
    req.match_info().get("group").unwrap_or_default().to_owned()
}

pub(crate) fn package_ref(owner: Owner, name: &NpmName) -> PackageRef {
    PackageRef {
        group_name: name.scope.clone().unwrap_or_default(),
        ..PackageRef::named(owner, PackageType::Npm, &name.full(), name.normalized())
    }
}

/// Where this registry is reached: the configured external URL, else the request's scheme and host.
fn registry_url(req: &HttpRequest, core: &Core, group: &str) -> String {
    let origin = match &core.settings().external_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{origin}/company/{group}/package/-/npm")
}

/// Reads a tarball's `package.json` out of the spooled upload and checks it names the package and
/// version; the upload is discarded when it does not.
async fn checked_manifest(
    mut received: ReceivedFile,
    name: &NpmName,
    version: &str,
) -> CoreResult<(Manifest, ReceivedFile)> {
    let checked = async {
        let manifest = received
            .inspect(|file| {
                read_tarball_manifest(file)
                    .map_err(|e| bad_request(format!("invalid package tarball: {e}")))
            })
            .await?;
        if NpmName::parse(manifest.name()).map(|n| n.normalized()) != Some(name.normalized()) {
            return Err(bad_request(format!(
                "the tarball's package.json names package {:?}, not {:?}",
                manifest.name(),
                name.full()
            )));
        }
        if manifest.version() != version {
            return Err(bad_request(format!(
                "the tarball's package.json has version {:?}, not {version:?}",
                manifest.version()
            )));
        }
        Ok(manifest)
    }
    .await;
    match checked {
        Ok(manifest) => Ok((manifest, received)),
        Err(error) => {
            received.discard().await;
            Err(error)
        }
    }
}

/// The name and version GitFlic's content routes carry.
fn global_target(req: &HttpRequest) -> CoreResult<(NpmName, String, String)> {
    let info = req.match_info();
    let bare = info.get("packageName").unwrap_or_default();
    let name = match info.get("packageScope") {
        Some(scope) => NpmName::scoped(scope, bare)
            .ok_or_else(|| bad_request(format!("@{scope}/{bare} is not a valid package name")))?,
        None => parse_name(bare)?,
    };
    let version = info.get("packageVersion").unwrap_or_default().to_owned();
    let file_name = info.get("fileName").unwrap_or_default().to_owned();
    check_version(&version)?;
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'+' | b'~');
    if !file_name.ends_with(".tgz") || file_name.starts_with('.') || !file_name.bytes().all(plain) {
        return Err(bad_request(format!(
            "{file_name:?} is not a package tarball name (name-version.tgz)"
        )));
    }
    Ok((name, version, file_name))
}

async fn global_download(
    req: HttpRequest,
    core: CoreData,
    actor: HostedActor,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, false)?;
    let (name, version, file_name) = global_target(&req)?;
    let download = core
        .download_hosted_file(&package_ref(Owner::Global, &name), &version, &file_name)
        .await?;
    Ok(file_response(download, TARBALL_TYPE))
}

async fn global_upload(
    req: HttpRequest,
    core: CoreData,
    actor: HostedActor,
    body: web::Payload,
) -> HostedResult<HttpResponse> {
    core.require_package_admin(&actor.0, true)?;
    let (name, version, file_name) = global_target(&req)?;
    let received = core.receive_file(payload_stream(body), true).await?;
    let (manifest, received) = checked_manifest(received, &name, &version).await?;
    let index_metadata = match checked_install_fields(&manifest.0) {
        Ok(fields) => fields,
        Err(error) => {
            received.discard().await;
            return Err(error.into());
        }
    };
    let upload = FileUpload {
        version_metadata: Some(Value::Object(manifest.0)),
        index_metadata: Some(index_metadata),
        ..FileUpload::new(&version, &file_name, UploadType::Api)
    };
    let stored = core
        .store_hosted_file(&package_ref(Owner::Global, &name), upload, received)
        .await?;
    Ok(HttpResponse::Ok().json(PackageFileModel::from(&stored.file)))
}

/// `npm ping`, and the registry root.
async fn ping() -> HttpResponse {
    HttpResponse::Ok().json(json!({}))
}

async fn whoami(req: HttpRequest, core: CoreData, actor: NpmActor) -> NpmResult<HttpResponse> {
    core.company_for(&actor.0, &group_path(&req), Need::Install)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "username": actor.0.username() })))
}

/// Reads a small JSON request body.
async fn small_json(mut body: web::Payload) -> CoreResult<Value> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("the body could not be read: {e}")))?;
        if bytes.len() + chunk.len() > MAX_SMALL_BODY {
            return Err(CoreError::TooLarge(format!(
                "the body is larger than {MAX_SMALL_BODY} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}

/// `npm login --auth-type=legacy`: the password is a packyard token, answered back as the token npm
/// keeps. No user is created and nothing is stored.
async fn login(req: HttpRequest, core: CoreData, body: web::Payload) -> NpmResult<HttpResponse> {
    let body = small_json(body).await?;
    let password = body["password"]
        .as_str()
        .filter(|p| !p.is_empty())
        .ok_or(CoreError::Unauthorized)?
        .to_owned();
    let actor = core
        .authenticate(Credential::DeployOrPersonal(password.clone()))
        .await?;
    core.company_for(&actor, &group_path(&req), Need::Install)
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "ok": true,
        "id": format!("org.couchdb.user:{}", actor.username()),
        "token": password,
    })))
}

async fn no_web_login() -> NpmResult<HttpResponse> {
    Err(CoreError::not_found("Web login").into())
}

/// The group a registry request names and its package, if the actor may `need` there.
async fn find_package(
    req: &HttpRequest,
    core: &Core,
    actor: &Actor,
    need: Need,
) -> CoreResult<(Group, NpmName, Package)> {
    let group = core.company_for(actor, &group_path(req), need).await?;
    let name = requested_name(req)?;
    let package = core
        .find_hosted_package_by_ref(&package_ref(Owner::Company(group.clone()), &name))
        .await?;
    Ok((group, name, package))
}

/// The dist-tags to show: the stored ones, and `latest` as the version published last when none is.
async fn dist_tags(core: &Core, package: &Package) -> CoreResult<BTreeMap<String, String>> {
    let mut tags: BTreeMap<String, String> =
        core.list_dist_tags(package).await?.into_iter().collect();
    if !tags.contains_key("latest")
        && let Some(latest) = &package.latest_version
    {
        tags.insert("latest".into(), latest.clone());
    }
    Ok(tags)
}

async fn list_tags(req: HttpRequest, core: CoreData, actor: NpmActor) -> NpmResult<HttpResponse> {
    let (_, _, package) = find_package(&req, &core, &actor.0, Need::Install).await?;
    Ok(HttpResponse::Ok().json(dist_tags(&core, &package).await?))
}

fn requested_tag(req: &HttpRequest) -> CoreResult<String> {
    let tag = req.match_info().get("tag").unwrap_or_default().to_owned();
    if is_valid_tag(&tag) {
        Ok(tag)
    } else {
        Err(bad_request(format!(
            "{tag:?} is not a valid dist-tag: use letters, digits, '-', '.', '_' and '~', and not a version"
        )))
    }
}

/// `npm dist-tag add`: the body is the version as a JSON string.
async fn set_tag(
    req: HttpRequest,
    core: CoreData,
    actor: NpmActor,
    body: web::Payload,
) -> NpmResult<HttpResponse> {
    let (_, _, package) = find_package(&req, &core, &actor.0, Need::Publish).await?;
    let tag = requested_tag(&req)?;
    let version = small_json(body).await?;
    let version = version
        .as_str()
        .ok_or_else(|| bad_request("the body must be the version as a JSON string"))?;
    core.set_dist_tag(&package, &tag, version).await?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// `npm dist-tag rm`; `latest` stays.
async fn delete_tag(req: HttpRequest, core: CoreData, actor: NpmActor) -> NpmResult<HttpResponse> {
    let (_, _, package) = find_package(&req, &core, &actor.0, Need::Publish).await?;
    let tag = requested_tag(&req)?;
    if tag == "latest" {
        return Err(bad_request("the latest dist-tag cannot be removed").into());
    }
    core.delete_dist_tag(&package, &tag).await?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// The package document, full or abbreviated as the `Accept` header asks, streamed a page of versions
/// at a time.
async fn packument(req: HttpRequest, core: CoreData, actor: NpmActor) -> NpmResult<HttpResponse> {
    let (_, name, package) = find_package(&req, &core, &actor.0, Need::Install).await?;
    let tarballs = format!(
        "{}/{}/-/",
        registry_url(&req, &core, &group_path(&req)),
        name.full()
    );
    Ok(hosted_document(&req, &core, package, tarballs).await?)
}

/// A hosted package's document, full or abbreviated as the request's `Accept` asks, with its tarballs
/// under `tarballs` (up to the file name): the group's registry, or a virtual registry whose local
/// upstream the group is.
pub(crate) async fn hosted_document(
    req: &HttpRequest,
    core: &CoreData,
    package: Package,
    tarballs: String,
) -> CoreResult<HttpResponse> {
    let head = PackageHead {
        name: package.name.clone(),
        dist_tags: dist_tags(core, &package).await?,
        created: package.created_at,
        modified: package.updated_at,
        revision: format!("1-{}", package.uuid.replace('-', "")),
    };
    let abbreviated = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(ABBREVIATED));
    let (content_type, form, opening) = if abbreviated {
        let opening = vec![head.abbreviated_opening().into()];
        (ABBREVIATED, Form::Abbreviated, opening)
    } else {
        let latest = match head.dist_tags.get("latest") {
            Some(latest) => match core.find_hosted_version(&package, latest).await {
                Ok(found) => found.version.metadata,
                Err(CoreError::NotFound(_)) => None,
                Err(error) => return Err(error),
            },
            None => None,
        };
        let opening = head.full_opening(&StoredDocument::new(latest));
        ("application/json", Form::Full, opening)
    };
    let writer = DocumentWriter {
        core: core.clone(),
        tarballs,
        package,
        head,
        form,
        pending: opening.into(),
        after: 0,
        published: Vec::new(),
        written: 0,
        done: false,
    };
    let body = futures_util::stream::unfold(writer, |mut writer| async move {
        let piece = writer.next_piece().await?;
        Some((piece, writer))
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((VARY, "Accept"))
        .streaming(body))
}

/// Which package document a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `npm install`'s: each version's install fields, stored apart at publish and spliced in.
    Abbreviated,
    /// Everything published, each version document read and rewritten one at a time.
    Full,
}

impl Form {
    /// Versions read from the database at once: a page's documents are all that is held in memory
    /// (install fields are capped at [`INSTALL_FIELDS_MAX`], version documents at
    /// [`VERSION_DOCUMENT_MAX`]).
    fn page(self) -> i64 {
        match self {
            Form::Abbreviated => 16,
            Form::Full => 1,
        }
    }
}

/// Writes a package document in pieces: the opening, a page of versions at a time, the closing.
struct DocumentWriter {
    core: CoreData,
    package: Package,
    head: PackageHead,
    /// Where the package's tarballs are served, up to the file name.
    tarballs: String,
    form: Form,
    /// Pieces written and not yet sent.
    pending: VecDeque<bytes::Bytes>,
    /// The row id of the last version written.
    after: i64,
    /// The versions written and when they were published (the full document's `time`).
    published: Vec<(String, chrono::NaiveDateTime)>,
    /// How many versions are written.
    written: usize,
    done: bool,
}

impl DocumentWriter {
    /// The next piece of the document, or `None` after the closing. An error ends the stream, which
    /// aborts the response: a client never reads a cut document as a whole one.
    async fn next_piece(&mut self) -> Option<CoreResult<bytes::Bytes>> {
        loop {
            if let Some(piece) = self.pending.pop_front() {
                return Some(Ok(piece));
            }
            if self.done {
                return None;
            }
            match self.versions().await {
                Ok(Some(entries)) => self.pending = entries,
                Ok(None) => {
                    self.done = true;
                    return Some(Ok(match self.form {
                        Form::Abbreviated => ABBREVIATED_CLOSING.to_owned(),
                        Form::Full => self.head.full_closing(&self.published),
                    }
                    .into()));
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// The pieces of the next page of versions, or `None` when every version is written.
    async fn versions(&mut self) -> CoreResult<Option<VecDeque<bytes::Bytes>>> {
        let listed = match self.form {
            Form::Abbreviated => ListedMetadata::Index,
            Form::Full => ListedMetadata::Whole,
        };
        let rows = self
            .core
            .list_hosted_version_page(&self.package, ".tgz", self.after, self.form.page(), listed)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut entries = VecDeque::new();
        for row in rows {
            // One tarball per version; a page may end between two files of the same version.
            if row.version_id == self.after {
                continue;
            }
            self.after = row.version_id;
            let dist = VersionDist {
                tarball_url: format!("{}{}", self.tarballs, row.file_name),
                sha1: row.file_sha1,
                sha512: row.file_sha512,
                version: row.version,
            };
            if self.written > 0 {
                entries.push_back(bytes::Bytes::from_static(b","));
            }
            match self.form {
                Form::Abbreviated => {
                    let fields = match row.metadata {
                        Some(fields) => fields,
                        // Stored before install fields were kept apart.
                        None => install_fields(&version_manifest(
                            self.core
                                .find_hosted_version(&self.package, &dist.version)
                                .await?
                                .version
                                .metadata
                                .as_deref(),
                        )),
                    };
                    entries.push_back(dist.abbreviated_entry(&self.head.name, &fields).into());
                }
                Form::Full => {
                    self.published.push((dist.version.clone(), row.created_at));
                    let name = self.head.name.clone();
                    let stored = StoredDocument::new(row.metadata);
                    // Scanning a document of megabytes for its fields is blocking work.
                    let entry =
                        tokio::task::spawn_blocking(move || dist.full_entry(&name, &stored))
                            .await
                            .map_err(|e| {
                                CoreError::Internal(format!("writing a package document: {e}"))
                            })?;
                    entries.extend(entry);
                }
            }
            self.written += 1;
        }
        Ok(Some(entries))
    }
}

/// The install fields of a version document, refused past [`INSTALL_FIELDS_MAX`].
fn checked_install_fields(manifest: &Map<String, Value>) -> CoreResult<String> {
    let fields = install_fields(manifest);
    if fields.len() as u64 > INSTALL_FIELDS_MAX {
        return Err(CoreError::TooLarge(format!(
            "the fields npm installs with (dependencies, bin, engines, …) are limited to \
             {INSTALL_FIELDS_MAX} bytes per version"
        )));
    }
    Ok(fields)
}

/// A stored version document; empty when there is none.
fn version_manifest(metadata: Option<&str>) -> Map<String, Value> {
    metadata
        .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
        .unwrap_or_default()
}

async fn tarball(req: HttpRequest, core: CoreData, actor: NpmActor) -> NpmResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &group_path(&req), Need::Install)
        .await?;
    let name = requested_name(&req)?;
    let file_name = req.match_info().get("file").unwrap_or_default().to_owned();
    let version = name
        .version_of_tarball(&file_name)
        .ok_or_else(|| CoreError::not_found("Package file"))?;
    let download = core
        .download_hosted_file(
            &package_ref(Owner::Company(group), &name),
            version,
            &file_name,
        )
        .await?;
    Ok(file_response(download, TARBALL_TYPE))
}

/// Streams a request body into a spool file, refusing it past `cap` bytes.
async fn spool_body(core: &Core, mut body: web::Payload, cap: u64) -> CoreResult<std::fs::File> {
    let file = tempfile::tempfile_in(&core.settings().spool_dir)
        .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("upload interrupted: {e}")))?;
        size += chunk.len() as u64;
        if size > cap {
            return Err(CoreError::TooLarge(format!(
                "the publish document is larger than {cap} bytes"
            )));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| CoreError::from_write("spool write", e))?;
    }
    file.flush()
        .await
        .map_err(|e| CoreError::from_write("spool write", e))?;
    Ok(file.into_std().await)
}

/// Spools and reads the body of a `PUT` of a package document, under a cap: the largest file in base64,
/// plus room for the version documents.
async fn read_update(
    core: &Core,
    body: web::Payload,
) -> CoreResult<(PackageUpdate, std::fs::File)> {
    let cap = core.settings().max_request_body();
    let spooled = spool_body(core, body, cap).await?;
    tokio::task::spawn_blocking(move || {
        let mut reader = spooled
            .try_clone()
            .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
        let rewind = |reader: &mut std::fs::File| {
            reader
                .seek(SeekFrom::Start(0))
                .map_err(|e| CoreError::Internal(format!("spool file: {e}")))
        };
        // Measured before it is parsed: parsing holds what is measured in memory.
        rewind(&mut reader)?;
        let size = measure_document(BufReader::new(&mut reader))
            .map_err(|e| bad_request(format!("the publish document is not valid: {}", e.0)))?;
        if size.largest_version > VERSION_DOCUMENT_MAX {
            return Err(CoreError::TooLarge(format!(
                "a version document is limited to {VERSION_DOCUMENT_MAX} bytes"
            )));
        }
        if size.without_attachments > PUBLISH_SLACK {
            return Err(CoreError::TooLarge(format!(
                "a package document without its tarball is limited to {PUBLISH_SLACK} bytes"
            )));
        }
        rewind(&mut reader)?;
        let update = PackageUpdate::read(BufReader::new(reader)).map_err(|e| bad_request(e.0))?;
        Ok((update, spooled))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("reading a publish document: {e}")))?
}

/// The tarball of a spooled publish document, decoded on the blocking pool and handed over through a
/// small channel: at most a few chunks are in memory.
fn attachment_stream(
    spooled: std::fs::File,
) -> futures_util::stream::LocalBoxStream<'static, std::io::Result<bytes::Bytes>> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut spooled = spooled;
        let decoded = spooled
            .seek(SeekFrom::Start(0))
            .map_err(|e| e.to_string())
            .and_then(|_| {
                decode_attachment(BufReader::new(spooled), |chunk| {
                    sender.blocking_send(Ok(chunk)).is_ok()
                })
                .map_err(|e| e.0)
            });
        if let Err(message) = decoded {
            // The receiver may be gone already; then nobody needs the reason.
            let _ = sender.blocking_send(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                message,
            )));
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
    .boxed_local()
}

/// `npm publish`: a JSON document with the version and its tarball as a base64 attachment. The
/// document is spooled under a cap (the largest file in base64, plus room for the version document),
/// then read; the tarball is decoded a chunk at a time into storage.
async fn publish(
    req: HttpRequest,
    core: CoreData,
    actor: NpmActor,
    body: web::Payload,
) -> NpmResult<HttpResponse> {
    let group = core
        .company_for(&actor.0, &group_path(&req), Need::Publish)
        .await?;
    let name = requested_name(&req)?;
    let (update, spooled) = read_update(&core, body).await?;
    let publication = match update {
        PackageUpdate::Publish(publication) => publication,
        PackageUpdate::Document {
            name: named,
            messages,
            ..
        } => return deprecate(&core, group, &name, &named, messages).await,
    };
    if NpmName::parse(&publication.name).map(|n| n.normalized()) != Some(name.normalized()) {
        return Err(bad_request(format!(
            "the document publishes {:?}, not {:?}",
            publication.name,
            name.full()
        ))
        .into());
    }
    let version = publication.version.clone();
    check_version(&version)?;
    let index_metadata = checked_install_fields(&publication.manifest)?;
    // npm names the attachment after the full name (`@scope/name-1.0.0.tgz`); the file is kept under
    // the name its tarball URL has (`name-1.0.0.tgz`).
    let file_name = name.tarball_name(&version);
    let attachment_names = [format!("{}-{version}.tgz", name.full()), file_name.clone()];
    if !attachment_names.contains(&publication.file_name) {
        return Err(bad_request(format!(
            "the attachment is named {:?}, not {:?}",
            publication.file_name, attachment_names[0]
        ))
        .into());
    }
    let package = package_ref(Owner::Company(group), &name);
    let existing = match core.find_hosted_package_by_ref(&package).await {
        Ok(found) => Some(found),
        Err(CoreError::NotFound(_)) => None,
        Err(error) => return Err(error.into()),
    };
    if let Some(found) = &existing
        && core.find_hosted_version(found, &version).await.is_ok()
    {
        return Err(version_exists(&name, &version).into());
    }
    let received = core
        .receive_file(attachment_stream(spooled), true)
        .await
        .map_err(|error| match error {
            CoreError::BadRequest(message) => bad_request(
                message
                    .strip_prefix("upload interrupted: ")
                    .unwrap_or(&message)
                    .to_owned(),
            ),
            other => other,
        })?;
    if let Err(error) = publication.check_dist(&received.digests()) {
        received.discard().await;
        return Err(bad_request(error.0).into());
    }
    let (_, received) = checked_manifest(received, &name, &version).await?;
    let upload = FileUpload {
        version_metadata: Some(Value::Object(publication.manifest.clone())),
        index_metadata: Some(index_metadata),
        ..FileUpload::new(&version, &file_name, UploadType::Transport)
    };
    let stored: StoredFile = core.store_hosted_file(&package, upload, received).await?;
    if !stored.created {
        return Err(version_exists(&name, &version).into());
    }
    let tags = if publication.dist_tags.is_empty() {
        BTreeMap::from([("latest".to_owned(), version.clone())])
    } else {
        publication.dist_tags.clone()
    };
    for (tag, tagged) in &tags {
        core.set_dist_tag(&stored.package, tag, tagged).await?;
    }
    Ok(HttpResponse::Ok().json(json!({ "ok": true, "id": name.full() })))
}

/// `npm unpublish` of one version: the document comes back without it. Versions it no longer lists are
/// deleted, the deprecations it carries are kept, and its dist-tags are applied.
async fn rewrite(
    req: HttpRequest,
    core: CoreData,
    actor: NpmActor,
    body: web::Payload,
) -> NpmResult<HttpResponse> {
    let (group, name, package) = find_package(&req, &core, &actor.0, Need::Publish).await?;
    let PackageUpdate::Document {
        name: named,
        messages,
        dist_tags,
    } = read_update(&core, body).await?.0
    else {
        return Err(
            bad_request("a document sent back to the registry carries no attachments").into(),
        );
    };
    let stored: std::collections::BTreeSet<String> = core
        .list_hosted_files_with_versions(&package)
        .await?
        .into_iter()
        .map(|(version, _)| version.version)
        .collect();
    let removed: Vec<String> = stored
        .iter()
        .filter(|v| !messages.contains_key(*v))
        .cloned()
        .collect();
    if removed.len() == stored.len() {
        return Err(bad_request(
            "the document keeps no version; unpublish the whole package instead",
        )
        .into());
    }
    let kept: BTreeMap<String, Option<String>> = messages
        .into_iter()
        .filter(|(version, _)| stored.contains(version))
        .collect();
    deprecate(&core, group, &name, &named, kept).await?;
    core.delete_hosted_versions(&package, removed).await?;
    for (tag, version) in &dist_tags {
        if is_valid_tag(tag) && stored.contains(version) {
            match core.set_dist_tag(&package, tag, version).await {
                Ok(()) | Err(CoreError::NotFound(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "ok": true, "id": name.full() })))
}

/// `npm unpublish` of a version's tarball, after the document lost the version: deletes the version if
/// it is still there.
async fn unpublish_tarball(
    req: HttpRequest,
    core: CoreData,
    actor: NpmActor,
) -> NpmResult<HttpResponse> {
    let (_, name, package) = find_package(&req, &core, &actor.0, Need::Publish).await?;
    let file_name = req.match_info().get("file").unwrap_or_default();
    let version = name
        .version_of_tarball(file_name)
        .ok_or_else(|| CoreError::not_found("Package file"))?;
    core.delete_hosted_versions(&package, vec![version.to_owned()])
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// `npm unpublish` of a whole package (or of its only version).
async fn unpublish_package(
    req: HttpRequest,
    core: CoreData,
    actor: NpmActor,
) -> NpmResult<HttpResponse> {
    let (_, _, package) = find_package(&req, &core, &actor.0, Need::Publish).await?;
    core.delete_hosted_package(&package).await?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// `npm deprecate`: sets or lifts the deprecation message of each version the document lists.
async fn deprecate(
    core: &Core,
    group: Group,
    name: &NpmName,
    named: &str,
    messages: BTreeMap<String, Option<String>>,
) -> NpmResult<HttpResponse> {
    if NpmName::parse(named).map(|n| n.normalized()) != Some(name.normalized()) {
        return Err(bad_request(format!(
            "the document is about {named:?}, not {:?}",
            name.full()
        ))
        .into());
    }
    let package = core
        .find_hosted_package_by_ref(&package_ref(Owner::Company(group), name))
        .await?;
    // Every version first, so that a document naming an unknown version changes nothing.
    let mut found = Vec::with_capacity(messages.len());
    for (version, message) in messages {
        match core.find_hosted_version(&package, &version).await {
            Ok(info) => found.push((info.version, message)),
            Err(CoreError::NotFound(_)) => {
                return Err(bad_request(format!(
                    "version {version} is not published; publish it with its tarball"
                ))
                .into());
            }
            Err(error) => return Err(error.into()),
        }
    }
    for (found, message) in found {
        let mut manifest = version_manifest(found.metadata.as_deref());
        let current = manifest.get("deprecated").and_then(Value::as_str);
        if current == message.as_deref() {
            continue;
        }
        match message {
            Some(message) => manifest.insert("deprecated".into(), json!(message)),
            None => manifest.remove("deprecated"),
        };
        let fields = checked_install_fields(&manifest)?;
        core.set_hosted_version_metadata(&found, &Value::Object(manifest), Some(fields))
            .await?;
    }
    Ok(HttpResponse::Ok().json(json!({ "ok": true, "id": name.full() })))
}

fn version_exists(name: &NpmName, version: &str) -> CoreError {
    CoreError::Conflict(format!(
        "cannot publish over the previously published version {version} of {}",
        name.full()
    ))
}
