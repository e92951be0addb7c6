//! The pull-through path: cache lookup across a registry's upstreams by position, staleness and
//! revalidation, resolution by parallel HEADs, the single-flight fill, and checksum sidecars.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{Duration, NaiveDateTime};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use packyard_db::queries::{cache as cq, registries as rq};
use packyard_db::rows::{CacheEntry, Registry, Upstream};
use packyard_domain::RepositoryPath;
use packyard_upstream::{Credentials, Fetch, join_url};

use crate::fill::FillStart;
use crate::identity::{Actor, Need};
use crate::jobs::{JobKind, wake};
use crate::metrics::Revalidated;
use crate::{Core, CoreError, CoreResult};

/// What a format says a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathClass {
    /// An artifact: fresh for `cache_validity_hours`.
    Artifact,
    /// A mutable metadata document: fresh for `metadata_cache_validity_hours`.
    Metadata,
    /// Content named by its digest (OCI blobs, manifests by digest): never stale.
    Immutable,
}

/// A content address: the digest a body must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentAddress {
    /// `sha256:<hex>`.
    pub digest: String,
    /// A live entry of another path with this digest answers too when its path contains this
    /// (`/manifests/`: a manifest cached by tag answers its digest).
    pub shared_within: &'static str,
}

impl ContentAddress {
    /// The sha256 hex, when the digest is a sha256 one.
    pub fn sha256_hex(&self) -> Option<&str> {
        sha256_hex(&self.digest)
    }
}

/// The hex part of a `sha256:<hex>` digest.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What a client asks a virtual registry for, as its format describes it.
#[derive(Debug, Clone)]
pub struct Want {
    /// The validated path.
    pub path: RepositoryPath,
    /// How long a cached copy stays fresh.
    pub class: PathClass,
    /// Content type when the upstream sends none.
    pub content_type_hint: Option<&'static str>,
    /// The `Accept` header sent upstream.
    pub accept: Option<&'static str>,
    /// The token scope asked of upstreams that answer with a `Bearer` challenge.
    pub token_scope: Option<String>,
    /// The digest the body must have, when the request names one.
    pub address: Option<ContentAddress>,
    /// Registry protocol (OCI): a body is checked against the `Docker-Content-Digest` the upstream
    /// declares, and its entry's etag is its own `sha256:<hex>`.
    pub content_addressed: bool,
    /// The upstream may publish checksum files beside it (`.sha1`, `.sha256`, `.sha512`: Maven
    /// artifacts); when checksums are verified, a body that disagrees with one is not kept.
    pub published_checksums: bool,
    /// The digest a metadata document declares for the body (an npm packument's `integrity`, a PyPI
    /// index's `#sha256=`): a body with another digest is never kept, nor delivered whole.
    pub declared: Option<PublishedChecksum>,
    /// Where the upstream serves it, when its metadata names an absolute URL (npm tarballs, PyPI files)
    /// rather than a path under the upstream's URL.
    pub source_url: Option<url::Url>,
    /// Only this upstream may serve it: the one whose metadata named it, so a package's files come from
    /// where its metadata came from.
    pub pinned: Option<i64>,
    /// An upstream that cannot answer (unreachable, timed out, 5xx) stops the walk instead of counting
    /// as "not there": a later upstream must not answer for a name an earlier one may hold (npm and
    /// PyPI documents, where the first upstream with a package serves all of it).
    pub strict_order: bool,
}

impl Want {
    /// A plain file (Maven): no digest, no token dance; an artifact that is not itself a checksum or a
    /// signature may have published checksums.
    pub fn file(
        path: RepositoryPath,
        class: PathClass,
        content_type_hint: Option<&'static str>,
    ) -> Self {
        let published_checksums = class == PathClass::Artifact
            && !PUBLISHED_CHECKSUMS
                .iter()
                .chain(&["md5", "asc"])
                .any(|extension| path.file_name().ends_with(&format!(".{extension}")));
        Self {
            path,
            class,
            content_type_hint,
            accept: None,
            token_scope: None,
            address: None,
            content_addressed: false,
            published_checksums,
            declared: None,
            source_url: None,
            pinned: None,
            strict_order: false,
        }
    }

