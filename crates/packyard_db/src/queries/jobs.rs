//! Durable background jobs: enqueue, claim under a lease, finish, retry.
//!
//! A job is claimed by setting `locked_by` and a lease (`locked_until`); a job whose lease ran out (its
//! worker died) can be claimed again. Claims run in a transaction: on PostgreSQL the due row is picked
//! with `FOR UPDATE SKIP LOCKED`, so concurrent workers of any number of instances never claim the same
//! row; on SQLite the transaction holds the write lock (`BEGIN IMMEDIATE`), which serialises claims.
//!
//! Recurring jobs are one row per `unique_key` with `interval_secs` set. Claiming one moves its `run_at`
//! to the next regular run at once, so a wake-up ([`wake_recurring`]) that arrives while it runs is kept
//! and makes it run again right after. Every claim gets its own `locked_by` token, and finishing a job
//! checks that token, so a worker that lost its lease cannot overwrite the outcome of a later claim.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::rows::Job;
use crate::schema::jobs;
use crate::{AnyConnection, DbResult, per_backend};

/// Waiting, claimed or not.
pub const QUEUED: &str = "queued";
/// A one-off job that ran to its end.
pub const SUCCEEDED: &str = "succeeded";
/// A one-off job given up after its attempts.
pub const FAILED: &str = "failed";

/// Adds a one-off job.
pub fn enqueue(
    conn: &mut AnyConnection,
    kind: &str,
    payload: &str,
    run_at: NaiveDateTime,
    max_attempts: i32,
    now: NaiveDateTime,
) -> DbResult<Job> {
    Ok(per_backend!(conn, |c| diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(kind),
            jobs::payload.eq(payload),
            jobs::status.eq(QUEUED),
            jobs::run_at.eq(run_at),
            jobs::attempts.eq(0),
            jobs::max_attempts.eq(max_attempts),
            jobs::created_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .returning(Job::as_returning())
        .get_result(c))?)
}

/// Creates the row of a recurring job (keyed by `kind`) unless it exists; a new row is due at `run_at`.
pub fn ensure_recurring(
    conn: &mut AnyConnection,
    kind: &str,
    interval_secs: i64,
    run_at: NaiveDateTime,
    now: NaiveDateTime,
) -> DbResult<()> {
    per_backend!(conn, |c| diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(kind),
            jobs::payload.eq("{}"),
            jobs::unique_key.eq(kind),
            jobs::interval_secs.eq(interval_secs),
            jobs::status.eq(QUEUED),
            jobs::run_at.eq(run_at),
            jobs::attempts.eq(0),
            jobs::max_attempts.eq(0),
            jobs::created_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .on_conflict(jobs::unique_key)
        .do_nothing()
        .execute(c))?;
    diesel::update(jobs::table.filter(jobs::unique_key.eq(kind)))
        .set(jobs::interval_secs.eq(interval_secs))
        .execute(conn)?;
    Ok(())
}

