//! `HEAD` and conditional `GET` on downloads: a `HEAD` answers the `GET`'s headers without a body, and a
//! `GET` naming the download's `ETag` in `If-None-Match` (or a date no earlier than its `Last-Modified` in
//! `If-Modified-Since`) answers `304` without one. On every download route: cached Maven files, container
//! blobs and manifests, and the files of every hosted format. Neither a `HEAD` nor a `304` counts as a
//! download of a hosted file.

use packyard_domain::{AccessLevel, Format};
use reqwest::Method;
use serde_json::Value;

use crate::container::{Image, pull_token, v2};
use crate::fixtures::{PullThrough, app_with_group, pull_through};
use crate::hosted::{admin_json, call};
use crate::{Backend, Reply, TestApp, both_backends};

/// The headers a HEAD must repeat from the GET.
const REPEATED: [&str; 5] = [
    "content-length",
    "content-type",
    "etag",
    "last-modified",
    "accept-ranges",
];

async fn assert_head_and_conditional_get(request: impl Fn(Method) -> reqwest::RequestBuilder) {
    let get = request(Method::GET).send().await.unwrap();
    assert_eq!(get.status(), 200);
    let headers = get.headers().clone();
    let body = get.bytes().await.unwrap();
    assert!(!body.is_empty());
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong tag: {etag}"
    );

    let head = request(Method::HEAD).send().await.unwrap();
    assert_eq!(head.status(), 200);
    for name in REPEATED {
        assert_eq!(head.headers().get(name), headers.get(name), "{name}");
    }
    assert!(head.bytes().await.unwrap().is_empty());

    let unchanged = request(Method::GET)
        .header("If-None-Match", format!("\"other\", {etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"], etag.as_str());
    assert!(unchanged.bytes().await.unwrap().is_empty());

    let changed = request(Method::GET)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.bytes().await.unwrap(), body);

    if let Some(modified) = headers.get("last-modified") {
        let since = request(Method::GET)
            .header("If-Modified-Since", modified)
            .send()
            .await
            .unwrap();
        assert_eq!(since.status(), 304);
        let long_ago = request(Method::GET)
            .header("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")
            .send()
            .await
            .unwrap();
        assert_eq!(long_ago.status(), 200);
    }
}

/// A container registry pulling through an upstream that serves `image` as `team/app:v1`, and a token to
/// pull it.
async fn serving(backend: Backend, image: &Image) -> Option<(PullThrough, String)> {
    let pulled = pull_through(backend, Format::Container).await?;
    image.serve(&pulled.upstream, "team/app", Some("v1"));
    let token = pull_token(&pulled.app, pulled.registry).await;
    Some((pulled, token))
}

async fn cached_maven_files_answer_head_and_conditional_gets(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let path = "org/example/app/1.0/app-1.0.jar";
    upstream.set(
        &format!("/{path}"),
        Reply::file(vec![3u8; 5000], "application/java-archive"),
    );
    let url = app.url(&format!(
        "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
    ));
    // Cached first: a file being fetched has no validators yet.
    let first = app
        .client
        .get(&url)
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.bytes().await.unwrap().len(), 5000);
    assert_head_and_conditional_get(|method| {
        app.client
            .request(method, &url)
            .header("PRIVATE-TOKEN", &app.admin_token)
    })
    .await;
}

async fn container_blobs_answer_head_and_conditional_gets(backend: Backend) {
    let image = Image::new("conditional", &[20_000], "amd64");
    let Some((pulled, token)) = serving(backend, &image).await else {
        return;
    };
    let (app, registry) = (&pulled.app, pulled.registry);
    let digest = crate::container::digest_of(&image.layers[0]);
    let url = app.url(&v2(registry, &format!("team/app/blobs/{digest}")));
    let first = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.bytes().await.unwrap().len(), 20_000);
    assert_head_and_conditional_get(|method| app.client.request(method, &url).bearer_auth(&token))
        .await;
    let head = app
        .client
        .head(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["etag"], format!("\"{digest}\"").as_str());
}

