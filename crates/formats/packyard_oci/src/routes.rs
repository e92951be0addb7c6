//! `GET /jwt/auth`, `GET/HEAD /v2/` and `GET/HEAD /v2/virtual_registries/container/{id}/{path}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, ACCEPT_RANGES, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::TryStreamExt;
use packyard_core::identity::Credential;
use packyard_core::pull::{ContentAddress, PathClass, Want};
use packyard_core::registry_tokens::{REGISTRY_SERVICE, RegistryGrant};
use packyard_core::rows::Registry;
use packyard_core::{Core, CoreError};
use packyard_domain::{Format, RepositoryPath};
use packyard_http::{CoreData, head_body, stream_body};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::OciError;
use crate::manifest::{self, MAX_MANIFEST_SIZE, UPSTREAM_ACCEPT};
use crate::reference::{self, Reference, Target};

/// Where container clients find a virtual registry: `/v2/<PREFIX>/<id>/<image>/…`.
const PREFIX: &str = "virtual_registries/container";

/// Registers the token endpoint and the `/v2` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/jwt/auth").route(web::get().to(token)))
        .service(
            web::scope("/v2")
                .wrap(
                    DefaultHeaders::new().add(("Docker-Distribution-Api-Version", "registry/2.0")),
                )
                .service(web::resource(["", "/"]).route(web::get().to(ping)))
                .service(
                    web::resource(format!("/{PREFIX}/{{id}}/{{path:.*}}"))
                        // Named: the request metrics read a name without allocating.
                        .name("container.pull")
                        .route(web::get().to(pull)),
                )
                .default_service(web::to(|| async {
                    OciError::name_unknown("only virtual registries are served under /v2/")
                        .into_result()
                })),
        );
}

impl OciError {
    fn into_result(self) -> Result<HttpResponse, OciError> {
        Err(self)
    }
}

