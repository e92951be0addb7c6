//! `HEAD` and conditional `GET` on downloads: a `HEAD` answers the `GET`'s headers without a body, and a
//! `GET` naming the download's `ETag` in `If-None-Match` (or a date no earlier than its `Last-Modified` in
//! `If-Modified-Since`) answers `304` without one. A cached Maven file, a container blob and a hosted file.

use packyard_domain::Format;
use reqwest::Method;

use crate::container::{Image, pull_token, v2};
use crate::fixtures::{PullThrough, pull_through};
use crate::hosted::call;
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
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let image = Image::new("conditional", &[20_000], "amd64");
    image.serve(&upstream, "team/app", Some("v1"));
    let token = pull_token(&app, registry).await;
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

both_backends!(
    cached_maven_files_answer_head_and_conditional_gets,
    container_blobs_answer_head_and_conditional_gets,
    hosted_files_answer_head_and_conditional_gets,
);