    /// How to ask an upstream for it.
    pub(crate) fn fetch<'a>(&'a self, credentials: Option<&'a Credentials>) -> Fetch<'a> {
        Fetch {
            credentials,
            accept: self.accept,
            token_scope: self.token_scope.as_deref(),
        }
    }
}

/// ETags and digests compared without their quotes (GitLab stores them stripped).
fn same_tag(a: &str, b: &str) -> bool {
    a.trim().trim_matches('"') == b.trim().trim_matches('"')
}

/// Checksum sidecars answered from stored digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// `.sha1`
    Sha1,
    /// `.md5`
    Md5,
}

impl ChecksumAlgorithm {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Md5 => "md5",
        }
    }
}

/// A file being served to a client.
pub struct Served {
    /// Content type.
    pub content_type: String,
    /// Length, when known before the body ends.
    pub content_length: Option<u64>,
    /// sha1 hex, when known (cache hits).
    pub sha1: Option<String>,
    /// md5 hex, when known (cache hits).
    pub md5: Option<String>,
    /// True when served from the cache.
    pub from_cache: bool,
    /// The stored content's sha256 and when it was stored (cache hits): its validators.
    pub stored: Option<(String, NaiveDateTime)>,
    /// The stored content, read from an offset for a range request (cache hits).
    pub seekable: Option<crate::SeekableContent>,
    /// The upstream it came from.
    pub upstream_id: i64,
    /// The body; an error item means the transfer must be aborted.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// What a HEAD learns without transferring the file.
#[derive(Debug, Clone)]
pub struct Probed {
    /// Content type.
    pub content_type: String,
    /// Length, when known.
    pub content_length: Option<u64>,
    /// sha1 hex (cache hits).
    pub sha1: Option<String>,
    /// md5 hex (cache hits).
    pub md5: Option<String>,
    /// The stored content's sha256 and when it was stored (cache hits): its validators.
    pub stored: Option<(String, NaiveDateTime)>,
}

enum Revalidation {
    Unchanged,
    Changed,
    Unreachable,
}

/// Largest checksum document forwarded from an upstream.
const MAX_CHECKSUM_DOCUMENT: usize = 4096;

/// The checksum files an upstream may publish beside a file, in the order they are asked for: `.sha1`
/// first, since every Maven repository has it.
const PUBLISHED_CHECKSUMS: [&str; 3] = ["sha1", "sha256", "sha512"];

/// A checksum an upstream published for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedChecksum {
    /// `sha1`, `sha256` or `sha512`.
    pub(crate) algorithm: &'static str,
    /// Lowercase hex.
    pub(crate) hex: String,
}

impl PublishedChecksum {
    /// A sha256 digest (lowercase or uppercase hex), as a PyPI index names a file's.
    pub fn sha256(hex: &str) -> Option<Self> {
        Self::parse("sha256", hex)
    }

    /// A sha512 digest in hex, as an npm packument's `integrity` holds it (base64 there).
    pub fn sha512(hex: &str) -> Option<Self> {
        Self::parse("sha512", hex)
    }

    /// A sha1 digest in hex (an npm packument's `shasum`).
    pub fn sha1(hex: &str) -> Option<Self> {
        Self::parse("sha1", hex)
    }

    /// Reads a checksum file: the hex alone, or `sha1sum`'s `<hex>  <file name>`; `None` when it is not a
    /// digest of that algorithm.
    pub(crate) fn parse(algorithm: &'static str, text: &str) -> Option<Self> {
        let hex = text.split_whitespace().next()?.to_ascii_lowercase();
        let length = match algorithm {
            "sha1" => 40,
            "sha256" => 64,
            _ => 128,
        };
        (hex.len() == length && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(Self { algorithm, hex })
    }

    /// The same digest of the received body.
    pub(crate) fn of<'a>(&self, digests: &'a packyard_domain::FileDigests) -> &'a str {
        match self.algorithm {
            "sha1" => &digests.sha1,
            "sha256" => &digests.sha256,
            _ => &digests.sha512,
        }
    }
}

/// True for a local upstream: a group's hosted repository, not a URL to fetch from.
fn is_local(upstream: &Upstream) -> bool {
    packyard_domain::local_upstream_group(&upstream.url).is_some()
}

