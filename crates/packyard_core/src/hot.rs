//! The hot index: what a warm hit needs, remembered in memory so that serving a cached or hosted file
//! touches no database. Filled on a miss from the same SQL the cold path uses; bounded in entries.
//!
//! Invalidation is by events: triggers bump a generation counter per kind of data (`identity`,
//! `registries`, `cache`, `hosted`) in the same transaction as any change that could make a remembered
//! answer wrong ([`Core::sync_changes`] reads them). Each instance reads the counters every second in the
//! background and right after its own writes, and forgets everything of a kind whose counter moved. So a
//! change is honoured at once on the instance that made it (see [`Core::hot_ready`]) and within about a second (at most
//! [`SYNC_INTERVAL`] plus one query) on every other instance sharing the database.
//!
//! While the counters can't be read (a database outage), remembered answers keep being served for
//! [`OUTAGE_GRACE`] after the last read, then everything is forgotten.
//!
//! A value read from the database is remembered only if no generation moved while it was read (an epoch
//! per section, checked after the insert), so a read racing a change never outlives it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::NaiveDateTime;
use futures_util::stream::{self, BoxStream, StreamExt};
use packyard_db::queries::{cache as cq, changes, hosted as hq};

use crate::identity::Actor;
use crate::{Core, CoreResult};

/// How often an instance reads the change generations and writes the download counters.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How long remembered answers keep being served after the change generations were last read, while
/// they can't be read: warm hits go on through a short database outage. Nothing can change in a
/// database nobody reaches; an instance cut off from a database the others still reach honours their
/// changes (a revoked token) this much later at worst.
pub const OUTAGE_GRACE: Duration = Duration::from_secs(60);
/// How often counted downloads are written, at most.
pub const COUNTER_FLUSH_INTERVAL: Duration = Duration::from_secs(3);

/// Items each section keeps at most.
const SECTION_CAPACITY: usize = 50_000;

/// One kind of remembered answer.
pub(crate) struct Section<K, V> {
    items: quick_cache::sync::Cache<K, V>,
    /// Moves on every clear; an insert made under an older epoch is undone.
    epoch: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> Section<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            items: quick_cache::sync::Cache::new(capacity),
            epoch: AtomicU64::new(0),
        }
    }

    /// The remembered value.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.items.get(key)
    }

    /// The epoch to pass to [`Section::insert`]; read it before reading the database.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Remembers a value read under `epoch`, unless the section was cleared since.
    pub(crate) fn insert(&self, epoch: u64, key: K, value: V) {
        if self.epoch() != epoch {
            return;
        }
        self.items.insert(key.clone(), value);
        if self.epoch() != epoch {
            self.items.remove(&key);
        }
    }

    /// Forgets one value.
    pub(crate) fn remove(&self, key: &K) {
        self.items.remove(key);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.items.clear();
    }
}

/// How a token was presented: a deploy token is accepted only where the client may send either kind.
pub(crate) type TokenKey = (String, bool);

/// A group named by id or by lower-cased full path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum GroupKey {
    Id(i64),
    Path(String),
}

/// An actor with the expiry of its token, checked on every use.
#[derive(Clone)]
pub(crate) struct RememberedActor {
    pub(crate) actor: Actor,
    pub(crate) expires_at: Option<NaiveDateTime>,
}

/// Everything remembered.
pub(crate) struct HotIndex {
    /// Token digest (and whether a deploy token is accepted) → actor.
    pub(crate) tokens: Section<TokenKey, RememberedActor>,
    /// A login token named by id (container registry tokens) → actor.
    pub(crate) token_ids: Section<crate::identity::TokenRef, RememberedActor>,
    /// (top-level group, user) → access level, when a member.
    pub(crate) members: Section<(i64, i64), Option<i32>>,
    /// Group id or lower-cased full path → group.
    pub(crate) groups: Section<GroupKey, packyard_db::rows::Group>,
    /// (format, id) → registry.
    pub(crate) registries: Section<(String, i64), packyard_db::rows::Registry>,
    /// Registry → its upstreams by position.
    pub(crate) upstreams: Section<i64, std::sync::Arc<Vec<packyard_db::rows::Upstream>>>,
    /// (registry, path) → the live entry and its upstream.
    pub(crate) entries: Section<
        (i64, String),
        std::sync::Arc<(packyard_db::rows::CacheEntry, packyard_db::rows::Upstream)>,
    >,
    /// A hosted package's file by package identity, version and file name.
    pub(crate) hosted_files: Section<String, std::sync::Arc<crate::hosted::StoredFile>>,
    /// The generation counters as last read.
    generations: Mutex<HashMap<String, i64>>,
    /// [`packyard_db::Db::writes`] when the counters were last read.
    synced_writes: AtomicU64,
    /// When the counters were last read.
    synced_at: Mutex<Option<Instant>>,
}

