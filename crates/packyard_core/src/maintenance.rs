//! Background removal: entries hidden by a delete or purge, and blobs nothing references any more.

use packyard_db::queries::cache as q;

use crate::{Core, CoreResult};

/// Rows handled per batch.
const BATCH: i64 = 500;

impl Core {
    /// Deletes the rows of hidden entries, then the blobs no row references. Returns (entries, blobs).
    pub async fn destroy_hidden_entries(&self) -> CoreResult<(usize, usize)> {
        let mut entries = 0;
        loop {
            let deleted = self
                .db
                .transaction(|conn| q::delete_entries_pending_destruction(conn, BATCH))
                .await?;
            entries += deleted;
            if deleted < BATCH as usize {
                break;
            }
        }
        let blobs = self.collect_unreferenced_blobs().await?;
        Ok((entries, blobs))
    }

    /// Deletes every blob that no row references.
    pub async fn collect_unreferenced_blobs(&self) -> CoreResult<usize> {
        let _exclusive = self.blob_gc_lock.write().await;
        let mut collected = 0;
        loop {
            let candidates = self
                .db
                .run(|conn| q::unreferenced_blobs(conn, BATCH))
                .await?;
            if candidates.is_empty() {
                break;
            }
            let count = candidates.len();
            for sha256 in candidates {
                let key = sha256.clone();
                if self
                    .db
                    .transaction(move |conn| q::delete_blob_if_unreferenced(conn, &key))
                    .await?
                {
                    self.blobs.delete(&sha256).await?;
                    collected += 1;
                }
            }
            if count < BATCH as usize {
                break;
            }
        }
        Ok(collected)
    }

    /// Removes hidden entries and unreferenced blobs in the background.
    pub fn destroy_hidden_entries_later(&self) {
        let core = self.clone();
        tokio::spawn(async move {
            if let Err(error) = core.destroy_hidden_entries().await {
                tracing::error!(%error, "removing deleted cache entries failed");
            }
        });
    }

    /// Collects a replaced blob in the background, if nothing references it.
    pub(crate) fn collect_blob_later(&self, sha256: String) {
        let core = self.clone();
        tokio::spawn(async move {
            let _exclusive = core.blob_gc_lock.write().await;
            let key = sha256.clone();
            let result = match core
                .db
                .transaction(move |conn| q::delete_blob_if_unreferenced(conn, &key))
                .await
            {
                Ok(true) => core
                    .blobs
                    .delete(&sha256)
                    .await
                    .map_err(crate::CoreError::from),
                Ok(false) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(error) = result {
                tracing::error!(%error, sha256, "collecting a replaced blob failed");
            }
        });
    }
}