fn is_stale(entry: &CacheEntry, upstream: &Upstream, class: PathClass, now: NaiveDateTime) -> bool {
    let hours = match class {
        PathClass::Metadata => upstream.metadata_cache_validity_hours.unwrap_or(24),
        PathClass::Artifact => upstream.cache_validity_hours,
        PathClass::Immutable => 0,
    };
    hours != 0 && entry.upstream_checked_at + Duration::hours(i64::from(hours)) < now
}

impl Core {
    /// The upstream URL of a path.
    pub fn upstream_url(&self, upstream: &Upstream, path: &str) -> CoreResult<url::Url> {
        request_url(&upstream.format, &upstream.url, path)
    }

    /// Where `want` is fetched from `upstream`: the URL its metadata named, else `path` under the
    /// upstream's URL.
    pub(crate) fn fetch_url(
        &self,
        upstream: &Upstream,
        want: &Want,
        path: &str,
    ) -> CoreResult<url::Url> {
        match &want.source_url {
            Some(url) => Ok(url.clone()),
            None => self.upstream_url(upstream, path),
        }
    }

    /// The upstream's credentials for a request to `url`: none when its metadata points at another
    /// origin (a CDN holding its files), so credentials go only where they were configured for.
    pub(crate) fn credentials_for(
        &self,
        upstream: &Upstream,
        url: &url::Url,
    ) -> CoreResult<Option<Credentials>> {
        let same_origin =
            url::Url::parse(&upstream.url).is_ok_and(|base| base.origin() == url.origin());
        if same_origin {
            self.upstream_credentials(upstream)
        } else {
            Ok(None)
        }
    }

    /// The upstream's credentials, decrypted for one request.
    pub fn upstream_credentials(&self, upstream: &Upstream) -> CoreResult<Option<Credentials>> {
        match (&upstream.username, &upstream.password_encrypted) {
            (Some(username), Some(sealed)) => Ok(Some(Credentials {
                username: username.clone(),
                password: self.secret.decrypt(sealed)?,
            })),
            _ => Ok(None),
        }
    }

    /// The registry's remote upstreams by position (its local upstreams are served by the format's
    /// hosted repository, see [`Core::local_upstream_groups`]).
    async fn registry_upstreams(&self, registry: &Registry) -> CoreResult<Arc<Vec<Upstream>>> {
        let upstreams = self.all_registry_upstreams(registry).await?;
        if upstreams.iter().any(is_local) {
            return Ok(Arc::new(
                upstreams.iter().filter(|u| !is_local(u)).cloned().collect(),
            ));
        }
        Ok(upstreams)
    }

    /// The groups of the registry's local upstreams, by position, each checked readable by the actor:
    /// a local upstream the actor may not read refuses the request (403) rather than letting a remote
    /// upstream answer for a name the group may hold.
    pub async fn local_upstream_groups(
        &self,
        actor: &Actor,
        registry: &Registry,
    ) -> CoreResult<Vec<packyard_db::rows::Group>> {
        let upstreams = self.all_registry_upstreams(registry).await?;
        let mut groups = Vec::new();
        for group_id in upstreams
            .iter()
            .filter_map(|u| packyard_domain::local_upstream_group(&u.url))
        {
            let group = match self.find_group(&group_id.to_string()).await {
                Ok(group) => group,
                // A deleted group has no packages left to serve.
                Err(CoreError::NotFound(_)) => continue,
                Err(other) => return Err(other),
            };
            if !self.may_read_local_upstream(actor, &group).await? {
                return Err(CoreError::Forbidden);
            }
            groups.push(group);
        }
        Ok(groups)
    }

    /// The URL of `path` on one of the registry's upstreams: the base a document fetched from there
    /// resolves its relative URLs against.
    pub async fn registry_upstream_url(
        &self,
        registry: &Registry,
        upstream_id: i64,
        path: &str,
    ) -> CoreResult<url::Url> {
        let upstreams = self.all_registry_upstreams(registry).await?;
        let upstream = upstreams
            .iter()
            .find(|u| u.id == upstream_id)
            .ok_or_else(|| CoreError::not_found("Upstream"))?;
        self.upstream_url(upstream, path)
    }