impl Default for HotIndex {
    fn default() -> Self {
        Self {
            tokens: Section::new(SECTION_CAPACITY),
            token_ids: Section::new(SECTION_CAPACITY),
            members: Section::new(SECTION_CAPACITY),
            groups: Section::new(SECTION_CAPACITY),
            registries: Section::new(SECTION_CAPACITY),
            upstreams: Section::new(SECTION_CAPACITY),
            entries: Section::new(SECTION_CAPACITY * 4),
            hosted_files: Section::new(SECTION_CAPACITY * 4),
            generations: Mutex::new(HashMap::new()),
            // Unlike any count of writes: the first lookup reads the counters.
            synced_writes: AtomicU64::new(u64::MAX),
            synced_at: Mutex::new(None),
        }
    }
}

impl HotIndex {
    /// Forgets what a kind of data holds.
    fn forget(&self, kind: &str) {
        match kind {
            "identity" => {
                self.tokens.clear();
                self.token_ids.clear();
                self.members.clear();
                self.groups.clear();
            }
            "registries" => {
                self.registries.clear();
                self.upstreams.clear();
                self.entries.clear();
            }
            "cache" => self.entries.clear(),
            "hosted" => self.hosted_files.clear(),
            other => tracing::warn!(kind = other, "unknown change generation"),
        }
    }

    /// Applies counters just read: every kind whose counter moved is forgotten.
    fn apply(&self, read: Vec<(String, i64)>) {
        let Ok(mut known) = self.generations.lock() else {
            return;
        };
        for (kind, value) in read {
            // Never read before (a new instance): what was remembered before this first read may be
            // older than the counter, so it goes too.
            if known.insert(kind.clone(), value) != Some(value) {
                self.forget(&kind);
            }
        }
    }

    /// Whether the counters were read less than [`OUTAGE_GRACE`] ago.
    fn within_outage_grace(&self) -> bool {
        self.synced_at
            .lock()
            .ok()
            .and_then(|synced_at| *synced_at)
            .is_some_and(|at| at.elapsed() < OUTAGE_GRACE)
    }

    /// Forgets everything (a generation could not be read: better a database trip than a stale answer).
    fn forget_all(&self) {
        for kind in ["identity", "registries", "cache", "hosted"] {
            self.forget(kind);
        }
    }
}

/// Downloads counted in memory until the next flush.
#[derive(Default)]
pub(crate) struct Counters {
    /// Cache entry → (downloads, last download).
    entries: Mutex<HashMap<i64, (i64, NaiveDateTime)>>,
    /// Package version → downloads.
    versions: Mutex<HashMap<i64, i64>>,
}

impl Counters {
    /// Counts a download of a cache entry.
    pub(crate) fn entry_downloaded(&self, id: i64, at: NaiveDateTime) {
        if let Ok(mut entries) = self.entries.lock() {
            let counted = entries.entry(id).or_insert((0, at));
            counted.0 += 1;
            counted.1 = counted.1.max(at);
        }
    }

    /// Counts a download of a hosted version's file.
    pub(crate) fn version_downloaded(&self, id: i64) {
        if let Ok(mut versions) = self.versions.lock() {
            *versions.entry(id).or_insert(0) += 1;
        }
    }

    fn take(&self) -> (HashMap<i64, (i64, NaiveDateTime)>, HashMap<i64, i64>) {
        let entries = self
            .entries
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        let versions = self
            .versions
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        (entries, versions)
    }

    /// Puts back counts that could not be written, so none is lost.
    fn restore(&self, entries: HashMap<i64, (i64, NaiveDateTime)>, versions: HashMap<i64, i64>) {
        if let Ok(mut current) = self.entries.lock() {
            for (id, (count, at)) in entries {
                let counted = current.entry(id).or_insert((0, at));
                counted.0 += count;
                counted.1 = counted.1.max(at);
            }
        }
        if let Ok(mut current) = self.versions.lock() {
            for (id, count) in versions {
                *current.entry(id).or_insert(0) += count;
            }
        }
    }
}

impl Core {
    /// Reads the change generations and forgets every remembered answer of a kind that changed. Runs
    /// every [`SYNC_INTERVAL`] in the background and after every write this instance makes.
    pub async fn sync_changes(&self) {
        let writes = self.db.writes();
        match self.db.run(changes::list_generations).await {
            Ok(read) => {
                self.hot.apply(read);
                self.hot.synced_writes.store(writes, Ordering::Release);
                if let Ok(mut synced_at) = self.hot.synced_at.lock() {
                    *synced_at = Some(Instant::now());
                }
            }
            Err(error) if self.hot.within_outage_grace() => {
                tracing::warn!(%error, "could not read the change generations; still answering from memory");
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the change generations; forgetting everything");
                self.hot.forget_all();
            }
        }
    }

    /// Makes the hot index safe to answer from: when this instance wrote to the database since it last
    /// read the change generations, they are read first, so it never answers against its own change.
    /// Otherwise free (two atomic reads).
    pub(crate) async fn hot_ready(&self) {
        if self.db.writes() != self.hot.synced_writes.load(Ordering::Acquire) {
            self.sync_changes().await;
        }
    }

