//! Fill leases: which instance fetches a file from an upstream, across every instance sharing the
//! database. A lease names its holder and runs out at `expires_at`; the holder extends it while it works and
//! releases it when done, and a lease that ran out (its holder died) can be taken by anyone.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::fill_leases as leases;
use crate::{AnyConnection, DbResult, per_backend};

/// Takes the lease of (`upstream_id`, `path`) for `holder` until `until`, unless someone else holds one
/// that has not run out at `now`. True when taken.
pub fn acquire(
    conn: &mut AnyConnection,
    upstream_id: i64,
    path: &str,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> DbResult<bool> {
    // `INSERT … ON CONFLICT DO UPDATE … WHERE expires_at < now`: a new lease, or one that ran out taken over.
    let upsert = diesel::query_dsl::methods::FilterDsl::filter(
        diesel::insert_into(leases::table)
            .values((
                leases::upstream_id.eq(upstream_id),
                leases::relative_path.eq(path),
                leases::holder.eq(holder),
                leases::expires_at.eq(until),
            ))
            .on_conflict((leases::upstream_id, leases::relative_path))
            .do_update()
            .set((
                leases::holder.eq(excluded(leases::holder)),
                leases::expires_at.eq(excluded(leases::expires_at)),
            )),
        leases::expires_at.lt(now),
    );
    let taken = per_backend!(conn, |c| upsert.execute(c))?;
    Ok(taken == 1)
}

/// Extends `holder`'s lease to `until`. False when it no longer holds it.
pub fn extend(
    conn: &mut AnyConnection,
    upstream_id: i64,
    path: &str,
    holder: &str,
    until: NaiveDateTime,
) -> DbResult<bool> {
    let extended = diesel::update(
        leases::table
            .filter(leases::upstream_id.eq(upstream_id))
            .filter(leases::relative_path.eq(path))
            .filter(leases::holder.eq(holder)),
    )
    .set(leases::expires_at.eq(until))
    .execute(conn)?;
    Ok(extended == 1)
}

/// Gives up `holder`'s lease, if it still holds it.
pub fn release(
    conn: &mut AnyConnection,
    upstream_id: i64,
    path: &str,
    holder: &str,
) -> DbResult<()> {
    diesel::delete(
        leases::table
            .filter(leases::upstream_id.eq(upstream_id))
            .filter(leases::relative_path.eq(path))
            .filter(leases::holder.eq(holder)),
    )
    .execute(conn)?;
    Ok(())
}

/// True while someone holds a lease of (`upstream_id`, `path`) that has not run out at `now`.
pub fn is_held(
    conn: &mut AnyConnection,
    upstream_id: i64,
    path: &str,
    now: NaiveDateTime,
) -> DbResult<bool> {
    let held: i64 = leases::table
        .filter(leases::upstream_id.eq(upstream_id))
        .filter(leases::relative_path.eq(path))
        .filter(leases::expires_at.ge(now))
        .count()
        .get_result(conn)?;
    Ok(held > 0)
}

/// Deletes leases that ran out before `before` (left by instances that died); returns how many.
pub fn delete_expired(conn: &mut AnyConnection, before: NaiveDateTime) -> DbResult<usize> {
    Ok(diesel::delete(leases::table.filter(leases::expires_at.lt(before))).execute(conn)?)
}
