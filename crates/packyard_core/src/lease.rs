//! One upstream fetch per file across every instance sharing the database.
//!
//! Within an instance, concurrent misses already share one fill ([`crate::fill`]). Across instances, the
//! instance about to fetch (`upstream`, `path`) first takes its fill lease, a row in the database. Only the
//! holder fetches; another instance that misses the same file waits for the holder's cache entry and serves
//! it from the blob store, complete. The holder extends its lease while the fill runs and releases it when
//! the fill ends; if it dies (kill -9, a lost machine), the lease runs out after [`FILL_LEASE`] and a waiting
//! instance takes it over and fetches the file itself. Nothing partial is ever served from another
//! instance: a waiter reads only a committed entry, whose blob was verified before the commit.

use std::time::Duration;

use chrono::NaiveDateTime;
use packyard_db::queries::{cache as cq, leases as lq};
use packyard_db::rows::CacheEntry;

use crate::{Core, CoreError};

/// How long a fill lease lasts without being extended: how long a dead holder delays the others.
pub const FILL_LEASE: Duration = Duration::from_secs(10);
/// How often a holder extends its lease.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// A waiter looks for the holder's entry this often at first, then less often up to [`WAIT_POLL_MAX`].
const WAIT_POLL_MIN: Duration = Duration::from_millis(50);
const WAIT_POLL_MAX: Duration = Duration::from_millis(500);

/// What the instance that missed a file does.
pub(crate) enum LeaseOutcome {
    /// Fetch it: this instance holds the lease until the value is dropped.
    Lead(FillLease),
    /// Another instance fetched it meanwhile: serve this entry.
    Cached(CacheEntry),
}

/// A held fill lease, extended in the background and released when dropped.
pub(crate) struct FillLease {
    core: Core,
    upstream_id: i64,
    path: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for FillLease {
    fn drop(&mut self) {
        self.renewal.abort();
        let (db, upstream_id, path, holder) = (
            self.core.db.clone(),
            self.upstream_id,
            std::mem::take(&mut self.path),
            std::mem::take(&mut self.holder),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released = db
                    .run(move |conn| lq::release(conn, upstream_id, &path, &holder))
                    .await;
                if let Err(error) = released {
                    // It runs out by itself.
                    tracing::warn!(%error, upstream = upstream_id, "could not release a fill lease");
                }
            });
        }
    }
}

fn lease_end(now: NaiveDateTime) -> NaiveDateTime {
    now + chrono::Duration::from_std(FILL_LEASE).unwrap_or_default()
}

impl Core {
    /// Takes the fill lease of (`upstream_id`, `path`), or waits until the instance holding it committed
    /// an entry that `usable` accepts. A holder that ends without such an entry (its fetch failed, or it
    /// died and its lease ran out) leaves the fetch to whoever takes the lease next.
    pub(crate) async fn lead_or_wait(
        &self,
        upstream_id: i64,
        path: &str,
        usable: impl Fn(&CacheEntry) -> bool,
    ) -> Result<LeaseOutcome, CoreError> {
        let holder = format!("{}/{}", self.instance_id, uuid::Uuid::new_v4());
        let mut poll = WAIT_POLL_MIN;
        loop {
            let now = self.clock.now();
            let (lookup, name) = (path.to_owned(), holder.clone());
            let taken = self
                .db
                .run(move |conn| {
                    lq::acquire(conn, upstream_id, &lookup, &name, now, lease_end(now))
                })
                .await?;
            if taken {
                return Ok(LeaseOutcome::Lead(self.hold_lease(
                    upstream_id,
                    path,
                    holder,
                )));
            }
            self.metrics.fill_waiters.inc();
            // Someone else fetches it: wait for their entry while their lease lives.
            loop {
                tokio::time::sleep(poll).await;
                poll = (poll * 2).min(WAIT_POLL_MAX);
                let lookup = path.to_owned();
                let now = self.clock.now();
                let (entry, held) = self
                    .db
                    .run(move |conn| {
                        let entry = cq::find_entry(conn, upstream_id, &lookup)?;
                        let held = lq::is_held(conn, upstream_id, &lookup, now)?;
                        Ok((entry, held))
                    })
                    .await?;
                if let Some(entry) = entry.filter(|entry| usable(entry)) {
                    return Ok(LeaseOutcome::Cached(entry));
                }
                if !held {
                    break;
                }
            }
        }
    }

    fn hold_lease(&self, upstream_id: i64, path: &str, holder: String) -> FillLease {
        let (core, lookup, name) = (self.clone(), path.to_owned(), holder.clone());
        let renewal = tokio::spawn(async move {
            let mut every = tokio::time::interval(RENEW_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let (lookup, name) = (lookup.clone(), name.clone());
                let until = lease_end(core.clock.now());
                let extended = core
                    .db
                    .run(move |conn| lq::extend(conn, upstream_id, &lookup, &name, until))
                    .await;
                match extended {
                    Ok(true) => {}
                    // Another instance may fetch the file too; both store the same verified content.
                    Ok(false) => {
                        tracing::warn!(
                            upstream = upstream_id,
                            "a fill lease was lost while filling"
                        );
                    }
                    Err(error) => {
                        tracing::warn!(%error, upstream = upstream_id, "could not extend a fill lease");
                    }
                }
            }
        });
        FillLease {
            core: self.clone(),
            upstream_id,
            path: path.to_owned(),
            holder,
            renewal,
        }
    }
}