    async fn all_registry_upstreams(&self, registry: &Registry) -> CoreResult<Arc<Vec<Upstream>>> {
        let registry_id = registry.id;
        let load = async {
            let upstreams = self
                .db
                .run(move |conn| rq::list_registry_upstreams(conn, registry_id))
                .await?;
            Ok(Arc::new(upstreams.into_iter().map(|(u, _)| u).collect()))
        };
        let upstreams: Arc<Vec<Upstream>> = self
            .remembered(|hot| &hot.upstreams, registry_id, load)
            .await?;
        if upstreams.is_empty() {
            return Err(CoreError::NoUpstreams);
        }
        Ok(upstreams)
    }

    /// The live entry for the wanted path (remembered in the hot index), or for its digest.
    async fn cached_entry(
        &self,
        registry: &Registry,
        want: &Want,
    ) -> CoreResult<Option<(CacheEntry, Upstream)>> {
        let key = (registry.id, want.path.as_str().to_owned());
        self.hot_ready().await;
        if let Some(found) = self.hot.entries.get(&key) {
            return Ok(Some((*found).clone()));
        }
        let epoch = self.hot.entries.epoch();
        let (registry_id, path) = (registry.id, want.path.as_str().to_owned());
        let address = want.address.clone();
        let found = self
            .db
            .run(
                move |conn| match cq::find_registry_entry(conn, registry_id, &path)? {
                    Some(found) => Ok(Some(found)),
                    None => match &address {
                        Some(address) => cq::find_registry_entry_by_etag(
                            conn,
                            registry_id,
                            &address.digest,
                            address.shared_within,
                        ),
                        None => Ok(None),
                    },
                },
            )
            .await?;
        // An entry found by its digest (a manifest cached by tag, asked for by digest) is remembered under
        // the path asked for: the content under a digest never changes, and a refetch or removal of the
        // entry moves the cache generation, which forgets it.
        if let Some(found) = &found {
            self.hot.entries.insert(epoch, key, Arc::new(found.clone()));
        }
        Ok(found)
    }

    /// Forgets the remembered entry of a path (it is being checked or refetched).
    fn forget_entry(&self, registry: &Registry, want: &Want) {
        self.hot
            .entries
            .remove(&(registry.id, want.path.as_str().to_owned()));
    }

    /// Serves `path` from the registry: from the cache when fresh (or stale and the upstream is down),
    /// otherwise from the first upstream by position that has it, filling the cache on the way.
    pub async fn pull(&self, registry: &Registry, want: &Want) -> CoreResult<Served> {
        let requested_at = self.now();
        let class = want.class;
        let upstreams = self.registry_upstreams(registry).await?;
        let cached = self.cached_entry(registry, want).await?;
        let (upstreams, cached) = match want.pinned {
            Some(pinned) => (
                Arc::new(
                    upstreams
                        .iter()
                        .filter(|u| u.id == pinned)
                        .cloned()
                        .collect(),
                ),
                cached.filter(|(entry, _)| entry.upstream_id == pinned),
            ),
            None => (upstreams, cached),
        };
        let stale = match cached {
            Some((entry, upstream)) if !is_stale(&entry, &upstream, class, requested_at) => {
                match self.serve_cached(entry).await? {
                    Some(served) => {
                        self.metrics.cache_hits.inc();
                        return Ok(served);
                    }
                    None => None,
                }
            }
            Some((entry, upstream)) => match self.revalidate(&entry, &upstream, want).await {
                Revalidation::Unchanged => {
                    self.forget_entry(registry, want);
                    let id = entry.id;
                    let now = self.now();
                    self.db
                        .write(move |conn| cq::touch_checked(conn, id, now))
                        .await?;
                    match self.serve_cached(entry).await? {
                        Some(served) => return Ok(served),
                        None => None,
                    }
                }
                Revalidation::Unreachable => match self.serve_cached(entry).await? {
                    Some(served) => {
                        self.metrics.stale_served.inc();
                        return Ok(served);
                    }
                    None => None,
                },
                Revalidation::Changed => {
                    self.forget_entry(registry, want);
                    Some(entry)
                }
            },
            None => None,
        };
        self.metrics.cache_misses.inc();
        match self
            .fetch_through(registry.id, &upstreams, want, requested_at)
            .await
        {
            Ok(served) => Ok(served),
            Err(error) => match stale {
                // The refetch failed: an old copy is better than none.
                Some(entry) => {
                    tracing::warn!(%error, path = %want.path, "refetch failed; serving the stale copy");
                    let served = self.serve_cached(entry).await?.ok_or(error)?;
                    self.metrics.stale_served.inc();
                    Ok(served)
                }
                None => Err(error),
            },
        }
    }

