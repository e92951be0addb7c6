//! The job system: deletions hidden at once and carried out by jobs, blobs collected after their grace
//! period and never while in use, retries with backoff, restarts and dead workers, and several instances
//! on one database running each job once.

use bytes::Bytes;
use chrono::Duration;
use diesel::prelude::*;
use packyard_domain::Format;
use serde_json::json;

use crate::fixtures::{PullThrough, delete, get, post, pull, pull_through};
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends};

const MAVEN: &str = "/api/v4/virtual_registries/packages/maven";

fn sha256_hex(bytes: &[u8]) -> String {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(bytes);
    hashers.finish().sha256
}

/// Every cache entry row, live or waiting for destruction.
async fn entry_rows(app: &TestApp) -> i64 {
    app.core
        .db()
        .run(|conn| {
            Ok(packyard_db::schema::cache_entries::table
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

async fn job(app: &TestApp, id: i64) -> packyard_db::rows::Job {
    app.jobs().await.into_iter().find(|j| j.id == id).unwrap()
}

fn grace(app: &TestApp) -> Duration {
    Duration::seconds(app.settings.jobs.blob_grace_secs as i64 + 1)
}

async fn a_purge_never_cuts_off_a_download_in_progress(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        upstreams,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let big: Bytes = (0..64 * 1024 * 1024u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let sha256 = sha256_hex(&big);
    let path = "org/example/big/1.0/big-1.0.jar";
    upstream.set(path, Reply::file(big.clone(), "application/java-archive"));
    pull(&app, registry, path).await;
    assert!(app.blob_stored(&sha256).await);

    // A slow client starts a download from the cache and reads only its first piece.
    let mut response = app
        .client
        .get(app.url(&format!("{MAVEN}/{registry}/{path}")))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-checksum-sha1"].len(),
        40,
        "from the cache"
    );
    let mut received = packyard_blob::Hashers::default();
    received.update(&response.chunk().await.unwrap().unwrap());

    // Meanwhile the upstream's cache is purged and every job runs, past the grace period.
    let purged = delete(
        &app,
        &app.admin_token,
        &format!("{MAVEN}/upstreams/{}/cache", upstreams[0]),
    )
    .await;
    assert_eq!(purged.status, 204);
    app.run_jobs().await;
    assert_eq!(entry_rows(&app).await, 0);
    assert!(app.blob_stored(&sha256).await, "kept for the grace period");
    app.core.clock().advance(grace(&app));
    app.run_jobs().await;
    assert!(
        !app.blob_stored(&sha256).await,
        "collected after the grace period"
    );
    assert!(!app.blob_row_exists(&sha256).await);

    // The download completes, intact.
    while let Some(chunk) = response.chunk().await.unwrap() {
        received.update(&chunk);
    }
    let digests = received.finish();
    assert_eq!(digests.size, big.len() as i64);
    assert_eq!(digests.sha256, sha256);
    assert_eq!(upstream.count("GET", path), 1);
    assert!(app.jobs().await.iter().all(|j| j.last_error.is_none()));
}

async fn deletes_hide_at_once_and_jobs_remove_rows_and_unused_blobs(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| s.jobs.worker = false).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    let (first, second) = ("org/example/a/1/a-1.jar", "org/example/b/1/b-1.jar");
    for path in [first, second] {
        upstream.set(path, Reply::file("same bytes", "application/java-archive"));
    }
    let group = app.create_group("acme").await;
    let (registry, upstreams) = app.maven_registry(group, &[&upstream.url]).await;
    pull(&app, registry, first).await;
    pull(&app, registry, second).await;
    let sha256 = sha256_hex(b"same bytes");
    let token = app.admin_token.clone();
    let entries = format!("{MAVEN}/upstreams/{}/cache_entries", upstreams[0]);
    let listed = get(&app, &token, &entries).await;
    let id_of = |path: &str| {
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["relative_path"] == path)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first_id, second_id) = (id_of(first), id_of(second));

    // Hidden at once, removed by a job; the blob the other entry shares stays.
    let deleted = delete(&app, &token, &format!("{MAVEN}/cache_entries/{first_id}")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        get(&app, &token, &entries)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(entry_rows(&app).await, 2, "the row waits for its job");
    app.run_jobs().await;
    assert_eq!(entry_rows(&app).await, 1);
    app.core.clock().advance(grace(&app));
    app.run_jobs().await;
    assert!(
        app.blob_stored(&sha256).await,
        "still used by the other entry"
    );
    assert!(app.blob_row_exists(&sha256).await);

    // Once the last entry goes, the blob goes after the grace period.
    let deleted = delete(&app, &token, &format!("{MAVEN}/cache_entries/{second_id}")).await;
    assert_eq!(deleted.status, 204);
    app.run_jobs().await;
    assert_eq!(entry_rows(&app).await, 0);
    assert!(app.blob_stored(&sha256).await);
    app.core.clock().advance(Duration::seconds(10));
    app.run_jobs().await;
    assert!(
        app.blob_stored(&sha256).await,
        "the grace period is not over"
    );
    app.core.clock().advance(grace(&app));
    app.run_jobs().await;
    assert!(!app.blob_stored(&sha256).await);
    assert!(!app.blob_row_exists(&sha256).await);

    // Content cached again after its blob was collected is stored anew.
    pull(&app, registry, first).await;
    assert!(app.blob_stored(&sha256).await);
    assert_eq!(upstream.count("GET", first), 2);
    assert!(app.jobs().await.iter().all(|j| j.last_error.is_none()));
}

async fn failed_jobs_are_retried_with_backoff_then_given_up(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| {
        s.jobs.worker = false;
        s.jobs.max_attempts = 3;
    })
    .await
    else {
        return;
    };
    app.run_jobs().await;
    let now = app.core.now();
    // A job this version doesn't know, as a newer instance sharing the database might enqueue.
    let id = app
        .core
        .db()
        .transaction(move |conn| {
            packyard_db::queries::jobs::enqueue(conn, "from_a_newer_version", "{}", now, 3, now)
        })
        .await
        .unwrap()
        .id;
    let base = Duration::seconds(app.settings.jobs.retry_base_secs as i64);

    app.run_jobs().await;
    let first = job(&app, id).await;
    assert_eq!((first.status.as_str(), first.attempts), ("queued", 1));
    assert_eq!(first.locked_by, None);
    assert!(
        first
            .last_error
            .as_deref()
            .unwrap()
            .contains("unknown job kind \"from_a_newer_version\""),
        "{:?}",
        first.last_error
    );
    assert_eq!(first.run_at - first.updated_at, base);
    app.run_jobs().await;
    assert_eq!(
        job(&app, id).await.attempts,
        1,
        "not due before its backoff"
    );

    app.core.clock().advance(base + Duration::seconds(1));
    app.run_jobs().await;
    let second = job(&app, id).await;
    assert_eq!((second.status.as_str(), second.attempts), ("queued", 2));
    assert_eq!(second.run_at - second.updated_at, base * 2);

    app.core.clock().advance(base * 2 + Duration::seconds(1));
    app.run_jobs().await;
    let last = job(&app, id).await;
    assert_eq!((last.status.as_str(), last.attempts), ("failed", 3));
    assert!(last.finished_at.is_some());
    app.core.clock().advance(Duration::days(1));
    app.run_jobs().await;
    assert_eq!(job(&app, id).await.attempts, 3, "given up for good");
}

async fn jobs_survive_a_restart_and_a_dead_worker(backend: Backend) {
    let Some(first) = TestApp::start_with(backend, |s| s.jobs.worker = false).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    let jar = "org/example/app/1/app-1.jar";
    upstream.set(jar, Reply::file("bytes", "application/java-archive"));
    let group = first.create_group("acme").await;
    let (registry, upstreams) = first.maven_registry(group, &[&upstream.url]).await;
    pull(&first, registry, jar).await;
    let purged = delete(
        &first,
        &first.admin_token,
        &format!("{MAVEN}/upstreams/{}/cache", upstreams[0]),
    )
    .await;
    assert_eq!(purged.status, 204);
    // A worker claimed the removal, then its instance died.
    let lease_until = first.core.now() + Duration::minutes(5);
    first
        .sql(&format!(
            "UPDATE jobs SET locked_by = 'dead-instance/1', locked_until = '{}', attempts = 1 \
             WHERE kind = 'destroy_cache_entries'",
            lease_until.format("%Y-%m-%d %H:%M:%S%.6f")
        ))
        .await;

    // Another instance starts on the same database: the removal waits out the dead worker's lease.
    let second = first.start_another_instance().await;
    while second.core.run_next_job().await.unwrap() {}
    assert_eq!(entry_rows(&second).await, 1, "held by the dead worker");
    second.core.clock().advance(Duration::minutes(6));
    second.run_jobs().await;
    assert_eq!(entry_rows(&second).await, 0);
    let removal = second
        .jobs()
        .await
        .into_iter()
        .find(|j| j.kind == "destroy_cache_entries")
        .unwrap();
    assert_eq!(removal.locked_by, None);
    assert_eq!(removal.last_error, None);
    assert!(removal.run_at > second.core.now(), "waits for its next run");
}

async fn two_instances_on_one_database_run_each_job_once(backend: Backend) {
    let Some(first) = TestApp::start_with(backend, |s| s.jobs.poll_interval_ms = 50).await else {
        return;
    };
    let second = first.start_another_instance().await;
    let upstream = FakeUpstream::start().await;
    let mut expected = Vec::new();
    let mut blobs = Vec::new();
    for index in 0..6 {
        let group = first.create_group(&format!("group{index}")).await;
        let (registry, _) = first.maven_registry(group, &[&upstream.url]).await;
        let mut size = 0;
        for file in 0..3 {
            let path = format!("org/example/g{index}/{file}/g{index}-{file}.jar");
            let body = format!(
                "group {index} file {file} {}",
                "x".repeat(index * 10 + file)
            );
            upstream.set(&path, Reply::file(body.clone(), "application/java-archive"));
            let instance = if file % 2 == 0 { &first } else { &second };
            pull(instance, registry, &path).await;
            size += body.len() as i64;
            blobs.push(sha256_hex(body.as_bytes()));
        }
        let instance = if index % 2 == 0 { &first } else { &second };
        let created = post(
            instance,
            &instance.admin_token,
            &format!("/api/v4/groups/{group}/-/virtual_registries/cleanup/policy"),
            json!({"enabled": true, "keep_n_days_after_download": 1, "cadence": 1}),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        expected.push((group, size));
    }
    tokio::join!(first.run_jobs(), second.run_jobs());

    // Every policy is due at once: both instances' workers compete for the runs.
    first.core.clock().advance(Duration::days(2));
    second.core.clock().advance(Duration::days(2));
    tokio::join!(first.run_jobs(), second.run_jobs());
    for (group, size) in &expected {
        let policy = get(
            &first,
            &first.admin_token,
            &format!("/api/v4/groups/{group}/-/virtual_registries/cleanup/policy"),
        )
        .await
        .body;
        assert_eq!(policy["status"], "scheduled", "{policy}");
        assert_eq!(policy["last_run_deleted_entries_count"], 3, "{policy}");
        assert_eq!(policy["last_run_deleted_size"], *size, "{policy}");
    }
    let jobs = first.jobs().await;
    let runs: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == "execute_cleanup_policy")
        .collect();
    assert_eq!(runs.len(), expected.len(), "one run per policy");
    for run in &runs {
        assert_eq!(
            (run.status.as_str(), run.attempts),
            ("succeeded", 1),
            "{run:?}"
        );
    }
    assert!(jobs.iter().all(|j| j.last_error.is_none()), "{jobs:?}");
    assert_eq!(entry_rows(&first).await, 0, "{:?}", first.jobs().await);

    first.core.clock().advance(grace(&first));
    second.core.clock().advance(grace(&second));
    tokio::join!(first.run_jobs(), second.run_jobs());
    for sha256 in &blobs {
        assert!(!first.blob_stored(sha256).await);
        assert!(!first.blob_row_exists(sha256).await);
    }
    let jobs = second.jobs().await;
    assert!(jobs.iter().all(|j| j.last_error.is_none()), "{jobs:?}");
    assert!(jobs.iter().all(|j| j.locked_by.is_none()), "{jobs:?}");
}

both_backends!(
    a_purge_never_cuts_off_a_download_in_progress,
    deletes_hide_at_once_and_jobs_remove_rows_and_unused_blobs,
    failed_jobs_are_retried_with_backoff_then_given_up,
    jobs_survive_a_restart_and_a_dead_worker,
    two_instances_on_one_database_run_each_job_once,
);
