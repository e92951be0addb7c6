//! npm virtual registries: the management API in Maven's shapes, packuments and tarballs pulled
//! through (scoped names, abbreviated documents, tarball URLs pointing at packyard), one upstream fetch
//! for concurrent misses, integrity checks, stale packuments when the upstream is down, and local
//! upstreams (a group's hosted npm packages, checked first, readable only by those who may read them).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::join_all;
use packyard_domain::{AccessLevel, Format};
use serde_json::{Value, json};

use crate::fixtures::{PullThrough, app_with_group, get, patch, post, pull_through};
use crate::hosted::digests;
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends};

const API: &str = "/api/v4/virtual_registries/packages/npm";
const ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

fn group_npm(group: i64) -> String {
    format!("/api/v4/groups/{group}/-/virtual_registries/packages/npm")
}

fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        STANDARD.encode(hex::decode(digests(bytes).sha512).unwrap())
    )
}

/// A packument as a registry serves it: one version whose tarball is at `tarball_url` with the
/// integrity of `tarball`.
fn packument(name: &str, version: &str, tarball_url: &str, tarball: &[u8]) -> Value {
    json!({
        "_id": name,
        "name": name,
        "readme": "a long readme",
        "dist-tags": {"latest": version},
        "time": {"modified": "2026-01-01T00:00:00.000Z"},
        "versions": {version: {
            "name": name,
            "version": version,
            "readme": "a long readme",
            "dependencies": {"dep": "^1.0.0"},
            "dist": {
                "tarball": tarball_url,
                "integrity": integrity(tarball),
                "shasum": digests(tarball).sha1,
            },
        }},
    })
}

/// Scripts a package on the fake upstream: its packument (at the path npm asks for) and its tarball.
fn serve_package(upstream: &FakeUpstream, name: &str, version: &str, tarball: &[u8]) -> String {
    let bare = name.rsplit('/').next().unwrap();
    let tarball_path = format!("/{name}/-/{bare}-{version}.tgz");
    let document = packument(
        name,
        version,
        &format!("{}{tarball_path}", upstream.url),
        tarball,
    );
    upstream.set(
        &format!("/{}", name.replace('/', "%2f")),
        Reply::file_with_etag(document.to_string(), "application/json", "\"p1\""),
    );
    upstream.set(
        &tarball_path,
        Reply::file(tarball.to_vec(), "application/octet-stream"),
    );
    tarball_path
}

async fn npm_get(
    app: &TestApp,
    token: &str,
    path: &str,
    accept: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.unwrap()
}

