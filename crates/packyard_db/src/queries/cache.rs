//! Cache entries and the blobs they reference.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{Page, contains_pattern, lower};
use crate::rows::*;
use crate::schema::{
    blobs, cache_entries, package_files, registry_upstreams, upstream_entry_counts, upstreams,
};
use crate::{AnyConnection, DbResult, per_backend};

const LIVE: i32 = 0;
const PENDING_DESTRUCTION: i32 = 2;

/// `status = 0` written as a literal: the partial indexes on live entries serve a query only when the
/// planner sees the value (a bound one makes SQLite re-prepare the statement on every call, and gives
/// PostgreSQL a generic plan that scans).
fn live() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("cache_entries.status = 0")
}

/// The live entry for `path` among a registry's upstreams, the lowest position first, with its upstream.
pub fn find_registry_entry(
    conn: &mut AnyConnection,
    registry_id: i64,
    path: &str,
) -> DbResult<Option<(CacheEntry, Upstream)>> {
    Ok(cache_entries::table
        .inner_join(upstreams::table.inner_join(registry_upstreams::table))
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .filter(cache_entries::relative_path.eq(path))
        .filter(live())
        .order(registry_upstreams::position.asc())
        .select((CacheEntry::as_select(), Upstream::as_select()))
        .first(conn)
        .optional()?)
}

/// The live entry among a registry's upstreams whose etag is `etag` (a content digest) and whose path
/// contains `within` (`/manifests/`), the lowest position first.
pub fn find_registry_entry_by_etag(
    conn: &mut AnyConnection,
    registry_id: i64,
    etag: &str,
    within: &str,
) -> DbResult<Option<(CacheEntry, Upstream)>> {
    Ok(cache_entries::table
        .inner_join(upstreams::table.inner_join(registry_upstreams::table))
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .filter(cache_entries::upstream_etag.eq(etag))
        .filter(cache_entries::relative_path.like(format!("%{within}%")))
        .filter(live())
        .order(registry_upstreams::position.asc())
        .select((CacheEntry::as_select(), Upstream::as_select()))
        .first(conn)
        .optional()?)
}

/// The live entry of one upstream for `path`.
pub fn find_entry(
    conn: &mut AnyConnection,
    upstream_id: i64,
    path: &str,
) -> DbResult<Option<CacheEntry>> {
    Ok(cache_entries::table
        .filter(cache_entries::upstream_id.eq(upstream_id))
        .filter(cache_entries::relative_path.eq(path))
        .filter(cache_entries::status.eq(LIVE))
        .select(CacheEntry::as_select())
        .first(conn)
        .optional()?)
}

/// Commits a completely stored file whose blob was pinned ([`pin_blob`]) and published: creates the entry,
/// or points the existing entry at the new blob. Returns the entry and the blob it replaced, if any; or
/// `None`, committing nothing, when the blob's row is gone or being deleted (its pin ran out, so the
/// object may be gone too). Run inside a transaction.
pub fn commit_entry(
    conn: &mut AnyConnection,
    new: &NewCacheEntry,
    now: NaiveDateTime,
) -> DbResult<Option<(CacheEntry, Option<String>)>> {
    if !refresh_pin(conn, &new.blob_sha256, now)? {
        return Ok(None);
    }
    let existing = find_entry(conn, new.upstream_id, &new.relative_path)?;
    let changes = (
        cache_entries::blob_sha256.eq(&new.blob_sha256),
        cache_entries::size.eq(new.size),
        cache_entries::file_sha1.eq(&new.file_sha1),
        cache_entries::file_md5.eq(&new.file_md5),
        cache_entries::content_type.eq(&new.content_type),
        cache_entries::upstream_etag.eq(&new.upstream_etag),
        cache_entries::upstream_checked_at.eq(now),
        cache_entries::updated_at.eq(now),
    );
    match existing {
        Some(old) => {
            // A refetch serves a client, so it counts as a download for the cleanup policy: an entry
            // that changes upstream on every use is in use.
            let entry = per_backend!(conn, |c| diesel::update(cache_entries::table.find(old.id))
                .set((changes, cache_entries::downloaded_at.eq(now)))
                .returning(CacheEntry::as_returning())
                .get_result(c))?;
            let replaced = (old.blob_sha256 != new.blob_sha256).then_some(old.blob_sha256);
            Ok(Some((entry, replaced)))
        }
        None => {
            let entry = per_backend!(conn, |c| diesel::insert_into(cache_entries::table)
                .values((
                    cache_entries::group_id.eq(new.group_id),
                    cache_entries::upstream_id.eq(new.upstream_id),
                    cache_entries::relative_path.eq(&new.relative_path),
                    changes,
                    cache_entries::downloads_count.eq(0i64),
                    // Set at creation so the cleanup policy can select it (`downloaded_at < cutoff`).
                    cache_entries::downloaded_at.eq(now),
                    cache_entries::status.eq(LIVE),
                    cache_entries::created_at.eq(now),
                ))
                .returning(CacheEntry::as_returning())
                .get_result(c))?;
            Ok(Some((entry, None)))
        }
    }
}

