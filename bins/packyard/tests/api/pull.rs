//! The Maven client endpoint: pull-through, cache, staleness, resolution order, checksums, failures.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use packyard_domain::Format;
use sha1::Digest;

use packyard_test_support::CloseDelimitedUpstream;

use crate::fixtures::{self, PullThrough, app_with_group, pull_through};
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends, every_store};

const JAR: &str = "org/example/app/1.0/app-1.0.jar";

fn maven_path(registry: impl std::fmt::Display, path: &str) -> String {
    format!("/api/v4/virtual_registries/packages/maven/{registry}/{path}")
}

async fn get(app: &TestApp, registry: i64, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(&maven_path(registry, path)))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap()
}

/// Sends a request line exactly as given (HTTP clients normalise dot segments away).
async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nPRIVATE-TOKEN: {}\r\nConnection: close\r\n\r\n",
        app.admin_token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    (status, response)
}

/// A download is a file to save, never a page a browser runs or sniffs: GitLab's three headers, on the
/// uncached and the cached answer alike.
fn assert_no_browser_execution(response: &reqwest::Response, what: &str) {
    let headers = response.headers();
    assert_eq!(headers["content-disposition"], "attachment", "{what}");
    assert_eq!(
        headers["content-security-policy"], "default-src 'none'",
        "{what}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

async fn a_miss_is_fetched_once_then_served_from_the_cache(backend: Backend) {
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
    upstream.set(
        JAR,
        Reply::file_with_etag("jar bytes", "application/java-archive", "\"v1\""),
    );

    let first = get(&app, registry, JAR).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "application/java-archive");
    assert_no_browser_execution(&first, "uncached");
    assert_eq!(first.bytes().await.unwrap(), "jar bytes");

    let second = get(&app, registry, JAR).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["content-length"], "9");
    assert_no_browser_execution(&second, "cached");
    assert_eq!(
        second.headers()["x-checksum-sha1"],
        sha1_hex(b"jar bytes").as_str()
    );
    assert_eq!(
        second.headers()["x-checksum-md5"],
        md5_hex(b"jar bytes").as_str()
    );
    assert_eq!(second.bytes().await.unwrap(), "jar bytes");
    assert_eq!(upstream.count("GET", JAR), 1);
    let head = app
        .client
        .head(app.url(&maven_path(registry, JAR)))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        "9",
        "HEAD announces the length"
    );
    assert_no_browser_execution(&head, "HEAD");

    let entries = app.entries(upstreams[0]).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].relative_path, JAR);
    assert_eq!(entries[0].size, 9);
    assert_eq!(entries[0].upstream_etag.as_deref(), Some("\"v1\""));
    assert_eq!(entries[0].downloads_count, 1, "the cache hit is counted");
    assert!(entries[0].downloaded_at.is_some());

    // The fill asked for the published checksum once, to verify the file.
    assert_eq!(upstream.count("GET", &format!("{JAR}.sha1")), 1);
    let sha1 = get(&app, registry, &format!("{JAR}.sha1")).await;
    assert_eq!(sha1.status(), 200);
    assert_eq!(sha1.headers()["content-type"], "text/plain");
    assert_no_browser_execution(&sha1, "checksum");
    assert_eq!(sha1.text().await.unwrap(), sha1_hex(b"jar bytes"));
    assert_eq!(
        upstream.count("GET", &format!("{JAR}.sha1")),
        1,
        "answered from stored digests"
    );
}

fn md5_hex(bytes: &[u8]) -> String {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(bytes);
    hashers.finish().md5
}

async fn the_lowest_position_wins_and_misses_walk_the_list(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let first = FakeUpstream::start().await;
    let second = FakeUpstream::start().await;
    first.set(JAR, Reply::file("from first", "application/java-archive"));
    second.set(JAR, Reply::file("from second", "application/java-archive"));
    second.set(
        "only/in/second/1/second-1.pom",
        Reply::file("<project/>", "text/xml"),
    );
    let (registry, _) = app.maven_registry(group, &[&first.url, &second.url]).await;

    assert_eq!(
        get(&app, registry, JAR).await.text().await.unwrap(),
        "from first"
    );
    assert_eq!(second.count("GET", JAR), 0);
    let pom = get(&app, registry, "only/in/second/1/second-1.pom").await;
    assert_eq!(pom.status(), 200);
    assert_eq!(pom.text().await.unwrap(), "<project/>");

    let missing = get(&app, registry, "no/such/1/such-1.jar").await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(
        body["message"],
        "404 File not found on any upstream Not Found"
    );
}