    /// Serves `want` from the cache alone; `None` when no live entry has it. For immutable files that
    /// were checked against their metadata when they were cached (npm tarballs, PyPI files): a warm hit
    /// then needs no metadata document.
    pub async fn pull_cached(
        &self,
        registry: &Registry,
        want: &Want,
    ) -> CoreResult<Option<Served>> {
        let Some((entry, _)) = self.cached_entry(registry, want).await? else {
            return Ok(None);
        };
        let served = self.serve_cached(entry).await?;
        if served.is_some() {
            self.metrics.cache_hits.inc();
        }
        Ok(served)
    }

    async fn fetch_through(
        &self,
        registry_id: i64,
        upstreams: &Arc<Vec<Upstream>>,
        want: &Want,
        requested_at: NaiveDateTime,
    ) -> CoreResult<Served> {
        let fill = self
            .fill_for_miss(registry_id, upstreams, want, requested_at)
            .await?;
        match fill.started().await {
            Ok(FillStart::Streaming(meta)) => Ok(Served {
                content_type: meta.content_type,
                content_length: meta.content_length,
                sha1: None,
                md5: None,
                from_cache: false,
                stored: None,
                seekable: None,
                upstream_id: fill.upstream_id(),
                body: fill.stream(),
            }),
            Ok(FillStart::Cached(entry)) => self
                .serve_cached((*entry).clone())
                .await?
                .ok_or_else(|| CoreError::Internal("a fresh cache entry lost its blob".into())),
            Err(failure) => Err(failure.to_core_error()),
        }
    }

    /// Streams a cache entry and counts the download; `None` when its blob is missing (the entry is then
    /// hidden so the next request fetches it again).
    async fn serve_cached(&self, entry: CacheEntry) -> CoreResult<Option<Served>> {
        let body = match self.blobs.read(&entry.blob_sha256).await {
            Ok(body) => body,
            Err(packyard_blob::BlobError::NotFound(_)) => {
                tracing::error!(entry = entry.id, blob = %entry.blob_sha256, "cache entry without its blob; hiding it");
                let (upstream_id, path) = (entry.upstream_id, entry.relative_path.clone());
                let now = self.now();
                self.db
                    .transaction(move |conn| {
                        cq::mark_entry_for_destruction(conn, upstream_id, &path, now)?;
                        wake(conn, JobKind::DestroyCacheEntries, now, now)
                    })
                    .await?;
                self.wake_job_workers();
                return Ok(None);
            }
            Err(e) => {
                self.metrics.storage_errors.inc();
                return Err(e.into());
            }
        };
        self.counters.entry_downloaded(entry.id, self.now());
        Ok(Some(Served {
            content_type: entry.content_type,
            content_length: Some(entry.size as u64),
            sha1: Some(entry.file_sha1),
            md5: entry.file_md5,
            from_cache: true,
            seekable: Some(self.seekable(&entry.blob_sha256)),
            stored: Some((entry.blob_sha256, entry.updated_at)),
            upstream_id: entry.upstream_id,
            body: body.map_err(std::io::Error::other).boxed(),
        }))
    }

    async fn revalidate(
        &self,
        entry: &CacheEntry,
        upstream: &Upstream,
        want: &Want,
    ) -> Revalidation {
        let Some(stored) = entry
            .upstream_etag
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        else {
            return Revalidation::Changed;
        };
        let Ok(url) = self.fetch_url(upstream, want, &entry.relative_path) else {
            return Revalidation::Unreachable;
        };
        let Ok(credentials) = self.credentials_for(upstream, &url) else {
            return Revalidation::Unreachable;
        };
        let fetch = want.fetch(credentials.as_ref());
        let head = self.upstream.head(&url, &fetch);
        let revalidation = match self
            .metrics
            .upstream_call(upstream.id, head, |meta| meta.status.is_server_error())
            .await
        {
            Ok(meta) if !meta.status.is_success() => Revalidation::Changed,
            Ok(meta) => {
                // Registries name a manifest by its digest; prefer it to the ETag, and that to the
                // Last-Modified date.
                let current = meta
                    .docker_content_digest
                    .clone()
                    .or_else(|| meta.validator());
                match current {
                    Some(current) if same_tag(&current, stored) => Revalidation::Unchanged,
                    _ => Revalidation::Changed,
                }
            }
            Err(error) => {
                tracing::info!(%error, upstream = upstream.id, "revalidation could not reach the upstream");
                Revalidation::Unreachable
            }
        };
        self.metrics.revalidated(match revalidation {
            Revalidation::Unchanged => Revalidated::Unchanged,
            Revalidation::Changed => Revalidated::Changed,
            Revalidation::Unreachable => Revalidated::Unreachable,
        });
        revalidation
    }

