//! The job system: all asynchronous work, kept in the `jobs` table so that it survives restarts, retries
//! with exponential backoff, records its failures, and runs once however many instances share the
//! database.
//!
//! Worker loops ([`Core::start_job_workers`]) claim due jobs under a lease that they extend while a job
//! runs; a job whose worker died becomes claimable again when its lease runs out. Work that changes data
//! enqueues or wakes its job in the same transaction, so no change is left without its follow-up.
//!
//! Kinds (job pruning also deletes the fill leases of dead instances):
//! - recurring (one row each, run at their interval and woken early when there is work):
//!   [`JobKind::DestroyCacheEntries`], [`JobKind::CollectBlobs`], [`JobKind::ScheduleCleanupPolicies`],
//!   [`JobKind::PruneJobs`];
//! - one-off: [`JobKind::ExecuteCleanupPolicy`].

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use chrono::NaiveDateTime;
use futures_util::FutureExt;
use packyard_db::AnyConnection;
use packyard_db::queries::jobs as jq;
use packyard_db::rows::Job;
use tokio::sync::watch;

use crate::{Core, CoreError, CoreResult};

/// How often [`Core::run_due_jobs`] looks again while another worker holds a job.
const RUNNING_ELSEWHERE_POLL: Duration = Duration::from_millis(20);

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Deletes the rows of cache entries waiting for destruction (deleted, purged, cleaned up).
    DestroyCacheEntries,
    /// Deletes blobs that have been unreferenced for the grace period.
    CollectBlobs,
    /// Starts the cleanup policies that are due.
    ScheduleCleanupPolicies,
    /// Runs one group's cleanup policy (payload `{"group_id": N}`).
    ExecuteCleanupPolicy,
    /// Deletes one-off jobs that finished long ago.
    PruneJobs,
}

impl JobKind {
    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::DestroyCacheEntries => "destroy_cache_entries",
            JobKind::CollectBlobs => "collect_blobs",
            JobKind::ScheduleCleanupPolicies => "schedule_cleanup_policies",
            JobKind::ExecuteCleanupPolicy => "execute_cleanup_policy",
            JobKind::PruneJobs => "prune_jobs",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            JobKind::DestroyCacheEntries,
            JobKind::CollectBlobs,
            JobKind::ScheduleCleanupPolicies,
            JobKind::ExecuteCleanupPolicy,
            JobKind::PruneJobs,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// Settings of the job system.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Worker loops per instance: jobs run at once.
    pub concurrency: usize,
    /// How often an idle worker looks for due jobs (jobs enqueued by the same instance wake it at once).
    pub poll_interval: Duration,
    /// How long a claim holds before another worker may take the job; extended while the job runs.
    pub lease: Duration,
    /// Claims of a one-off job before it is given up.
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry doubles it.
    pub retry_base: Duration,
    /// The longest delay between retries.
    pub retry_max: Duration,
    /// How long a blob stays after it was last written and after it was found unreferenced.
    pub blob_grace: Duration,
    /// How often due cleanup policies are looked for.
    pub scheduler_interval: Duration,
    /// How often entry destruction and blob collection run without being woken, and finished jobs are
    /// pruned.
    pub maintenance_interval: Duration,
    /// How long finished one-off jobs are kept.
    pub keep_finished: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            concurrency: 2,
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(300),
            max_attempts: 5,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            blob_grace: Duration::from_secs(15 * 60),
            scheduler_interval: Duration::from_secs(60),
            maintenance_interval: Duration::from_secs(3600),
            keep_finished: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A [`std::time::Duration`] as a chrono duration (saturating).
pub(crate) fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Makes a recurring job due by `at`; call it in the transaction that gives the job work.
pub(crate) fn wake(
    conn: &mut AnyConnection,
    kind: JobKind,
    at: NaiveDateTime,
    now: NaiveDateTime,
) -> packyard_db::DbResult<()> {
    jq::wake_recurring(conn, kind.as_str(), at, now)
}

/// The worker loops of one instance. Dropping this asks them to stop after their current job.
pub struct JobWorkers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl JobWorkers {
    /// Asks the loops to stop after their current job, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for JobWorkers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Core {
    /// Starts this instance's worker loops (`jobs.concurrency` of them) on the current tokio runtime.
    pub fn start_job_workers(&self) -> JobWorkers {
        // Leftovers of a crash are collected at start: at once on SQLite, where this is the only
        // instance; after the grace period on PostgreSQL, where another instance may be writing.
        let core = self.clone();
        let older_than = match self.db.backend() {
            packyard_db::Backend::Sqlite => Duration::ZERO,
            packyard_db::Backend::Postgres => self.settings.jobs.blob_grace,
        };
        tokio::spawn(async move { core.collect_staging(older_than).await });
        let (stop, receiver) = watch::channel(false);
        let tasks = (0..self.settings.jobs.concurrency.max(1))
            .map(|_| tokio::spawn(self.clone().worker_loop(receiver.clone())))
            .collect();
        JobWorkers { stop, tasks }
    }