/// Records that the upstream confirmed the entry is current.
pub fn touch_checked(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> DbResult<()> {
    diesel::update(cache_entries::table.find(id))
        .set(cache_entries::upstream_checked_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Adds `count` downloads, the last at `last` (counted in memory, written in batches).
pub fn add_downloads(
    conn: &mut AnyConnection,
    id: i64,
    count: i64,
    last: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(cache_entries::table.find(id))
        .set((
            cache_entries::downloads_count.eq(cache_entries::downloads_count + count),
            cache_entries::downloaded_at.eq(last),
        ))
        .execute(conn)?;
    Ok(())
}

/// One page of an upstream's live entries, newest first, optionally filtered by path (`search`: a
/// case-insensitive substring, `%`, `_` and `\` literal), and how many match.
///
/// The page is found by id rather than by skipping rows: the id at its edge is read from the
/// `(upstream_id, status, id)` index, counting from whichever end of the list is nearer, so the first and
/// the last pages read only their own rows. Without a search the total is the upstream's maintained count
/// (`upstream_entry_counts`); a search counts its matches, which an index of the paths' trigrams finds.
pub fn list_entries(
    conn: &mut AnyConnection,
    upstream_id: i64,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<Page<CacheEntry>> {
    if search.is_some() && matches!(conn, AnyConnection::Postgres(_)) {
        // A prepared statement gets a generic plan after a few runs, and a generic plan cannot see how
        // few paths a pattern matches: it walks the id index backwards through every entry (80 ms at
        // 100k). Planned for its pattern, a search reads the matches from the trigram index.
        return conn.transaction(|conn| {
            diesel::sql_query("SET LOCAL plan_cache_mode = force_custom_plan").execute(conn)?;
            list_entries_as_planned(conn, upstream_id, search, offset, limit)
        });
    }
    list_entries_as_planned(conn, upstream_id, search, offset, limit)
}

fn list_entries_as_planned(
    conn: &mut AnyConnection,
    upstream_id: i64,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<Page<CacheEntry>> {
    let trigrams = search.and_then(|term| trigram_phrase(conn, term));
    let filtered = || {
        let mut query = cache_entries::table
            .filter(cache_entries::upstream_id.eq(upstream_id))
            .filter(cache_entries::status.eq(LIVE))
            .into_boxed();
        if let Some(term) = search {
            query = query.filter(
                lower(cache_entries::relative_path)
                    .like(contains_pattern(term))
                    .escape('\\'),
            );
        }
        if let Some(phrase) = &trigrams {
            // SQLite: the candidates the path index finds; the LIKE above stays the rule.
            query = query.filter(
                sql::<Bool>(
                    "cache_entries.id IN \
                     (SELECT rowid FROM cache_entry_paths WHERE cache_entry_paths MATCH ",
                )
                .bind::<Text, _>(phrase.clone())
                .sql(")"),
            );
        }
        query
    };
    let total = match search {
        None => live_entry_count(conn, upstream_id)?,
        Some(_) => filtered().count().get_result(conn)?,
    };
    let offset = offset.max(0);
    if limit <= 0 || offset >= total {
        return Ok(Page {
            items: Vec::new(),
            total,
        });
    }
    let end = offset.saturating_add(limit).min(total);
    let older = total - end;
    let items = if offset <= older {
        let mut page = filtered().order(cache_entries::id.desc());
        if offset > 0 {
            let edge: Option<i64> = filtered()
                .order(cache_entries::id.desc())
                .offset(offset)
                .select(cache_entries::id)
                .first(conn)
                .optional()?;
            let Some(edge) = edge else {
                return Ok(Page {
                    items: Vec::new(),
                    total,
                });
            };
            page = page.filter(cache_entries::id.le(edge));
        }
        page.limit(limit)
            .select(CacheEntry::as_select())
            .load(conn)?
    } else {
        // Nearer the oldest entry: read the page oldest first from there, then turn it around.
        let mut page = filtered().order(cache_entries::id.asc());
        if older > 0 {
            let edge: Option<i64> = filtered()
                .order(cache_entries::id.asc())
                .offset(older)
                .select(cache_entries::id)
                .first(conn)
                .optional()?;
            if let Some(edge) = edge {
                page = page.filter(cache_entries::id.ge(edge));
            }
        }
        let mut items: Vec<CacheEntry> = page
            .limit(end - offset)
            .select(CacheEntry::as_select())
            .load(conn)?;
        items.reverse();
        items
    };
    Ok(Page { items, total })
}

/// The live entries of an upstream: its maintained count, or a count of its rows if it has none.
fn live_entry_count(conn: &mut AnyConnection, upstream_id: i64) -> DbResult<i64> {
    let kept: Option<i64> = upstream_entry_counts::table
        .find(upstream_id)
        .select(upstream_entry_counts::live_entries)
        .first(conn)
        .optional()?;
    match kept {
        Some(count) => Ok(count.max(0)),
        None => Ok(cache_entries::table
            .filter(cache_entries::upstream_id.eq(upstream_id))
            .filter(cache_entries::status.eq(LIVE))
            .count()
            .get_result(conn)?),
    }
}

/// On SQLite, the FTS5 phrase that finds the paths containing `term` in `cache_entry_paths` (a trigram
/// index, case-insensitive like the search). `None` on PostgreSQL, whose trigram index serves the LIKE
/// itself, and for terms shorter than a trigram, which the index cannot find.
fn trigram_phrase(conn: &AnyConnection, term: &str) -> Option<String> {
    let term = term.to_lowercase();
    let is_sqlite = matches!(conn, AnyConnection::Sqlite(_));
    (is_sqlite && term.chars().count() >= 3).then(|| format!("\"{}\"", term.replace('"', "\"\"")))
}

/// One live path of an upstream, for its connection test.
pub fn any_entry_path(conn: &mut AnyConnection, upstream_id: i64) -> DbResult<Option<String>> {
    Ok(cache_entries::table
        .filter(cache_entries::upstream_id.eq(upstream_id))
        .filter(cache_entries::status.eq(LIVE))
        .order(cache_entries::id.desc())
        .select(cache_entries::relative_path)
        .first(conn)
        .optional()?)
}

/// Hides one live entry until the destruction worker removes it; returns whether there was one.
pub fn mark_entry_for_destruction(
    conn: &mut AnyConnection,
    upstream_id: i64,
    path: &str,
    now: NaiveDateTime,
) -> DbResult<bool> {
    Ok(diesel::update(
        cache_entries::table
            .filter(cache_entries::upstream_id.eq(upstream_id))
            .filter(cache_entries::relative_path.eq(path))
            .filter(cache_entries::status.eq(LIVE)),
    )
    .set((
        cache_entries::status.eq(PENDING_DESTRUCTION),
        cache_entries::updated_at.eq(now),
    ))
    .execute(conn)?
        > 0)
}

/// Hides every live entry of these upstreams; returns how many.
pub fn mark_upstream_entries_for_destruction(
    conn: &mut AnyConnection,
    upstream_ids: &[i64],
    now: NaiveDateTime,
) -> DbResult<usize> {
    Ok(diesel::update(
        cache_entries::table
            .filter(cache_entries::upstream_id.eq_any(upstream_ids))
            .filter(cache_entries::status.eq(LIVE)),
    )
    .set((
        cache_entries::status.eq(PENDING_DESTRUCTION),
        cache_entries::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Deletes up to `limit` entries waiting for destruction; returns how many.
pub fn delete_entries_pending_destruction(conn: &mut AnyConnection, limit: i64) -> DbResult<usize> {
    let ids: Vec<i64> = cache_entries::table
        .filter(cache_entries::status.eq(PENDING_DESTRUCTION))
        .select(cache_entries::id)
        .limit(limit)
        .load(conn)?;
    Ok(diesel::delete(cache_entries::table.filter(cache_entries::id.eq_any(ids))).execute(conn)?)
}

/// Hides up to `limit` live entries of an upstream last downloaded before `cutoff` (the cleanup policy's
/// selection); returns the size of each entry hidden.
pub fn mark_entries_downloaded_before(
    conn: &mut AnyConnection,
    upstream_id: i64,
    cutoff: NaiveDateTime,
    limit: i64,
    now: NaiveDateTime,
) -> DbResult<Vec<i64>> {
    let ids: Vec<i64> = cache_entries::table
        .filter(cache_entries::upstream_id.eq(upstream_id))
        .filter(cache_entries::status.eq(LIVE))
        .filter(cache_entries::downloaded_at.lt(cutoff))
        .order(cache_entries::id.asc())
        .select(cache_entries::id)
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The status is checked again: an entry hidden meanwhile is not counted twice.
    Ok(per_backend!(conn, |c| diesel::update(
        cache_entries::table
            .filter(cache_entries::id.eq_any(&ids))
            .filter(cache_entries::status.eq(LIVE))
    )
    .set((
        cache_entries::status.eq(PENDING_DESTRUCTION),
        cache_entries::updated_at.eq(now),
    ))
    .returning(cache_entries::size)
    .get_results(c))?)
}

/// True when some row references the blob of the `blobs` row at hand. This is the one definition of
/// "referenced" that blob collection uses: a table that starts referencing blobs (hosted package files)
/// (hosted package files) joins in here with `.or(exists(...))`, and collection then spares its blobs too. Entries waiting for
/// destruction still reference their blobs, so a hidden entry's blob stays until its row is deleted.
#[diesel::dsl::auto_type(no_type_alias)]
fn blob_is_referenced() -> _ {
    diesel::dsl::exists(cache_entries::table.filter(cache_entries::blob_sha256.eq(blobs::sha256)))
        .or(diesel::dsl::exists(
            package_files::table.filter(package_files::blob_sha256.eq(blobs::sha256)),
        ))
}

/// Records that a writer is about to publish the object of `sha256`: creates its row, or refreshes the
/// `written_at` of the existing one (and clears an orphan mark). Collection leaves a blob written within
/// its grace period alone. Returns false, changing nothing, when the blob is being deleted right now:
/// the writer must wait for the deletion to end before it publishes the same content.
pub fn pin_blob(
    conn: &mut AnyConnection,
    sha256: &str,
    size: i64,
    now: NaiveDateTime,
) -> DbResult<bool> {
    if refresh_pin(conn, sha256, now)? {
        return Ok(true);
    }
    let inserted = per_backend!(conn, |c| diesel::insert_into(blobs::table)
        .values((
            blobs::sha256.eq(sha256),
            blobs::size.eq(size),
            blobs::created_at.eq(now),
            blobs::written_at.eq(now),
            blobs::deleting.eq(false),
        ))
        .on_conflict(blobs::sha256)
        .do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}

/// Refreshes the pin of a blob whose row exists and is not being deleted; false otherwise. A commit that
/// references a blob calls it in the same transaction, so it never references a blob being deleted.
pub fn refresh_pin(conn: &mut AnyConnection, sha256: &str, now: NaiveDateTime) -> DbResult<bool> {
    Ok(diesel::update(
        blobs::table
            .filter(blobs::sha256.eq(sha256))
            .filter(blobs::deleting.eq(false)),
    )
    .set((
        blobs::written_at.eq(now),
        blobs::orphaned_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?
        > 0)
}

/// Marks up to `limit` unreferenced blobs as orphaned since `now` (the start of their grace period);
/// returns how many. Each blob is marked only if its `written_at` is still the one read: a commit that
/// references the blob meanwhile refreshes `written_at`, so a blob never keeps a mark from before its
/// last use (PostgreSQL re-checks the row a concurrent commit changed; SQLite runs one writer at a time).
pub fn mark_orphaned_blobs(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> DbResult<usize> {
    let candidates: Vec<(String, NaiveDateTime)> = blobs::table
        .filter(blobs::orphaned_at.is_null())
        .filter(blobs::deleting.eq(false))
        .filter(diesel::dsl::not(blob_is_referenced()))
        .select((blobs::sha256, blobs::written_at))
        .limit(limit)
        .load(conn)?;
    let mut marked = 0;
    for (sha256, written_at) in candidates {
        marked += diesel::update(
            blobs::table
                .filter(blobs::sha256.eq(sha256))
                .filter(blobs::written_at.eq(written_at))
                .filter(blobs::orphaned_at.is_null())
                .filter(blobs::deleting.eq(false))
                .filter(diesel::dsl::not(blob_is_referenced())),
        )
        .set(blobs::orphaned_at.eq(now))
        .execute(conn)?;
    }
    Ok(marked)
}

/// Up to `limit` blobs to delete: those whose deletion began (and was interrupted), then those orphaned
/// and not written since `cutoff` and still unreferenced.
pub fn collectable_blobs(
    conn: &mut AnyConnection,
    cutoff: NaiveDateTime,
    limit: i64,
) -> DbResult<Vec<String>> {
    let mut shas: Vec<String> = blobs::table
        .filter(blobs::deleting.eq(true))
        .select(blobs::sha256)
        .limit(limit)
        .load(conn)?;
    let room = limit - shas.len() as i64;
    if room > 0 {
        shas.extend(
            blobs::table
                .filter(blobs::deleting.eq(false))
                .filter(blobs::orphaned_at.le(cutoff))
                .filter(blobs::written_at.le(cutoff))
                .filter(diesel::dsl::not(blob_is_referenced()))
                .select(blobs::sha256)
                .limit(room)
                .load::<String>(conn)?,
        );
    }
    Ok(shas)
}

/// Starts deleting a blob: marks it `deleting` if it still qualifies (orphaned and not written since
/// `cutoff`, unreferenced), or finds it already marked. While marked, writers of the same content wait
/// ([`pin_blob`]) and no entry can be committed on it. Returns whether its object may now be deleted.
pub fn begin_blob_deletion(
    conn: &mut AnyConnection,
    sha256: &str,
    cutoff: NaiveDateTime,
) -> DbResult<bool> {
    let marked = diesel::update(
        blobs::table
            .filter(blobs::sha256.eq(sha256))
            .filter(blobs::deleting.eq(false))
            .filter(blobs::orphaned_at.le(cutoff))
            .filter(blobs::written_at.le(cutoff))
            .filter(diesel::dsl::not(blob_is_referenced())),
    )
    .set(blobs::deleting.eq(true))
    .execute(conn)?;
    if marked > 0 {
        return Ok(true);
    }
    let resumed: i64 = blobs::table
        .filter(blobs::sha256.eq(sha256))
        .filter(blobs::deleting.eq(true))
        .count()
        .get_result(conn)?;
    Ok(resumed > 0)
}

/// Ends a blob's deletion once its object is gone: deletes its row.
pub fn finish_blob_deletion(conn: &mut AnyConnection, sha256: &str) -> DbResult<()> {
    diesel::delete(
        blobs::table
            .filter(blobs::sha256.eq(sha256))
            .filter(blobs::deleting.eq(true)),
    )
    .execute(conn)?;
    Ok(())
}

/// The earliest orphan mark among blobs not being deleted, if any: when the next one becomes collectable
/// (add the grace period).
pub fn earliest_orphan(conn: &mut AnyConnection) -> DbResult<Option<NaiveDateTime>> {
    Ok(blobs::table
        .filter(blobs::deleting.eq(false))
        .select(diesel::dsl::min(blobs::orphaned_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// A blob's row, if it has one (operations and tests).
pub fn find_blob(conn: &mut AnyConnection, sha256: &str) -> DbResult<Option<Blob>> {
    Ok(blobs::table
        .find(sha256)
        .select(Blob::as_select())
        .first(conn)
        .optional()?)
}