    /// The first upstream by position whose HEAD for the path succeeds. HEADs go out in parallel
    /// (bounded). No winner: "not found", or "unavailable" when an upstream could not be asked at all
    /// (it might have the file).
    pub(crate) async fn resolve(
        &self,
        upstreams: &[Upstream],
        want: &Want,
    ) -> CoreResult<Upstream> {
        let probes = upstreams.iter().cloned().map(|upstream| {
            let core = self.clone();
            let want = want.clone();
            async move {
                let url = core.fetch_url(&upstream, &want, want.path.as_str())?;
                let credentials = core.credentials_for(&upstream, &url)?;
                let fetch = want.fetch(credentials.as_ref());
                let head = core.upstream.head(&url, &fetch);
                match core
                    .metrics
                    .upstream_call(upstream.id, head, |meta| meta.status.is_server_error())
                    .await
                {
                    Ok(meta) if meta.status.is_success() => Ok(Some(upstream)),
                    Ok(meta) if want.strict_order && meta.status.is_server_error() => {
                        Err(CoreError::UpstreamUnavailable(format!(
                            "upstream answered {}",
                            meta.status
                        )))
                    }
                    Ok(_) => Ok(None),
                    Err(error) => {
                        tracing::info!(%error, upstream = upstream.id, "upstream HEAD failed");
                        // A refused address is configuration, not an outage: that upstream has nothing.
                        if error.is_unreachable() || want.strict_order {
                            Err(CoreError::UpstreamUnavailable(error.to_string()))
                        } else {
                            Ok(None)
                        }
                    }
                }
            }
        });
        let mut results = stream::iter(probes).buffered(self.settings.parallel_heads.max(1));
        let mut unreachable = None;
        while let Some(result) = results.next().await {
            match result {
                // Dropping the stream aborts the HEADs still in flight.
                Ok(Some(winner)) => return Ok(winner),
                Ok(None) => {}
                // In order: no earlier upstream has it, and this one could not say.
                Err(error) if want.strict_order => return Err(error),
                Err(error) => unreachable = Some(error),
            }
        }
        Err(unreachable.unwrap_or_else(|| CoreError::not_found("File not found on any upstream")))
    }

    /// Answers a checksum sidecar of `base` from the stored digests; a stale metadata document's checksum
    /// is asked of its upstream (and the document refreshed), and a file not cached yet gets the upstream's
    /// sidecar while the file itself is cached in the background.
    pub async fn pull_checksum(
        &self,
        registry: &Registry,
        base: &RepositoryPath,
        algorithm: ChecksumAlgorithm,
        base_class: PathClass,
    ) -> CoreResult<String> {
        let upstreams = self.registry_upstreams(registry).await?;
        let sidecar = format!("{}.{}", base.as_str(), algorithm.extension());
        let base_want = Want::file(base.clone(), base_class, None);
        if let Some((entry, upstream)) = self.cached_entry(registry, &base_want).await? {
            let stale_metadata = base_class == PathClass::Metadata
                && is_stale(&entry, &upstream, base_class, self.now());
            if stale_metadata && let Ok(text) = self.fetch_sidecar(&upstream, &sidecar).await {
                self.refresh_later(registry.clone(), base.clone(), base_class);
                return Ok(text);
            }
            self.counters.entry_downloaded(entry.id, self.now());
            return match algorithm {
                ChecksumAlgorithm::Sha1 => Ok(entry.file_sha1),
                ChecksumAlgorithm::Md5 => {
                    entry.file_md5.ok_or_else(|| CoreError::not_found("Digest"))
                }
            };
        }
        let sidecar_want = RepositoryPath::parse(&sidecar)
            .map(|path| Want::file(path, base_class, None))
            .map_err(|e| CoreError::BadParameter(format!("path {e}")))?;
        let winner = self.resolve(&upstreams, &sidecar_want).await?;
        let text = self
            .fetch_sidecar(&winner, &sidecar)
            .await
            .map_err(|e| CoreError::UpstreamUnavailable(e.to_string()))?;
        // Cache the file itself in the background; its fill runs on whether anyone follows it or not.
        if let Err(error) = self.join_or_start_fill(&winner, &base_want, self.now()) {
            tracing::warn!(%error, "could not start caching a file behind its checksum");
        }
        Ok(text)
    }