async fn npm_virtual_registries_are_managed_like_maven_ones(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let upstream = FakeUpstream::start().await;
    upstream.set("/-/ping", Reply::file("{}", "application/json"));

    let created = post(
        &app,
        &token,
        &format!("{}/registries", group_npm(group)),
        json!({"name": "js"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let registry = created.body["id"].as_i64().unwrap();
    let listed = get(&app, &token, &format!("{}/registries", group_npm(group))).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["name"], "js");

    // An upstream with credentials: the password is never shown.
    let created = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": upstream.url, "username": "u", "password": "secret", "metadata_cache_validity_hours": 2}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["metadata_cache_validity_hours"], 2);
    assert!(!created.body.to_string().contains("secret"));
    let upstream_id = created.body["id"].as_i64().unwrap();
    let changed = patch(
        &app,
        &token,
        &format!("{API}/upstreams/{upstream_id}"),
        json!({"metadata_cache_validity_hours": 5}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["metadata_cache_validity_hours"], 5);

    // The connection test pings the registry.
    let tested = get(&app, &token, &format!("{API}/upstreams/{upstream_id}/test")).await;
    assert_eq!(tested.body, json!({"success": true}), "{}", tested.body);
    assert_eq!(upstream.count("HEAD", "/-/ping"), 1);

    // Errors in the API's format.
    let bad = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": "ftp://x"}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["message"]["url"].is_array(), "{}", bad.body);
    let bad = patch(
        &app,
        &token,
        &format!("{API}/upstreams/{upstream_id}"),
        json!({"metadata_cache_validity_hours": 0}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["message"]["metadata_cache_validity_hours"],
        json!(["must be greater than 0"])
    );
    let missing = get(&app, &token, &format!("{API}/registries/999999")).await;
    assert_eq!(missing.status, 404);

    // At most 20 upstreams per registry.
    for index in 1..20 {
        let more = post(
            &app,
            &token,
            &format!("{API}/registries/{registry}/upstreams"),
            json!({"url": format!("{}/mirror{index}", upstream.url)}),
        )
        .await;
        assert_eq!(more.status, 201, "{}", more.body);
    }
    let over = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": format!("{}/one-too-many", upstream.url)}),
    )
    .await;
    assert_eq!(over.status, 400);
    assert_eq!(
        over.body["message"]["registry_upstreams.position"],
        json!(["must be less than or equal to 20"])
    );

    // A Maven registry's id is not an npm registry's.
    let maven = get(
        &app,
        &token,
        &format!("/api/v4/virtual_registries/packages/maven/registries/{registry}"),
    )
    .await;
    assert_eq!(maven.status, 404);
}

async fn local_upstreams_name_groups_the_caller_can_read(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let other = app.create_group("other").await;
    let registry = post(
        &app,
        &token,
        &format!("{}/registries", group_npm(group)),
        json!({"name": "js"}),
    )
    .await
    .body["id"]
        .as_i64()
        .unwrap();
    let upstreams = format!("{API}/registries/{registry}/upstreams");

    let local = post(
        &app,
        &token,
        &upstreams,
        json!({"url": format!("gid://packyard/Group/{group}")}),
    )
    .await;
    assert_eq!(local.status, 201, "{}", local.body);
    assert_eq!(local.body["url"], format!("gid://packyard/Group/{group}"));
    let local_id = local.body["id"].as_i64().unwrap();
    // Its connection test succeeds without reaching anything.
    let tested = get(&app, &token, &format!("{API}/upstreams/{local_id}/test")).await;
    assert_eq!(tested.body, json!({"success": true}));
    let tested = post(
        &app,
        &token,
        &format!("{}/upstreams/test", group_npm(group)),
        json!({"url": format!("gid://packyard/Group/{other}")}),
    )
    .await;
    assert_eq!(tested.body, json!({"success": true}), "{}", tested.body);

    // No credentials, no unknown group, no group the caller cannot read.
    let with_password = post(
        &app,
        &token,
        &upstreams,
        json!({"url": format!("gid://packyard/Group/{other}"), "username": "u", "password": "p"}),
    )
    .await;
    assert_eq!(with_password.status, 400);
    assert_eq!(
        with_password.body["message"]["username"],
        json!(["must be blank for a local upstream"])
    );
    let unknown = post(
        &app,
        &token,
        &upstreams,
        json!({"url": "gid://packyard/Group/987654"}),
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body["message"]["url"],
        json!(["must name a top-level group you can read"])
    );
    let maintainer = app
        .member_token(group, "maintainer", AccessLevel::Maintainer)
        .await;
    let hidden = post(
        &app,
        &maintainer,
        &upstreams,
        json!({"url": format!("gid://packyard/Group/{other}")}),
    )
    .await;
    assert_eq!(hidden.status, 400, "{}", hidden.body);
    assert_eq!(
        hidden.body["message"]["url"],
        json!(["must name a top-level group you can read"])
    );
    // Container registries have no local upstreams.
    let container = post(
        &app,
        &token,
        &format!("/api/v4/groups/{group}/-/virtual_registries/container/registries"),
        json!({"name": "images"}),
    )
    .await;
    let container_id = container.body["id"].as_i64().unwrap();
    let refused = post(
        &app,
        &token,
        &format!("/api/v4/virtual_registries/container/registries/{container_id}/upstreams"),
        json!({"url": format!("gid://packyard/Group/{group}"), "name": "local"}),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
}

async fn packuments_and_tarballs_pass_through_the_cache(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        upstreams,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let tarball = b"left-pad tarball bytes".to_vec();
    let scoped = b"scoped tarball bytes".to_vec();
    let tarball_path = serve_package(&upstream, "left-pad", "1.0.0", &tarball);
    let scoped_path = serve_package(&upstream, "@acme/widget", "2.0.0", &scoped);
    let base = format!("{API}/{registry}");

    let full = npm_get(&app, &token, &format!("{base}/left-pad"), None).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "application/json");
    let full: Value = full.json().await.unwrap();
    assert_eq!(full["readme"], "a long readme");
    let tarball_url = full["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        tarball_url,
        app.url(&format!("{base}/left-pad/-/left-pad-1.0.0.tgz")),
        "tarballs are served by packyard"
    );
    assert_eq!(
        full["versions"]["1.0.0"]["dist"]["integrity"],
        integrity(&tarball)
    );

    let abbreviated = npm_get(&app, &token, &format!("{base}/left-pad"), Some(ABBREVIATED)).await;
    assert_eq!(
        abbreviated.headers()["content-type"],
        "application/vnd.npm.install-v1+json"
    );
    let abbreviated: Value = abbreviated.json().await.unwrap();
    assert_eq!(
        abbreviated["versions"]["1.0.0"]["dependencies"]["dep"],
        "^1.0.0"
    );
    assert!(abbreviated.get("readme").is_none());
    assert!(abbreviated["versions"]["1.0.0"].get("readme").is_none());
    assert_eq!(
        upstream.count("GET", "/left-pad"),
        1,
        "the packument was cached"
    );

    for _ in 0..2 {
        let response = app
            .client
            .get(&tarball_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap(), tarball);
    }
    assert_eq!(
        upstream.count("GET", &tarball_path),
        1,
        "the tarball was cached"
    );

    // Scoped names, as npm sends them (`@scope%2fname`) and unescaped.
    for path in [
        format!("{base}/@acme%2fwidget"),
        format!("{base}/@acme/widget"),
    ] {
        let document: Value = npm_get(&app, &token, &path, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            document["versions"]["2.0.0"]["dist"]["tarball"],
            app.url(&format!("{base}/@acme/widget/-/widget-2.0.0.tgz"))
        );
    }
    let response = npm_get(
        &app,
        &token,
        &format!("{base}/@acme/widget/-/widget-2.0.0.tgz"),
        None,
    )
    .await;
    assert_eq!(response.bytes().await.unwrap(), scoped);
    assert_eq!(upstream.count("GET", &scoped_path), 1);

    // A package or tarball nobody has.
    let missing = npm_get(&app, &token, &format!("{base}/nothing-here"), None).await;
    assert_eq!(missing.status(), 404);
    let missing = npm_get(
        &app,
        &token,
        &format!("{base}/left-pad/-/left-pad-9.9.9.tgz"),
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body, json!({"message": "404 Package file Not Found"}));

    let entries = app.entries(upstreams[0]).await;
    let mut paths: Vec<&str> = entries.iter().map(|e| e.relative_path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "@acme/widget",
            "@acme/widget/-/widget-2.0.0.tgz",
            "left-pad",
            "left-pad/-/left-pad-1.0.0.tgz"
        ]
    );
}

/// Tarball URLs are built when a packument is served, never stored: from the request's host, or from
/// the external URL when one is set.
async fn tarball_urls_follow_the_external_url(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = crate::fixtures::pull_through_with(backend, Format::Npm, |s| {
        s.server.external_url = Some("https://npm.example.com/".into());
    })
    .await
    else {
        return;
    };
    serve_package(&upstream, "left-pad", "1.0.0", b"bytes");
    let document: Value = npm_get(
        &app,
        &app.admin_token,
        &format!("{API}/{registry}/left-pad"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        document["versions"]["1.0.0"]["dist"]["tarball"],
        format!("https://npm.example.com{API}/{registry}/left-pad/-/left-pad-1.0.0.tgz")
    );
}

async fn concurrent_misses_make_one_upstream_fetch(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let tarball: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let tarball_path = serve_package(&upstream, "big", "1.0.0", &tarball);
    let url = format!("{API}/{registry}/big/-/big-1.0.0.tgz");
    let downloads = (0..12).map(|_| async {
        let response = npm_get(&app, &token, &url, None).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    });
    for body in join_all(downloads).await {
        assert!(body == tarball, "every client gets the whole tarball");
    }
    assert_eq!(upstream.count("GET", "/big"), 1, "one packument fetch");
    assert_eq!(upstream.count("GET", &tarball_path), 1, "one tarball fetch");
}

async fn a_tarball_that_fails_its_integrity_is_never_cached(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        upstreams,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let tarball_path = serve_package(&upstream, "evil", "1.0.0", b"what was published");
    upstream.set(
        &tarball_path,
        Reply::file(
            b"what the upstream sends now".to_vec(),
            "application/octet-stream",
        ),
    );
    let url = format!("{API}/{registry}/evil/-/evil-1.0.0.tgz");
    for _ in 0..2 {
        let response = npm_get(&app, &token, &url, None).await;
        if response.status() == 200 {
            assert!(
                response.bytes().await.is_err(),
                "never delivered as complete"
            );
        } else {
            assert_eq!(response.status(), 503);
        }
    }
    assert_eq!(
        upstream.count("GET", &tarball_path),
        2,
        "nothing was cached, so it is fetched again"
    );
    let entries = app.entries(upstreams[0]).await;
    assert!(
        entries.iter().all(|e| e.relative_path == "evil"),
        "only the packument is cached"
    );
}

async fn stale_packuments_are_served_when_the_upstream_is_down(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    serve_package(&upstream, "steady", "1.0.0", b"steady bytes");
    let url = format!("{API}/{registry}/steady");
    assert_eq!(npm_get(&app, &token, &url, None).await.status(), 200);
    assert_eq!(
        npm_get(&app, &token, &format!("{url}/-/steady-1.0.0.tgz"), None)
            .await
            .status(),
        200
    );

    // Older than metadata_cache_validity_hours, and the upstream hangs: the stale copy is served.
    app.sql("UPDATE cache_entries SET upstream_checked_at = '2000-01-01 00:00:00'")
        .await;
    upstream.stop().await;
    let response = npm_get(&app, &token, &url, None).await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["dist-tags"]["latest"], "1.0.0");
    // Tarballs never go stale.
    let response = npm_get(&app, &token, &format!("{url}/-/steady-1.0.0.tgz"), None).await;
    assert_eq!(response.bytes().await.unwrap(), &b"steady bytes"[..]);
}

/// An upstream that cannot answer stops the walk: a later upstream never answers for a package an
/// earlier one may have. One that answers 404 lets the next one answer.
async fn a_failing_upstream_does_not_let_a_later_one_answer(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let first = FakeUpstream::start().await;
    let second = FakeUpstream::start().await;
    serve_package(&second, "shadowed", "99.0.0", b"from the second upstream");
    let (registry, _) = app
        .virtual_registry(Format::Npm, group, &[&first.url, &second.url])
        .await;
    let url = format!("{API}/{registry}/shadowed");

    first.set("/shadowed", Reply::Status(503));
    let refused = npm_get(&app, &token, &url, None).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        second.count("GET", "/shadowed"),
        0,
        "the second upstream never answered"
    );

    first.set("/shadowed", Reply::Status(404));
    let answered = npm_get(&app, &token, &url, None).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(second.count("GET", "/shadowed"), 1);
}

/// The `latest` dist-tag of a packument served by the registry.
async fn latest(app: &TestApp, token: &str, url: &str) -> String {
    let document: Value = npm_get(app, token, url, None).await.json().await.unwrap();
    document["dist-tags"]["latest"].as_str().unwrap().to_owned()
}

async fn stale_packuments_are_revalidated_by_etag_or_last_modified(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let url = format!("{API}/{registry}/dated");
    let tarball = b"dated".to_vec();
    let document = |version: &str| {
        packument(
            "dated",
            version,
            &format!("{}/dated/-/dated-{version}.tgz", upstream.url),
            &tarball,
        )
        .to_string()
    };
    let dated = |version: &str, date: &str| {
        Reply::file(document(version), "application/json").with_header("Last-Modified", date)
    };
    upstream.set("/dated", dated("1.0.0", "Wed, 01 Jan 2025 00:00:00 GMT"));
    assert_eq!(latest(&app, &token, &url).await, "1.0.0");

    // Stale, and the upstream's Last-Modified has not moved: checked, not fetched again.
    let heads = upstream.count("HEAD", "/dated");
    app.sql("UPDATE cache_entries SET upstream_checked_at = '2000-01-01 00:00:00'")
        .await;
    assert_eq!(latest(&app, &token, &url).await, "1.0.0");
    assert_eq!(
        upstream.count("HEAD", "/dated"),
        heads + 1,
        "one revalidation"
    );
    assert_eq!(upstream.count("GET", "/dated"), 1);

    // Stale again, and a new version was published: fetched again.
    upstream.set("/dated", dated("1.1.0", "Thu, 02 Jan 2025 00:00:00 GMT"));
    app.sql("UPDATE cache_entries SET upstream_checked_at = '2000-01-01 00:00:00'")
        .await;
    assert_eq!(latest(&app, &token, &url).await, "1.1.0");
    assert_eq!(upstream.count("GET", "/dated"), 2);
}

async fn the_groups_own_package_wins_over_the_upstreams(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    // The public registry has a package of the same name as the team's, and another one.
    serve_package(&upstream, "acme-internal", "99.0.0", b"an impostor");
    serve_package(&upstream, "left-pad", "1.0.0", b"public bytes");
    let hosted = crate::npm::publish_ok(&app, &token, "acme-internal", "1.0.0", "latest").await;
    let local = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": format!("gid://packyard/Group/{group}")}),
    )
    .await;
    assert_eq!(local.status, 201, "{}", local.body);

    let base = format!("{API}/{registry}");
    let document: Value = npm_get(&app, &token, &format!("{base}/acme-internal"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(document["dist-tags"]["latest"], "1.0.0");
    assert!(
        document["versions"].get("99.0.0").is_none(),
        "nothing merged in"
    );
    let tarball_url = document["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap();
    assert_eq!(
        tarball_url,
        app.url(&format!("{base}/acme-internal/-/acme-internal-1.0.0.tgz"))
    );
    let response = app
        .client
        .get(tarball_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap(), hosted);
    let impostor = npm_get(
        &app,
        &token,
        &format!("{base}/acme-internal/-/acme-internal-99.0.0.tgz"),
        None,
    )
    .await;
    assert_eq!(impostor.status(), 404);
    assert_eq!(
        upstream.count("GET", "/acme-internal"),
        0,
        "the upstream was never asked"
    );
    // Other names still come from the upstream.
    let response = npm_get(
        &app,
        &token,
        &format!("{base}/left-pad/-/left-pad-1.0.0.tgz"),
        None,
    )
    .await;
    assert_eq!(response.bytes().await.unwrap(), &b"public bytes"[..]);
}

async fn pulls_need_access_to_the_registry_and_its_local_upstreams(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        ..
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    serve_package(&upstream, "left-pad", "1.0.0", b"bytes");
    let url = format!("{API}/{registry}/left-pad");

    let anonymous = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    let outsider = app.create_user_with_token("outsider").await.1;
    assert_eq!(npm_get(&app, &outsider, &url, None).await.status(), 404);
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    assert_eq!(npm_get(&app, &guest, &url, None).await.status(), 200);
    // A deploy token of the group, sent as npm sends every token.
    let deploy = app
        .core
        .create_deploy_token(
            &app.admin().await,
            &app.core.find_group(&group.to_string()).await.unwrap(),
            "ci".into(),
            None,
            vec![packyard_domain::Scope::ReadVirtualRegistry],
            None,
        )
        .await
        .unwrap()
        .token;
    assert_eq!(npm_get(&app, &deploy, &url, None).await.status(), 200);

    // A local upstream of a group the guest cannot read refuses the guest's pulls.
    let other = app.create_group("other").await;
    let local = post(
        &app,
        &app.admin_token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": format!("gid://packyard/Group/{other}")}),
    )
    .await;
    assert_eq!(local.status, 201, "{}", local.body);
    assert_eq!(npm_get(&app, &guest, &url, None).await.status(), 403);
    assert_eq!(
        npm_get(&app, &app.admin_token, &url, None).await.status(),
        200
    );

    // An id that is no registry's, numeric or not.
    for id in ["999999", "abc"] {
        let missing = npm_get(
            &app,
            &app.admin_token,
            &format!("{API}/{id}/left-pad"),
            None,
        )
        .await;
        assert_eq!(missing.status(), 404, "{id}");
        let body: Value = missing.json().await.unwrap();
        assert_eq!(body, json!({"message": "404 Registry Not Found"}), "{id}");
    }

    // Browsers are turned away.
    let browser = app
        .client
        .get(app.url(&url))
        .bearer_auth(&app.admin_token)
        .header("User-Agent", "Mozilla/5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 400);
}

async fn the_cleanup_policy_counts_npm_entries(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = pull_through(backend, Format::Npm).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let tarball = b"old tarball".to_vec();
    serve_package(&upstream, "old", "1.0.0", &tarball);
    let created = post(
        &app,
        &token,
        &format!("/api/v4/groups/{group}/-/virtual_registries/cleanup/policy"),
        json!({"enabled": true, "keep_n_days_after_download": 7, "cadence": 1}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let response = npm_get(
        &app,
        &token,
        &format!("{API}/{registry}/old/-/old-1.0.0.tgz"),
        None,
    )
    .await;
    assert_eq!(response.bytes().await.unwrap(), tarball);
    let packument_size = app
        .entries(upstreams[0])
        .await
        .iter()
        .find(|e| e.relative_path == "old")
        .unwrap()
        .size;

    app.core.clock().advance(chrono::Duration::days(9));
    app.run_jobs().await;
    let policy = get(
        &app,
        &token,
        &format!("/api/v4/groups/{group}/-/virtual_registries/cleanup/policy"),
    )
    .await;
    assert_eq!(
        policy.body["last_run_detailed_metrics"]["npm"],
        json!({"deleted_entries_count": 2, "deleted_size": packument_size + tarball.len() as i64}),
        "{}",
        policy.body
    );
    assert_eq!(
        policy.body["last_run_detailed_metrics"]["pypi"],
        json!({"deleted_entries_count": 0, "deleted_size": 0})
    );
    assert!(app.entries(upstreams[0]).await.is_empty());
}

both_backends!(
    the_cleanup_policy_counts_npm_entries,
    npm_virtual_registries_are_managed_like_maven_ones,
    local_upstreams_name_groups_the_caller_can_read,
    packuments_and_tarballs_pass_through_the_cache,
    concurrent_misses_make_one_upstream_fetch,
    tarball_urls_follow_the_external_url,
    a_tarball_that_fails_its_integrity_is_never_cached,
    stale_packuments_are_served_when_the_upstream_is_down,
    stale_packuments_are_revalidated_by_etag_or_last_modified,
    a_failing_upstream_does_not_let_a_later_one_answer,
    the_groups_own_package_wins_over_the_upstreams,
    pulls_need_access_to_the_registry_and_its_local_upstreams,
);
