//! The group cleanup policy (GitLab's virtual registry cleanup policy): its settings, kept one per
//! top-level group and managed by the group's Owners, and its runs.
//!
//! A run removes every live cache entry of the group's upstreams, of every format, that nobody
//! downloaded for `keep_n_days_after_download` days: entries are hidden in batches of 250 (each batch in
//! one transaction that also wakes entry destruction), and their blobs are collected once unreferenced
//! for the grace period. The scheduler job moves due policies to `running` and enqueues one run each in
//! the same transaction; that status change is what makes each due run happen once across instances.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use chrono::{Duration, NaiveDateTime};
use packyard_db::queries::cache as cq;
use packyard_db::queries::cleanup as q;
use packyard_db::rows::{CleanupPolicy, CleanupPolicySettings, Group};
use packyard_domain::{FieldErrors, Format};
use serde_json::json;

use crate::identity::{Actor, Need};
use crate::jobs::{self, JobKind, chrono, wake};
use crate::{Core, CoreError, CoreResult};

/// The cadences a policy may have, in days: daily, weekly, bi-weekly, monthly, quarterly.
pub const CADENCES: [i64; 5] = [1, 7, 14, 30, 90];
/// The values `keep_n_days_after_download` may take.
pub const KEEP_DAYS: RangeInclusive<i64> = 1..=365;
/// `keep_n_days_after_download` of a new policy.
pub const DEFAULT_KEEP_DAYS: i32 = 30;
/// `cadence` of a new policy.
pub const DEFAULT_CADENCE: i32 = 7;
/// Entries hidden per transaction during a run.
const BATCH: i64 = 250;
/// The longest `failure_message`.
const FAILURE_MESSAGE_MAX: usize = 255;
/// The parameters a PATCH may carry, in GitLab's order.
const PARAMETERS: [&str; 5] = [
    "enabled",
    "keep_n_days_after_download",
    "cadence",
    "notify_on_success",
    "notify_on_failure",
];

/// Settings to give a policy; `None` keeps the current value (or the default, for a new policy).
#[derive(Debug, Clone, Default)]
pub struct CleanupPolicyChanges {
    /// Runs only when enabled.
    pub enabled: Option<bool>,
    /// Days without download before an entry is removed (1..365).
    pub keep_n_days_after_download: Option<i64>,
    /// Days between runs (one of [`CADENCES`]).
    pub cadence: Option<i64>,
    /// Notify the owners after a successful run.
    pub notify_on_success: Option<bool>,
    /// Notify the owners after a failed run.
    pub notify_on_failure: Option<bool>,
}

impl CleanupPolicyChanges {
    fn is_empty(&self) -> bool {
        self.enabled.is_none()
            && self.keep_n_days_after_download.is_none()
            && self.cadence.is_none()
            && self.notify_on_success.is_none()
            && self.notify_on_failure.is_none()
    }

    /// The parameter checks GitLab's API declares (`values: 1..365`, `values: CADENCES`).
    fn check(&self) -> CoreResult<()> {
        if self
            .keep_n_days_after_download
            .is_some_and(|days| !KEEP_DAYS.contains(&days))
        {
            return Err(CoreError::BadParameter(
                "keep_n_days_after_download does not have a valid value".into(),
            ));
        }
        if self.cadence.is_some_and(|days| !CADENCES.contains(&days)) {
            return Err(CoreError::BadParameter(
                "cadence does not have a valid value".into(),
            ));
        }
        Ok(())
    }

