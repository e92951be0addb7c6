//! The warm path's memory: what is remembered is forgotten when it changes (at once on the instance that
//! made the change, within seconds on the others), downloads are counted in batches and none is lost, and
//! concurrent misses of one path cost one upstream HEAD and one GET.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use packyard_domain::{AccessLevel, Format, Scope};

use crate::fixtures::{PullThrough, pull_through};
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends};

const JAR: &str = "org/example/app/1.0/app-1.0.jar";
/// The bound the hot index promises for a change made on another instance.
const OTHER_INSTANCE_BOUND: Duration = Duration::from_secs(5);

fn maven_url(app: &TestApp, registry: i64, path: &str) -> String {
    app.url(&format!(
        "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
    ))
}

async fn get_status(app: &TestApp, registry: i64, token: &str) -> u16 {
    app.client
        .get(maven_url(app, registry, JAR))
        .header("PRIVATE-TOKEN", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get_body(app: &TestApp, registry: i64) -> String {
    let response = app
        .client
        .get(maven_url(app, registry, JAR))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Polls `check` until it holds; returns how long that took, failing past the bound.
async fn within_bound<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < OTHER_INSTANCE_BOUND,
            "{what}: still not seen after {OTHER_INSTANCE_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn revoked_tokens_and_removed_members_are_refused_on_every_instance(backend: Backend) {
    let Some(here) = TestApp::start(backend).await else {
        return;
    };
    let elsewhere = here.start_another_instance().await;
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("jar bytes", "application/java-archive"));
    let group = here.create_group("acme").await;
    let (registry, _) = here.maven_registry(group, &[&upstream.url]).await;
    let revoked = here.member_token(group, "leaver", AccessLevel::Guest).await;
    let removed = here.member_token(group, "mover", AccessLevel::Guest).await;
    for token in [&revoked, &removed] {
        for app in [&here, &elsewhere] {
            // Twice: the second answer comes from memory.
            assert_eq!(get_status(app, registry, token).await, 200);
            assert_eq!(get_status(app, registry, token).await, 200);
        }
    }

    let revoke = here
        .client
        .delete(here.url("/api/v4/personal_access_tokens/self"))
        .header("PRIVATE-TOKEN", &revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(
        get_status(&here, registry, &revoked).await,
        401,
        "at once here"
    );
    within_bound("a revoked token on the other instance", || async {
        get_status(&elsewhere, registry, &revoked).await == 401
    })
    .await;

    let mover = here.core.find_user_by_username("mover").await.unwrap();
    let removal = here
        .client
        .delete(here.url(&format!("/api/v4/groups/{group}/members/{}", mover.id)))
        .header("PRIVATE-TOKEN", &here.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 204);
    // A former member is an outsider: the registry is hidden from them (404).
    assert_eq!(
        get_status(&here, registry, &removed).await,
        404,
        "at once here"
    );
    within_bound("a removed member on the other instance", || async {
        get_status(&elsewhere, registry, &removed).await == 404
    })
    .await;
    // Everyone else is still served from memory on both.
    assert_eq!(
        get_status(&elsewhere, registry, &here.admin_token).await,
        200
    );
}

async fn an_expired_token_is_refused_although_it_was_remembered(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    upstream.set(JAR, Reply::file("jar bytes", "application/java-archive"));
    let admin = app.admin().await.user().unwrap().clone();
    let expires_at = packyard_db::now() + chrono::Duration::seconds(2);
    let token = app
        .core
        .create_personal_access_token(&admin, "short".into(), vec![Scope::Api], Some(expires_at))
        .await
        .unwrap()
        .token;
    assert_eq!(get_status(&app, registry, &token).await, 200);
    assert_eq!(get_status(&app, registry, &token).await, 200);
    let until_expiry = (expires_at - packyard_db::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(until_expiry + Duration::from_millis(50)).await;
    assert_eq!(get_status(&app, registry, &token).await, 401);
}

async fn purges_are_honoured_at_once_here_and_within_seconds_elsewhere(backend: Backend) {
    let Some(here) = TestApp::start(backend).await else {
        return;
    };
    let elsewhere = here.start_another_instance().await;
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("old bytes", "application/java-archive"));
    let group = here.create_group("acme").await;
    let (registry, upstreams) = here.maven_registry(group, &[&upstream.url]).await;
    for app in [&here, &elsewhere, &here, &elsewhere] {
        assert_eq!(get_body(app, registry).await, "old bytes");
    }
    assert_eq!(
        upstream.count("GET", JAR),
        1,
        "cached once, then served from the cache"
    );

    upstream.set(JAR, Reply::file("new bytes", "application/java-archive"));
    let purge = here
        .client
        .delete(here.url(&format!(
            "/api/v4/virtual_registries/packages/maven/upstreams/{}/cache",
            upstreams[0]
        )))
        .header("PRIVATE-TOKEN", &here.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status(), 204);
    assert_eq!(get_body(&here, registry).await, "new bytes", "at once here");
    within_bound("a purge on the other instance", || async {
        get_body(&elsewhere, registry).await == "new bytes"
    })
    .await;
}

async fn downloads_are_counted_in_batches_and_written_at_shutdown(backend: Backend) {
    let Some(mut app) = TestApp::start(backend).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("jar bytes", "application/java-archive"));
    let group = app.create_group("acme").await;
    let (registry, upstreams) = app.maven_registry(group, &[&upstream.url]).await;
    // The first download fills the cache; the five after it are cache hits, each counted.
    for _ in 0..5 {
        assert_eq!(get_body(&app, registry).await, "jar bytes");
    }
    let before_last = packyard_db::now();
    assert_eq!(get_body(&app, registry).await, "jar bytes");
    let after_last = packyard_db::now();
    app.stop_hot_sync().await;

    let upstream_id = upstreams[0];
    let entry = app
        .core
        .db()
        .run(move |conn| packyard_db::queries::cache::find_entry(conn, upstream_id, JAR))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.downloads_count, 5);
    let downloaded_at = entry.downloaded_at.unwrap();
    // PostgreSQL keeps microseconds.
    let slack = chrono::Duration::milliseconds(1);
    assert!(downloaded_at >= before_last - slack && downloaded_at <= after_last + slack);
}

async fn concurrent_misses_send_one_head_and_one_get(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    // A slow upstream, so that every client misses while the first one is still asking.
    upstream.set(
        JAR,
        Reply::Delay(
            Duration::from_millis(300),
            Box::new(Reply::file("jar bytes", "application/java-archive")),
        ),
    );
    let bodies = join_all((0..20).map(|_| get_body(&app, registry))).await;
    assert!(bodies.iter().all(|body| body == "jar bytes"));
    assert_eq!(upstream.count("HEAD", JAR), 1, "one upstream HEAD");
    assert_eq!(upstream.count("GET", JAR), 1, "one upstream GET");
}

both_backends!(
    revoked_tokens_and_removed_members_are_refused_on_every_instance,
    an_expired_token_is_refused_although_it_was_remembered,
    purges_are_honoured_at_once_here_and_within_seconds_elsewhere,
    downloads_are_counted_in_batches_and_written_at_shutdown,
    concurrent_misses_send_one_head_and_one_get,
);
