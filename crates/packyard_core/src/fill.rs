//! Single-flight fills: one upstream GET per (upstream, path) however many clients ask at once.
//!
//! The leader's task streams the upstream body into the blob store (hashing as it goes) and into an
//! unlinked spool file. Every client, early or late, reads the spool from the first byte at its own pace
//! (positional reads, so memory stays bounded and a slow client never holds the fill back). The cache
//! entry is committed only when the body is complete; a failed fill commits nothing and every client's
//! stream ends in an error, so a short file is never presented as whole.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::NaiveDateTime;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::stream::{BoxStream, StreamExt};
use packyard_db::queries::cache as q;
use packyard_db::rows::{CacheEntry, NewCacheEntry, Upstream};
use tokio::sync::watch;

use crate::lease::LeaseOutcome;
use crate::pull::{PathClass, Want, sha256_hex};
use crate::{Core, CoreError};

/// Bytes gathered before one spool write and one progress notification.
const SPOOL_BATCH: usize = 256 * 1024;

/// Bytes no client reads before the fill is done: the body is verified (length, digests) only once it
/// has all arrived, and a client that had every byte would take a failed check for a complete file.
const HELD_BACK: u64 = 1;

type FillKey = (i64, String);

/// Fills in progress.
#[derive(Default)]
pub(crate) struct Fills {
    inflight: Mutex<HashMap<FillKey, Arc<Fill>>>,
    /// Misses being resolved (registry, path): concurrent misses of one path share one round of
    /// upstream HEADs and then the one fill it starts.
    resolving: Mutex<HashMap<FillKey, Resolution>>,
}

/// A resolution that every concurrent miss of a path awaits.
type Resolution = Shared<BoxFuture<'static, Result<Arc<Fill>, CoreError>>>;

/// What the upstream said about the body being filled.
#[derive(Debug, Clone)]
pub struct FillMeta {
    /// Content type to serve.
    pub content_type: String,
    /// Declared length, when the upstream sent one.
    pub content_length: Option<u64>,
}

#[derive(Clone)]
enum FillState {
    Waiting,
    Streaming {
        meta: Arc<FillMeta>,
        written: u64,
    },
    Done {
        meta: Arc<FillMeta>,
        written: u64,
    },
    /// Another fill committed this file between the client's lookup and this fill's start.
    AlreadyCached(Arc<CacheEntry>),
    Failed(Arc<FillFailure>),
}

/// Why a fill failed.
#[derive(Debug)]
pub enum FillFailure {
    /// The upstream answered with a non-success status.
    Status(u16),
    /// The upstream could not be reached, timed out or cut the body short.
    Upstream(packyard_upstream::UpstreamError),
    /// The file is larger than the limit.
    TooLarge(u64),
    /// The body does not have the digest it was asked by or declared with; nothing was kept.
    DigestMismatch {
        /// `sha256:<hex>` expected.
        expected: String,
        /// `sha256:<hex>` received.
        actual: String,
    },
    /// Storing failed.
    Internal(String),
}

impl std::fmt::Display for FillFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FillFailure::Status(status) => write!(f, "upstream answered {status}"),
            FillFailure::Upstream(e) => e.fmt(f),
            FillFailure::TooLarge(max) => write!(f, "file is larger than {max} bytes"),
            FillFailure::DigestMismatch { expected, actual } => {
                write!(
                    f,
                    "upstream sent content with digest {actual}, expected {expected}"
                )
            }
            FillFailure::Internal(e) => f.write_str(e),
        }
    }
}

impl FillFailure {
    /// The error a client gets when the fill fails before any byte was sent.
    pub fn to_core_error(&self) -> CoreError {
        match self {
            FillFailure::Status(404) => CoreError::not_found("File not found on any upstream"),
            FillFailure::Status(status) => {
                CoreError::UpstreamUnavailable(format!("upstream answered {status}"))
            }
            FillFailure::Upstream(e) => CoreError::UpstreamUnavailable(e.to_string()),
            FillFailure::TooLarge(max) => {
                CoreError::TooLarge(format!("file is larger than {max} bytes"))
            }
            FillFailure::DigestMismatch { .. } => CoreError::UpstreamUnavailable(self.to_string()),
            FillFailure::Internal(e) => CoreError::Internal(e.clone()),
        }
    }
}

