//! The life of a blob: publishing a written one and committing the entry that references it, and the
//! removal in the background of hidden entries' rows and of blobs nothing references any more.
//!
//! Blobs are collected in two steps with a grace period (`jobs.blob_grace`) between them, so that
//! removing a blob is safe while other instances write and read:
//!
//! 1. **Mark**: a blob no row references gets `orphaned_at = now`.
//! 2. **Sweep**: a blob orphaned and not written for the grace period, and still unreferenced, is marked
//!    `deleting` in one statement, its object is deleted, then its row.
//!
//! A writer pins a blob ([`Core::publish_blob`]) before it moves the object in place: pinning refreshes
//! `written_at` and clears the orphan mark, or waits while the blob is being deleted. The commit of an
//! entry refreshes the pin again and refuses a blob being deleted. So an object is never deleted under a
//! writer that published it, whichever instance either runs in: the row is the lock, and both sides
//! take it in a transaction. A download that opened a blob just before its entry was deleted has at
//! least the grace period to finish (on local disk even longer: an open file outlives its deletion).

use packyard_blob::StagedBlob;
use packyard_db::queries::cache as q;
use packyard_db::rows::{CacheEntry, NewCacheEntry};
use packyard_domain::FileDigests;

use crate::jobs::{JobKind, chrono, wake};
use crate::{Core, CoreResult};

/// Rows handled per batch.
const BATCH: i64 = 500;
/// How often a writer asks again whether a blob with its content is still being deleted.
const PIN_RETRIES: u32 = 50;
/// The pause between those asks.
const PIN_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl Core {
    /// Deletes the rows of hidden entries and wakes blob collection; returns how many rows.
    pub(crate) async fn destroy_hidden_entries(&self) -> CoreResult<usize> {
        let mut entries = 0;
        loop {
            let now = self.now();
            let deleted = self
                .db
                .transaction(move |conn| {
                    let deleted = q::delete_entries_pending_destruction(conn, BATCH)?;
                    if deleted > 0 {
                        wake(conn, JobKind::CollectBlobs, now, now)?;
                    }
                    Ok(deleted)
                })
                .await?;
            entries += deleted;
            if deleted < BATCH as usize {
                break;
            }
        }
        if entries > 0 {
            tracing::info!(entries, "deleted hidden cache entries");
            self.wake_job_workers();
        }
        Ok(entries)
    }

    /// Marks unreferenced blobs, deletes those whose grace period is over, and wakes itself for the
    /// next one that comes due. Returns how many blobs it deleted.
    pub(crate) async fn collect_blobs(&self) -> CoreResult<usize> {
        self.collect_staging(self.settings.jobs.blob_grace).await;
        let now = self.now();
        let grace = chrono(self.settings.jobs.blob_grace);
        loop {
            let marked = self
                .db
                .transaction(move |conn| q::mark_orphaned_blobs(conn, now, BATCH))
                .await?;
            if marked < BATCH as usize {
                break;
            }
        }
        let cutoff = now - grace;
        let mut collected = 0;
        loop {
            let candidates = self
                .db
                .run(move |conn| q::collectable_blobs(conn, cutoff, BATCH))
                .await?;
            let count = candidates.len();
            for sha256 in candidates {
                let key = sha256.clone();
                let started = self
                    .db
                    .transaction(move |conn| q::begin_blob_deletion(conn, &key, cutoff))
                    .await?;
                if !started {
                    continue;
                }
                self.blobs.delete(&sha256).await?;
                let key = sha256.clone();
                self.db
                    .transaction(move |conn| q::finish_blob_deletion(conn, &key))
                    .await?;
                collected += 1;
            }
            if count < BATCH as usize {
                break;
            }
        }
        let next = self.db.run(q::earliest_orphan).await?;
        if let Some(orphaned_at) = next {
            let at = (orphaned_at + grace).max(now);
            self.db
                .transaction(move |conn| wake(conn, JobKind::CollectBlobs, at, now))
                .await?;
        }
        if collected > 0 {
            tracing::info!(blobs = collected, "collected unreferenced blobs");
        }
        Ok(collected)
    }

    /// Makes a staged blob readable under its digest. Its row is pinned first, so collection leaves it
    /// alone for the grace period (time enough to commit the entry that references it); while the same
    /// content is being deleted, this waits for the deletion to end. `None` when that took too long:
    /// nothing was published, and the caller must not commit an entry on it.
    pub(crate) async fn publish_blob(&self, staged: StagedBlob) -> CoreResult<Option<FileDigests>> {
        let (sha256, size) = (staged.digests().sha256.clone(), staged.digests().size);
        for _ in 0..PIN_RETRIES {
            let (key, now) = (sha256.clone(), self.now());
            let pinned = self
                .db
                .transaction(move |conn| q::pin_blob(conn, &key, size, now))
                .await;
            match pinned {
                Ok(true) => return Ok(Some(staged.publish().await?)),
                Ok(false) => tokio::time::sleep(PIN_RETRY_DELAY).await,
                Err(error) => {
                    staged.discard().await;
                    return Err(error.into());
                }
            }
        }
        tracing::warn!(
            sha256,
            "a blob with this content stayed in deletion; not publishing it"
        );
        staged.discard().await;
        Ok(None)
    }

    /// Wakes blob collection now: a blob may have lost its last reference.
    /// Deletes what crashed writes left in blob storage's staging folder, last changed at least
    /// `older_than` ago and owned by no write of this instance.
    pub(crate) async fn collect_staging(&self, older_than: std::time::Duration) {
        match self.blobs.collect_staging(older_than).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed staging files left by crashed writes"),
            Err(error) => tracing::warn!(%error, "could not collect staging files"),
        }
    }

    pub(crate) async fn collect_blobs_soon(&self) -> CoreResult<()> {
        let now = self.now();
        self.db
            .transaction(move |conn| wake(conn, JobKind::CollectBlobs, now, now))
            .await?;
        self.wake_job_workers();
        Ok(())
    }

    /// Commits a published blob as the cache entry `new` describes; a blob it replaces goes to collection.
    /// `None` when the blob's pin ran out and it is being collected: nothing was committed.
    pub(crate) async fn commit_entry(&self, new: NewCacheEntry) -> CoreResult<Option<CacheEntry>> {
        let now = self.now();
        let committed = self
            .db
            .transaction(move |conn| {
                let committed = q::commit_entry(conn, &new, now)?;
                if let Some((_, Some(_replaced))) = &committed {
                    wake(conn, JobKind::CollectBlobs, now, now)?;
                }
                Ok(committed)
            })
            .await?;
        Ok(committed.map(|(entry, replaced)| {
            if replaced.is_some() {
                self.wake_job_workers();
            }
            entry
        }))
    }
}