    /// The settings after these changes: the next run moves to `now + cadence` for a new policy and when
    /// the cadence changes.
    fn apply(&self, current: Option<&CleanupPolicy>, now: NaiveDateTime) -> CleanupPolicySettings {
        // Checked by `check`: both fit an i32.
        let keep = self
            .keep_n_days_after_download
            .map(|days| days as i32)
            .or(current.map(|p| p.keep_n_days_after_download))
            .unwrap_or(DEFAULT_KEEP_DAYS);
        let cadence = self
            .cadence
            .map(|days| days as i32)
            .or(current.map(|p| p.cadence))
            .unwrap_or(DEFAULT_CADENCE);
        let next_run_at = match current {
            Some(policy) if policy.cadence == cadence && policy.next_run_at.is_some() => {
                policy.next_run_at
            }
            _ => Some(now + Duration::days(cadence.into())),
        };
        CleanupPolicySettings {
            enabled: self.enabled.or(current.map(|p| p.enabled)).unwrap_or(false),
            keep_n_days_after_download: keep,
            cadence,
            notify_on_success: self
                .notify_on_success
                .or(current.map(|p| p.notify_on_success))
                .unwrap_or(false),
            notify_on_failure: self
                .notify_on_failure
                .or(current.map(|p| p.notify_on_failure))
                .unwrap_or(false),
            next_run_at,
            updated_at: now,
        }
    }
}

/// What one run removed, per format.
#[derive(Debug, Clone, Default)]
struct RunCounts(BTreeMap<String, (i64, i64)>);

impl RunCounts {
    /// Every format GitLab reports, at zero (formats appear even when the group has no upstream of them).
    fn new() -> Self {
        Self(
            Format::ALL
                .iter()
                .map(|format| (format.as_str().to_owned(), (0, 0)))
                .collect(),
        )
    }

    fn add(&mut self, format: &str, sizes: &[i64]) {
        let counts = self.0.entry(format.to_owned()).or_default();
        counts.0 += sizes.len() as i64;
        counts.1 += sizes.iter().sum::<i64>();
    }

    fn totals(&self) -> q::RunTotals {
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(format, (count, size))| {
                (
                    format.clone(),
                    json!({"deleted_entries_count": count, "deleted_size": size}),
                )
            })
            .collect();
        q::RunTotals {
            deleted_entries_count: self.0.values().map(|c| c.0).sum(),
            deleted_size: self.0.values().map(|c| c.1).sum(),
            detailed_metrics: serde_json::Value::Object(metrics).to_string(),
        }
    }
}

/// GitLab's answer when a group has no policy.
fn not_found() -> CoreError {
    CoreError::not_found("")
}

impl Core {
    /// A top-level group whose cleanup policy the actor may manage (Owner). As in GitLab's API, a group
    /// the actor has no part in is `404 Group Not Found`; a subgroup, or a member below Owner, is 403.
    async fn cleanup_policy_group(&self, actor: &Actor, group: &str) -> CoreResult<Group> {
        let group = self.managed_group(actor, group, Need::Own).await?;
        if group.parent_id.is_some() {
            return Err(CoreError::Forbidden);
        }
        Ok(group)
    }

    /// A group's cleanup policy.
    pub async fn find_cleanup_policy(
        &self,
        actor: &Actor,
        group: &str,
    ) -> CoreResult<CleanupPolicy> {
        let group_id = self.cleanup_policy_group(actor, group).await?.id;
        self.db
            .run(move |conn| q::find_policy(conn, group_id))
            .await?
            .ok_or_else(not_found)
    }

    /// Creates a group's cleanup policy; every setting is optional. A group has one at most.
    pub async fn create_cleanup_policy(
        &self,
        actor: &Actor,
        group: &str,
        changes: CleanupPolicyChanges,
    ) -> CoreResult<CleanupPolicy> {
        let group_id = self.cleanup_policy_group(actor, group).await?.id;
        changes.check()?;
        let now = self.now();
        let settings = changes.apply(None, now);
        let taken = || FieldErrors::single("group", "has already been taken");
        let created = self
            .db
            .transaction(move |conn| {
                if q::find_policy(conn, group_id)?.is_some() {
                    return Ok(Err(taken()));
                }
                q::insert_policy(conn, group_id, &settings, now).map(Ok)
            })
            .await;
        match created {
            Ok(created) => Ok(created?),
            // Two creations at once: the loser meets the primary key.
            Err(error) if error.is_unique_violation() => Err(taken().into()),
            Err(error) => Err(error.into()),
        }
    }

