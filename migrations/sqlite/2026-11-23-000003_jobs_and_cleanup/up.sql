-- Blob collection: a blob is deleted only after it has been seen unreferenced (orphaned_at) and nothing has
-- written it (written_at) for a grace period; `deleting` is set while its object is being removed, and keeps
-- writers of the same content away until the row is gone.
ALTER TABLE blobs ADD COLUMN written_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
ALTER TABLE blobs ADD COLUMN orphaned_at TIMESTAMP;
ALTER TABLE blobs ADD COLUMN deleting BOOLEAN NOT NULL DEFAULT 0;
UPDATE blobs SET written_at = created_at;
CREATE INDEX blobs_orphaned ON blobs (orphaned_at) WHERE orphaned_at IS NOT NULL;

-- The cleanup policy's selection: live entries of an upstream by last download.
CREATE INDEX cache_entries_downloaded ON cache_entries (upstream_id, downloaded_at) WHERE status = 0;

-- Durable background jobs. One-off jobs end as `succeeded` or `failed`; recurring jobs (`interval_secs`
-- set, one row per `unique_key`) stay `queued` and move their `run_at` forward each time they are claimed.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    unique_key TEXT UNIQUE,
    interval_secs BIGINT,
    status TEXT NOT NULL DEFAULT 'queued',
    run_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status <> 'queued';
-- The recurring jobs exist from the start, so that work enqueued before any worker ran wakes them; each
-- worker records its configured intervals when it starts.
INSERT INTO jobs (kind, payload, unique_key, interval_secs, status, run_at, attempts, max_attempts,
                  created_at, updated_at) VALUES
    ('schedule_cleanup_policies', '{}', 'schedule_cleanup_policies', 60, 'queued', CURRENT_TIMESTAMP, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('destroy_cache_entries', '{}', 'destroy_cache_entries', 3600, 'queued', CURRENT_TIMESTAMP, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('collect_blobs', '{}', 'collect_blobs', 3600, 'queued', CURRENT_TIMESTAMP, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('prune_jobs', '{}', 'prune_jobs', 3600, 'queued', CURRENT_TIMESTAMP, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- One cleanup policy per top-level group.
CREATE TABLE cleanup_policies (
    group_id BIGINT PRIMARY KEY NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL DEFAULT 0,
    keep_n_days_after_download INTEGER NOT NULL DEFAULT 30,
    cadence INTEGER NOT NULL DEFAULT 7,
    notify_on_success BOOLEAN NOT NULL DEFAULT 0,
    notify_on_failure BOOLEAN NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'scheduled',
    next_run_at TIMESTAMP,
    last_run_at TIMESTAMP,
    last_run_deleted_size BIGINT NOT NULL DEFAULT 0,
    last_run_deleted_entries_count BIGINT NOT NULL DEFAULT 0,
    last_run_detailed_metrics TEXT NOT NULL DEFAULT '{}',
    failure_message TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cleanup_policies_due ON cleanup_policies (next_run_at) WHERE enabled;
