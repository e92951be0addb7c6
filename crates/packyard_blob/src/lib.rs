//! The only crate that uses object_store: content-addressed blobs. A write streams to a temporary object
//! while md5, sha1, sha256 and sha512 are computed in one pass, and becomes visible under its sha256 only
//! once it is complete and published; nothing half-written is ever readable under a digest.
//!
//! Depends on `packyard_domain` only.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use md5::Md5;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use packyard_domain::FileDigests;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

/// Errors of the blob store.
#[derive(Debug, Error)]
pub enum BlobError {
    /// The storage URL is not one we support.
    #[error("unsupported storage URL (use file:///PATH, s3://BUCKET[/PREFIX] or memory://): {0}")]
    UnsupportedUrl(String),
    /// The blob is not there.
    #[error("blob not found: {0}")]
    NotFound(String),
    /// The write went over the size cap.
    #[error("file is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The backend failed.
    /// The content does not have the digest it was expected to have.
    #[error("content has sha256 {actual}, expected {expected}")]
    DigestMismatch {
        /// The sha256 hex that was expected.
        expected: String,
        /// The sha256 hex of what was written.
        actual: String,
    },
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// A local folder could not be created.
    #[error("storage folder {0}: {1}")]
    Folder(String, std::io::Error),
}

/// Result of blob calls.
pub type BlobResult<T> = Result<T, BlobError>;

/// A stream of a blob's bytes.
pub type ByteStream = BoxStream<'static, BlobResult<Bytes>>;

/// md5, sha1, sha256 and sha512 of a byte stream, computed in one pass.
#[derive(Clone, Default)]
pub struct Hashers {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
    sha512: Sha512,
    size: u64,
}

impl Hashers {
    /// Feeds bytes.
    pub fn update(&mut self, chunk: &[u8]) {
        self.md5.update(chunk);
        self.sha1.update(chunk);
        self.sha256.update(chunk);
        self.sha512.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digests of everything fed.
    pub fn finish(self) -> FileDigests {
        FileDigests {
            sha256: hex::encode(self.sha256.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            md5: hex::encode(self.md5.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
            size: self.size as i64,
        }
    }
}

/// Content-addressed blob storage.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The folder of a local store: its blobs are read straight from their files, in large reads.
    local_root: Option<PathBuf>,
    /// Recently read small blobs. Content is immutable under its digest, so a copy never goes stale.
    small: Arc<quick_cache::sync::Cache<String, Bytes, SmallBlobWeight>>,
    /// Bounds the local file reads running at once ([`PARALLEL_READS`]).
    reads: Arc<tokio::sync::Semaphore>,
    /// The temporary objects of this process's writes in progress (written or staged, not yet
    /// published or discarded): what staging collection must leave alone.
    live: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// The folder of temporary objects.
const STAGING: &str = "tmp";

/// Marks a temporary object as owned by a write in progress, until dropped.
struct StagingClaim {
    live: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    name: String,
}

impl Drop for StagingClaim {
    fn drop(&mut self) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&self.name);
        }
    }
}

/// Largest blob kept whole in memory once read.
pub const SMALL_BLOB_MAX: u64 = 64 * 1024;
/// Bytes of small blobs kept in memory at most.
const SMALL_BLOBS_CAPACITY: u64 = 32 * 1024 * 1024;
/// Bytes a write buffers before handing them to the store, a few at most in flight: a local disk takes
/// small parts as fast as large ones, so each upload holds about 3 MiB; object stores want larger parts.
const LOCAL_WRITE_PART: usize = 1024 * 1024;
const WRITE_PART: usize = 8 * 1024 * 1024;
/// Bytes read from a local file at once: large reads keep syscalls and thread handoffs few.
const READ_CHUNK: u64 = 256 * 1024;
/// Reads of local files running at once, across all downloads. Each runs on a blocking thread; without a
/// bound, sixteen large downloads kept some sixty threads busy, each with its allocator arena holding
/// freed read buffers (18 MiB at the peak), while a read from the page cache takes microseconds.
const PARALLEL_READS: usize = 4;