async fn clients_must_authenticate_and_be_members(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    upstream.set(JAR, Reply::file("x", "application/java-archive"));
    let url = app.url(&maven_path(registry, JAR));

    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"GitLab Virtual Registry\""
    );
    let wrong = app
        .client
        .get(&url)
        .header("PRIVATE-TOKEN", "pyat-nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // Someone outside the group gets what a missing registry gets: ids of private groups stay secret.
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let as_stranger = |path: String| {
        app.client
            .get(app.url(&path))
            .header("PRIVATE-TOKEN", &stranger)
            .send()
    };
    let hidden = as_stranger(maven_path(registry, JAR)).await.unwrap();
    assert_eq!(hidden.status(), 404);
    let hidden: serde_json::Value = hidden.json().await.unwrap();
    let missing = as_stranger(maven_path(registry + 1000, JAR)).await.unwrap();
    assert_eq!(missing.status(), 404);
    let missing: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(hidden, missing);

    let basic = app
        .client
        .get(&url)
        .basic_auth("root", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);

    let admin = app.admin().await;
    let group_row = app.core.find_group("acme").await.unwrap();
    let deploy = app
        .core
        .create_deploy_token(
            &admin,
            &group_row,
            "ci".into(),
            None,
            vec![packyard_domain::Scope::ReadVirtualRegistry],
            None,
        )
        .await
        .unwrap();
    let with_deploy = app
        .client
        .get(&url)
        .header("Deploy-Token", &deploy.token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_deploy.status(), 200);
    let other_group = app.create_group("other").await;
    let (other_registry, _) = app.maven_registry(other_group, &[&upstream.url]).await;
    let elsewhere = app
        .client
        .get(app.url(&maven_path(other_registry, JAR)))
        .header("Deploy-Token", &deploy.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        404,
        "a deploy token opens its own group only"
    );

    let browser = app
        .client
        .get(&url)
        .header("PRIVATE-TOKEN", &app.admin_token)
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 400);
}

async fn bad_paths_and_unknown_registries_are_refused(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    for bad in [
        "a/%2e%2e/b.jar",
        "a/../../b.jar",
        "a//b.jar",
        "a/./b.jar",
        "a/%2F/b.jar",
        "a/..%5c/b.jar",
    ] {
        let (status, body) = raw_get(&app, &maven_path(registry, bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("\"error\":\"path"), "{bad}: {body}");
    }
    assert!(
        upstream.requests().is_empty(),
        "nothing bad reached the upstream"
    );
    assert_eq!(get(&app, registry + 100, JAR).await.status(), 404);
    assert_eq!(get(&app, 0, JAR).await.status(), 404);
    // Ids that are not numbers are routed after the management API, and still get GitLab's 404.
    let token = &app.admin_token;
    let not_a_number = fixtures::get(&app, token, &maven_path("abc", JAR)).await;
    assert_eq!(not_a_number.status, 404);
    assert!(
        not_a_number.body["message"]
            .as_str()
            .unwrap()
            .starts_with("404"),
        "{}",
        not_a_number.body
    );
    let show = fixtures::get(
        &app,
        token,
        &format!("/api/v4/virtual_registries/packages/maven/registries/{registry}"),
    )
    .await;
    assert_eq!(
        show.status, 200,
        "the management route is not taken for a client one"
    );
    assert_eq!(show.body["id"], registry);

    let (empty, _) = app.maven_registry(group, &[]).await;
    let response = get(&app, empty, JAR).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["message"], "400 Bad request - No upstreams set");
}