    async fn fetch_sidecar(&self, upstream: &Upstream, path: &str) -> CoreResult<String> {
        let url = self.upstream_url(upstream, path)?;
        let credentials = self.upstream_credentials(upstream)?;
        let (meta, body) = self
            .upstream
            .get_small(
                &url,
                &Fetch::basic(credentials.as_ref()),
                MAX_CHECKSUM_DOCUMENT,
            )
            .await
            .map_err(|e| CoreError::UpstreamUnavailable(e.to_string()))?;
        if !meta.status.is_success() {
            return Err(CoreError::UpstreamUnavailable(format!(
                "upstream answered {}",
                meta.status
            )));
        }
        String::from_utf8(body.to_vec())
            .map_err(|_| CoreError::UpstreamUnavailable("checksum is not text".into()))
    }

    /// The first checksum the upstream publishes beside `path`; `None` when it publishes none (or none
    /// could be read: the file is then kept unverified, as without the setting).
    pub(crate) async fn published_checksum(
        &self,
        upstream: &Upstream,
        path: &str,
    ) -> Option<PublishedChecksum> {
        for algorithm in PUBLISHED_CHECKSUMS {
            match self
                .fetch_sidecar(upstream, &format!("{path}.{algorithm}"))
                .await
            {
                Ok(text) => return PublishedChecksum::parse(algorithm, &text),
                Err(error) => {
                    tracing::debug!(%error, path, algorithm, "no published checksum");
                }
            }
        }
        None
    }

    fn refresh_later(&self, registry: Registry, path: RepositoryPath, class: PathClass) {
        let core = self.clone();
        tokio::spawn(async move {
            match core
                .pull(&registry, &Want::file(path.clone(), class, None))
                .await
            {
                Ok(served) => {
                    // Drain so a fill completes even though nobody reads it.
                    let _ = served.body.try_for_each(|_| async { Ok(()) }).await;
                }
                Err(error) => tracing::info!(%error, path = %path, "background refresh failed"),
            }
        });
    }

    /// What a HEAD answers: the cached entry's metadata, or the first upstream's, without transferring.
    pub async fn probe(&self, registry: &Registry, want: &Want) -> CoreResult<Probed> {
        let upstreams = self.registry_upstreams(registry).await?;
        if let Some((entry, _)) = self.cached_entry(registry, want).await? {
            return Ok(Probed {
                content_type: entry.content_type,
                content_length: Some(entry.size as u64),
                sha1: Some(entry.file_sha1),
                md5: entry.file_md5,
                stored: Some((entry.blob_sha256, entry.updated_at)),
            });
        }
        for upstream in upstreams.iter() {
            let url = self.upstream_url(upstream, want.path.as_str())?;
            let credentials = self.upstream_credentials(upstream)?;
            let fetch = want.fetch(credentials.as_ref());
            let head = self.upstream.head(&url, &fetch);
            if let Ok(meta) = self
                .metrics
                .upstream_call(upstream.id, head, |meta| meta.status.is_server_error())
                .await
                && meta.status.is_success()
            {
                return Ok(Probed {
                    content_type: meta
                        .content_type
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    content_length: meta.content_length,
                    sha1: None,
                    md5: None,
                    stored: None,
                });
            }
        }
        Err(CoreError::not_found("File not found on any upstream"))
    }
}