    async fn worker_loop(self, mut stop: watch::Receiver<bool>) {
        let mut recurring_ready = false;
        while !*stop.borrow() {
            if !recurring_ready {
                recurring_ready = match self.ensure_recurring_jobs().await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%error, "could not register the recurring jobs");
                        false
                    }
                };
            }
            let ran = match self.run_next_job().await {
                Ok(ran) => ran,
                Err(error) => {
                    tracing::warn!(%error, "could not claim or record a job");
                    false
                }
            };
            if ran {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.jobs.poll_interval) => {}
                () = self.job_wakeup.notified() => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
    }

    /// Runs due jobs in this task until none is due, then waits until no worker (of any instance) holds
    /// one, so that everything due has finished when it returns. Returns how many jobs this call ran.
    /// For tests and tools; servers run [`Core::start_job_workers`].
    pub async fn run_due_jobs(&self) -> CoreResult<usize> {
        self.ensure_recurring_jobs().await?;
        let mut ran = 0;
        loop {
            if self.run_next_job().await? {
                ran += 1;
                continue;
            }
            let now = self.now();
            let pending = self
                .db
                .run(move |conn| jq::count_due_or_running(conn, now))
                .await?;
            if pending == 0 {
                return Ok(ran);
            }
            tokio::time::sleep(RUNNING_ELSEWHERE_POLL).await;
        }
    }

    /// The recurring jobs and their intervals.
    fn recurring_jobs(&self) -> [(JobKind, Duration); 4] {
        let jobs = &self.settings.jobs;
        [
            (JobKind::ScheduleCleanupPolicies, jobs.scheduler_interval),
            (JobKind::DestroyCacheEntries, jobs.maintenance_interval),
            (JobKind::CollectBlobs, jobs.maintenance_interval),
            (JobKind::PruneJobs, jobs.maintenance_interval),
        ]
    }

    /// Creates the rows of the recurring jobs that have none (due at once) and records their intervals.
    async fn ensure_recurring_jobs(&self) -> CoreResult<()> {
        let now = self.now();
        let recurring = self.recurring_jobs();
        self.db
            .transaction(move |conn| {
                for (kind, interval) in recurring {
                    let seconds = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
                    jq::ensure_recurring(conn, kind.as_str(), seconds.max(1), now, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Wakes this instance's idle workers (after enqueuing or waking a job).
    pub(crate) fn wake_job_workers(&self) {
        self.job_wakeup.notify_waiters();
        // And one that is between two looks, which `notify_waiters` would miss.
        self.job_wakeup.notify_one();
    }

    /// Claims the job due first and runs it in this task; false when none is due.
    pub async fn run_next_job(&self) -> CoreResult<bool> {
        let now = self.now();
        let lease_until = now + chrono(self.settings.jobs.lease);
        let token = format!("{}/{:016x}", self.instance_id, rand::random::<u64>());
        let claimed = self
            .db
            .transaction(move |conn| jq::claim_next(conn, &token, now, lease_until))
            .await?;
        match claimed {
            Some(job) => {
                self.run_claimed(job).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn run_claimed(&self, job: Job) -> CoreResult<()> {
        let recurring = job.interval_secs.is_some();
        let outcome = if !recurring && job.attempts > job.max_attempts {
            Err(CoreError::Internal(format!(
                "gave up after {} attempts: the workers running it stopped before it ended",
                job.max_attempts
            )))
        } else {
            match JobKind::parse(&job.kind) {
                Some(kind) => {
                    self.metrics.jobs_running.inc();
                    let outcome = self.run_under_lease(&job, kind).await;
                    self.metrics.jobs_running.dec();
                    outcome
                }
                None => Err(CoreError::Internal(format!(
                    "unknown job kind {:?}",
                    job.kind
                ))),
            }
        };
        let (id, token) = (job.id, job.locked_by.clone().unwrap_or_default());
        let now = self.now();
        match outcome {
            Ok(()) => {
                tracing::debug!(job = id, kind = %job.kind, "job succeeded");
                self.db
                    .transaction(move |conn| jq::finish_success(conn, id, &token, recurring, now))
                    .await?;
            }
            Err(error) => {
                self.metrics.jobs_failed.inc();
                let retry_at = self.retry_at(&job, now);
                let message = truncate(&error.to_string(), 1000);
                match retry_at {
                    Some(at) => {
                        tracing::warn!(job = id, kind = %job.kind, attempt = job.attempts, retry_at = %at, %error, "job failed; it will be retried")
                    }
                    None => {
                        tracing::error!(job = id, kind = %job.kind, attempts = job.attempts, %error, "job failed; giving up")
                    }
                }
                self.db
                    .transaction(move |conn| {
                        jq::finish_failure(conn, id, &token, &message, retry_at, now)
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// When a failed job runs again: after `retry_base * 2^(attempts - 1)`, at most `retry_max` (and for a
    /// recurring job at most its interval); `None` when a one-off job has used its attempts.
    fn retry_at(&self, job: &Job, now: NaiveDateTime) -> Option<NaiveDateTime> {
        let settings = &self.settings.jobs;
        let exponent = u32::try_from(job.attempts.max(1) - 1).unwrap_or(0).min(30);
        let mut delay = settings
            .retry_base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(settings.retry_max);
        match job.interval_secs {
            Some(seconds) => {
                delay = delay.min(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
            }
            None if job.attempts >= job.max_attempts => return None,
            None => {}
        }
        Some(now + chrono(delay))
    }

    /// Runs a claimed job, extending its lease meanwhile; a job whose lease was lost (another worker took
    /// it over) is abandoned. A panic counts as a failure.
    async fn run_under_lease(&self, job: &Job, kind: JobKind) -> CoreResult<()> {
        let work = AssertUnwindSafe(self.execute_job(kind, job)).catch_unwind();
        tokio::pin!(work);
        let period = (self.settings.jobs.lease / 3).max(Duration::from_millis(100));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let token = job.locked_by.clone().unwrap_or_default();
        loop {
            tokio::select! {
                result = &mut work => {
                    return result.unwrap_or_else(|_| Err(CoreError::Internal("the job panicked".into())));
                }
                _ = heartbeat.tick() => {
                    let (id, token) = (job.id, token.clone());
                    let until = self.now() + chrono(self.settings.jobs.lease);
                    let held = self
                        .db
                        .run(move |conn| jq::extend_lease(conn, id, &token, until))
                        .await;
                    match held {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(CoreError::Internal("lost the job's lease".into()));
                        }
                        Err(error) => tracing::warn!(%error, job = job.id, "could not extend a job's lease"),
                    }
                }
            }
        }
    }

    async fn execute_job(&self, kind: JobKind, job: &Job) -> CoreResult<()> {
        match kind {
            JobKind::DestroyCacheEntries => self.destroy_hidden_entries().await.map(drop),
            JobKind::CollectBlobs => self.collect_blobs().await.map(drop),
            JobKind::ScheduleCleanupPolicies => self.start_due_cleanup_policies().await,
            JobKind::ExecuteCleanupPolicy => {
                let payload: serde_json::Value = serde_json::from_str(&job.payload)
                    .map_err(|e| CoreError::Internal(format!("job payload: {e}")))?;
                let group_id = payload["group_id"]
                    .as_i64()
                    .ok_or_else(|| CoreError::Internal("job payload without group_id".into()))?;
                self.execute_cleanup_policy(group_id).await
            }
            JobKind::PruneJobs => {
                let before = self.now() - chrono(self.settings.jobs.keep_finished);
                let pruned = self
                    .db
                    .run(move |conn| jq::delete_finished(conn, before))
                    .await?;
                tracing::debug!(pruned, "pruned finished jobs");
                // Fill leases left by instances that died, on files nobody asked for again.
                let expired = self.now() - chrono(crate::lease::FILL_LEASE);
                self.db
                    .run(move |conn| packyard_db::queries::leases::delete_expired(conn, expired))
                    .await?;
                Ok(())
            }
        }
    }
}

/// Adds a one-off job in a transaction of the caller's.
pub(crate) fn enqueue(
    conn: &mut AnyConnection,
    kind: JobKind,
    payload: &serde_json::Value,
    run_at: NaiveDateTime,
    max_attempts: u32,
) -> packyard_db::DbResult<Job> {
    let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX).max(1);
    jq::enqueue(
        conn,
        kind.as_str(),
        &payload.to_string(),
        run_at,
        max_attempts,
        run_at,
    )
}

/// At most `max` characters of `text`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            JobKind::DestroyCacheEntries,
            JobKind::CollectBlobs,
            JobKind::ScheduleCleanupPolicies,
            JobKind::ExecuteCleanupPolicy,
            JobKind::PruneJobs,
        ] {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(JobKind::parse("nope"), None);
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("ok", 10), "ok");
    }
}
