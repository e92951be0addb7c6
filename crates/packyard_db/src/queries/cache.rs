//! Cache entries and the blobs they reference.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Page, contains_pattern, lower};
use crate::rows::*;
use crate::schema::{blobs, cache_entries, package_files, registry_upstreams, upstreams};
use crate::{AnyConnection, DbResult, per_backend};

const LIVE: i32 = 0;
const PENDING_DESTRUCTION: i32 = 2;

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
        .filter(cache_entries::status.eq(LIVE))
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
        .filter(cache_entries::status.eq(LIVE))
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

/// Commits a completely stored file: records its blob and creates the entry, or points the existing entry
/// at the new blob. Returns the entry and the blob it replaced, if any. Run inside a transaction.
pub fn commit_entry(
    conn: &mut AnyConnection,
    new: &NewCacheEntry,
    now: NaiveDateTime,
) -> DbResult<(CacheEntry, Option<String>)> {
    per_backend!(conn, |c| diesel::insert_into(blobs::table)
        .values((
            blobs::sha256.eq(&new.blob_sha256),
            blobs::size.eq(new.size),
            blobs::created_at.eq(now),
        ))
        .on_conflict(blobs::sha256)
        .do_nothing()
        .execute(c))?;
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
            let entry = per_backend!(conn, |c| diesel::update(cache_entries::table.find(old.id))
                .set(changes)
                .returning(CacheEntry::as_returning())
                .get_result(c))?;
            let replaced = (old.blob_sha256 != new.blob_sha256).then_some(old.blob_sha256);
            Ok((entry, replaced))
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
            Ok((entry, None))
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

/// Counts a download.
pub fn record_download(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> DbResult<()> {
    diesel::update(cache_entries::table.find(id))
        .set((
            cache_entries::downloads_count.eq(cache_entries::downloads_count + 1),
            cache_entries::downloaded_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// One page of an upstream's live entries, newest first, optionally filtered by path.
pub fn list_entries(
    conn: &mut AnyConnection,
    upstream_id: i64,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<Page<CacheEntry>> {
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
        query
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order(cache_entries::id.desc())
        .offset(offset)
        .limit(limit)
        .select(CacheEntry::as_select())
        .load(conn)?;
    Ok(Page { items, total })
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

/// Up to `limit` blobs that no row (cache entry or hosted package file) references any more.
pub fn unreferenced_blobs(conn: &mut AnyConnection, limit: i64) -> DbResult<Vec<String>> {
    Ok(blobs::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            cache_entries::table.filter(cache_entries::blob_sha256.eq(blobs::sha256)),
        )))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            package_files::table.filter(package_files::blob_sha256.eq(blobs::sha256)),
        )))
        .select(blobs::sha256)
        .limit(limit)
        .load(conn)?)
}

/// Deletes a blob's row if no cache entry or package file references it; returns whether it did (the object may then go).
pub fn delete_blob_if_unreferenced(conn: &mut AnyConnection, sha256: &str) -> DbResult<bool> {
    Ok(diesel::delete(
        blobs::table
            .filter(blobs::sha256.eq(sha256))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                cache_entries::table.filter(cache_entries::blob_sha256.eq(sha256)),
            )))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                package_files::table.filter(package_files::blob_sha256.eq(sha256)),
            ))),
    )
    .execute(conn)?
        > 0)
}
