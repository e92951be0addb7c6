//! Cleanup policies (one per top-level group) and the bookkeeping of their runs.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::rows::{CleanupPolicy, CleanupPolicySettings};
use crate::schema::{cleanup_policies, upstreams};
use crate::{AnyConnection, DbResult, per_backend};

/// Waiting for its next run.
pub const SCHEDULED: &str = "scheduled";
/// Picked for a run that has not ended yet.
pub const RUNNING: &str = "running";
/// The last run failed; the policy stays runnable.
pub const FAILED: &str = "failed";

/// A group's policy.
pub fn find_policy(conn: &mut AnyConnection, group_id: i64) -> DbResult<Option<CleanupPolicy>> {
    Ok(cleanup_policies::table
        .find(group_id)
        .select(CleanupPolicy::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a group's policy (a second one is a unique violation).
pub fn insert_policy(
    conn: &mut AnyConnection,
    group_id: i64,
    settings: &CleanupPolicySettings,
    now: NaiveDateTime,
) -> DbResult<CleanupPolicy> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        cleanup_policies::table
    )
    .values((
        cleanup_policies::group_id.eq(group_id),
        settings,
        cleanup_policies::status.eq(SCHEDULED),
        cleanup_policies::created_at.eq(now),
    ))
    .returning(CleanupPolicy::as_returning())
    .get_result(c))?)
}

/// Replaces a policy's settings.
pub fn update_policy(
    conn: &mut AnyConnection,
    group_id: i64,
    settings: &CleanupPolicySettings,
) -> DbResult<CleanupPolicy> {
    Ok(per_backend!(conn, |c| diesel::update(
        cleanup_policies::table.find(group_id)
    )
    .set(settings)
    .returning(CleanupPolicy::as_returning())
    .get_result(c))?)
}

/// Deletes a group's policy; returns whether there was one.
pub fn delete_policy(conn: &mut AnyConnection, group_id: i64) -> DbResult<bool> {
    Ok(diesel::delete(cleanup_policies::table.find(group_id)).execute(conn)? > 0)
}

/// Moves every enabled policy that is due (`next_run_at < now`, status `scheduled` or `failed`) to
/// `running` and returns their groups. The status change is the claim: when several instances do this at
/// once, each policy goes to exactly one of them (PostgreSQL re-checks the status of a row another
/// transaction changed before updating it; SQLite runs one writer at a time).
pub fn start_due_policies(conn: &mut AnyConnection, now: NaiveDateTime) -> DbResult<Vec<i64>> {
    Ok(per_backend!(conn, |c| diesel::update(
        cleanup_policies::table
            .filter(cleanup_policies::enabled.eq(true))
            .filter(cleanup_policies::status.eq_any([SCHEDULED, FAILED]))
            .filter(cleanup_policies::next_run_at.lt(now))
    )
    .set((
        cleanup_policies::status.eq(RUNNING),
        cleanup_policies::updated_at.eq(now),
    ))
    .returning(cleanup_policies::group_id)
    .get_results(c))?)
}

/// The outcome of a successful run.
#[derive(Debug, Clone)]
pub struct RunTotals {
    /// Entries removed.
    pub deleted_entries_count: i64,
    /// Bytes removed.
    pub deleted_size: i64,
    /// Per-format counts, as JSON text.
    pub detailed_metrics: String,
}

/// Records a successful run and schedules the next.
pub fn record_success(
    conn: &mut AnyConnection,
    group_id: i64,
    totals: &RunTotals,
    next_run_at: NaiveDateTime,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(cleanup_policies::table.find(group_id))
        .set((
            cleanup_policies::status.eq(SCHEDULED),
            cleanup_policies::last_run_at.eq(now),
            cleanup_policies::last_run_deleted_entries_count.eq(totals.deleted_entries_count),
            cleanup_policies::last_run_deleted_size.eq(totals.deleted_size),
            cleanup_policies::last_run_detailed_metrics.eq(&totals.detailed_metrics),
            cleanup_policies::failure_message.eq(None::<String>),
            cleanup_policies::next_run_at.eq(next_run_at),
            cleanup_policies::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed run; the policy runs again at `next_run_at`.
pub fn record_failure(
    conn: &mut AnyConnection,
    group_id: i64,
    message: &str,
    next_run_at: NaiveDateTime,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(cleanup_policies::table.find(group_id))
        .set((
            cleanup_policies::status.eq(FAILED),
            cleanup_policies::failure_message.eq(message),
            cleanup_policies::next_run_at.eq(next_run_at),
            cleanup_policies::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Puts a policy picked for a run back to `scheduled` without running it (it was disabled meanwhile).
pub fn release_policy(conn: &mut AnyConnection, group_id: i64, now: NaiveDateTime) -> DbResult<()> {
    diesel::update(
        cleanup_policies::table
            .find(group_id)
            .filter(cleanup_policies::status.eq(RUNNING)),
    )
    .set((
        cleanup_policies::status.eq(SCHEDULED),
        cleanup_policies::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// The (id, format) of every upstream of a group, by format then id.
pub fn list_group_upstream_formats(
    conn: &mut AnyConnection,
    group_id: i64,
) -> DbResult<Vec<(i64, String)>> {
    Ok(upstreams::table
        .filter(upstreams::group_id.eq(group_id))
        .order((upstreams::format.asc(), upstreams::id.asc()))
        .select((upstreams::id, upstreams::format))
        .load(conn)?)
}