    /// Changes a group's cleanup policy; at least one setting is required.
    pub async fn update_cleanup_policy(
        &self,
        actor: &Actor,
        group: &str,
        changes: CleanupPolicyChanges,
    ) -> CoreResult<CleanupPolicy> {
        let policy = self.find_cleanup_policy(actor, group).await?;
        if changes.is_empty() {
            return Err(CoreError::BadParameter(format!(
                "{} are missing, at least one parameter must be provided",
                PARAMETERS.join(", ")
            )));
        }
        changes.check()?;
        let settings = changes.apply(Some(&policy), self.now());
        let group_id = policy.group_id;
        Ok(self
            .db
            .transaction(move |conn| q::update_policy(conn, group_id, &settings))
            .await?)
    }

    /// Deletes a group's cleanup policy.
    pub async fn delete_cleanup_policy(&self, actor: &Actor, group: &str) -> CoreResult<()> {
        let group_id = self.find_cleanup_policy(actor, group).await?.group_id;
        self.db
            .transaction(move |conn| q::delete_policy(conn, group_id))
            .await?;
        Ok(())
    }

    /// The scheduler job: moves due policies to `running` and enqueues a run for each, in one
    /// transaction.
    pub(crate) async fn start_due_cleanup_policies(&self) -> CoreResult<()> {
        let now = self.now();
        let max_attempts = self.settings.jobs.max_attempts;
        let started = self
            .db
            .transaction(move |conn| {
                let groups = q::start_due_policies(conn, now)?;
                for group_id in &groups {
                    jobs::enqueue(
                        conn,
                        JobKind::ExecuteCleanupPolicy,
                        &json!({ "group_id": group_id }),
                        now,
                        max_attempts,
                    )?;
                }
                Ok(groups)
            })
            .await?;
        if !started.is_empty() {
            tracing::info!(groups = ?started, "starting cleanup policy runs");
            self.wake_job_workers();
        }
        Ok(())
    }

    /// One run of a group's policy. Its outcome is recorded on the policy: a failure sets `failed` and
    /// `failure_message`, and the policy runs again after `jobs.retry_max`. An error is returned only
    /// when even that could not be recorded (the job is then retried).
    pub(crate) async fn execute_cleanup_policy(&self, group_id: i64) -> CoreResult<()> {
        let Some(policy) = self
            .db
            .run(move |conn| q::find_policy(conn, group_id))
            .await?
        else {
            return Ok(());
        };
        if !policy.enabled {
            let now = self.now();
            self.db
                .transaction(move |conn| q::release_policy(conn, group_id, now))
                .await?;
            return Ok(());
        }
        let cutoff = self.now() - Duration::days(policy.keep_n_days_after_download.into());
        let outcome = self
            .remove_entries_downloaded_before(group_id, cutoff)
            .await;
        let now = self.now();
        match outcome {
            Ok(counts) => {
                let totals = counts.totals();
                let next = now + Duration::days(policy.cadence.into());
                let recorded = totals.clone();
                self.db
                    .transaction(move |conn| {
                        q::record_success(conn, group_id, &recorded, next, now)
                    })
                    .await?;
                tracing::info!(
                    group_id,
                    deleted_entries = totals.deleted_entries_count,
                    deleted_bytes = totals.deleted_size,
                    "cleanup policy run succeeded"
                );
                if policy.notify_on_success {
                    notify_owners(group_id, "succeeded", &totals.detailed_metrics);
                }
            }
            Err(error) => {
                let message = jobs::truncate(
                    &format!("Failed to execute cleanup policy: {error}"),
                    FAILURE_MESSAGE_MAX,
                );
                let next = now + chrono(self.settings.jobs.retry_max);
                tracing::error!(group_id, %error, "cleanup policy run failed");
                let recorded = message.clone();
                self.db
                    .transaction(move |conn| {
                        q::record_failure(conn, group_id, &recorded, next, now)
                    })
                    .await?;
                if policy.notify_on_failure {
                    notify_owners(group_id, "failed", &message);
                }
            }
        }
        Ok(())
    }