/// One fill that clients can follow.
pub(crate) struct Fill {
    upstream_id: i64,
    spool: Arc<std::fs::File>,
    state: watch::Receiver<FillState>,
}

/// How a followed fill started.
pub(crate) enum FillStart {
    /// The body streams; read it with [`Fill::stream`].
    Streaming(FillMeta),
    /// The file was cached meanwhile; serve the entry.
    Cached(Arc<CacheEntry>),
}

impl Fill {
    /// The upstream the body comes from.
    pub(crate) fn upstream_id(&self) -> i64 {
        self.upstream_id
    }

    /// Waits until the upstream answered.
    pub(crate) async fn started(&self) -> Result<FillStart, Arc<FillFailure>> {
        let mut state = self.state.clone();
        loop {
            let current = state.borrow_and_update().clone();
            match current {
                FillState::Waiting => {}
                FillState::Streaming { meta, .. } | FillState::Done { meta, .. } => {
                    return Ok(FillStart::Streaming((*meta).clone()));
                }
                FillState::AlreadyCached(entry) => return Ok(FillStart::Cached(entry)),
                FillState::Failed(failure) => return Err(failure),
            }
            if state.changed().await.is_err() {
                return Err(Arc::new(FillFailure::Internal("fill task ended".into())));
            }
        }
    }

    /// The body from the first byte, as it arrives; ends in an error if the fill fails.
    pub(crate) fn stream(self: Arc<Self>) -> BoxStream<'static, std::io::Result<Bytes>> {
        let state = self.state.clone();
        futures_util::stream::unfold(
            (self, state, 0u64, false),
            |(fill, mut state, position, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    let current = state.borrow_and_update().clone();
                    let (available, finished) = match &current {
                        FillState::Streaming { written, .. } => {
                            (written.saturating_sub(HELD_BACK), false)
                        }
                        FillState::Done { written, .. } => (*written, true),
                        FillState::Failed(failure) => {
                            let error = std::io::Error::other(failure.to_string());
                            return Some((Err(error), (fill, state, position, true)));
                        }
                        FillState::Waiting | FillState::AlreadyCached(_) => (0, false),
                    };
                    if position < available {
                        let length = (available - position).min(SPOOL_BATCH as u64) as usize;
                        let spool = fill.spool.clone();
                        let read = tokio::task::spawn_blocking(move || {
                            let mut buffer = vec![0u8; length];
                            spool.read_exact_at(&mut buffer, position).map(|()| buffer)
                        })
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                        return Some(match read {
                            Ok(buffer) => (
                                Ok(Bytes::from(buffer)),
                                (fill, state, position + length as u64, false),
                            ),
                            Err(e) => (Err(e), (fill, state, position, true)),
                        });
                    }
                    if finished {
                        return None;
                    }
                    if state.changed().await.is_err() {
                        let error = std::io::Error::other("fill task ended");
                        return Some((Err(error), (fill, state, position, true)));
                    }
                }
            },
        )
        .boxed()
    }
}

impl Core {
    /// The fill that serves a miss of `want` in a registry: one already running for one of its upstreams
    /// (the first by position), or the one started after resolving which upstream has the file. However
    /// many clients miss at once, the upstreams get one round of HEADs and one GET.
    pub(crate) async fn fill_for_miss(
        &self,
        registry_id: i64,
        upstreams: &Arc<Vec<Upstream>>,
        want: &Want,
        requested_at: NaiveDateTime,
    ) -> Result<Arc<Fill>, CoreError> {
        let path = want.path.as_str();
        let poisoned = || CoreError::Internal("fill registry poisoned".into());
        {
            let inflight = self.fills.inflight.lock().map_err(|_| poisoned())?;
            let running = upstreams
                .iter()
                .find_map(|u| inflight.get(&(u.id, path.to_owned())));
            if let Some(fill) = running {
                self.metrics.fill_waiters.inc();
                return Ok(fill.clone());
            }
        }
        let key = (registry_id, path.to_owned());
        let resolution = {
            let mut resolving = self.fills.resolving.lock().map_err(|_| poisoned())?;
            match resolving.get(&key) {
                Some(resolution) => {
                    self.metrics.fill_waiters.inc();
                    resolution.clone()
                }
                None => {
                    let core = self.clone();
                    let (upstreams, want, done) = (upstreams.clone(), want.clone(), key.clone());
                    let resolution = async move {
                        let started = match core.resolve(&upstreams, &want).await {
                            Ok(winner) => core.join_or_start_fill(&winner, &want, requested_at),
                            Err(error) => Err(error),
                        };
                        // The fill is registered as running before the resolution goes away, so a
                        // later miss joins it instead of asking the upstreams again.
                        if let Ok(mut resolving) = core.fills.resolving.lock() {
                            resolving.remove(&done);
                        }
                        started
                    }
                    .boxed()
                    .shared();
                    resolving.insert(key, resolution.clone());
                    resolution
                }
            }
        };
        resolution.await
    }