async fn stale_entries_are_revalidated_by_etag(backend: Backend) {
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
    upstream.set(
        JAR,
        Reply::file_with_etag("version one", "application/java-archive", "\"one\""),
    );
    assert_eq!(
        get(&app, registry, JAR).await.text().await.unwrap(),
        "version one"
    );
    let age = "UPDATE cache_entries SET upstream_checked_at = '2000-01-01 00:00:00'";

    // Unchanged ETag: one HEAD, no GET, served from cache, checked time bumped.
    app.sql(age).await;
    assert_eq!(
        get(&app, registry, JAR).await.text().await.unwrap(),
        "version one"
    );
    assert_eq!(upstream.count("GET", JAR), 1);
    assert!(upstream.count("HEAD", JAR) >= 1);
    let checked = app.entries(upstreams[0]).await[0].upstream_checked_at;
    assert!(
        checked
            > chrono::NaiveDate::from_ymd_opt(2001, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
    );

    // Changed ETag: refetched, and the entry now holds the new bytes.
    upstream.set(
        JAR,
        Reply::file_with_etag("version two!", "application/java-archive", "\"two\""),
    );
    app.sql(age).await;
    assert_eq!(
        get(&app, registry, JAR).await.text().await.unwrap(),
        "version two!"
    );
    assert_eq!(
        get(&app, registry, JAR).await.text().await.unwrap(),
        "version two!"
    );
    let entries = app.entries(upstreams[0]).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].upstream_etag.as_deref(), Some("\"two\""));
    assert_eq!(entries[0].file_sha1, sha1_hex(b"version two!"));

    // Upstream gone: the stale copy is served.
    app.sql(age).await;
    upstream.stop().await;
    let stale = get(&app, registry, JAR).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.text().await.unwrap(), "version two!");
}

async fn zero_validity_never_revalidates_and_metadata_has_its_own(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Maven).await
    else {
        return;
    };
    let metadata = "org/example/app/maven-metadata.xml";
    upstream.set(
        JAR,
        Reply::file_with_etag("jar", "application/java-archive", "\"j\""),
    );
    upstream.set(
        metadata,
        Reply::file_with_etag("<metadata>1</metadata>", "text/xml", "\"m1\""),
    );
    app.sql("UPDATE upstreams SET cache_validity_hours = 0, metadata_cache_validity_hours = 1")
        .await;
    get(&app, registry, JAR).await.bytes().await.unwrap();
    get(&app, registry, metadata).await.bytes().await.unwrap();
    app.sql("UPDATE cache_entries SET upstream_checked_at = '2000-01-01 00:00:00'")
        .await;
    upstream.set(
        metadata,
        Reply::file_with_etag("<metadata>2</metadata>", "text/xml", "\"m2\""),
    );

    assert_eq!(get(&app, registry, JAR).await.text().await.unwrap(), "jar");
    assert_eq!(
        upstream.count("HEAD", JAR),
        1,
        "only the resolution HEAD; never revalidated"
    );

    // The stale metadata's checksum comes from the upstream, not from the old digest.
    let sidecar = format!("{metadata}.sha1");
    upstream.set(
        &sidecar,
        Reply::file(sha1_hex(b"<metadata>2</metadata>"), "text/plain"),
    );
    let checksum = get(&app, registry, &sidecar).await.text().await.unwrap();
    assert_eq!(checksum, sha1_hex(b"<metadata>2</metadata>"));
    // And the metadata itself is refetched.
    let mut refreshed = String::new();
    for _ in 0..50 {
        refreshed = get(&app, registry, metadata).await.text().await.unwrap();
        if refreshed.contains('2') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refreshed, "<metadata>2</metadata>");
}

async fn concurrent_clients_share_one_upstream_fetch(backend: Backend) {
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
    let big: Bytes = (0..50 * 1024 * 1024u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let path = "org/example/big/1.0/big-1.0.jar";
    upstream.set(path, Reply::file(big.clone(), "application/java-archive"));

    let downloads = (0..20).map(|_| async {
        let response = get(&app, registry, path).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    });
    let bodies = join_all(downloads).await;
    let expected = sha1_hex(&big);
    for body in &bodies {
        assert_eq!(body.len(), big.len());
        assert_eq!(sha1_hex(body), expected);
    }
    assert_eq!(upstream.count("GET", path), 1, "exactly one upstream GET");
    let entries = app.entries(upstreams[0]).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].size, big.len() as i64);
    assert_eq!(entries[0].file_sha1, expected);
}