/// The URL of `path` on an upstream: Maven joins it to the URL; container upstreams strip a trailing
/// `/v2` and prepend `v2/`, so `https://host` and `https://host/v2` both work (GitLab's rule).
pub(crate) fn request_url(format: &str, base: &str, path: &str) -> CoreResult<url::Url> {
    use packyard_domain::Format;
    let joined = match Format::parse(format) {
        Some(Format::Container) => {
            let root = base.trim_end_matches('/');
            let root = root.strip_suffix("/v2").unwrap_or(root);
            join_url(root, &format!("v2/{}", path.trim_start_matches('/')))
        }
        // A scoped packument is asked for as `@scope%2fname`, the one spelling every npm registry
        // accepts (some take `@scope/name` for a tarball path).
        Some(Format::Npm) if path.starts_with('@') && path.matches('/').count() == 1 => {
            join_url(base, &path.replacen('/', "%2f", 1))
        }
        // A project page is `<index>/<name>/` (PEP 503); the index root itself is `""`.
        Some(Format::Pypi) if !path.is_empty() && !path.contains('/') => {
            join_url(base, &format!("{path}/"))
        }
        _ => join_url(base, path),
    };
    joined.map_err(|e| CoreError::Internal(format!("upstream URL: {e}")))
}

impl Core {
    /// True when `presented` is the internal callers' token (compared in constant time).
    pub fn is_internal_token(&self, presented: &str) -> bool {
        let expected = self.secret.internal_token();
        presented.len() == expected.len()
            && presented
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Stores a body as the cache entry of (`upstream_id`, `path`): the upload callback of GitLab's design.
    /// The upstream must be one of the registry's; nothing is committed unless the body completes.
    pub async fn store_upload(
        &self,
        registry: &Registry,
        upstream_id: i64,
        path: &RepositoryPath,
        content_type: &str,
        etag: Option<String>,
        mut body: futures_util::stream::LocalBoxStream<'_, std::io::Result<Bytes>>,
    ) -> CoreResult<CacheEntry> {
        let upstreams = self.registry_upstreams(registry).await?;
        let upstream = upstreams
            .iter()
            .find(|u| u.id == upstream_id)
            .cloned()
            .ok_or_else(|| CoreError::not_found("Upstream"))?;
        let mut writer = self.blobs.writer(self.settings.max_file_size).await?;
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(chunk) => writer.write(&chunk).await.map_err(CoreError::from),
                Err(e) => Err(CoreError::BadRequest(format!("upload interrupted: {e}"))),
            };
            if let Err(error) = written {
                writer.abort().await;
                return Err(error);
            }
        }
        let staged = writer.finish().await?;
        let collected = || {
            CoreError::Conflict(
                "content with this digest was being deleted; upload it again".into(),
            )
        };
        let digests = self.publish_blob(staged).await?.ok_or_else(collected)?;
        let new = packyard_db::rows::NewCacheEntry {
            group_id: upstream.group_id,
            upstream_id: upstream.id,
            relative_path: path.as_str().to_owned(),
            blob_sha256: digests.sha256,
            size: digests.size,
            file_sha1: digests.sha1,
            file_md5: Some(digests.md5),
            content_type: content_type.to_owned(),
            upstream_etag: etag,
        };
        let entry = self.commit_entry(new).await?.ok_or_else(collected)?;
        Ok(entry)
    }
}

impl Core {
    /// Checks that the actor may pull through the registry. Someone with no part in its group gets the
    /// answer a missing registry gives, so ids of private groups stay secret (GitLab's rule).
    pub async fn authorize_pull(&self, actor: &Actor, registry: &Registry) -> CoreResult<()> {
        let group = self.find_group(&registry.group_id.to_string()).await?;
        self.authorize_or_hide(actor, &group, Need::Pull, CoreError::not_found("Registry"))
            .await
    }

    /// Finds a registry of a format by the id as it appears in a URL; anything else is a 404.
    pub async fn find_registry_by_text(
        &self,
        format: packyard_domain::Format,
        id: &str,
    ) -> CoreResult<Registry> {
        let id: i64 = id.parse().map_err(|_| CoreError::not_found("Registry"))?;
        let load = async {
            self.db
                .run(move |conn| rq::find_registry(conn, id, format.as_str()))
                .await?
                .ok_or_else(|| CoreError::not_found("Registry"))
        };
        let key = (format.as_str().to_owned(), id);
        self.remembered(|hot| &hot.registries, key, load).await
    }
}
