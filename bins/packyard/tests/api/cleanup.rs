//! The group cleanup policy: its API (shapes, defaults, ranges, permissions) and its runs on a clock the
//! tests move (entries not downloaded for N days removed at the cadence, blobs collected after the
//! grace period, exact run statistics, failures recorded).

use chrono::{Duration, NaiveDateTime};
use packyard_domain::{AccessLevel, Format};
use serde_json::{Value, json};

use crate::fixtures::{
    PullThrough, app_with_group, call, create_subgroup, delete, get, is_timestamp, keys, patch,
    post, pull, pull_through,
};
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends};

/// GET, POST, PATCH and DELETE of the policy at `path` all answer 403.
async fn assert_every_method_forbidden(app: &TestApp, token: &str, path: &str) {
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        let answer = call(
            app,
            method,
            path,
            Some(token),
            Some(json!({"enabled": true})),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body),
            (403, json!({"message": "403 Forbidden"})),
            "{method} {path}"
        );
    }
}

fn policy_path(group: impl std::fmt::Display) -> String {
    format!("/api/v4/groups/{group}/-/virtual_registries/cleanup/policy")
}

fn time(value: &Value) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(value.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.3fZ").unwrap()
}

async fn policy(app: &TestApp, group: i64) -> Value {
    let answer = get(app, &app.admin_token, &policy_path(group)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(bytes);
    hashers.finish().sha256
}

async fn the_policy_api_follows_gitlab(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let path = policy_path(group);
    let not_found = json!({"message": "404 Not found"});

    let missing = get(&app, &token, &path).await;
    assert_eq!((missing.status, missing.body), (404, not_found));
    assert_eq!(
        patch(&app, &token, &path, json!({"enabled": true}))
            .await
            .status,
        404
    );
    assert_eq!(delete(&app, &token, &path).await.status, 404);

    // An empty POST creates the policy with GitLab's defaults.
    let created = post(&app, &token, &path, json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let body = &created.body;
    assert_eq!(
        keys(body),
        [
            "cadence",
            "created_at",
            "enabled",
            "failure_message",
            "group_id",
            "keep_n_days_after_download",
            "last_run_at",
            "last_run_deleted_entries_count",
            "last_run_deleted_size",
            "last_run_detailed_metrics",
            "next_run_at",
            "notify_on_failure",
            "notify_on_success",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(body["group_id"], group);
    assert_eq!(body["enabled"], false);
    assert_eq!(body["keep_n_days_after_download"], 30);
    assert_eq!(body["cadence"], 7);
    assert_eq!(body["notify_on_success"], false);
    assert_eq!(body["notify_on_failure"], false);
    assert_eq!(body["status"], "scheduled");
    assert_eq!(body["last_run_at"], Value::Null);
    assert_eq!(body["last_run_deleted_size"], 0);
    assert_eq!(body["last_run_deleted_entries_count"], 0);
    assert_eq!(body["last_run_detailed_metrics"], json!({}));
    assert_eq!(body["failure_message"], Value::Null);
    for field in ["created_at", "updated_at", "next_run_at"] {
        assert!(is_timestamp(&body[field]), "{field}: {}", body[field]);
    }
    assert_eq!(
        time(&body["next_run_at"]) - time(&body["created_at"]),
        Duration::days(7)
    );
    let first_next_run = body["next_run_at"].clone();

    // One policy per group.
    let again = post(&app, &token, &path, json!({"enabled": true})).await;
    assert_eq!(
        (again.status, again.body),
        (
            400,
            json!({"message": {"group": ["has already been taken"]}})
        )
    );
    assert_eq!(get(&app, &token, &path).await.body, created.body);
    assert_eq!(get(&app, &token, &policy_path("acme")).await.status, 200);

    // Parameters, as Grape declares them.
    let patched = |body: Value| {
        let (app, token, path) = (&app, &token, &path);
        async move { patch(app, token, path, body).await }
    };
    let empty = patched(json!({})).await;
    assert_eq!(
        (empty.status, empty.body),
        (
            400,
            json!({"error": "enabled, keep_n_days_after_download, cadence, notify_on_success, notify_on_failure are missing, at least one parameter must be provided"})
        )
    );
    for (body, error) in [
        (
            json!({"keep_n_days_after_download": 0}),
            "keep_n_days_after_download does not have a valid value",
        ),
        (
            json!({"keep_n_days_after_download": 366}),
            "keep_n_days_after_download does not have a valid value",
        ),
        (
            json!({"keep_n_days_after_download": "soon"}),
            "keep_n_days_after_download is invalid",
        ),
        (json!({"cadence": 2}), "cadence does not have a valid value"),
        (
            json!({"cadence": 365}),
            "cadence does not have a valid value",
        ),
        (json!({"enabled": ""}), "enabled is empty"),
        (json!({"enabled": null}), "enabled is empty"),
        (json!({"enabled": "maybe"}), "enabled is invalid"),
    ] {
        let answer = patched(body.clone()).await;
        assert_eq!(
            (answer.status, answer.body),
            (400, json!({"error": error})),
            "{body}"
        );
    }
    let refused = post(
        &app,
        &token,
        &policy_path(app.create_group("other").await),
        json!({"cadence": 3}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.body),
        (400, json!({"error": "cadence does not have a valid value"}))
    );

    // Updates; the next run moves only when the cadence changes.
    let enabled = patched(json!({"enabled": true, "keep_n_days_after_download": 365})).await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    assert_eq!(enabled.body["enabled"], true);
    assert_eq!(enabled.body["keep_n_days_after_download"], 365);
    assert_eq!(enabled.body["next_run_at"], first_next_run);
    app.core.clock().advance(Duration::hours(1));
    let daily = patched(json!({"cadence": 1, "notify_on_success": "true"})).await;
    assert_eq!(daily.status, 200, "{}", daily.body);
    assert_eq!(daily.body["cadence"], 1);
    assert_eq!(daily.body["notify_on_success"], true);
    assert_eq!(
        time(&daily.body["next_run_at"]) - time(&daily.body["updated_at"]),
        Duration::days(1)
    );
    let same = patched(json!({"cadence": 1, "notify_on_failure": true})).await;
    assert_eq!(same.body["next_run_at"], daily.body["next_run_at"]);
    assert_eq!(same.body["notify_on_failure"], true);
    let form = app
        .client
        .patch(app.url(&path))
        .header("PRIVATE-TOKEN", &token)
        .form(&[("cadence", "90"), ("enabled", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let form: Value = form.json().await.unwrap();
    assert_eq!(
        (form["cadence"].clone(), form["enabled"].clone()),
        (json!(90), json!(false))
    );

    // Owners only: every other member gets 403 (a client must not read it as "no policy"), an
    // outsider learns nothing (404), and a subgroup has no policy of its own (403).
    let owner = app.member_token(group, "owner", AccessLevel::Owner).await;
    assert_eq!(get(&app, &owner, &path).await.status, 200);
    for (username, level) in [
        ("maintainer", AccessLevel::Maintainer),
        ("developer", AccessLevel::Developer),
        ("reporter", AccessLevel::Reporter),
        ("guest", AccessLevel::Guest),
    ] {
        let member = app.member_token(group, username, level).await;
        assert_every_method_forbidden(&app, &member, &path).await;
    }
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let hidden = get(&app, &stranger, &path).await;
    assert_eq!(
        (hidden.status, hidden.body),
        (404, json!({"message": "404 Group Not Found"}))
    );
    assert_eq!(call(&app, "GET", &path, None, None).await.status, 401);
    let subgroup = create_subgroup(&app, group, "team").await;
    for subgroup_path in [policy_path(subgroup), policy_path("acme%2Fteam")] {
        assert_every_method_forbidden(&app, &token, &subgroup_path).await;
    }
    let unknown = get(&app, &token, &policy_path(group + 1000)).await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"message": "404 Group Not Found"}))
    );

    let deleted = delete(&app, &owner, &path).await;
    assert_eq!((deleted.status, deleted.body), (204, Value::Null));
    assert_eq!(get(&app, &token, &path).await.status, 404);
    assert_eq!(post(&app, &token, &path, json!({})).await.status, 201);
}

async fn entries_not_downloaded_for_n_days_are_removed_at_the_cadence(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let files = [
        ("org/example/old/1/old-1.jar", "old bytes"),
        ("org/example/recent/1/recent-1.jar", "recently used bytes"),
        ("org/example/a/1/a-1.jar", "shared bytes"),
        ("org/example/b/1/b-1.jar", "shared bytes"),
        (
            "org/example/changing/maven-metadata.xml",
            "<metadata>1</metadata>",
        ),
    ];
    for (path, body) in files {
        upstream.set(
            path,
            Reply::file_with_etag(body, "application/octet-stream", "\"1\""),
        );
    }
    let token = app.admin_token.clone();
    let created = post(
        &app,
        &token,
        &policy_path(group),
        json!({"enabled": true, "keep_n_days_after_download": 7, "cadence": 1}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    for (path, _) in files {
        pull(&app, registry, path).await;
    }

    // Four days later, some files are used again: two from the cache, one refetched because it changed.
    app.core.clock().advance(Duration::days(4));
    pull(&app, registry, files[1].0).await;
    pull(&app, registry, files[3].0).await;
    upstream.set(
        files[4].0,
        Reply::file_with_etag("<metadata>2</metadata>", "application/xml", "\"2\""),
    );
    pull(&app, registry, files[4].0).await;
    app.run_jobs().await;
    let first = policy(&app, group).await;
    assert_eq!(first["status"], "scheduled");
    assert_eq!(first["last_run_deleted_entries_count"], 0);
    assert_eq!(first["last_run_deleted_size"], 0);
    assert_eq!(
        first["last_run_detailed_metrics"],
        json!({
            "container": {"deleted_entries_count": 0, "deleted_size": 0},
            "maven": {"deleted_entries_count": 0, "deleted_size": 0},
            "npm": {"deleted_entries_count": 0, "deleted_size": 0},
            "pypi": {"deleted_entries_count": 0, "deleted_size": 0}
        })
    );
    assert_eq!(
        time(&first["next_run_at"]) - time(&first["last_run_at"]),
        Duration::days(1)
    );
    assert_eq!(app.entries(upstreams[0]).await.len(), 5);

    // Eight days after the first downloads, the files not used since are removed.
    app.core.clock().advance(Duration::days(4));
    app.run_jobs().await;
    let second = policy(&app, group).await;
    assert_eq!(second["status"], "scheduled");
    assert_eq!(second["failure_message"], Value::Null);
    assert_eq!(second["last_run_deleted_entries_count"], 2);
    let removed_size = ("old bytes".len() + "shared bytes".len()) as i64;
    assert_eq!(second["last_run_deleted_size"], removed_size);
    assert_eq!(
        second["last_run_detailed_metrics"],
        json!({
            "container": {"deleted_entries_count": 0, "deleted_size": 0},
            "maven": {"deleted_entries_count": 2, "deleted_size": removed_size},
            "npm": {"deleted_entries_count": 0, "deleted_size": 0},
            "pypi": {"deleted_entries_count": 0, "deleted_size": 0}
        })
    );
    assert!(time(&second["last_run_at"]) > time(&first["last_run_at"]));
    let mut left: Vec<String> = app
        .entries(upstreams[0])
        .await
        .into_iter()
        .map(|e| e.relative_path)
        .collect();
    left.sort();
    assert_eq!(left, [files[3].0, files[4].0, files[1].0]);

    // The removed file's blob stays for the grace period, then goes; the shared blob stays in use.
    let old_blob = sha256_hex(b"old bytes");
    let shared_blob = sha256_hex(b"shared bytes");
    assert!(app.blob_stored(&old_blob).await);
    app.core.clock().advance(Duration::seconds(
        app.settings.jobs.blob_grace_secs as i64 + 1,
    ));
    app.run_jobs().await;
    assert!(!app.blob_stored(&old_blob).await);
    assert!(!app.blob_row_exists(&old_blob).await);
    assert!(app.blob_stored(&shared_blob).await);
    assert!(app.blob_row_exists(&shared_blob).await);
    pull(&app, registry, files[3].0).await;
    assert_eq!(
        upstream.count("GET", files[3].0),
        1,
        "served from the cache"
    );
    // The file removed by the policy is fetched again on its next request.
    pull(&app, registry, files[0].0).await;
    assert_eq!(upstream.count("GET", files[0].0), 2);

    // Nothing runs before the cadence is up; then it runs again.
    app.core.clock().advance(Duration::hours(12));
    app.run_jobs().await;
    assert_eq!(
        policy(&app, group).await["last_run_at"],
        second["last_run_at"]
    );
    app.core.clock().advance(Duration::hours(13));
    app.run_jobs().await;
    let third = policy(&app, group).await;
    assert!(time(&third["last_run_at"]) > time(&second["last_run_at"]));
    assert_eq!(third["last_run_deleted_entries_count"], 0);

    let runs: Vec<_> = app
        .jobs()
        .await
        .into_iter()
        .filter(|job| job.kind == "execute_cleanup_policy")
        .collect();
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert_eq!((run.status.as_str(), run.attempts), ("succeeded", 1));
        assert_eq!(run.payload, json!({"group_id": group}).to_string());
    }
}

async fn a_disabled_policy_never_runs(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let jar = "org/example/app/1/app-1.jar";
    upstream.set(jar, Reply::file("bytes", "application/java-archive"));
    let created = post(
        &app,
        &app.admin_token,
        &policy_path(group),
        json!({"keep_n_days_after_download": 1, "cadence": 1}),
    )
    .await;
    assert_eq!(created.status, 201);
    pull(&app, registry, jar).await;
    app.core.clock().advance(Duration::days(40));
    app.run_jobs().await;
    let body = policy(&app, group).await;
    assert_eq!(body["last_run_at"], Value::Null);
    assert_eq!(body["status"], "scheduled");
    assert_eq!(app.entries(upstreams[0]).await.len(), 1);
}

async fn a_failed_run_is_recorded_and_retried(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let jar = "org/example/app/1/app-1.jar";
    upstream.set(jar, Reply::file("bytes", "application/java-archive"));
    let created = post(
        &app,
        &app.admin_token,
        &policy_path(group),
        json!({"enabled": true, "keep_n_days_after_download": 1, "cadence": 1, "notify_on_failure": true}),
    )
    .await;
    assert_eq!(created.status, 201);
    pull(&app, registry, jar).await;

    // The database refuses to hide entries, as a broken database would.
    match backend {
        Backend::Sqlite => {
            app.sql(
                "CREATE TRIGGER refuse_hiding BEFORE UPDATE OF status ON cache_entries \
                 BEGIN SELECT RAISE(ABORT, 'storage offline'); END",
            )
            .await;
        }
        Backend::Postgres => {
            app.sql(
                "CREATE FUNCTION refuse_hiding() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'storage offline'; END $$ LANGUAGE plpgsql",
            )
            .await;
            app.sql(
                "CREATE TRIGGER refuse_hiding BEFORE UPDATE OF status ON cache_entries \
                 FOR EACH ROW EXECUTE FUNCTION refuse_hiding()",
            )
            .await;
        }
    }
    app.core.clock().advance(Duration::days(2));
    app.run_jobs().await;
    let failed = policy(&app, group).await;
    assert_eq!(failed["status"], "failed");
    let message = failed["failure_message"].as_str().unwrap();
    assert!(
        message.starts_with("Failed to execute cleanup policy: ")
            && message.contains("storage offline"),
        "{message}"
    );
    assert!(message.chars().count() <= 255);
    assert_eq!(failed["last_run_at"], Value::Null);
    assert_eq!(
        time(&failed["next_run_at"]) - time(&failed["updated_at"]),
        Duration::seconds(app.settings.jobs.retry_max_secs as i64)
    );
    assert_eq!(app.entries(upstreams[0]).await.len(), 1);

    // Failed policies stay runnable: once the database works again, the next attempt succeeds.
    match backend {
        Backend::Sqlite => app.sql("DROP TRIGGER refuse_hiding").await,
        Backend::Postgres => app.sql("DROP TRIGGER refuse_hiding ON cache_entries").await,
    }
    app.core.clock().advance(Duration::seconds(
        app.settings.jobs.retry_max_secs as i64 + 1,
    ));
    app.run_jobs().await;
    let recovered = policy(&app, group).await;
    assert_eq!(recovered["status"], "scheduled");
    assert_eq!(recovered["failure_message"], Value::Null);
    assert_eq!(recovered["last_run_deleted_entries_count"], 1);
    assert!(app.entries(upstreams[0]).await.is_empty());
}

async fn container_entries_are_cleaned_up_too(backend: Backend) {
    use crate::container::{Image, digest_of, pull as pull_image, pull_token, v2};
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    let image = Image::new("cleanup", &[1000], "amd64");
    image.serve(&upstream, "app", Some("v1"));
    let (registry, upstreams) = app
        .virtual_registry(packyard_domain::Format::Container, group, &[&upstream.url])
        .await;
    let created = post(
        &app,
        &app.admin_token,
        &policy_path(group),
        json!({"enabled": true, "keep_n_days_after_download": 7, "cadence": 1}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = pull_token(&app, registry).await;
    let layer = v2(
        registry,
        &format!("app/blobs/{}", digest_of(&image.layers[0])),
    );
    for path in [v2(registry, "app/manifests/v1"), layer] {
        let response = pull_image(&app, &token, &path).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let entries: Vec<String> = app
        .entries(upstreams[0])
        .await
        .into_iter()
        .map(|e| e.relative_path)
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");

    app.core.clock().advance(Duration::days(8));
    app.run_jobs().await;
    let run = policy(&app, group).await;
    let size = (image.manifest.len() + image.layers[0].len()) as i64;
    assert_eq!(run["last_run_deleted_entries_count"], 2);
    assert_eq!(run["last_run_deleted_size"], size);
    assert_eq!(
        run["last_run_detailed_metrics"],
        json!({
            "container": {"deleted_entries_count": 2, "deleted_size": size},
            "maven": {"deleted_entries_count": 0, "deleted_size": 0},
            "npm": {"deleted_entries_count": 0, "deleted_size": 0},
            "pypi": {"deleted_entries_count": 0, "deleted_size": 0}
        })
    );
    assert!(app.entries(upstreams[0]).await.is_empty());
}

both_backends!(
    container_entries_are_cleaned_up_too,
    the_policy_api_follows_gitlab,
    entries_not_downloaded_for_n_days_are_removed_at_the_cadence,
    a_disabled_policy_never_runs,
    a_failed_run_is_recorded_and_retried,
);