/// Makes a recurring job due at `at` at the latest. Cheap enough to run in the transaction whose changes
/// give the job work. Without its row (no worker has started yet) this does nothing: a worker creates
/// the row due at once when it starts.
///
/// The row is locked even when it is already due, until the caller's transaction ends: a claim in
/// another transaction then waits (skips the row) until the work is committed, so it cannot take the
/// job, run it without seeing the new work, and use up the wake-up.
pub fn wake_recurring(
    conn: &mut AnyConnection,
    kind: &str,
    at: NaiveDateTime,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(jobs::table.filter(jobs::unique_key.eq(kind)))
        .set(jobs::updated_at.eq(now))
        .execute(conn)?;
    diesel::update(
        jobs::table
            .filter(jobs::unique_key.eq(kind))
            .filter(jobs::run_at.gt(at)),
    )
    .set(jobs::run_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// Claims the job due first (`run_at <= now`, not held under a live lease) for `worker` until
/// `lease_until`, counting an attempt. Run inside a transaction.
pub fn claim_next(
    conn: &mut AnyConnection,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> DbResult<Option<Job>> {
    let due = jobs::table
        .filter(jobs::status.eq(QUEUED))
        .filter(jobs::run_at.le(now))
        .filter(jobs::locked_until.is_null().or(jobs::locked_until.lt(now)))
        .order((jobs::run_at.asc(), jobs::id.asc()))
        .select(jobs::id);
    let id: Option<i64> = match conn {
        AnyConnection::Postgres(c) => due.for_update().skip_locked().first(c).optional()?,
        AnyConnection::Sqlite(c) => due.first(c).optional()?,
    };
    let Some(id) = id else {
        return Ok(None);
    };
    let job: Job = jobs::table.find(id).select(Job::as_select()).first(conn)?;
    // A recurring job's next regular run starts counting now.
    let run_at = match job.interval_secs {
        Some(seconds) => now + Duration::seconds(seconds),
        None => job.run_at,
    };
    let claimed = per_backend!(conn, |c| diesel::update(jobs::table.find(id))
        .set((
            jobs::locked_by.eq(worker),
            jobs::locked_until.eq(lease_until),
            jobs::attempts.eq(jobs::attempts + 1),
            jobs::run_at.eq(run_at),
            jobs::updated_at.eq(now),
        ))
        .returning(Job::as_returning())
        .get_result(c))?;
    Ok(Some(claimed))
}

/// Extends the lease of a job `worker` holds; false when it holds it no more.
pub fn extend_lease(
    conn: &mut AnyConnection,
    id: i64,
    worker: &str,
    lease_until: NaiveDateTime,
) -> DbResult<bool> {
    Ok(diesel::update(held(id, worker))
        .set(jobs::locked_until.eq(lease_until))
        .execute(conn)?
        > 0)
}

/// The row of job `id` while `worker` holds it.
fn held(
    id: i64,
    worker: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<jobs::table, i64>,
    diesel::dsl::Eq<jobs::locked_by, String>,
> {
    jobs::table
        .find(id)
        .filter(jobs::locked_by.eq(worker.to_owned()))
}

/// Records a successful run: a one-off job is done; a recurring one waits for its next run.
pub fn finish_success(
    conn: &mut AnyConnection,
    id: i64,
    worker: &str,
    recurring: bool,
    now: NaiveDateTime,
) -> DbResult<()> {
    if recurring {
        diesel::update(held(id, worker))
            .set((
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<NaiveDateTime>),
                jobs::attempts.eq(0),
                jobs::last_error.eq(None::<String>),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(held(id, worker))
            .set((
                jobs::status.eq(SUCCEEDED),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<NaiveDateTime>),
                jobs::updated_at.eq(now),
                jobs::finished_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records a failed run. With `retry_at` the job is released to run again then (a recurring job at the
/// earlier of that and its next regular run); without it, the one-off job is given up.
pub fn finish_failure(
    conn: &mut AnyConnection,
    id: i64,
    worker: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> DbResult<()> {
    let Some(at) = retry_at else {
        diesel::update(held(id, worker))
            .set((
                jobs::status.eq(FAILED),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<NaiveDateTime>),
                jobs::last_error.eq(error),
                jobs::updated_at.eq(now),
                jobs::finished_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(());
    };
    // A one-off job moves to `at`; a recurring one keeps an earlier run (its next regular run, or a
    // wake-up that came while it ran).
    diesel::update(held(id, worker).filter(jobs::interval_secs.is_null().or(jobs::run_at.gt(at))))
        .set(jobs::run_at.eq(at))
        .execute(conn)?;
    diesel::update(held(id, worker))
        .set((
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(error),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many jobs are due and held by no worker: waiting for one.
pub fn count_waiting(conn: &mut AnyConnection, now: NaiveDateTime) -> DbResult<i64> {
    Ok(jobs::table
        .filter(jobs::status.eq(QUEUED))
        .filter(jobs::run_at.le(now))
        .filter(jobs::locked_until.is_null().or(jobs::locked_until.lt(now)))
        .count()
        .get_result(conn)?)
}

/// How many jobs are due or held under a live lease. Right after [`claim_next`] found nothing, a due
/// job counted here is being claimed by a transaction not yet committed (PostgreSQL skips its locked
/// row), so it is as good as running.
pub fn count_due_or_running(conn: &mut AnyConnection, now: NaiveDateTime) -> DbResult<i64> {
    Ok(jobs::table
        .filter(jobs::status.eq(QUEUED))
        .filter(jobs::run_at.le(now).or(jobs::locked_until.gt(now)))
        .count()
        .get_result(conn)?)
}

/// Deletes one-off jobs that finished before `before`; returns how many.
pub fn delete_finished(conn: &mut AnyConnection, before: NaiveDateTime) -> DbResult<usize> {
    Ok(diesel::delete(
        jobs::table
            .filter(jobs::status.ne(QUEUED))
            .filter(jobs::finished_at.lt(before)),
    )
    .execute(conn)?)
}

/// Every job, oldest first (operations and tests).
pub fn list_jobs(conn: &mut AnyConnection) -> DbResult<Vec<Job>> {
    Ok(jobs::table
        .order(jobs::id.asc())
        .select(Job::as_select())
        .load(conn)?)
}
