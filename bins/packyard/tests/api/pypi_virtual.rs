//! PyPI virtual registries: the management API, project pages pulled through (PEP 503 HTML and PEP 691
//! JSON by `Accept`, names normalised with redirects, file URLs pointing at packyard with their
//! `#sha256=`, `data-requires-python`, yanks and core metadata kept), files checked against the listed
//! digest, one upstream fetch for concurrent misses, stale pages when the upstream is down, and local
//! upstreams (a group's hosted projects, checked first).

use futures_util::future::join_all;
use packyard_domain::Format;
use serde_json::{Value, json};

use crate::fixtures::{PullThrough, app_with_group, get, post, pull_through};
use crate::hosted::digests;
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends};

const API: &str = "/api/v4/virtual_registries/packages/pypi";
const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

/// Scripts a project on a fake index at `<upstream>/simple`: its HTML page, listing `files` (file name,
/// bytes) under `/packages/` with their digests, the first yanked and with core metadata.
fn serve_project(upstream: &FakeUpstream, project: &str, files: &[(&str, &[u8])]) {
    let mut html = String::from("<!DOCTYPE html><html><body><h1>Links</h1>\n");
    for (index, (name, bytes)) in files.iter().enumerate() {
        let extra = if index == 0 {
            format!(
                " data-yanked=\"broken &amp; replaced\" data-dist-info-metadata=\"sha256={}\"",
                digests(b"Metadata-Version: 2.1\n").sha256
            )
        } else {
            String::new()
        };
        html.push_str(&format!(
            "<a href=\"../../packages/{name}#sha256={}\" data-requires-python=\"&gt;=3.8\"{extra}>{name}</a><br>\n",
            digests(bytes).sha256
        ));
        upstream.set(
            &format!("/packages/{name}"),
            Reply::file(bytes.to_vec(), "application/octet-stream"),
        );
    }
    html.push_str("</body></html>\n");
    upstream.set(
        &format!("/simple/{project}/"),
        Reply::file_with_etag(html, "text/html", "\"page1\""),
    );
}

async fn pypi_get(
    app: &TestApp,
    token: &str,
    path: &str,
    accept: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(path))
        .basic_auth("__token__", Some(token));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.unwrap()
}

/// A registry of group `acme` in front of a fake index whose upstream URL is `<fake>/simple`.
async fn index_through(backend: Backend) -> Option<(PullThrough, String)> {
    let mut setup = pull_through(backend, Format::Pypi).await?;
    let (registry, upstreams) = setup
        .app
        .virtual_registry(
            Format::Pypi,
            setup.group,
            &[&format!("{}/simple", setup.upstream.url)],
        )
        .await;
    setup.registry = registry;
    setup.upstreams = upstreams;
    let base = format!("{API}/{registry}");
    Some((setup, base))
}