    /// Joins the fill of (`upstream`, `path`), or starts it. `requested_at` is when the client looked the
    /// cache up: an entry confirmed since then is used instead of fetching again.
    pub(crate) fn join_or_start_fill(
        &self,
        upstream: &Upstream,
        want: &Want,
        requested_at: NaiveDateTime,
    ) -> Result<Arc<Fill>, CoreError> {
        let key = (upstream.id, want.path.as_str().to_owned());
        let mut inflight = self
            .fills
            .inflight
            .lock()
            .map_err(|_| CoreError::Internal("fill registry poisoned".into()))?;
        if let Some(fill) = inflight.get(&key) {
            return Ok(fill.clone());
        }
        let spool = tempfile::tempfile_in(&self.settings.spool_dir)
            .map_err(|e| CoreError::Internal(format!("spool file: {e}")))?;
        let (sender, receiver) = watch::channel(FillState::Waiting);
        let fill = Arc::new(Fill {
            upstream_id: upstream.id,
            spool: Arc::new(spool),
            state: receiver,
        });
        inflight.insert(key.clone(), fill.clone());
        drop(inflight);
        let core = self.clone();
        let upstream = upstream.clone();
        let want = want.clone();
        let spool = fill.spool.clone();
        core.metrics.fills_in_flight.inc();
        tokio::spawn(async move {
            let outcome = core
                .run_fill(&upstream, &want, requested_at, &spool, &sender)
                .await;
            core.metrics.fills_in_flight.dec();
            if let Ok(FillState::Done { written, .. }) = &outcome {
                core.metrics.fetched_bytes.inc_by(*written);
            }
            if let Ok(mut inflight) = core.fills.inflight.lock() {
                inflight.remove(&key);
            }
            match outcome {
                Ok(final_state) => {
                    let _ = sender.send(final_state);
                }
                Err(failure) => {
                    tracing::warn!(upstream = upstream.id, path = %key.1, %failure, "fill failed; nothing cached");
                    let _ = sender.send(FillState::Failed(Arc::new(failure)));
                }
            }
        });
        Ok(fill)
    }