async fn hosted_files_answer_head_and_conditional_gets(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let path = "/registry/package/generic/tool/1.0.0/tool.bin";
    let put = call(
        &app,
        Method::PUT,
        path,
        Some(&app.admin_token),
        Some(b"hosted bytes"),
    )
    .await;
    assert_eq!(put.status(), 200);
    assert_head_and_conditional_get(|method| {
        app.client
            .request(method, app.url(path))
            .header("Authorization", format!("token {}", app.admin_token))
    })
    .await;
}

async fn container_manifests_answer_head_and_conditional_gets(backend: Backend) {
    let image = Image::new("manifests", &[1000], "amd64");
    let Some((pulled, token)) = serving(backend, &image).await else {
        return;
    };
    let (app, registry) = (&pulled.app, pulled.registry);
    for reference in ["v1", image.manifest_digest.as_str()] {
        let url = app.url(&v2(registry, &format!("team/app/manifests/{reference}")));
        assert_head_and_conditional_get(|method| {
            app.client.request(method, &url).bearer_auth(&token)
        })
        .await;
        let head = app
            .client
            .head(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.headers()["etag"],
            format!("\"{}\"", image.manifest_digest).as_str(),
            "{reference}"
        );
        assert_eq!(
            head.headers()["content-length"],
            image.manifest.len().to_string().as_str()
        );
    }
}

/// `HEAD` and conditional `GET`s on the file at `path` (below `/company/acme/package/-/`), published by
/// `publish` with a Developer's token and read with a Guest's; `read` signs a request as the format's
/// client does.
async fn assert_hosted_format(
    backend: Backend,
    path: &str,
    content_type: &str,
    publish: impl AsyncFnOnce(&TestApp, &str),
    read: impl Fn(reqwest::RequestBuilder, &str) -> reqwest::RequestBuilder,
) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    publish(&app, &developer).await;
    let url = app.url(&format!("/company/acme/package/-/{path}"));
    let request = |method| read(app.client.request(method, &url), &guest);
    let head = request(Method::HEAD).send().await.unwrap();
    assert_eq!(head.status(), 200, "HEAD {path}");
    assert_eq!(head.headers()["content-type"], content_type, "{path}");
    assert_head_and_conditional_get(request).await;
}

/// Basic with the token as the password, as most package managers send it.
fn basic(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    request.basic_auth("client", Some(token))
}

async fn npm_tarballs_answer_head_and_conditional_gets(backend: Backend) {
    assert_hosted_format(
        backend,
        "npm/left-pad/-/left-pad-1.0.0.tgz",
        "application/octet-stream",
        async |app, token| {
            crate::npm::publish_ok(app, token, "left-pad", "1.0.0", "latest").await;
        },
        |request, token| request.bearer_auth(token),
    )
    .await;
}

async fn pypi_files_answer_head_and_conditional_gets(backend: Backend) {
    use crate::pypi::{WHEEL, metadata, upload_ok, wheel};
    assert_hosted_format(
        backend,
        &format!("pypi/files/demo-pkg/1.0/{WHEEL}"),
        "application/zip",
        async |app, token| {
            upload_ok(
                app,
                token,
                WHEEL,
                &wheel(Some(&metadata("Demo.Pkg", "1.0"))),
            )
            .await;
        },
        basic,
    )
    .await;
}

async fn nuget_packages_answer_head_and_conditional_gets(backend: Backend) {
    use crate::nuget::{nupkg, nuspec, push_status};
    assert_hosted_format(
        backend,
        "nuget/v3-flatcontainer/packyard.demo/1.0.0/packyard.demo.1.0.0.nupkg",
        "application/octet-stream",
        async |app, token| {
            let package = nupkg(Some(&nuspec("Packyard.Demo", "1.0.0")), "one");
            let (status, text) = push_status(app, token, &package).await;
            assert_eq!(status, 201, "{text}");
        },
        basic,
    )
    .await;
}