/// Weighs a cached small blob by its length.
#[derive(Clone)]
struct SmallBlobWeight;

impl quick_cache::Weighter<String, Bytes> for SmallBlobWeight {
    fn weight(&self, key: &String, value: &Bytes) -> u64 {
        (key.len() + value.len()) as u64 + 1
    }
}

/// Where a blob with this sha256 lives. Every object path is built here.
fn blob_path(sha256: &str) -> Path {
    let prefix = |range: std::ops::Range<usize>| sha256.get(range).unwrap_or("00").to_owned();
    Path::from(format!("sha256/{}/{}/{sha256}", prefix(0..2), prefix(2..4)))
}

fn temporary_name() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// How to reach an S3-compatible store (`s3://` URLs). Unset fields come from the standard `AWS_*`
/// environment variables (and, for credentials, from the instance's role on AWS).
#[derive(Clone, Default)]
pub struct S3Options {
    /// The endpoint of an S3-compatible server (`http://127.0.0.1:3900`); AWS's own when unset.
    pub endpoint: Option<String>,
    /// The region (`us-east-1`; Garage's default is `garage`).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// Address the bucket in the path (`http://host/bucket/key`) rather than in the host name
    /// (`http://bucket.host/key`): what most self-hosted servers need.
    pub path_style: bool,
    /// Allow an `http://` endpoint (a store on the same host or network).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[redacted]"),
            )
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// The S3 store named by `s3://bucket[/prefix]`, its objects under the prefix.
fn open_s3(location: &str, options: &S3Options) -> BlobResult<Arc<dyn ObjectStore>> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        return Err(BlobError::UnsupportedUrl(format!("s3://{location}")));
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(!options.path_style)
        .with_allow_http(options.allow_http);
    let settings = [
        (
            object_store::aws::AmazonS3ConfigKey::Endpoint,
            &options.endpoint,
        ),
        (
            object_store::aws::AmazonS3ConfigKey::Region,
            &options.region,
        ),
        (
            object_store::aws::AmazonS3ConfigKey::AccessKeyId,
            &options.access_key_id,
        ),
        (
            object_store::aws::AmazonS3ConfigKey::SecretAccessKey,
            &options.secret_access_key,
        ),
    ];
    for (key, value) in settings {
        if let Some(value) = value {
            builder = builder.with_config(key, value);
        }
    }
    let store: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    })
}