    /// Hides the live entries of every upstream of the group last downloaded before `cutoff`.
    async fn remove_entries_downloaded_before(
        &self,
        group_id: i64,
        cutoff: NaiveDateTime,
    ) -> CoreResult<RunCounts> {
        // Downloads counted in memory must count before anything is judged unused.
        self.flush_download_counts().await?;
        let upstreams = self
            .db
            .run(move |conn| q::list_group_upstream_formats(conn, group_id))
            .await?;
        let mut counts = RunCounts::new();
        for (upstream_id, format) in upstreams {
            loop {
                let now = self.now();
                let sizes = self
                    .db
                    .transaction(move |conn| {
                        let sizes = cq::mark_entries_downloaded_before(
                            conn,
                            upstream_id,
                            cutoff,
                            BATCH,
                            now,
                        )?;
                        if !sizes.is_empty() {
                            wake(conn, JobKind::DestroyCacheEntries, now, now)?;
                        }
                        Ok(sizes)
                    })
                    .await?;
                if sizes.is_empty() {
                    break;
                }
                counts.add(&format, &sizes);
                self.wake_job_workers();
            }
        }
        Ok(counts)
    }
}

/// packyard sends no mail: the notification GitLab would email to the group's owners is logged (target
/// `packyard::notifications`) for an operator's log pipeline to forward.
fn notify_owners(group_id: i64, outcome: &str, detail: &str) {
    tracing::info!(
        target: "packyard::notifications",
        group_id,
        outcome,
        detail,
        "cleanup policy run {outcome}: the group's owners asked to be notified"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, day)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    #[test]
    fn a_new_policy_has_gitlab_defaults_and_runs_after_its_cadence() {
        let settings = CleanupPolicyChanges::default().apply(None, at(1));
        assert!(!settings.enabled);
        assert_eq!(settings.keep_n_days_after_download, 30);
        assert_eq!(settings.cadence, 7);
        assert!(!settings.notify_on_success && !settings.notify_on_failure);
        assert_eq!(settings.next_run_at, Some(at(8)));
    }

    #[test]
    fn values_are_checked_like_grape() {
        let bad_keep = CleanupPolicyChanges {
            keep_n_days_after_download: Some(366),
            ..Default::default()
        };
        assert_eq!(
            bad_keep.check().unwrap_err().to_string(),
            "keep_n_days_after_download does not have a valid value"
        );
        let bad_cadence = CleanupPolicyChanges {
            cadence: Some(2),
            ..Default::default()
        };
        assert_eq!(
            bad_cadence.check().unwrap_err().to_string(),
            "cadence does not have a valid value"
        );
        for days in [1, 365] {
            let ok = CleanupPolicyChanges {
                keep_n_days_after_download: Some(days),
                cadence: Some(90),
                ..Default::default()
            };
            assert!(ok.check().is_ok());
        }
    }

    #[test]
    fn counts_cover_every_format() {
        let mut counts = RunCounts::new();
        counts.add("maven", &[10, 5]);
        let totals = counts.totals();
        assert_eq!(totals.deleted_entries_count, 2);
        assert_eq!(totals.deleted_size, 15);
        let metrics: serde_json::Value = serde_json::from_str(&totals.detailed_metrics).unwrap();
        assert_eq!(
            metrics,
            json!({
                "container": {"deleted_entries_count": 0, "deleted_size": 0},
                "maven": {"deleted_entries_count": 2, "deleted_size": 15},
                "npm": {"deleted_entries_count": 0, "deleted_size": 0},
                "pypi": {"deleted_entries_count": 0, "deleted_size": 0}
            })
        );
    }
}