    async fn run_fill(
        &self,
        upstream: &Upstream,
        want: &Want,
        requested_at: NaiveDateTime,
        spool: &Arc<std::fs::File>,
        sender: &watch::Sender<FillState>,
    ) -> Result<FillState, FillFailure> {
        let path = want.path.as_str();
        let (upstream_id, lookup_path) = (upstream.id, path.to_owned());
        // Content named by its digest never changes: any live entry will do. Other content must have
        // been confirmed since the client looked.
        let usable = |entry: &CacheEntry| {
            want.class == PathClass::Immutable || entry.upstream_checked_at >= requested_at
        };
        let recent = self
            .db
            .run(move |conn| q::find_entry(conn, upstream_id, &lookup_path))
            .await
            .map_err(|e| FillFailure::Internal(e.to_string()))?
            .filter(|entry| usable(entry));
        if let Some(entry) = recent {
            return Ok(FillState::AlreadyCached(Arc::new(entry)));
        }
        // One fetch across the instances sharing the database: the lease holder fetches, the others
        // serve what it committed.
        let _lease = match self
            .lead_or_wait(upstream.id, path, usable)
            .await
            .map_err(|e| FillFailure::Internal(e.to_string()))?
        {
            LeaseOutcome::Lead(lease) => lease,
            LeaseOutcome::Cached(entry) => return Ok(FillState::AlreadyCached(Arc::new(entry))),
        };

        let url = self
            .fetch_url(upstream, want, path)
            .map_err(|e| FillFailure::Internal(e.to_string()))?;
        let credentials = self
            .credentials_for(upstream, &url)
            .map_err(|e| FillFailure::Internal(e.to_string()))?;
        let fetch = want.fetch(credentials.as_ref());
        let get = self.upstream.get(&url, &fetch);
        let mut download = self
            .metrics
            .upstream_call(upstream.id, get, |download| {
                download.meta.status.is_server_error()
            })
            .await
            .map_err(FillFailure::Upstream)?;
        if !download.meta.status.is_success() {
            return Err(FillFailure::Status(download.meta.status.as_u16()));
        }
        let max = self.settings.max_file_size;
        if download
            .meta
            .content_length
            .is_some_and(|length| length > max)
        {
            return Err(FillFailure::TooLarge(max));
        }
        // Asked while the body streams; compared once it has all arrived.
        let published =
            (want.published_checksums && self.settings.verify_upstream_checksums).then(|| {
                let (core, upstream, path) = (self.clone(), upstream.clone(), path.to_owned());
                tokio::spawn(async move { core.published_checksum(&upstream, &path).await })
            });
        let content_type = download
            .meta
            .content_type
            .clone()
            .or(want.content_type_hint.map(str::to_owned))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let meta = Arc::new(FillMeta {
            content_type: content_type.clone(),
            content_length: download.meta.content_length,
        });
        sender.send_replace(FillState::Streaming {
            meta: meta.clone(),
            written: 0,
        });

        let mut writer = self
            .blobs
            .writer(max)
            .await
            .map_err(|e| FillFailure::Internal(e.to_string()))?;
        let mut batch: Vec<u8> = Vec::with_capacity(SPOOL_BATCH);
        let mut written = 0u64;
        let copied: Result<(), FillFailure> = async {
            while let Some(chunk) = download.body.next().await {
                let chunk = chunk.map_err(FillFailure::Upstream)?;
                writer.write(&chunk).await.map_err(|e| match e {
                    packyard_blob::BlobError::TooLarge(max) => FillFailure::TooLarge(max),
                    other => FillFailure::Internal(other.to_string()),
                })?;
                batch.extend_from_slice(&chunk);
                if batch.len() >= SPOOL_BATCH {
                    written = spool_append(spool, &mut batch, written).await?;
                    sender.send_replace(FillState::Streaming {
                        meta: meta.clone(),
                        written,
                    });
                }
            }
            written = spool_append(spool, &mut batch, written).await?;
            Ok(())
        }
        .await;
        if let Err(failure) = copied {
            writer.abort().await;
            return Err(failure);
        }

        let staged = writer
            .finish()
            .await
            .map_err(|e| FillFailure::Internal(e.to_string()))?;
        let size = staged.digests().size as u64;
        if meta.content_length.is_some_and(|length| length != size) {
            staged.discard().await;
            return Err(FillFailure::Upstream(
                packyard_upstream::UpstreamError::Truncated {
                    received: size,
                    expected: meta.content_length.unwrap_or_default(),
                },
            ));
        }
        // The digest the request names, else the one a registry declares: a body that lies is not kept.
        let expected = match &want.address {
            Some(address) => Some(address.digest.clone()),
            None if want.content_addressed => download.meta.docker_content_digest.clone(),
            None => None,
        };
        let expected = expected.as_deref().and_then(sha256_hex);
        let staged = match expected {
            Some(hex) => staged.verify(hex).await.map_err(|e| match e {
                packyard_blob::BlobError::DigestMismatch { expected, actual } => {
                    FillFailure::DigestMismatch {
                        expected: format!("sha256:{expected}"),
                        actual: format!("sha256:{actual}"),
                    }
                }
                other => FillFailure::Internal(other.to_string()),
            })?,
            None => staged,
        };
        let published = match published {
            Some(task) => task.await.ok().flatten(),
            None => want.declared.clone(),
        };
        if let Some(published) = &published {
            let actual = published.of(staged.digests()).to_owned();
            if actual != published.hex {
                staged.discard().await;
                return Err(FillFailure::DigestMismatch {
                    expected: format!("{}:{}", published.algorithm, published.hex),
                    actual: format!("{}:{actual}", published.algorithm),
                });
            }
        }
        // A body that ends when the connection closes may have been cut short: served, but kept only
        // when a digest vouches for it.
        if download.meta.close_delimited && expected.is_none() && published.is_none() {
            tracing::info!(
                upstream = upstream.id,
                path,
                "body without a length and nothing to verify it by; not cached"
            );
            staged.discard().await;
            return Ok(FillState::Done { meta, written });
        }
        // Every client already has (or will read) the whole body from the spool: a file that cannot be
        // cached now is still served, only not kept.
        let Some(digests) = self
            .publish_blob(staged)
            .await
            .map_err(|e| FillFailure::Internal(e.to_string()))?
        else {
            return Ok(FillState::Done { meta, written });
        };
        let new = NewCacheEntry {
            group_id: upstream.group_id,
            upstream_id: upstream.id,
            relative_path: path.to_owned(),
            blob_sha256: digests.sha256.clone(),
            size: digests.size,
            file_sha1: digests.sha1.clone(),
            file_md5: Some(digests.md5.clone()),
            content_type,
            upstream_etag: if want.content_addressed {
                Some(format!("sha256:{}", digests.sha256))
            } else {
                download.meta.validator()
            },
        };
        let committed = self
            .commit_entry(new)
            .await
            .map_err(|e| FillFailure::Internal(e.to_string()))?;
        if committed.is_none() {
            tracing::warn!(
                upstream = upstream.id,
                path,
                "the blob was collected before its commit; not cached"
            );
        }
        Ok(FillState::Done { meta, written })
    }
}