/// The URL clients reach this server at: the configured external URL, else the request's own.
fn external_url(req: &HttpRequest, core: &Core) -> String {
    match &core.settings().external_url {
        Some(url) => url.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// The `Bearer` challenge: the realm and the service only, as GitLab sends it; clients name the scope
/// they need themselves.
fn challenge(req: &HttpRequest, core: &Core) -> String {
    format!(
        r#"Bearer realm="{}/jwt/auth",service="{REGISTRY_SERVICE}""#,
        external_url(req, core)
    )
}

/// `error` as it is when packyard is briefly unavailable (its database), so that the client retries;
/// otherwise what `refused` makes of it.
fn unless_unavailable(error: CoreError, refused: impl FnOnce() -> OciError) -> OciError {
    match error {
        CoreError::Unavailable(_) => OciError::from_core(error, "UNKNOWN"),
        _ => refused(),
    }
}

/// The registry token a request carries, verified; `None` when there is none or it is not valid.
async fn bearer_grant(req: &HttpRequest, core: &Core) -> Result<Option<RegistryGrant>, OciError> {
    let Some((scheme, token)) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
    else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    match core.verify_registry_token(token.trim()).await {
        Ok(grant) => Ok(Some(grant)),
        Err(error @ CoreError::Unavailable(_)) => Err(OciError::from_core(error, "UNKNOWN")),
        Err(_) => Ok(None),
    }
}

/// `GET /v2/`: 200 with a valid registry token, otherwise the challenge.
async fn ping(req: HttpRequest, core: CoreData) -> Result<HttpResponse, OciError> {
    match bearer_grant(&req, &core).await? {
        Some(_) => Ok(HttpResponse::Ok().json(json!({}))),
        None => Err(OciError::unauthorized(challenge(&req, &core))),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some((username.to_owned(), password.to_owned())).filter(|(_, p)| !p.is_empty())
}

/// The virtual registries a token request's scopes name, with pull among their actions
/// (`repository:virtual_registries/container/<id>/<image>:pull`); other scopes are ignored.
fn requested_registries(query: &str) -> Vec<String> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut ids: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| value.split_whitespace())
        .filter_map(|scope| {
            let rest = scope.strip_prefix("repository:")?;
            let (name, actions) = rest.rsplit_once(':')?;
            if !actions.split(',').any(|a| a == "pull" || a == "*") {
                return None;
            }
            let id = name
                .strip_prefix(PREFIX)?
                .strip_prefix('/')?
                .split('/')
                .next()?;
            Some(id.to_owned())
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// True when the token request names the one service this server issues tokens for.
fn names_our_service(query: &str) -> bool {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default()
        .iter()
        .any(|(key, value)| key == "service" && value == REGISTRY_SERVICE)
}

/// `GET /jwt/auth?service=…&scope=…` with HTTP Basic (username or deploy token username, and a token):
/// a five-minute token for pulls from the virtual registries named in the scopes. Another service is
/// 404, as in GitLab. As there, whether the caller may pull is decided at the pull, so someone outside
/// the group gets a token and then the pull's 404, never a hint that the registry exists.
async fn token(req: HttpRequest, core: CoreData) -> Result<HttpResponse, OciError> {
    if !names_our_service(req.query_string()) {
        return Ok(HttpResponse::NotFound().finish());
    }
    let denied = || {
        OciError::new(
            StatusCode::FORBIDDEN,
            "DENIED",
            "access to the requested registry is denied",
        )
    };
    let unauthorized = || {
        let mut error = OciError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "invalid username or token",
        );
        error.challenge = Some(r#"Basic realm="packyard""#.to_owned());
        error
    };
    let (username, secret) = basic_credentials(req.headers()).ok_or_else(unauthorized)?;
    let actor = core
        .authenticate(Credential::DeployOrPersonal(secret))
        .await
        .map_err(|error| unless_unavailable(error, unauthorized))?;
    if !username.eq_ignore_ascii_case(actor.username()) {
        return Err(unauthorized());
    }
    let mut registries = Vec::new();
    for id in requested_registries(req.query_string()) {
        // A registry that does not exist is left out: its pull answers 404 before it looks at the token.
        let registry = match core.find_registry_by_text(Format::Container, &id).await {
            Ok(registry) => registry,
            Err(error @ CoreError::Unavailable(_)) => {
                return Err(OciError::from_core(error, "UNKNOWN"));
            }
            Err(_) => continue,
        };
        match core.authorize_pull(&actor, &registry).await {
            Ok(()) | Err(CoreError::NotFound(_)) => registries.push(registry.id),
            Err(CoreError::Forbidden) => return Err(denied()),
            Err(other) => return Err(OciError::from_core(other, "UNKNOWN")),
        }
    }
    let issued = core
        .issue_registry_token(&actor, registries)
        .map_err(|e| OciError::from_core(e, "UNKNOWN"))?;
    let issued_at = issued
        .issued_at
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(HttpResponse::Ok().json(json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued_at,
    })))
}

/// Authenticates and authorises a pull; answers the challenge when the token is missing,
/// invalid, expired or for another registry.
async fn authorized_registry(
    req: &HttpRequest,
    core: &Core,
    registry_id: &str,
) -> Result<Registry, OciError> {
    let unauthorized = || OciError::unauthorized(challenge(req, core));
    let grant = bearer_grant(req, core).await?.ok_or_else(unauthorized)?;
    let registry = core
        .find_registry_by_text(Format::Container, registry_id)
        .await
        .map_err(|error| {
            unless_unavailable(error, || {
                OciError::name_unknown("virtual registry not found")
            })
        })?;
    if !grant.registries.contains(&registry.id) {
        return Err(unauthorized());
    }
    core.authorize_pull(&grant.actor, &registry)
        .await
        .map_err(|e| OciError::from_core(e, "NAME_UNKNOWN"))?;
    Ok(registry)
}

/// The manifest or blob, from the cache or through it.
async fn pull(
    req: HttpRequest,
    core: CoreData,
    route: web::Path<(String, String)>,
) -> Result<HttpResponse, OciError> {
    let (registry_id, path) = route.into_inner();
    let parsed = reference::parse(&path);
    let registry = authorized_registry(&req, &core, &registry_id).await?;
    let reference =
        parsed.map_err(|e| OciError::new(StatusCode::BAD_REQUEST, e.code, e.message))?;
    let head = packyard_http::is_head(&req);
    match &reference.target {
        Target::Blob(digest) => blob(&core, &registry, &reference, digest, head).await,
        Target::Tag(_) | Target::ManifestDigest(_) => {
            let accepted = manifest::accepted(
                req.headers()
                    .get_all(ACCEPT)
                    .filter_map(|v| v.to_str().ok().map(str::to_owned)),
            );
            let mut served = fetch_manifest(&core, &registry, &reference).await?;
            if !manifest::acceptable(&accepted, &served.media_type) {
                let fallback = manifest::is_list(&served.media_type)
                    .then(|| manifest::default_platform_manifest(&served.body, &accepted))
                    .flatten()
                    .ok_or_else(|| {
                        OciError::new(
                            StatusCode::NOT_FOUND,
                            "MANIFEST_UNKNOWN",
                            format!(
                                "the manifest is a {} and the client accepts none of that type",
                                served.media_type
                            ),
                        )
                    })?;
                let platform = Reference {
                    image: reference.image.clone(),
                    target: Target::ManifestDigest(fallback),
                };
                served = fetch_manifest(&core, &registry, &platform).await?;
            }
            Ok(manifest_response(served))
        }
    }
}

fn want(reference: &Reference) -> Result<Want, OciError> {
    let path = RepositoryPath::parse(&reference.cache_path())
        .map_err(|e| OciError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", e.to_string()))?;
    let (class, address, accept) = match &reference.target {
        Target::Tag(_) => (PathClass::Artifact, None, Some(UPSTREAM_ACCEPT)),
        Target::ManifestDigest(digest) => (
            PathClass::Immutable,
            Some(ContentAddress {
                digest: digest.clone(),
                shared_within: "/manifests/",
            }),
            Some(UPSTREAM_ACCEPT),
        ),
        Target::Blob(digest) => (
            PathClass::Immutable,
            Some(ContentAddress {
                digest: digest.clone(),
                shared_within: "/blobs/",
            }),
            None,
        ),
    };
    Ok(Want {
        path,
        class,
        content_type_hint: None,
        accept,
        token_scope: Some(reference.pull_scope()),
        address,
        content_addressed: true,
        published_checksums: false,
        declared: None,
        source_url: None,
        pinned: None,
        strict_order: false,
    })
}

/// A whole manifest (small, capped) with its media type and digest.
struct ServedManifest {
    body: bytes::Bytes,
    media_type: String,
    digest: String,
}

async fn fetch_manifest(
    core: &Core,
    registry: &Registry,
    reference: &Reference,
) -> Result<ServedManifest, OciError> {
    let served = core
        .pull(registry, &want(reference)?)
        .await
        .map_err(|e| OciError::from_core(e, "MANIFEST_UNKNOWN"))?;
    if served
        .content_length
        .is_some_and(|length| length > MAX_MANIFEST_SIZE as u64)
    {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            format!("manifest is larger than {MAX_MANIFEST_SIZE} bytes"),
        ));
    }
    let body = served
        .body
        .try_fold(Vec::new(), |mut body, chunk| async move {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_MANIFEST_SIZE {
                return Err(std::io::Error::other("manifest too large"));
            }
            Ok(body)
        })
        .await
        .map_err(|e| {
            OciError::from_core(
                CoreError::UpstreamUnavailable(e.to_string()),
                "MANIFEST_UNKNOWN",
            )
        })?;
    let media_type = manifest::media_type(&served.content_type, &body).ok_or_else(|| {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            format!(
                "the upstream sent {} instead of a manifest",
                served.content_type
            ),
        )
    })?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    Ok(ServedManifest {
        body: body.into(),
        media_type,
        digest,
    })
}