impl BlobStore {
    /// Opens the store named by `url`: `file:///PATH` (or `file://relative/path`), `memory://`, or
    /// `s3://BUCKET[/PREFIX]` reached with `s3`.
    pub fn open(url: &str, s3: &S3Options) -> BlobResult<Self> {
        let (store, local_root): (Arc<dyn ObjectStore>, _) =
            if let Some(location) = url.strip_prefix("s3://") {
                (open_s3(location, s3)?, None)
            } else if let Some(path) = url.strip_prefix("file://") {
                std::fs::create_dir_all(path).map_err(|e| BlobError::Folder(path.to_owned(), e))?;
                let root = std::fs::canonicalize(path)
                    .map_err(|e| BlobError::Folder(path.to_owned(), e))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&root)?;
                (Arc::new(store), Some(root))
            } else if url == "memory://" || url == "memory:" {
                (Arc::new(object_store::memory::InMemory::new()), None)
            } else {
                return Err(BlobError::UnsupportedUrl(url.to_owned()));
            };
        let small = quick_cache::sync::Cache::with_weighter(
            (SMALL_BLOBS_CAPACITY / 1024) as usize,
            SMALL_BLOBS_CAPACITY,
            SmallBlobWeight,
        );
        Ok(Self {
            store,
            local_root,
            small: Arc::new(small),
            reads: Arc::new(tokio::sync::Semaphore::new(PARALLEL_READS)),
            live: Arc::default(),
        })
    }

    /// Opens a local or in-memory store (`file://…`, `memory://`).
    pub fn from_url(url: &str) -> BlobResult<Self> {
        Self::open(url, &S3Options::default())
    }

    /// Deletes what crashed writes left in the staging folder: objects no write of this process owns,
    /// last changed at least `older_than` ago (a write of another process sharing the store changes its
    /// local file with every chunk, and an object store's staged object lives only between a write's
    /// end and its publication). Returns how many.
    pub async fn collect_staging(&self, older_than: std::time::Duration) -> BlobResult<usize> {
        let Some(root) = self.local_root.clone() else {
            return self.collect_staged_objects(older_than).await;
        };
        let live = self.live.clone();
        tokio::task::spawn_blocking(move || {
            let entries = match std::fs::read_dir(root.join(STAGING)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(BlobError::Folder(STAGING.into(), e)),
            };
            let mut removed = 0;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // The local store stages a multipart write as `<name>#<n>` beside the object.
                let owner = name.split('#').next().unwrap_or_default();
                let owned = live.lock().map_or(true, |live| live.contains(owner));
                let idle = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| modified.elapsed().ok());
                if !owned
                    && idle.is_some_and(|idle| idle >= older_than)
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| BlobError::Folder(STAGING.into(), std::io::Error::other(e)))?
    }

    /// [`BlobStore::collect_staging`] on an object store: its multipart uploads become objects only when
    /// complete (an abandoned one is aborted by its writer, or by the bucket's lifecycle rule after a
    /// crash: see docs/scaling.md), so what a crash leaves is a staged object never published.
    async fn collect_staged_objects(&self, older_than: std::time::Duration) -> BlobResult<usize> {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        let mut listed = self.store.list(Some(&Path::from(STAGING)));
        let mut removed = 0;
        while let Some(object) = listed.next().await {
            let object = object?;
            let name = object.location.filename().unwrap_or_default();
            let owned = self.live.lock().map_or(true, |live| live.contains(name));
            if owned || object.last_modified > cutoff {
                continue;
            }
            match self.store.delete(&object.location).await {
                Ok(()) => removed += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// The names of the objects in the staging folder: writes staged and not yet published, or left by a
    /// crash. (A local store's parts of a write in progress are not listed.)
    pub async fn staging_objects(&self) -> BlobResult<Vec<String>> {
        let mut listed = self.store.list(Some(&Path::from(STAGING)));
        let mut names = Vec::new();
        while let Some(object) = listed.next().await {
            names.push(object?.location.filename().unwrap_or_default().to_owned());
        }
        Ok(names)
    }

    /// Proves the store takes writes: a tiny object staged and removed, through the path uploads take.
    /// Run at start and by the readiness check, so a read-only or full store is reported before an
    /// upload fails on it.
    pub async fn check_writable(&self) -> BlobResult<()> {
        let mut probe = self.writer(16).await?;
        probe.write(b"packyard").await?;
        probe.finish().await?.discard().await;
        Ok(())
    }

    /// Starts a streaming write of at most `max_size` bytes.
    pub async fn writer(&self, max_size: u64) -> BlobResult<BlobWriter> {
        let name = temporary_name();
        if let Ok(mut live) = self.live.lock() {
            live.insert(name.clone());
        }
        let claim = StagingClaim {
            live: self.live.clone(),
            name: name.clone(),
        };
        let temporary = Path::from(format!("{STAGING}/{name}"));
        let upload = self.store.put_multipart(&temporary).await?;
        let part = if self.local_root.is_some() {
            LOCAL_WRITE_PART
        } else {
            WRITE_PART
        };
        Ok(BlobWriter {
            store: self.store.clone(),
            claim,
            temporary,
            upload: Some(WriteMultipart::new_with_chunk_size(upload, part)),
            hashers: Hashers::default(),
            max_size,
        })
    }

    /// Streams a blob's bytes: a small blob as one chunk (from memory once it was read), a local file in
    /// large reads, anything else as the store streams it.
    pub async fn read(&self, sha256: &str) -> BlobResult<ByteStream> {
        if let Some(bytes) = self.small.get(sha256) {
            return Ok(futures_util::stream::once(async move { Ok(bytes) }).boxed());
        }
        if let Some(root) = &self.local_root {
            return self
                .read_local(root.join(blob_path(sha256).as_ref()), sha256)
                .await;
        }
        let result = self
            .store
            .get(&blob_path(sha256))
            .await
            .map_err(|e| not_found(e, sha256))?;
        // A small blob is kept in memory as from a local file: its warm hits make no store request.
        if result.meta.size <= SMALL_BLOB_MAX {
            let bytes = result.bytes().await?;
            self.small.insert(sha256.to_owned(), bytes.clone());
            return Ok(futures_util::stream::once(async move { Ok(bytes) }).boxed());
        }
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(BlobError::from))
            .boxed())
    }

    /// Streams the bytes `range` of a blob: a resumed download reads from its offset, not through what it
    /// already has. A range past the end is cut at the end.
    pub async fn read_range(
        &self,
        sha256: &str,
        range: std::ops::Range<u64>,
    ) -> BlobResult<ByteStream> {
        if let Some(bytes) = self.small.get(sha256) {
            let end = range.end.min(bytes.len() as u64) as usize;
            let start = (range.start as usize).min(end);
            let part = bytes.slice(start..end);
            return Ok(futures_util::stream::once(async move { Ok(part) }).boxed());
        }
        if let Some(root) = &self.local_root {
            let file = root.join(blob_path(sha256).as_ref());
            let opened = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                use std::io::{Seek, SeekFrom};
                let mut file = std::fs::File::open(file)?;
                let size = file.metadata()?.len();
                let (start, end) = (range.start.min(size), range.end.min(size));
                file.seek(SeekFrom::Start(start))?;
                Ok((file, end - start))
            })
            .await
            .map_err(|e| BlobError::Store(object_store::Error::JoinError { source: e }))?;
            return match opened {
                Ok((file, length)) => Ok(self.stream_local(file, length)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(BlobError::NotFound(sha256.to_owned()))
                }
                Err(e) => Err(io_error(e)),
            };
        }
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&blob_path(sha256), options)
            .await
            .map_err(|e| not_found(e, sha256))?;
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(BlobError::from))
            .boxed())
    }

    async fn read_local(&self, file: PathBuf, sha256: &str) -> BlobResult<ByteStream> {
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let file = std::fs::File::open(file)?;
            let size = file.metadata()?.len();
            // A small blob is read whole at once: one handoff, one chunk, one socket write.
            let whole = if size <= SMALL_BLOB_MAX {
                Some(read_next(&file, size)?)
            } else {
                None
            };
            Ok((file, size, whole))
        })
        .await
        .map_err(|e| BlobError::Store(object_store::Error::JoinError { source: e }))?;
        let (file, size, whole) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(sha256.to_owned()));
            }
            Err(e) => return Err(io_error(e)),
        };
        if let Some(bytes) = whole {
            self.small.insert(sha256.to_owned(), bytes.clone());
            return Ok(futures_util::stream::once(async move { Ok(bytes) }).boxed());
        }
        Ok(self.stream_local(file, size))
    }

    /// The next `size` bytes of an open local file, in large reads.
    fn stream_local(&self, file: std::fs::File, size: u64) -> ByteStream {
        if size == 0 {
            return futures_util::stream::empty().boxed();
        }
        // The file is read in order, one chunk at a time: the next chunk's read starts as soon as a
        // chunk is handed over, so the disk works while the socket drains that one.
        let permits = self.reads.clone();
        let start_read = move |file: std::fs::File, left: u64| {
            let permits = permits.clone();
            tokio::spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .map_err(std::io::Error::other)?;
                tokio::task::spawn_blocking(move || {
                    let chunk = read_next(&file, READ_CHUNK.min(left));
                    chunk.map(|chunk| (file, chunk))
                })
                .await
                .map_err(std::io::Error::other)?
            })
        };
        let first = start_read.clone()(file, size);
        futures_util::stream::try_unfold((Some(first), size), move |(pending, left)| {
            let start_read = start_read.clone();
            async move {
                let Some(pending) = pending else {
                    return Ok(None);
                };
                let (file, chunk) = pending
                    .await
                    .map_err(|e| BlobError::Store(object_store::Error::JoinError { source: e }))?
                    .map_err(io_error)?;
                let left = left - chunk.len() as u64;
                let next = (left > 0).then(|| start_read(file, left));
                Ok(Some((chunk, (next, left))))
            }
        })
        .boxed()
    }

    /// True when the blob exists.
    pub async fn exists(&self, sha256: &str) -> BlobResult<bool> {
        match self.store.head(&blob_path(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a blob; deleting a missing one is not an error.
    pub async fn delete(&self, sha256: &str) -> BlobResult<()> {
        self.small.remove(sha256);
        match self.store.delete(&blob_path(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads exactly `len` bytes at `offset`; a file that ends sooner is an error (a blob never shrinks).
fn read_next(file: &std::fs::File, len: u64) -> std::io::Result<Bytes> {
    // Into spare capacity: the buffer is never zeroed first (zeroing cost several percent of a large
    // download's CPU).
    let mut buffer = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buffer)?;
    if (buffer.len() as u64) < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Bytes::from(buffer))
}

fn io_error(error: std::io::Error) -> BlobError {
    BlobError::Store(object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(error),
    })
}

fn not_found(error: object_store::Error, sha256: &str) -> BlobError {
    match error {
        object_store::Error::NotFound { .. } => BlobError::NotFound(sha256.to_owned()),
        other => other.into(),
    }
}

/// A blob being written. [`BlobWriter::finish`] stages it and [`StagedBlob::publish`] makes it visible;
/// dropping it or [`BlobWriter::abort`] leaves nothing readable.
pub struct BlobWriter {
    store: Arc<dyn ObjectStore>,
    claim: StagingClaim,
    temporary: Path,
    /// `None` once finished or aborted.
    upload: Option<WriteMultipart>,
    hashers: Hashers,
    max_size: u64,
}

impl BlobWriter {
    /// Appends bytes, waiting while too many parts are in flight so memory stays bounded.
    pub async fn write(&mut self, chunk: &[u8]) -> BlobResult<()> {
        if self.hashers.size() + chunk.len() as u64 > self.max_size {
            return Err(BlobError::TooLarge(self.max_size));
        }
        let Some(upload) = self.upload.as_mut() else {
            return Err(BlobError::Store(object_store::Error::Generic {
                store: "blobs",
                source: "write after the end of a blob".into(),
            }));
        };
        self.hashers.update(chunk);
        upload.wait_for_capacity(2).await?;
        upload.write(chunk);
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.hashers.size()
    }

    /// The digests of everything written so far, without finishing the write (to decide whether to keep
    /// it before it becomes visible).
    pub fn digests(&self) -> FileDigests {
        self.hashers.clone().finish()
    }

    /// Completes the write. The result is staged: stored, hashed, but not yet readable under its digest
    /// until [`StagedBlob::publish`].
    pub async fn finish(mut self) -> BlobResult<StagedBlob> {
        let digests = std::mem::take(&mut self.hashers).finish();
        if let Some(upload) = self.upload.take()
            && let Err(error) = upload.finish().await
        {
            let _ = self.store.delete(&self.temporary).await;
            return Err(error.into());
        }
        let temporary = std::mem::replace(&mut self.temporary, Path::from(STAGING));
        let claim = StagingClaim {
            live: self.claim.live.clone(),
            name: std::mem::take(&mut self.claim.name),
        };
        Ok(StagedBlob {
            store: self.store.clone(),
            _claim: claim,
            temporary,
            digests,
        })
    }

    /// Abandons the write.
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take() {
            abandon(upload, self.store.clone(), self.temporary.clone()).await;
        }
    }
}

/// Aborts a multipart upload (an object store keeps its parts until then) and deletes what it left.
async fn abandon(upload: WriteMultipart, store: Arc<dyn ObjectStore>, temporary: Path) {
    if let Err(error) = upload.abort().await {
        tracing::warn!(%error, "could not abort a blob upload");
    }
    let _ = store.delete(&temporary).await;
}

/// A write dropped unfinished (its request was cancelled when the client went away) is aborted in the
/// background, so an object store keeps no parts of it.
impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(abandon(upload, self.store.clone(), self.temporary.clone()));
        }
    }
}

