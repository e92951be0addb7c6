//! Range requests on downloads, on every kind of download there is: a container blob (uncached, while
//! its fill runs, and cached), a Maven artifact through a virtual registry, and a hosted file. A range
//! is answered `206` with `Content-Range` and its bytes, one past the end `416` with the length, and a
//! `HEAD` or a request without `Range` gets the whole file and `Accept-Ranges: bytes`.

use packyard_domain::Format;
use reqwest::Method;

use crate::container::{Image, pull_token, v2};
use crate::fixtures::{PullThrough, pull_through};
use crate::hosted::call;
use crate::{Backend, Reply, TestApp, every_store};

/// What a ranged GET got: status, `Content-Range`, `Accept-Ranges` and the body.
#[derive(Debug, PartialEq, Eq)]
struct Ranged {
    status: u16,
    content_range: Option<String>,
    accept_ranges: Option<String>,
    body: Vec<u8>,
}

async fn ranged(request: reqwest::RequestBuilder, range: Option<&str>) -> Ranged {
    let request = match range {
        Some(range) => request.header("Range", range),
        None => request,
    };
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Ranged {
        status: response.status().as_u16(),
        content_range: header("content-range"),
        accept_ranges: header("accept-ranges"),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

/// The answers a download of `content` must give: a middle range, an open range, a suffix, one past
/// the end, none.
async fn assert_ranges_served(content: &[u8], get: impl Fn() -> reqwest::RequestBuilder) {
    let length = content.len();
    let part = |status, range: String, body: &[u8]| Ranged {
        status,
        content_range: Some(range),
        accept_ranges: Some("bytes".into()),
        body: body.to_vec(),
    };
    assert_eq!(
        ranged(get(), Some("bytes=10-19")).await,
        part(206, format!("bytes 10-19/{length}"), &content[10..20])
    );
    assert_eq!(
        ranged(get(), Some("bytes=100-")).await,
        part(
            206,
            format!("bytes 100-{}/{length}", length - 1),
            &content[100..]
        )
    );
    assert_eq!(
        ranged(get(), Some("bytes=-7")).await,
        part(
            206,
            format!("bytes {}-{}/{length}", length - 7, length - 1),
            &content[length - 7..]
        )
    );
    assert_eq!(
        ranged(get(), Some(&format!("bytes={length}-"))).await,
        part(416, format!("bytes */{length}"), b"")
    );
    let whole = ranged(get(), None).await;
    assert_eq!((whole.status, whole.content_range), (200, None));
    assert_eq!(whole.accept_ranges.as_deref(), Some("bytes"));
    assert_eq!(whole.body, content);
}

async fn container_blobs_answer_ranges(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let image = Image::new("ranges", &[300_000], "amd64");
    image.serve(&upstream, "team/app", Some("v1"));
    let token = pull_token(&app, registry).await;
    let layer = &image.layers[0];
    let path = v2(
        registry,
        &format!("team/app/blobs/{}", crate::container::digest_of(layer)),
    );
    let get = || app.client.get(app.url(&path)).bearer_auth(&token);

    // The first request starts the fill: its range is cut from the bytes as they arrive.
    let first = ranged(get(), Some("bytes=299990-")).await;
    assert_eq!(first.status, 206);
    assert_eq!(first.body, &layer[299_990..]);
    assert_ranges_served(layer, get).await;
    assert_eq!(
        upstream.count(
            "GET",
            &format!("/v2/team/app/blobs/{}", crate::container::digest_of(layer))
        ),
        1,
        "ranges are served from the one cached copy"
    );

    // HEAD announces the whole blob and that ranges are served.
    let head = ranged(
        app.client.head(app.url(&path)).bearer_auth(&token),
        Some("bytes=0-1"),
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.accept_ranges.as_deref(), Some("bytes"));
}

async fn maven_artifacts_answer_ranges(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let jar: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let path = "org/example/app/1.0/app-1.0.jar";
    upstream.set(
        &format!("/{path}"),
        Reply::file(jar.clone(), "application/java-archive"),
    );
    let url = app.url(&format!(
        "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
    ));
    let get = || {
        app.client
            .get(&url)
            .header("PRIVATE-TOKEN", &app.admin_token)
    };
    assert_ranges_served(&jar, get).await;
}

async fn hosted_files_answer_ranges(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let content: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
    let path = "/registry/package/generic/tool/1.0.0/tool.bin";
    let put = call(
        &app,
        Method::PUT,
        path,
        Some(&app.admin_token),
        Some(&content),
    )
    .await;
    assert_eq!(put.status(), 200);
    let get = || {
        app.client
            .get(app.url(path))
            .header("Authorization", format!("token {}", app.admin_token))
    };
    assert_ranges_served(&content, get).await;
}

every_store!(
    container_blobs_answer_ranges,
    maven_artifacts_answer_ranges,
    hosted_files_answer_ranges,
);