async fn failed_fills_cache_nothing(backend: Backend) {
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
    let stalled = "org/example/stall/1.0/stall-1.0.jar";
    let cut = "org/example/cut/1.0/cut-1.0.jar";
    upstream.set(
        stalled,
        Reply::Stall {
            body: Bytes::from(vec![1u8; 1000]),
            declared: 100_000,
        },
    );
    upstream.set(
        cut,
        Reply::Truncate {
            body: Bytes::from(vec![2u8; 1000]),
            declared: 100_000,
        },
    );

    for path in [stalled, cut] {
        let response = get(&app, registry, path).await;
        // Either the fill failed before answering, or the transfer is aborted: never a whole short file.
        if response.status() == 200 {
            assert!(
                response.bytes().await.is_err(),
                "{path}: a short body must not end cleanly"
            );
        } else {
            assert_eq!(response.status(), 400, "{path}");
        }
    }
    assert!(app.entries(upstreams[0]).await.is_empty(), "nothing cached");

    // Once the upstream behaves, the file is fetched and cached.
    upstream.set(
        cut,
        Reply::file(vec![3u8; 100_000], "application/java-archive"),
    );
    let response = get(&app, registry, cut).await;
    assert_eq!(response.bytes().await.unwrap().len(), 100_000);
    assert_eq!(app.entries(upstreams[0]).await.len(), 1);
}

/// An upstream that cannot be reached might have the file: the answer is 400 "Upstream not available"
/// (GitLab's rule for Maven clients), not a 404 that would tell mvn the file does not exist.
async fn unreachable_upstreams_are_not_available(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (registry, upstreams) = app.maven_registry(group, &[&closed_url]).await;

    let response = get(&app, registry, JAR).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": "400 Bad request - Upstream not available"})
    );
    assert!(app.entries(upstreams[0]).await.is_empty());
}

async fn local_upstreams_are_refused_unless_allowed(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| s.upstream.allow_local_network = false).await
    else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("secret", "application/java-archive"));
    let group = app.create_group("acme").await;
    let localhost = upstream.url.replace("127.0.0.1", "localhost");
    let (registry, _) = app
        .maven_registry(group, &[&upstream.url, &localhost])
        .await;
    assert_eq!(get(&app, registry, JAR).await.status(), 404);
    assert!(
        upstream.requests().is_empty(),
        "no request reached the local address"
    );
}

async fn the_upload_endpoint_takes_only_internal_callers(backend: Backend) {
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
    let url = app.url(&format!("{}/upload", maven_path(registry, JAR)));
    let gid = format!(
        "gid://gitlab/VirtualRegistries::Packages::Maven::Upstream/{}",
        upstreams[0]
    );

    // Without the internal secret, with or without a token, the caller is refused (403).
    let admin_token = app.admin_token.as_str();
    for headers in [
        vec![
            ("X-Packyard-Internal-Token", admin_token),
            ("Upstream-GID", gid.as_str()),
        ],
        vec![],
        vec![
            ("PRIVATE-TOKEN", admin_token),
            ("Upstream-GID", gid.as_str()),
        ],
    ] {
        let mut request = app.client.post(&url).body("x");
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        assert_eq!(request.send().await.unwrap().status(), 403, "{headers:?}");
    }

    let internal = app
        .client
        .post(&url)
        .header(
            "X-Packyard-Internal-Token",
            app.core.secret().internal_token(),
        )
        .header("Upstream-GID", &gid)
        .header("Etag", "\"up\"")
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), 200);
    assert_eq!(
        get(&app, registry, JAR).await.text().await.unwrap(),
        "uploaded"
    );
    assert!(upstream.requests().is_empty());
}

/// A body the fill refused reaches the client as a 400 before any byte, or as an aborted transfer.
async fn assert_not_delivered_whole(response: reqwest::Response) {
    match response.status().as_u16() {
        200 => assert!(response.bytes().await.is_err(), "a bad body arrived whole"),
        400 => {}
        other => panic!("unexpected status {other}"),
    }
}