/// A completely written blob, not yet visible under its digest. Its digests are known, so the caller
/// can record the blob (and keep collection away from it) before [`StagedBlob::publish`] moves it in
/// place. Dropping it without publishing or discarding leaves its temporary object behind.
pub struct StagedBlob {
    store: Arc<dyn ObjectStore>,
    _claim: StagingClaim,
    temporary: Path,
    digests: FileDigests,
}

impl StagedBlob {
    /// md5, sha1, sha256 and size of the content.
    pub fn digests(&self) -> &FileDigests {
        &self.digests
    }

    /// Moves the content under its sha256 (replacing an existing object of the same content); returns its
    /// digests.
    pub async fn publish(self) -> BlobResult<FileDigests> {
        let target = blob_path(&self.digests.sha256);
        self.store.rename(&self.temporary, &target).await?;
        Ok(self.digests)
    }

    /// Keeps the content only if its sha256 hex is `expected`; otherwise deletes it and answers
    /// [`BlobError::DigestMismatch`].
    pub async fn verify(self, expected: &str) -> BlobResult<Self> {
        if expected.eq_ignore_ascii_case(&self.digests.sha256) {
            return Ok(self);
        }
        let actual = self.digests.sha256.clone();
        self.discard().await;
        Err(BlobError::DigestMismatch {
            expected: expected.to_owned(),
            actual,
        })
    }