    /// The value a section remembers under `key`, or else `load`'s, which is then remembered (unless a
    /// generation moved while it was read). `load` only runs on a miss.
    pub(crate) async fn remembered<K, V>(
        &self,
        section: fn(&HotIndex) -> &Section<K, V>,
        key: K,
        load: impl std::future::Future<Output = CoreResult<V>>,
    ) -> CoreResult<V>
    where
        K: Eq + Hash + Clone,
        V: Clone,
    {
        self.hot_ready().await;
        let section = section(&self.hot);
        if let Some(value) = section.get(&key) {
            return Ok(value);
        }
        let epoch = section.epoch();
        let value = load.await?;
        section.insert(epoch, key, value.clone());
        Ok(value)
    }

    /// A download's body that counts the download when it is first read: a `HEAD` or a `304` sends none
    /// of it, so it is no download.
    pub(crate) fn counted_when_read(
        &self,
        body: BoxStream<'static, std::io::Result<Bytes>>,
        count: impl FnOnce(&Counters) + Send + 'static,
    ) -> BoxStream<'static, std::io::Result<Bytes>> {
        let core = self.clone();
        stream::once(async move {
            count(&core.counters);
            None
        })
        .filter_map(std::future::ready)
        .chain(body)
        .boxed()
    }

    /// Writes the downloads counted in memory; counts that cannot be written are kept for the next try.
    pub async fn flush_download_counts(&self) -> CoreResult<()> {
        let (entries, versions) = self.counters.take();
        if entries.is_empty() && versions.is_empty() {
            return Ok(());
        }
        let (written_entries, written_versions) = (entries.clone(), versions.clone());
        let written = self
            .db
            .transaction(move |conn| {
                for (id, (count, at)) in &written_entries {
                    cq::add_downloads(conn, *id, *count, *at)?;
                }
                for (id, count) in &written_versions {
                    hq::add_version_downloads(conn, *id, *count)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = written {
            self.counters.restore(entries, versions);
            return Err(error.into());
        }
        Ok(())
    }

    /// Writes pending download counts before a read that shows them; a failure leaves them pending.
    pub(crate) async fn flush_before_read(&self) {
        if let Err(error) = self.flush_download_counts().await {
            tracing::warn!(%error, "could not write download counts; keeping them");
        }
    }

    /// Keeps this instance's memory in step with the database until the returned handle is stopped:
    /// reads the change generations every [`SYNC_INTERVAL`] and writes the download counters every
    /// [`COUNTER_FLUSH_INTERVAL`].
    pub fn start_hot_sync(&self) -> HotSync {
        let core = self.clone();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut last_flush = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SYNC_INTERVAL) => {}
                    _ = stopped.changed() => break,
                }
                core.sync_changes().await;
                if last_flush.elapsed() >= COUNTER_FLUSH_INTERVAL {
                    last_flush = tokio::time::Instant::now();
                    if let Err(error) = core.flush_download_counts().await {
                        tracing::warn!(%error, "could not write download counts; keeping them");
                    }
                }
            }
            if let Err(error) = core.flush_download_counts().await {
                tracing::error!(%error, "download counts could not be written at shutdown");
            }
        });
        HotSync {
            stop,
            task: Some(task),
        }
    }
}

/// The running background sync of [`Core::start_hot_sync`].
/// Dropping it stops the sync too, after a last write of the counters that is not waited for.
pub struct HotSync {
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl HotSync {
    /// Stops the sync after writing every download counted so far.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(%error, "the hot index sync failed");
        }
    }
}

impl Drop for HotSync {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_before_a_clear_is_not_remembered() {
        let section: Section<u32, &str> = Section::new(16);
        let epoch = section.epoch();
        section.insert(epoch, 1, "current");
        assert_eq!(section.get(&1), Some("current"));

        let read_before_change = section.epoch();
        section.clear();
        section.insert(read_before_change, 2, "stale");
        assert_eq!(section.get(&1), None, "a clear forgets everything");
        assert_eq!(
            section.get(&2),
            None,
            "a read older than the clear is dropped"
        );
    }

    #[test]
    fn a_moved_or_new_generation_forgets_its_kind_only() {
        let index = HotIndex::default();
        let remember = |index: &HotIndex| {
            let epoch = index.upstreams.epoch();
            index.upstreams.insert(epoch, 1, Default::default());
            let epoch = index.members.epoch();
            index.members.insert(epoch, (1, 2), Some(10));
        };
        let generations = |registries: i64| {
            vec![
                ("identity".to_owned(), 0),
                ("registries".to_owned(), registries),
            ]
        };
        remember(&index);
        index.apply(generations(0));
        assert!(
            index.members.get(&(1, 2)).is_none(),
            "never read before: forgotten"
        );

        remember(&index);
        index.apply(generations(0));
        assert_eq!(
            index.members.get(&(1, 2)),
            Some(Some(10)),
            "unchanged: kept"
        );
        assert!(index.upstreams.get(&1).is_some());

        index.apply(generations(1));
        assert!(index.upstreams.get(&1).is_none(), "registries moved");
        assert_eq!(
            index.members.get(&(1, 2)),
            Some(Some(10)),
            "identity did not"
        );
    }
}