fn content_headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((
            "Content-Security-Policy",
            "sandbox; default-src 'none'; require-trusted-types-for 'script'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"));
}

fn manifest_response(served: ServedManifest) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    content_headers(&mut response);
    response.insert_header((CONTENT_TYPE, served.media_type));
    packyard_http::set_validators(&mut response, &served.digest, None);
    response.insert_header(("Docker-Content-Digest", served.digest));
    // A HEAD is answered with this body's length and without the body (packyard_http::Ranges).
    response.body(served.body)
}

async fn blob(
    core: &Core,
    registry: &Registry,
    reference: &Reference,
    digest: &str,
    head: bool,
) -> Result<HttpResponse, OciError> {
    let want = want(reference)?;
    let mut response = HttpResponse::Ok();
    content_headers(&mut response);
    // Seekable: containerd resumes an interrupted blob with a `Range`.
    response
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((ACCEPT_RANGES, packyard_http::BYTES))
        .insert_header(("Docker-Content-Digest", digest.to_owned()));
    packyard_http::set_validators(&mut response, digest, None);
    if head {
        let probed = core
            .probe(registry, &want)
            .await
            .map_err(|e| OciError::from_core(e, "BLOB_UNKNOWN"))?;
        return Ok(response.body(head_body(probed.content_length)));
    }
    let served = core
        .pull(registry, &want)
        .await
        .map_err(|e| OciError::from_core(e, "BLOB_UNKNOWN"))?;
    if let Some(seekable) = served.seekable {
        response.extensions_mut().insert(seekable);
    }
    Ok(response.body(stream_body(served.content_length, served.body)))
}