async fn composer_dists_answer_head_and_conditional_gets(backend: Backend) {
    use crate::composer::{package, upload};
    assert_hosted_format(
        backend,
        "composer/files/acme/demo/1.0.0/demo-1.0.0.zip",
        "application/zip",
        async |app, token| {
            let uploaded = upload(app, token, "1.0.0", &package("acme/demo", "one")).await;
            assert_eq!(uploaded.status(), 200);
        },
        basic,
    )
    .await;
}

async fn cran_packages_answer_head_and_conditional_gets(backend: Backend) {
    use crate::cran::{put_ok, source};
    assert_hosted_format(
        backend,
        "cran/src/contrib/hello.pkg_1.0.0.tar.gz",
        "application/gzip",
        async |app, token| {
            put_ok(
                app,
                token,
                "hello.pkg_1.0.0.tar.gz",
                &source("hello.pkg", "1.0.0"),
            )
            .await;
        },
        basic,
    )
    .await;
}

async fn opm_packages_answer_head_and_conditional_gets(backend: Backend) {
    use crate::opm::{basic as opm_basic, ospx, push};
    assert_hosted_format(
        backend,
        "opm/Hello-Lib/Hello-Lib-1.0.0.ospx",
        "application/zip",
        async |app, token| {
            let authorization = opm_basic("dev", token);
            let body = ospx("Hello-Lib", "1.0.0");
            let pushed = push(app, Some(&authorization), "Hello-Lib-1.0.0.ospx", &body).await;
            assert_eq!(pushed.status(), 200);
        },
        |request, token| request.header("Authorization", opm_basic("guest", token)),
    )
    .await;
}

async fn hosted_maven_files_answer_head_and_conditional_gets(backend: Backend) {
    assert_hosted_format(
        backend,
        "maven/org/example/lib/1.0.0/lib-1.0.0.jar",
        "application/java-archive",
        async |app, token| {
            let jar = b"PK\x03\x04 a jar";
            crate::maven_hosted::deploy(app, token, "org/example/lib/1.0.0/lib-1.0.0.jar", jar)
                .await;
        },
        basic,
    )
    .await;
}

/// The download count of a hosted package's version, as the GitFlic API shows it.
async fn download_count(app: &TestApp, package_type: &str, version: &str) -> Value {
    let list = admin_json(app, &format!("/registry/package?type={package_type}")).await;
    let uuid = list["_embedded"]["simplePackageInfoModelList"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin_json(app, &format!("/registry/package/{uuid}/{version}")).await["downloadCount"].clone()
}

async fn heads_and_304s_are_no_hosted_downloads(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let path = "/registry/package/generic/tool/1.0.0/tool.bin";
    let request = |method| {
        app.client
            .request(method, app.url(path))
            .header("Authorization", format!("token {}", app.admin_token))
    };
    let put = call(
        &app,
        Method::PUT,
        path,
        Some(&app.admin_token),
        Some(b"tool"),
    )
    .await;
    assert_eq!(put.status(), 200);
    assert_eq!(download_count(&app, "generic", "1.0.0").await, 0);

    let get = request(Method::GET).send().await.unwrap();
    let etag = get.headers()["etag"].clone();
    assert_eq!(get.bytes().await.unwrap().as_ref(), b"tool");
    assert_eq!(download_count(&app, "generic", "1.0.0").await, 1);

    let head = request(Method::HEAD).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let unchanged = request(Method::GET)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(download_count(&app, "generic", "1.0.0").await, 1);

    request(Method::GET)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(download_count(&app, "generic", "1.0.0").await, 2);
}

both_backends!(
    cached_maven_files_answer_head_and_conditional_gets,
    container_blobs_answer_head_and_conditional_gets,
    container_manifests_answer_head_and_conditional_gets,
    hosted_files_answer_head_and_conditional_gets,
    npm_tarballs_answer_head_and_conditional_gets,
    pypi_files_answer_head_and_conditional_gets,
    nuget_packages_answer_head_and_conditional_gets,
    composer_dists_answer_head_and_conditional_gets,
    cran_packages_answer_head_and_conditional_gets,
    opm_packages_answer_head_and_conditional_gets,
    hosted_maven_files_answer_head_and_conditional_gets,
    heads_and_304s_are_no_hosted_downloads,
);