    /// Deletes the content without publishing it.
    pub async fn discard(self) {
        if let Err(error) = self.store.delete(&self.temporary).await {
            tracing::warn!(%error, "could not delete a staged blob");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staging_leftovers_are_collected_but_not_live_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
        let mut live = store.writer(1 << 20).await.unwrap();
        live.write(b"in progress").await.unwrap();
        let staging = dir.path().join(STAGING);
        std::fs::create_dir_all(&staging).unwrap();
        for leftover in ["0b7a1c2e-crash#1", "0b7a1c2e-crash", "5d0e-other#3"] {
            std::fs::write(staging.join(leftover), b"left by a crash").unwrap();
        }

        // Too recent for the grace period: kept.
        let grace = std::time::Duration::from_secs(3600);
        assert_eq!(store.collect_staging(grace).await.unwrap(), 0);
        // Past it: only what no live write owns goes.
        let removed = store
            .collect_staging(std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(removed, 3);
        let left = std::fs::read_dir(&staging).unwrap().count();
        assert!(left >= 1, "the live write's staging file was removed");
        // The live write still completes.
        live.write(b" and done").await.unwrap();
        let published = live.finish().await.unwrap().publish().await.unwrap();
        assert!(store.exists(&published.sha256).await.unwrap());
        assert_eq!(
            store
                .collect_staging(std::time::Duration::ZERO)
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_write_dropped_unfinished_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
        let mut writer = store.writer(1 << 24).await.unwrap();
        // More than a part, so that the store holds some of it.
        writer
            .write(&vec![1u8; LOCAL_WRITE_PART * 3])
            .await
            .unwrap();
        let staging = dir.path().join(STAGING);
        assert!(std::fs::read_dir(&staging).unwrap().count() > 0);
        drop(writer);
        for _ in 0..100 {
            if std::fs::read_dir(&staging).unwrap().count() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "the dropped write left {:?}",
            std::fs::read_dir(&staging).unwrap().collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn writes_become_visible_under_their_sha256_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
        let mut writer = store.writer(1024).await.unwrap();
        writer.write(b"hello ").await.unwrap();
        writer.write(b"world").await.unwrap();
        assert_eq!(writer.digests().size, 11);
        let staged = writer.finish().await.unwrap();
        let sha256 = staged.digests().sha256.clone();
        assert!(
            !store.exists(&sha256).await.unwrap(),
            "not visible before publish"
        );
        let digests = staged.publish().await.unwrap();
        assert_eq!(
            digests.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(digests.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        assert_eq!(digests.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            digests.sha512,
            "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f\
             989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"
        );
        assert_eq!(digests.size, 11);
        let bytes: Vec<Bytes> = store
            .read(&digests.sha256)
            .await
            .unwrap()
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!(bytes.concat(), b"hello world");
        store.delete(&digests.sha256).await.unwrap();
        assert!(!store.exists(&digests.sha256).await.unwrap());
    }

    async fn stored(store: &BlobStore, content: &[u8]) -> String {
        let mut writer = store.writer(u64::MAX).await.unwrap();
        writer.write(content).await.unwrap();
        writer
            .finish()
            .await
            .unwrap()
            .publish()
            .await
            .unwrap()
            .sha256
    }

    async fn read_all(store: &BlobStore, sha256: &str) -> (Vec<u8>, usize) {
        let chunks: Vec<Bytes> = store
            .read(sha256)
            .await
            .unwrap()
            .map(|c| c.unwrap())
            .collect()
            .await;
        (chunks.concat(), chunks.len())
    }

    #[tokio::test]
    async fn local_blobs_are_read_in_large_chunks_and_small_ones_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
        // Not a multiple of the chunk: the last read is short.
        let large: Vec<u8> = (0..(READ_CHUNK * 3 + 1234))
            .map(|i| (i % 251) as u8)
            .collect();
        let sha256 = stored(&store, &large).await;
        let (read, chunks) = read_all(&store, &sha256).await;
        assert_eq!(read, large);
        assert_eq!(chunks, 4);

        let small = b"a small file".to_vec();
        let sha256 = stored(&store, &small).await;
        assert_eq!(read_all(&store, &sha256).await, (small.clone(), 1));
        // Read again from memory; a deleted blob is gone from memory too.
        assert_eq!(read_all(&store, &sha256).await, (small, 1));
        store.delete(&sha256).await.unwrap();
        assert!(matches!(
            store.read(&sha256).await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn ranges_are_read_from_their_offset_on_every_store() {
        let dir = tempfile::tempdir().unwrap();
        let local = BlobStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
        let memory = BlobStore::from_url("memory://").unwrap();
        let large: Vec<u8> = (0..(READ_CHUNK * 2 + 77))
            .map(|i| (i % 253) as u8)
            .collect();
        let small = b"a small file".to_vec();
        for store in [&local, &memory] {
            for content in [&large, &small] {
                let sha256 = stored(store, content).await;
                let length = content.len() as u64;
                for (start, end) in [(0, length), (5, 9), (length - 3, length), (7, length + 100)] {
                    let chunks: Vec<Bytes> = store
                        .read_range(&sha256, start..end)
                        .await
                        .unwrap()
                        .map(|c| c.unwrap())
                        .collect()
                        .await;
                    let end = end.min(length);
                    assert_eq!(chunks.concat(), &content[start as usize..end as usize]);
                }
            }
        }
    }

    #[tokio::test]
    async fn an_oversized_or_aborted_write_leaves_nothing() {
        let store = BlobStore::from_url("memory://").unwrap();
        let mut writer = store.writer(4).await.unwrap();
        assert!(matches!(
            writer.write(b"12345").await,
            Err(BlobError::TooLarge(4))
        ));
        writer.abort().await;
        let mut discarded = store.writer(4).await.unwrap();
        discarded.write(b"1234").await.unwrap();
        discarded.finish().await.unwrap().discard().await;
        let listed: Vec<_> = store.store.list(None).collect().await;
        assert!(listed.is_empty());
    }

    #[tokio::test]
    async fn a_write_with_the_wrong_digest_leaves_nothing() {
        let store = BlobStore::from_url("memory://").unwrap();
        let mut writer = store.writer(1024).await.unwrap();
        writer.write(b"hello world").await.unwrap();
        let staged = writer.finish().await.unwrap();
        let result = staged.verify(&"0".repeat(64)).await;
        assert!(matches!(
            result,
            Err(BlobError::DigestMismatch { ref actual, .. })
                if actual == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        ));
        let listed: Vec<_> = store.store.list(None).collect().await;
        assert!(listed.is_empty());
    }
}