async fn pypi_virtual_registries_are_managed_like_maven_ones(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let groups = format!("/api/v4/groups/{group}/-/virtual_registries/packages/pypi");
    let created = post(
        &app,
        &token,
        &format!("{groups}/registries"),
        json!({"name": "py"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let registry = created.body["id"].as_i64().unwrap();
    let upstream = FakeUpstream::start().await;
    upstream.set("/simple/", Reply::file("<html></html>", "text/html"));
    let created = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": format!("{}/simple", upstream.url), "name": "index"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["metadata_cache_validity_hours"], 24);
    let id = created.body["id"].as_i64().unwrap();
    let tested = get(&app, &token, &format!("{API}/upstreams/{id}/test")).await;
    assert_eq!(tested.body, json!({"success": true}), "{}", tested.body);
    assert_eq!(
        upstream.count("HEAD", "/simple/"),
        1,
        "the index root is tested"
    );
    let local = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": format!("gid://packyard/Group/{group}")}),
    )
    .await;
    assert_eq!(local.status, 201, "{}", local.body);
    let listed = get(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
    )
    .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    let bad = post(&app, &token, &format!("{groups}/registries"), json!({})).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body, json!({"error": "name is missing"}));
}

async fn project_pages_and_files_pass_through_the_cache(backend: Backend) {
    let Some((
        PullThrough {
            app,
            upstream,
            upstreams,
            ..
        },
        base,
    )) = index_through(backend).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let sdist = b"sdist bytes".to_vec();
    let wheel = b"wheel bytes".to_vec();
    serve_project(
        &upstream,
        "demo-pkg",
        &[
            ("demo_pkg-1.0.tar.gz", &sdist),
            ("demo_pkg-1.0-py3-none-any.whl", &wheel),
        ],
    );

    // Names are normalised with a redirect; the index URL without its slash gets one too.
    for (asked, location) in [
        ("simple/Demo_Pkg/", "simple/demo-pkg/"),
        ("simple/demo.pkg", "simple/demo.pkg/"),
    ] {
        let response = app
            .client
            .get(app.url(&format!("{base}/{asked}")))
            .basic_auth("__token__", Some(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{asked} ends at the normalised page"
        );
        assert_eq!(
            response.url().path(),
            format!("{base}/simple/demo-pkg/"),
            "{asked} → {location}"
        );
    }

    let html = pypi_get(&app, &token, &format!("{base}/simple/demo-pkg/"), None).await;
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let html = html.text().await.unwrap();
    let sdist_sha = digests(&sdist).sha256;
    assert!(
        html.contains(&format!(
            "<a href=\"../../files/demo-pkg/demo_pkg-1.0.tar.gz#sha256={sdist_sha}\" data-requires-python=\"&gt;=3.8\" \
             data-core-metadata=\"sha256={m}\" data-dist-info-metadata=\"sha256={m}\" data-yanked=\"broken &amp; replaced\">",
            m = digests(b"Metadata-Version: 2.1\n").sha256
        )),
        "{html}"
    );
    let json: Value = pypi_get(
        &app,
        &token,
        &format!("{base}/simple/demo-pkg/"),
        Some(JSON_TYPE),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(json["name"], "demo-pkg");
    assert_eq!(json["versions"], json!(["1.0"]));
    assert_eq!(json["files"][0]["yanked"], "broken & replaced");
    assert_eq!(json["files"][1]["yanked"], false);
    assert_eq!(json["files"][1]["hashes"]["sha256"], digests(&wheel).sha256);
    assert_eq!(json["files"][1]["requires-python"], ">=3.8");
    assert_eq!(
        upstream.count("GET", "/simple/demo-pkg/"),
        1,
        "the page was cached"
    );

    let file = format!("{base}/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl");
    for _ in 0..2 {
        let response = pypi_get(&app, &token, &file, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap(), wheel);
    }
    assert_eq!(
        upstream.count("GET", "/packages/demo_pkg-1.0-py3-none-any.whl"),
        1
    );
    // PEP 658: the core metadata the page declares, checked against its digest.
    upstream.set(
        "/packages/demo_pkg-1.0.tar.gz.metadata",
        Reply::file("Metadata-Version: 2.1\n", "application/octet-stream"),
    );
    let metadata = pypi_get(
        &app,
        &token,
        &format!("{base}/files/demo-pkg/demo_pkg-1.0.tar.gz.metadata"),
        None,
    )
    .await;
    assert_eq!(metadata.status(), 200);
    assert_eq!(metadata.text().await.unwrap(), "Metadata-Version: 2.1\n");
    let undeclared = pypi_get(
        &app,
        &token,
        &format!("{base}/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl.metadata"),
        None,
    )
    .await;
    assert_eq!(
        undeclared.status(),
        404,
        "no core metadata is declared for the wheel"
    );

    let missing = pypi_get(&app, &token, &format!("{base}/simple/nothing/"), None).await;
    assert_eq!(missing.status(), 404);
    let missing = pypi_get(
        &app,
        &token,
        &format!("{base}/files/demo-pkg/demo_pkg-9.0.tar.gz"),
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);
    let refused = pypi_get(
        &app,
        &token,
        &format!("{base}/simple/demo-pkg/"),
        Some("application/xml"),
    )
    .await;
    assert_eq!(refused.status(), 406);
    let paths: Vec<String> = app
        .entries(upstreams[0])
        .await
        .into_iter()
        .map(|e| e.relative_path)
        .collect();
    assert!(paths.contains(&"demo-pkg".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"demo-pkg/demo_pkg-1.0-py3-none-any.whl".to_owned()),
        "{paths:?}"
    );
}

async fn concurrent_misses_make_one_upstream_fetch(backend: Backend) {
    let Some((PullThrough { app, upstream, .. }, base)) = index_through(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let wheel: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    serve_project(&upstream, "big", &[("big-1.0-py3-none-any.whl", &wheel)]);
    let url = format!("{base}/files/big/big-1.0-py3-none-any.whl");
    let downloads = (0..12).map(|_| async {
        let response = pypi_get(&app, &token, &url, None).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    });
    for body in join_all(downloads).await {
        assert!(body == wheel, "every client gets the whole file");
    }
    assert_eq!(upstream.count("GET", "/simple/big/"), 1, "one page fetch");
    assert_eq!(
        upstream.count("GET", "/packages/big-1.0-py3-none-any.whl"),
        1,
        "one file fetch"
    );
}

async fn a_file_that_fails_its_digest_is_never_cached(backend: Backend) {
    let Some((
        PullThrough {
            app,
            upstream,
            upstreams,
            ..
        },
        base,
    )) = index_through(backend).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    serve_project(
        &upstream,
        "evil",
        &[("evil-1.0.tar.gz", b"what was listed")],
    );
    upstream.set(
        "/packages/evil-1.0.tar.gz",
        Reply::file(b"something else".to_vec(), "application/octet-stream"),
    );
    let url = format!("{base}/files/evil/evil-1.0.tar.gz");
    for _ in 0..2 {
        let response = pypi_get(&app, &token, &url, None).await;
        if response.status() == 200 {
            assert!(
                response.bytes().await.is_err(),
                "never delivered as complete"
            );
        } else {
            assert_eq!(response.status(), 503);
        }
    }
    assert_eq!(upstream.count("GET", "/packages/evil-1.0.tar.gz"), 2);
    let paths: Vec<String> = app
        .entries(upstreams[0])
        .await
        .into_iter()
        .map(|e| e.relative_path)
        .collect();
    assert_eq!(paths, ["evil"], "only the page is cached");
}

async fn stale_pages_are_served_when_the_upstream_hangs_or_is_down(backend: Backend) {
    let Some((PullThrough { app, upstream, .. }, base)) = index_through(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    serve_project(&upstream, "steady", &[("steady-1.0.tar.gz", b"steady")]);
    let page = format!("{base}/simple/steady/");
    assert_eq!(pypi_get(&app, &token, &page, None).await.status(), 200);
    let file = format!("{base}/files/steady/steady-1.0.tar.gz");
    assert_eq!(pypi_get(&app, &token, &file, None).await.status(), 200);
    app.sql("UPDATE cache_entries SET upstream_checked_at = '2000-01-01 00:00:00'")
        .await;
    // First the upstream hangs (past the HEAD timeout), then it is gone.
    upstream.set(
        "/simple/steady/",
        Reply::Delay(
            std::time::Duration::from_secs(30),
            Box::new(Reply::file("<html></html>", "text/html")),
        ),
    );
    let started = std::time::Instant::now();
    let response = pypi_get(&app, &token, &page, None).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("steady-1.0.tar.gz"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the hang was cut short"
    );
    upstream.stop().await;
    let response = pypi_get(&app, &token, &page, None).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("steady-1.0.tar.gz"));
    let response = pypi_get(&app, &token, &file, None).await;
    assert_eq!(response.bytes().await.unwrap(), &b"steady"[..]);
}

async fn the_groups_own_project_wins_over_the_upstreams(backend: Backend) {
    let Some((
        PullThrough {
            app,
            upstream,
            group,
            registry,
            ..
        },
        base,
    )) = index_through(backend).await
    else {
        return;
    };
    let token = app.admin_token.clone();
    serve_project(
        &upstream,
        "demo-pkg",
        &[("demo_pkg-9.0.tar.gz", b"an impostor")],
    );
    let wheel = crate::pypi::wheel(Some(&crate::pypi::metadata("Demo.Pkg", "1.0")));
    crate::pypi::upload_ok(&app, &token, crate::pypi::WHEEL, &wheel).await;
    let local = post(
        &app,
        &token,
        &format!("{API}/registries/{registry}/upstreams"),
        json!({"url": format!("gid://packyard/Group/{group}")}),
    )
    .await;
    assert_eq!(local.status, 201, "{}", local.body);

    let json: Value = pypi_get(
        &app,
        &token,
        &format!("{base}/simple/demo-pkg/"),
        Some(JSON_TYPE),
    )
    .await
    .json()
    .await
    .unwrap();
    let files: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(files, [crate::pypi::WHEEL], "nothing merged in");
    assert_eq!(
        json["files"][0]["url"],
        format!(
            "../../files/demo-pkg/{}#sha256={}",
            crate::pypi::WHEEL,
            digests(&wheel).sha256
        )
    );
    let response = pypi_get(
        &app,
        &token,
        &format!("{base}/files/demo-pkg/{}", crate::pypi::WHEEL),
        None,
    )
    .await;
    assert_eq!(response.bytes().await.unwrap(), wheel);
    let metadata = pypi_get(
        &app,
        &token,
        &format!("{base}/files/demo-pkg/{}.metadata", crate::pypi::WHEEL),
        None,
    )
    .await;
    assert_eq!(metadata.status(), 200);
    assert_eq!(
        upstream.count("GET", "/simple/demo-pkg/"),
        0,
        "the upstream was never asked"
    );
    // The index root lists the local upstreams' projects.
    let root = pypi_get(&app, &token, &format!("{base}/simple/"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        root.contains("<a href=\"demo-pkg/\">Demo.Pkg</a>"),
        "{root}"
    );
}

both_backends!(
    pypi_virtual_registries_are_managed_like_maven_ones,
    project_pages_and_files_pass_through_the_cache,
    concurrent_misses_make_one_upstream_fetch,
    a_file_that_fails_its_digest_is_never_cached,
    stale_pages_are_served_when_the_upstream_hangs_or_is_down,
    the_groups_own_project_wins_over_the_upstreams,
);