async fn files_are_checked_against_the_checksums_their_upstream_publishes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    let group = app.create_group("acme").await;
    let (registry, _) = app.maven_registry(group, &[&upstream.url]).await;
    let body = vec![b'j'; 300_000];
    upstream.set(JAR, Reply::file(body.clone(), "application/java-archive"));

    // A `.sha1` that disagrees: the transfer is aborted and nothing is kept.
    upstream.set(
        &format!("{JAR}.sha1"),
        Reply::file(sha1_hex(b"other bytes"), "text/plain"),
    );
    assert_not_delivered_whole(get(&app, registry, JAR).await).await;
    assert_not_delivered_whole(get(&app, registry, JAR).await).await;
    assert_eq!(upstream.count("GET", JAR), 2);

    // Only a `.sha256`, in `sha256sum`'s format, that agrees: kept.
    upstream.remove(&format!("{JAR}.sha1"));
    let sha256 = hex::encode(sha2::Sha256::digest(&body));
    upstream.set(
        &format!("{JAR}.sha256"),
        Reply::file(format!("{sha256}  app-1.0.jar\n"), "text/plain"),
    );
    let response = get(&app, registry, JAR).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), body);
    let response = get(&app, registry, JAR).await;
    assert_eq!(response.bytes().await.unwrap(), body);
    assert_eq!(upstream.count("GET", JAR), 3);

    // With the check turned off, a disagreeing checksum is not asked for.
    let Some(unchecked) = TestApp::start_with(backend, |settings| {
        settings.upstream.verify_checksums = false;
    })
    .await
    else {
        return;
    };
    let other = FakeUpstream::start().await;
    other.set(JAR, Reply::file(body.clone(), "application/java-archive"));
    other.set(
        &format!("{JAR}.sha1"),
        Reply::file(sha1_hex(b"other bytes"), "text/plain"),
    );
    let group = unchecked.create_group("acme").await;
    let (registry, _) = unchecked.maven_registry(group, &[&other.url]).await;
    let response = get(&unchecked, registry, JAR).await;
    assert_eq!(response.bytes().await.unwrap(), body);
    assert_eq!(other.count("GET", &format!("{JAR}.sha1")), 0);
}

async fn a_body_without_a_length_is_cached_only_once_verified(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let upstream = CloseDelimitedUpstream::start().await;
    let group = app.create_group("acme").await;
    let (registry, _) = app.maven_registry(group, &[&upstream.url]).await;
    // The connection closed early, or not: from here the two look the same.
    upstream.set(JAR, "jar by".as_bytes().to_vec());

    for _ in 0..2 {
        let response = get(&app, registry, JAR).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap(), "jar by");
    }
    assert_eq!(upstream.gets(JAR), 2, "an unverifiable body was cached");

    // With a published checksum that vouches for it, it is kept.
    upstream.set(JAR, "jar bytes".as_bytes().to_vec());
    upstream.set(&format!("{JAR}.sha1"), sha1_hex(b"jar bytes").into_bytes());
    for _ in 0..2 {
        let response = get(&app, registry, JAR).await;
        assert_eq!(response.bytes().await.unwrap(), "jar bytes");
    }
    assert_eq!(upstream.gets(JAR), 3);
}

async fn encoded_query_and_fragment_marks_stay_in_the_file_name(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    let group = app.create_group("acme").await;
    let (registry, _) = app.maven_registry(group, &[&upstream.url]).await;
    upstream.set(JAR, Reply::file("the real jar", "application/java-archive"));
    for (asked, name) in [
        (format!("{JAR}%3fevil=1"), format!("/{JAR}%3Fevil=1")),
        (format!("{JAR}%23part"), format!("/{JAR}%23part")),
    ] {
        upstream.set(&name, Reply::file("odd name", "application/java-archive"));
        let response = get(&app, registry, &asked).await;
        assert_eq!(response.status(), 200, "{asked}");
        assert_eq!(response.text().await.unwrap(), "odd name");
    }
    assert_eq!(upstream.count("HEAD", JAR) + upstream.count("GET", JAR), 0);

    // Bytes that are not UTF-8 are refused, not turned into U+FFFD.
    let response = get(&app, registry, "org/example/app/1.0/app-%FF.jar").await;
    assert_eq!(response.status(), 400);
    assert!(
        response.text().await.unwrap().contains("not valid UTF-8"),
        "the answer says why"
    );
}

both_backends!(
    encoded_query_and_fragment_marks_stay_in_the_file_name,
    files_are_checked_against_the_checksums_their_upstream_publishes,
    a_body_without_a_length_is_cached_only_once_verified,
    the_lowest_position_wins_and_misses_walk_the_list,
    clients_must_authenticate_and_be_members,
    bad_paths_and_unknown_registries_are_refused,
    stale_entries_are_revalidated_by_etag,
    zero_validity_never_revalidates_and_metadata_has_its_own,
    unreachable_upstreams_are_not_available,
    local_upstreams_are_refused_unless_allowed,
    the_upload_endpoint_takes_only_internal_callers,
);

every_store!(
    a_miss_is_fetched_once_then_served_from_the_cache,
    concurrent_clients_share_one_upstream_fetch,
    failed_fills_cache_nothing,
);