/// Appends the batch to the spool at `offset`; returns the new length.
async fn spool_append(
    spool: &Arc<std::fs::File>,
    batch: &mut Vec<u8>,
    offset: u64,
) -> Result<u64, FillFailure> {
    if batch.is_empty() {
        return Ok(offset);
    }
    let data = std::mem::replace(batch, Vec::with_capacity(SPOOL_BATCH));
    let length = data.len() as u64;
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || spool.write_all_at(&data, offset))
        .await
        .map_err(|e| FillFailure::Internal(e.to_string()))?
        .map_err(|e| FillFailure::Internal(format!("spool write: {e}")))?;
    Ok(offset + length)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    fn meta(length: u64) -> Arc<FillMeta> {
        Arc::new(FillMeta {
            content_type: "application/octet-stream".into(),
            content_length: Some(length),
        })
    }

    /// Reads what a client gets within a short while.
    async fn readable(
        body: &mut BoxStream<'static, std::io::Result<Bytes>>,
    ) -> (Vec<u8>, Option<std::io::Error>) {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(std::time::Duration::from_millis(200), body.next()).await {
                Ok(Some(Ok(chunk))) => got.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => return (got, Some(e)),
                Ok(None) | Err(_) => return (got, None),
            }
        }
    }

    #[tokio::test]
    async fn the_last_byte_waits_for_the_check() {
        let body = vec![7u8; 1000];
        let spool = Arc::new(tempfile::tempfile().unwrap());
        spool.write_all_at(&body, 0).unwrap();
        let streaming = || FillState::Streaming {
            meta: meta(1000),
            written: 1000,
        };

        // Every byte has arrived but the body is not verified yet: a client can't have it whole, and
        // when the check fails its transfer ends in an error, one byte short.
        let (sender, state) = watch::channel(streaming());
        let spool_copy = spool.clone();
        let mut client = Arc::new(Fill {
            upstream_id: 1,
            spool,
            state,
        })
        .stream();
        let (got, error) = readable(&mut client).await;
        assert_eq!((got.len(), error.is_none()), (999, true));
        sender.send_replace(FillState::Failed(Arc::new(FillFailure::DigestMismatch {
            expected: "sha256:aa".into(),
            actual: "sha256:bb".into(),
        })));
        let (got, error) = readable(&mut client).await;
        assert_eq!((got.len(), error.is_some()), (0, true));

        // A verified body is read whole.
        let (sender, state) = watch::channel(streaming());
        let mut client = Arc::new(Fill {
            upstream_id: 1,
            spool: spool_copy,
            state,
        })
        .stream();
        let (mut got, _) = readable(&mut client).await;
        sender.send_replace(FillState::Done {
            meta: meta(1000),
            written: 1000,
        });
        let (rest, error) = readable(&mut client).await;
        got.extend_from_slice(&rest);
        assert_eq!((got, error.is_none()), (body, true));
    }
}
