//! packyard's services: identity and access, virtual registry management, the pull-through cache
//! (lookup, staleness, revalidation, resolution across upstreams and the single-flight fill), hosted
//! packages (packages, versions and files that clients publish), the group cleanup policy, and the
//! durable job system that runs all background work (entry destruction, blob collection, cleanup runs).
//!
//! Format-agnostic: a format crate says what a path is (artifact, mutable metadata, checksum sidecar).
//! Depends on `packyard_db`, `packyard_blob`, `packyard_upstream` and `packyard_domain`; never on actix.

pub mod archive;
pub mod cleanup;
mod clock;
mod error;
mod fill;
pub mod health;
pub mod hosted;
mod hot;
pub mod identity;
pub mod jobs;
mod lease;
mod maintenance;
pub mod metrics;
#[cfg(test)]
mod proptests;
pub mod pull;
pub mod registries;
pub mod registry_tokens;
pub mod secrets;

use std::path::PathBuf;
use std::sync::Arc;

pub use clock::Clock;
pub use error::{CoreError, CoreResult, RETRY_AFTER_SECS};
pub use hot::{COUNTER_FLUSH_INTERVAL, HotSync, OUTAGE_GRACE, SYNC_INTERVAL};
pub use jobs::{JobKind, JobSettings, JobWorkers};
pub use packyard_blob::{BlobStore, ByteStream, Hashers};
pub use packyard_db::queries::Page;
pub use packyard_db::queries::hosted::{ListedMetadata, PackageFilter};
pub use packyard_db::{Db, rows};
pub use packyard_upstream::{UpstreamClient, UpstreamSettings};
pub use secrets::SecretKey;

/// Settings the services need.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Largest file a fill may store.
    pub max_file_size: u64,
    /// Folder for the spool files that fan a fill out to waiting clients.
    pub spool_dir: PathBuf,
    /// How many upstream HEADs a resolution sends at once.
    pub parallel_heads: usize,
    /// Upstream timeouts and network policy.
    pub upstream: UpstreamSettings,
    /// The URL clients reach this server at, for URLs the server hands out (token realms, download
    /// links); `None`: the scheme and host each request came in with.
    pub external_url: Option<String>,
    /// Background jobs: workers, retries, grace periods.
    pub jobs: JobSettings,
    /// Check a file against the checksum file its upstream publishes beside it before caching it.
    pub verify_upstream_checksums: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (the request log's client address).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
}

/// Who may read `/metrics`: nobody unless enabled; then administrators, and a scraper holding the
/// configured bearer token.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// A bearer token that may read the metrics (a scraper's), besides administrators' tokens.
    pub token: Option<String>,
}

impl CoreSettings {
    /// The largest request body any route accepts: the largest file in base64 (an npm publish
    /// document) plus [`DOCUMENTS_BESIDE_A_FILE`] of documents.
    pub fn max_request_body(&self) -> u64 {
        self.max_file_size
            .saturating_mul(4)
            .div_ceil(3)
            .saturating_add(DOCUMENTS_BESIDE_A_FILE)
    }
}

/// What a request body may hold besides a file (an npm package document without its tarball): 16 MiB.
pub const DOCUMENTS_BESIDE_A_FILE: u64 = 16 * 1024 * 1024;

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            max_file_size: packyard_domain::limits::MAX_FILE_SIZE,
            spool_dir: std::env::temp_dir(),
            parallel_heads: 3,
            upstream: UpstreamSettings::default(),
            external_url: None,
            jobs: JobSettings::default(),
            verify_upstream_checksums: true,
            trusted_proxies: Vec::new(),
            metrics: MetricsAccess::default(),
        }
    }
}

/// Stored content that a range request reads from its offset, rather than reading and dropping what
/// precedes it (a resumed download on an object store would otherwise fetch it all again).
#[derive(Clone)]
pub struct SeekableContent {
    blobs: BlobStore,
    sha256: String,
}

impl SeekableContent {
    /// The bytes `start..end` of the content.
    pub async fn read(
        &self,
        start: u64,
        end: u64,
    ) -> std::io::Result<futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>>
    {
        use futures_util::{StreamExt, TryStreamExt};
        let body = self
            .blobs
            .read_range(&self.sha256, start..end)
            .await
            .map_err(std::io::Error::other)?;
        Ok(body.map_err(std::io::Error::other).boxed())
    }
}

impl Core {
    /// The content stored under `sha256`, for range requests.
    pub fn seekable(&self, sha256: &str) -> SeekableContent {
        SeekableContent {
            blobs: self.blobs.clone(),
            sha256: sha256.to_owned(),
        }
    }
}

/// The services, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

/// The shared state behind [`Core`].
pub struct Inner {
    db: Db,
    blobs: BlobStore,
    upstream: UpstreamClient,
    settings: CoreSettings,
    secret: SecretKey,
    clock: Clock,
    fills: fill::Fills,
    /// What warm hits need, remembered.
    hot: hot::HotIndex,
    /// Downloads counted since the last flush.
    counters: hot::Counters,
    /// Names this instance in the job claims it makes.
    instance_id: String,
    /// Wakes this instance's idle job workers when it enqueues work.
    job_wakeup: tokio::sync::Notify,
    /// What this instance counts, for `/metrics`.
    metrics: metrics::Metrics,
}

impl std::ops::Deref for Core {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl Core {
    /// Assembles the services.
    pub fn new(
        db: Db,
        blobs: BlobStore,
        settings: CoreSettings,
        secret: SecretKey,
    ) -> CoreResult<Self> {
        let upstream = UpstreamClient::new(settings.upstream.clone())
            .map_err(|e| CoreError::Internal(format!("upstream client: {e}")))?;
        std::fs::create_dir_all(&settings.spool_dir).map_err(|e| {
            CoreError::Internal(format!(
                "spool folder {}: {e}",
                settings.spool_dir.display()
            ))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                blobs,
                upstream,
                settings,
                secret,
                clock: Clock::default(),
                fills: fill::Fills::default(),
                hot: hot::HotIndex::default(),
                counters: hot::Counters::default(),
                instance_id: format!("{:016x}", rand::random::<u64>()),
                job_wakeup: tokio::sync::Notify::new(),
                metrics: metrics::Metrics::default(),
            }),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The server's secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The clock every timestamp and schedule is read from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The current time on [`Core::clock`].
    pub fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
    }

    /// The settings.
    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }
}
