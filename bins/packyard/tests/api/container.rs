//! The container virtual registry: the token flow, manifests and blobs through the cache, digests,
//! staleness, multi-arch indexes, failures, and the management API's container rules.

use base64::Engine;
use futures_util::future::join_all;
use packyard_domain::Format;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fixtures::{PullThrough, app_with_group, pull_through};
use crate::{Backend, FakeUpstream, Reply, TestApp, both_backends, every_store};
use packyard_test_support::{FAKE_TOKEN_PATH, FakeAuth};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub(crate) fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An image as an upstream registry holds it: layers, config and manifest, with their digests.
pub(crate) struct Image {
    pub(crate) manifest: Vec<u8>,
    pub(crate) manifest_digest: String,
    pub(crate) config: Vec<u8>,
    pub(crate) layers: Vec<Vec<u8>>,
}

impl Image {
    pub(crate) fn new(seed: &str, layer_sizes: &[usize], architecture: &str) -> Self {
        let layers: Vec<Vec<u8>> = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, size)| {
                format!("{seed}-{architecture}-layer-{i}-")
                    .bytes()
                    .cycle()
                    .take(*size)
                    .collect()
            })
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": architecture, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| digest_of(l)).collect::<Vec<_>>()},
        }))
        .unwrap();
        let descriptor = |media_type: &str, bytes: &[u8]| json!({"mediaType": media_type, "digest": digest_of(bytes), "size": bytes.len()});
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
        }))
        .unwrap();
        Self {
            manifest_digest: digest_of(&manifest),
            manifest,
            config,
            layers,
        }
    }

    /// Scripts the fake to serve the image under `name`, its manifest also by `tag` when given.
    pub(crate) fn serve(&self, upstream: &FakeUpstream, name: &str, tag: Option<&str>) {
        let manifest = Reply::file(self.manifest.clone(), OCI_MANIFEST)
            .with_header("Docker-Content-Digest", &self.manifest_digest);
        if let Some(tag) = tag {
            upstream.set(&format!("/v2/{name}/manifests/{tag}"), manifest.clone());
        }
        upstream.set(
            &format!("/v2/{name}/manifests/{}", self.manifest_digest),
            manifest,
        );
        for blob in self.layers.iter().chain([&self.config]) {
            upstream.set(
                &format!("/v2/{name}/blobs/{}", digest_of(blob)),
                Reply::file(blob.clone(), "application/octet-stream"),
            );
        }
    }
}

fn basic(username: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"))
    )
}

pub(crate) fn v2(registry: i64, rest: &str) -> String {
    format!("/v2/virtual_registries/container/{registry}/{rest}")
}

fn scope(registry: i64, image: &str) -> String {
    format!("repository:virtual_registries/container/{registry}/{image}:pull")
}

/// Asks `/jwt/auth` for a token as `username` with `token`, for `scopes`.
async fn jwt_auth(
    app: &TestApp,
    username: &str,
    token: &str,
    scopes: &[String],
) -> reqwest::Response {
    let mut query = vec![("service", "dependency_proxy".to_owned())];
    query.extend(scopes.iter().map(|s| ("scope", s.clone())));
    app.client
        .get(app.url("/jwt/auth"))
        .query(&query)
        .header("Authorization", basic(username, token))
        .send()
        .await
        .unwrap()
}

/// A pull token for the administrator on `registry`.
pub(crate) async fn pull_token(app: &TestApp, registry: i64) -> String {
    let answer = jwt_auth(app, "root", &app.admin_token, &[scope(registry, "any")]).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

pub(crate) async fn pull(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn oci_error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["errors"][0]["code"].as_str().unwrap().to_owned()
}

async fn the_token_flow_guards_every_pull(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let image = Image::new("flow", &[10], "amd64");
    image.serve(&upstream, "library/alpine", Some("latest"));
    let other_group = app.create_group("other").await;
    let (other_registry, _) = app
        .virtual_registry(Format::Container, other_group, &[&upstream.url])
        .await;
    let manifest_path = v2(registry, "library/alpine/manifests/latest");

    // The ping and every pull without a token get the challenge.
    let ping = app.client.get(app.url("/v2/")).send().await.unwrap();
    assert_eq!(ping.status(), 401);
    assert_eq!(
        ping.headers()["www-authenticate"],
        format!(
            r#"Bearer realm="{}/jwt/auth",service="dependency_proxy""#,
            app.base
        )
        .as_str()
    );
    assert_eq!(
        ping.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let anonymous = app
        .client
        .get(app.url(&manifest_path))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = format!(
        r#"Bearer realm="{}/jwt/auth",service="dependency_proxy""#,
        app.base
    );
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        challenge.as_str(),
        "the realm and the service, without a scope (GitLab's challenge)"
    );
    assert_eq!(oci_error_code(anonymous).await, "UNAUTHORIZED");
    // An access token is not a registry token.
    assert_eq!(
        pull(&app, &app.admin_token, &manifest_path).await.status(),
        401
    );

    // /jwt/auth issues tokens for its one service, to a valid username and token.
    let wanted = [scope(registry, "library/alpine")];
    let token_request = |service: Option<&str>| {
        let mut request = app.client.get(app.url("/jwt/auth"));
        if let Some(service) = service {
            request = request.query(&[("service", service)]);
        }
        request.header("Authorization", basic("root", &app.admin_token))
    };
    for unknown in [None, Some("container_registry"), Some("")] {
        let answer = token_request(unknown).send().await.unwrap();
        assert_eq!(answer.status(), 404, "service {unknown:?}");
        assert_eq!(answer.bytes().await.unwrap().len(), 0);
    }
    assert_eq!(
        app.client
            .get(app.url("/jwt/auth"))
            .query(&[("service", "dependency_proxy")])
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        jwt_auth(&app, "root", "pyat-wrong", &wanted).await.status(),
        401
    );
    assert_eq!(
        jwt_auth(&app, "someone-else", &app.admin_token, &wanted)
            .await
            .status(),
        401
    );
    // Someone outside the group gets a token, and then the pull's 404: as in GitLab, nothing tells
    // an outsider that the registry exists.
    let (_, outsider) = app.create_user_with_token("outsider").await;
    let outsider_answer = jwt_auth(&app, "outsider", &outsider, &wanted).await;
    assert_eq!(outsider_answer.status(), 200);
    let outsider_token: Value = outsider_answer.json().await.unwrap();
    let hidden = pull(
        &app,
        outsider_token["token"].as_str().unwrap(),
        &manifest_path,
    )
    .await;
    assert_eq!(hidden.status(), 404);
    assert_eq!(oci_error_code(hidden).await, "NAME_UNKNOWN");
    let missing = jwt_auth(&app, "root", &app.admin_token, &[scope(9999, "x")]).await;
    assert_eq!(missing.status(), 200);
    let missing: Value = missing.json().await.unwrap();
    let missing_pull = pull(
        &app,
        missing["token"].as_str().unwrap(),
        &v2(9999, "x/manifests/latest"),
    )
    .await;
    assert_eq!(missing_pull.status(), 404);
    assert_eq!(oci_error_code(missing_pull).await, "NAME_UNKNOWN");
    // A login without a scope gets a token that pulls nothing.
    let login = jwt_auth(&app, "root", &app.admin_token, &[]).await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let login_token = login["token"].as_str().unwrap();
    assert_eq!(login["expires_in"], 300);
    assert_eq!(
        app.client
            .get(app.url("/v2/"))
            .bearer_auth(login_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(pull(&app, login_token, &manifest_path).await.status(), 401);

    let answer = jwt_auth(&app, "root", &app.admin_token, &wanted).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    let token = answer["token"].as_str().unwrap().to_owned();
    assert_eq!(answer["access_token"], token.as_str());
    let ok = pull(&app, &token, &manifest_path).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap(), image.manifest);

    // A token for one registry does not open another.
    let elsewhere = pull(
        &app,
        &token,
        &v2(other_registry, "library/alpine/manifests/latest"),
    )
    .await;
    assert_eq!(elsewhere.status(), 401);
    assert_eq!(elsewhere.headers()["www-authenticate"], challenge.as_str());

    // A forged signature, or a payload changed under the signature, is refused.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged_signature = format!("{}.{}.{}", parts[0], parts[1], "A".repeat(43));
    assert_eq!(
        pull(&app, &forged_signature, &manifest_path).await.status(),
        401
    );
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&parts[1])
        .unwrap();
    let mut claims: Value = serde_json::from_slice(&payload).unwrap();
    claims["registries"] = json!([registry, other_registry]);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let widened = parts.join(".");
    assert_eq!(
        pull(
            &app,
            &widened,
            &v2(other_registry, "library/alpine/manifests/latest")
        )
        .await
        .status(),
        401
    );

    // Deploy tokens of the group log in with their username.
    let group_row = app.core.find_group(&group.to_string()).await.unwrap();
    let deploy = app
        .core
        .create_deploy_token(
            &app.admin().await,
            &group_row,
            "ci".into(),
            Some("ci-bot".into()),
            vec![packyard_domain::Scope::ReadVirtualRegistry],
            None,
        )
        .await
        .unwrap();
    let deploy_answer = jwt_auth(&app, "ci-bot", &deploy.token, &wanted).await;
    assert_eq!(deploy_answer.status(), 200);
    let deploy_token: Value = deploy_answer.json().await.unwrap();
    assert_eq!(
        pull(
            &app,
            deploy_token["token"].as_str().unwrap(),
            &manifest_path
        )
        .await
        .status(),
        200
    );
    let foreign = jwt_auth(&app, "ci-bot", &deploy.token, &[scope(other_registry, "x")]).await;
    assert_eq!(foreign.status(), 200);
    let foreign: Value = foreign.json().await.unwrap();
    assert_eq!(
        pull(
            &app,
            foreign["token"].as_str().unwrap(),
            &v2(other_registry, "library/alpine/manifests/latest")
        )
        .await
        .status(),
        404,
        "a deploy token opens its own group only"
    );

    // Tokens expire after five minutes.
    app.core.clock().advance(chrono::Duration::minutes(6));
    assert_eq!(pull(&app, &token, &manifest_path).await.status(), 401);
}

async fn manifests_and_blobs_pull_through_the_cache(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        upstreams,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    upstream.require(FakeAuth::Bearer {
        credentials: None,
        lifetime: 300,
    });
    let image = Image::new("pull", &[300_000, 20], "amd64");
    image.serve(&upstream, "library/alpine", Some("3.20"));
    let token = pull_token(&app, registry).await;

    let by_tag = pull(&app, &token, &v2(registry, "library/alpine/manifests/3.20")).await;
    assert_eq!(by_tag.status(), 200);
    assert_eq!(by_tag.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(
        by_tag.headers()["docker-content-digest"],
        image.manifest_digest.as_str()
    );
    assert_eq!(
        by_tag.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    assert_eq!(by_tag.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        by_tag.headers()["content-length"],
        image.manifest.len().to_string().as_str()
    );
    assert_eq!(by_tag.bytes().await.unwrap(), image.manifest);

    // A manifest cached by tag answers its digest, with no upstream request.
    let by_digest_path = v2(
        registry,
        &format!("library/alpine/manifests/{}", image.manifest_digest),
    );
    let by_digest = pull(&app, &token, &by_digest_path).await;
    assert_eq!(by_digest.status(), 200);
    assert_eq!(by_digest.bytes().await.unwrap(), image.manifest);
    assert_eq!(
        upstream.count(
            "GET",
            &format!("/v2/library/alpine/manifests/{}", image.manifest_digest)
        ),
        0
    );
    let head = app
        .client
        .head(app.url(&v2(registry, "library/alpine/manifests/3.20")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["docker-content-digest"],
        image.manifest_digest.as_str()
    );
    assert_eq!(
        head.headers()["content-length"],
        image.manifest.len().to_string().as_str()
    );

    for blob in image.layers.iter().chain([&image.config]) {
        let digest = digest_of(blob);
        let path = v2(registry, &format!("library/alpine/blobs/{digest}"));
        for _ in 0..2 {
            let response = pull(&app, &token, &path).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
            assert_eq!(
                response.headers()["content-type"],
                "application/octet-stream"
            );
            assert_eq!(response.bytes().await.unwrap(), *blob);
        }
        assert_eq!(
            upstream.count("GET", &format!("/v2/library/alpine/blobs/{digest}")),
            1,
            "the second pull is served from the cache"
        );
        let head = app
            .client
            .head(app.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(
            head.headers()["content-length"],
            blob.len().to_string().as_str()
        );
    }

    // The upstream's token was fetched once and reused.
    assert_eq!(upstream.count("GET", FAKE_TOKEN_PATH), 1);
    assert!(
        upstream
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v2/") && r.method == "GET")
            .all(|r| r
                .authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer fake-token-")))
    );

    let entries = app.entries(upstreams[0]).await;
    let mut paths: Vec<&str> = entries.iter().map(|e| e.relative_path.as_str()).collect();
    paths.sort_unstable();
    let mut expected = vec!["library/alpine/manifests/3.20".to_owned()];
    expected.extend(
        image
            .layers
            .iter()
            .chain([&image.config])
            .map(|b| format!("library/alpine/blobs/{}", digest_of(b))),
    );
    expected.sort();
    assert_eq!(paths, expected);
    let manifest_entry = entries
        .iter()
        .find(|e| e.relative_path.ends_with("/manifests/3.20"))
        .unwrap();
    assert_eq!(manifest_entry.content_type, OCI_MANIFEST);
    assert_eq!(
        manifest_entry.upstream_etag.as_deref(),
        Some(image.manifest_digest.as_str())
    );

    // The management API lists them, and its search finds by image.
    let listed: Value = app
        .client
        .get(app.url(&format!(
            "/api/v4/virtual_registries/container/upstreams/{}/cache_entries?search=library/alpine",
            upstreams[0]
        )))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), expected.len());
}

async fn upstream_credentials_follow_basic_and_token_challenges(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let image = Image::new("auth", &[64], "amd64");
    let create_upstream = |registry: i64, url: String, password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url(&format!(
                    "/api/v4/virtual_registries/container/registries/{registry}/upstreams"
                )))
                .header("PRIVATE-TOKEN", &app.admin_token)
                .json(&json!({"url": url, "name": "private", "username": "puller", "password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    };

    for auth in [
        FakeAuth::Basic("puller".into(), "s3cret".into()),
        FakeAuth::Bearer {
            credentials: Some(("puller".into(), "s3cret".into())),
            lifetime: 60,
        },
    ] {
        let upstream = FakeUpstream::start().await;
        upstream.require(auth);
        image.serve(&upstream, "team/app", Some("v1"));
        let (registry, _) = app.virtual_registry(Format::Container, group, &[]).await;
        create_upstream(registry, upstream.url.clone(), "s3cret").await;
        let token = pull_token(&app, registry).await;
        let response = pull(&app, &token, &v2(registry, "team/app/manifests/v1")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap(), image.manifest);

        // Wrong credentials: the upstream refuses, so the manifest is not found there.
        let (wrong, _) = app.virtual_registry(Format::Container, group, &[]).await;
        create_upstream(wrong, upstream.url.clone(), "wrong").await;
        let token = pull_token(&app, wrong).await;
        let refused = pull(&app, &token, &v2(wrong, "team/app/manifests/v1")).await;
        assert_eq!(refused.status(), 404);
        assert_eq!(oci_error_code(refused).await, "MANIFEST_UNKNOWN");
    }
}

/// A failed fill reaches the client as a 503 when it fails before the response starts, and as an aborted
/// transfer after that; never as a complete 200.
async fn assert_not_delivered(response: reqwest::Response) {
    match response.status().as_u16() {
        200 => assert!(
            response.bytes().await.is_err(),
            "a bad body must not arrive whole"
        ),
        503 => assert_eq!(oci_error_code(response).await, "UNAVAILABLE"),
        other => panic!("unexpected status {other}"),
    }
}

async fn lying_or_broken_upstreams_cache_nothing(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let image = Image::new("lies", &[200_000], "amd64");
    let token = pull_token(&app, registry).await;
    let layer_digest = digest_of(&image.layers[0]);
    let layer_path = format!("/v2/app/blobs/{layer_digest}");

    // A blob whose bytes do not match its digest: the transfer is aborted.
    upstream.set(
        &layer_path,
        Reply::file(
            vec![b'x'; image.layers[0].len()],
            "application/octet-stream",
        ),
    );
    // (the same bytes are checked for in storage below)
    let response = pull(
        &app,
        &token,
        &v2(registry, &format!("app/blobs/{layer_digest}")),
    )
    .await;
    assert_not_delivered(response).await;

    // A truncated blob: aborted as well.
    upstream.set(
        &layer_path,
        Reply::Truncate {
            body: image.layers[0][..1000].to_vec().into(),
            declared: image.layers[0].len() as u64,
        },
    );
    let response = pull(
        &app,
        &token,
        &v2(registry, &format!("app/blobs/{layer_digest}")),
    )
    .await;
    assert_not_delivered(response).await;

    // A manifest whose declared digest is not its own: refused before any byte.
    upstream.set(
        "/v2/app/manifests/latest",
        Reply::file(image.manifest.clone(), OCI_MANIFEST)
            .with_header("Docker-Content-Digest", &digest_of(b"something else")),
    );
    let response = pull(&app, &token, &v2(registry, "app/manifests/latest")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(oci_error_code(response).await, "UNAVAILABLE");
    // Asked by digest, the body must have that digest whatever the upstream declares.
    upstream.set(
        &format!("/v2/app/manifests/{}", image.manifest_digest),
        Reply::file(b"{\"schemaVersion\":2}".to_vec(), OCI_MANIFEST),
    );
    let response = pull(
        &app,
        &token,
        &v2(
            registry,
            &format!("app/manifests/{}", image.manifest_digest),
        ),
    )
    .await;
    assert_eq!(response.status(), 503);

    assert!(
        app.entries(upstreams[0]).await.is_empty(),
        "nothing was cached"
    );
    let wrong_body = vec![b'x'; image.layers[0].len()];
    assert!(
        !app.core
            .blobs()
            .exists(&hex::encode(Sha256::digest(&wrong_body)))
            .await
            .unwrap(),
        "a rejected body is not kept"
    );

    // Missing things and bad names.
    let missing = pull(&app, &token, &v2(registry, "app/manifests/nope")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(oci_error_code(missing).await, "MANIFEST_UNKNOWN");
    let missing_blob = pull(
        &app,
        &token,
        &v2(registry, &format!("app/blobs/{}", digest_of(b"none"))),
    )
    .await;
    assert_eq!(missing_blob.status(), 404);
    assert_eq!(oci_error_code(missing_blob).await, "BLOB_UNKNOWN");
    let bad_digest = pull(&app, &token, &v2(registry, "app/blobs/sha256:123")).await;
    assert_eq!(bad_digest.status(), 400);
    assert_eq!(oci_error_code(bad_digest).await, "DIGEST_INVALID");
    let bad_name = pull(&app, &token, &v2(registry, "App/manifests/latest")).await;
    assert_eq!(bad_name.status(), 400);
    assert_eq!(oci_error_code(bad_name).await, "NAME_INVALID");
    let tags = pull(&app, &token, &v2(registry, "app/tags/list")).await;
    assert_eq!(tags.status(), 400);
    assert_eq!(oci_error_code(tags).await, "UNSUPPORTED");

    // A registry without upstreams is a 404, as GitLab answers container clients.
    let (empty, _) = app.virtual_registry(Format::Container, group, &[]).await;
    let empty_token = pull_token(&app, empty).await;
    let response = pull(&app, &empty_token, &v2(empty, "app/manifests/latest")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(oci_error_code(response).await, "NAME_UNKNOWN");
}

async fn tag_manifests_revalidate_and_survive_outages(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let first = Image::new("v1", &[50], "amd64");
    let second = Image::new("v2", &[60], "amd64");
    first.serve(&upstream, "app", Some("latest"));
    let token = pull_token(&app, registry).await;
    let tag_path = v2(registry, "app/manifests/latest");
    let upstream_tag = "/v2/app/manifests/latest";

    assert_eq!(
        pull(&app, &token, &tag_path).await.bytes().await.unwrap(),
        first.manifest
    );
    // Fresh for 24 hours: no upstream request.
    app.core.clock().advance(chrono::Duration::hours(23));
    let token = pull_token(&app, registry).await;
    assert_eq!(
        pull(&app, &token, &tag_path).await.bytes().await.unwrap(),
        first.manifest
    );
    assert_eq!(
        upstream.count("HEAD", upstream_tag),
        1,
        "only the first miss's resolution"
    );
    assert_eq!(upstream.count("GET", upstream_tag), 1);

    // Stale and unchanged: a HEAD, and the cached copy.
    app.core.clock().advance(chrono::Duration::hours(2));
    let token = pull_token(&app, registry).await;
    assert_eq!(
        pull(&app, &token, &tag_path).await.bytes().await.unwrap(),
        first.manifest
    );
    assert_eq!(upstream.count("HEAD", upstream_tag), 2);
    assert_eq!(upstream.count("GET", upstream_tag), 1);

    // Stale and moved: refetched.
    second.serve(&upstream, "app", Some("latest"));
    app.core.clock().advance(chrono::Duration::hours(25));
    let token = pull_token(&app, registry).await;
    let moved = pull(&app, &token, &tag_path).await;
    assert_eq!(
        moved.headers()["docker-content-digest"],
        second.manifest_digest.as_str()
    );
    assert_eq!(moved.bytes().await.unwrap(), second.manifest);
    assert_eq!(upstream.count("GET", upstream_tag), 2);

    // Stale with the upstream gone: the cached copy; never cached: 503.
    upstream.stop().await;
    app.core.clock().advance(chrono::Duration::hours(25));
    let token = pull_token(&app, registry).await;
    let stale = pull(&app, &token, &tag_path).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap(), second.manifest);
    let never = pull(&app, &token, &v2(registry, "app/manifests/other")).await;
    assert_eq!(never.status(), 503);
    assert_eq!(oci_error_code(never).await, "UNAVAILABLE");
}

async fn multi_arch_indexes_pull_through(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let amd64 = Image::new("multi", &[70, 80], "amd64");
    let arm64 = Image::new("multi", &[90], "arm64");
    amd64.serve(&upstream, "app", None);
    arm64.serve(&upstream, "app", None);
    let platform = |image: &Image, architecture: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
               "size": image.manifest.len(), "platform": {"architecture": architecture, "os": "linux"}})
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [platform(&arm64, "arm64"), platform(&amd64, "amd64")],
    }))
    .unwrap();
    upstream.set(
        "/v2/app/manifests/multi",
        Reply::file(index.clone(), OCI_INDEX)
            .with_header("Docker-Content-Digest", &digest_of(&index)),
    );
    let token = pull_token(&app, registry).await;

    let response = app
        .client
        .get(app.url(&v2(registry, "app/manifests/multi")))
        .bearer_auth(&token)
        .header("Accept", format!("{OCI_INDEX}, {OCI_MANIFEST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], OCI_INDEX);
    assert_eq!(
        response.headers()["docker-content-digest"],
        digest_of(&index).as_str()
    );
    assert_eq!(response.bytes().await.unwrap(), index);
    for image in [&amd64, &arm64] {
        let manifest = pull(
            &app,
            &token,
            &v2(
                registry,
                &format!("app/manifests/{}", image.manifest_digest),
            ),
        )
        .await;
        assert_eq!(manifest.status(), 200);
        assert_eq!(manifest.bytes().await.unwrap(), image.manifest);
        for blob in image.layers.iter().chain([&image.config]) {
            let response = pull(
                &app,
                &token,
                &v2(registry, &format!("app/blobs/{}", digest_of(blob))),
            )
            .await;
            assert_eq!(response.bytes().await.unwrap(), *blob);
        }
    }

    // A client that takes single manifests only gets the linux/amd64 one; one that takes neither, 404.
    let single = app
        .client
        .get(app.url(&v2(registry, "app/manifests/multi")))
        .bearer_auth(&token)
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(
        single.headers()["docker-content-digest"],
        amd64.manifest_digest.as_str()
    );
    assert_eq!(single.bytes().await.unwrap(), amd64.manifest);
    let refused = app
        .client
        .get(app.url(&v2(registry, "app/manifests/multi")))
        .bearer_auth(&token)
        .header("Accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(oci_error_code(refused).await, "MANIFEST_UNKNOWN");
}

async fn concurrent_layer_pulls_fetch_once(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(backend, Format::Container).await
    else {
        return;
    };
    let image = Image::new("busy", &[8 * 1024 * 1024], "amd64");
    image.serve(&upstream, "app", Some("latest"));
    let token = pull_token(&app, registry).await;
    let digest = digest_of(&image.layers[0]);
    let path = v2(registry, &format!("app/blobs/{digest}"));
    let bodies = join_all((0..10).map(|_| async {
        let response = pull(&app, &token, &path).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    }))
    .await;
    for body in bodies {
        assert_eq!(digest_of(&body), digest);
    }
    assert_eq!(upstream.count("GET", &format!("/v2/app/blobs/{digest}")), 1);
}

async fn the_management_api_applies_container_rules(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let upstream = FakeUpstream::start().await;
    upstream.require(FakeAuth::Bearer {
        credentials: Some(("puller".into(), "s3cret".into())),
        lifetime: 60,
    });
    let api = |path: &str| app.url(&format!("/api/v4{path}"));
    let send = |request: reqwest::RequestBuilder| async {
        let response = request
            .header("PRIVATE-TOKEN", &app.admin_token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body)
    };

    let mut registries = Vec::new();
    for i in 0..5 {
        let (status, body) = send(
            app.client
                .post(api(&format!(
                    "/groups/{group}/-/virtual_registries/container/registries"
                )))
                .json(&json!({"name": format!("images-{i}")})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        registries.push(body["id"].as_i64().unwrap());
    }
    let (status, body) = send(
        app.client
            .post(api(&format!(
                "/groups/{group}/-/virtual_registries/container/registries"
            )))
            .json(&json!({"name": "one-too-many"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"]["base"][0],
        "5 registries is the maximum allowed per top-level group."
    );
    let registry = registries[0];
    let upstreams_path = format!("/virtual_registries/container/registries/{registry}/upstreams");

    let (status, body) = send(
        app.client
            .post(api(&upstreams_path))
            .json(&json!({"url": upstream.url})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "name is missing");

    let (status, body) = send(app.client.post(api(&upstreams_path)).json(&json!({
        "url": format!("{}/v2/", upstream.url), "name": "hub", "username": "puller", "password": "s3cret",
        "metadata_cache_validity_hours": 5,
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["cache_validity_hours"], 24);
    assert!(
        body.get("metadata_cache_validity_hours").is_none(),
        "{body}"
    );
    assert!(body.get("password").is_none());
    let upstream_id = body["id"].as_i64().unwrap();

    // Connection tests: POST only, with the token dance.
    let test_path = format!("/virtual_registries/container/upstreams/{upstream_id}/test");
    let (status, body) = send(app.client.post(api(&test_path))).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, _) = send(app.client.get(api(&test_path))).await;
    assert_eq!(status, 405, "container upstreams have no GET test");
    let (status, body) = send(
        app.client
            .post(api(&test_path))
            .json(&json!({"username": "puller", "password": "wrong"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": false, "result": "Error: 401 - Unauthorized"})
    );
    let (status, body) = send(
        app.client
            .post(api(&format!(
                "/groups/{group}/-/virtual_registries/container/upstreams/test"
            )))
            .json(&json!({"url": upstream.url, "username": "puller", "password": "s3cret"})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"success": true})));

    // Five upstreams per registry.
    for i in 1..5 {
        let (status, body) = send(app.client.post(api(&upstreams_path)).json(&json!({
            "url": format!("{}/mirror{i}", upstream.url), "name": format!("mirror {i}"),
        })))
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = send(app.client.post(api(&upstreams_path)).json(&json!({
        "url": format!("{}/mirror9", upstream.url), "name": "mirror 9",
    })))
    .await;
    assert_eq!(status, 400, "{body}");

    // Associations are shared code: a second registry links the upstream at position 1.
    let (status, body) = send(
        app.client
            .post(api("/virtual_registries/container/registry_upstreams"))
            .json(&json!({"registry_id": registries[1], "upstream_id": upstream_id})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["position"], 1);

    // A pull fills the cache; the purge empties it.
    let image = Image::new("api", &[32], "amd64");
    image.serve(&upstream, "library/app", Some("1"));
    let token = pull_token(&app, registry).await;
    assert_eq!(
        pull(&app, &token, &v2(registry, "library/app/manifests/1"))
            .await
            .status(),
        200
    );
    let entries_path =
        format!("/virtual_registries/container/upstreams/{upstream_id}/cache_entries");
    let (status, body) = send(
        app.client
            .get(api(&format!("{entries_path}?search=library/app"))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["relative_path"], "library/app/manifests/1");
    assert_eq!(body[0]["content_type"], OCI_MANIFEST);
    assert!(body[0]["file_sha1"].is_string());
    assert!(
        body[0].get("file_md5").is_none(),
        "GitLab's container cache entry has no file_md5: {}",
        body[0]
    );

    // A registry shows its ordered associations.
    let (status, body) = send(app.client.get(api(&format!(
        "/virtual_registries/container/registries/{registry}"
    ))))
    .await;
    assert_eq!(status, 200);
    let links = body["registry_upstreams"].as_array().unwrap();
    for (index, link) in links.iter().enumerate() {
        assert_eq!(
            crate::fixtures::keys(link),
            ["id", "position", "upstream_id"]
        );
        assert_eq!(link["position"], index as i64 + 1, "{body}");
    }
    assert!(
        links.iter().any(|link| link["upstream_id"] == upstream_id),
        "{body}"
    );
    let (status, body) = send(app.client.get(api(&format!("{entries_path}?search=nginx")))).await;
    assert_eq!((status, body), (200, json!([])));
    let (status, _) = send(app.client.delete(api(&format!(
        "/virtual_registries/container/upstreams/{upstream_id}/cache"
    ))))
    .await;
    assert_eq!(status, 204);
    let (_, body) = send(app.client.get(api(&entries_path))).await;
    assert_eq!(body, json!([]));

    // Maven routes do not see container registries.
    let (status, _) = send(app.client.get(api(&format!(
        "/virtual_registries/packages/maven/registries/{registry}"
    ))))
    .await;
    assert_eq!(status, 404);
}

both_backends!(
    the_token_flow_guards_every_pull,
    upstream_credentials_follow_basic_and_token_challenges,
    lying_or_broken_upstreams_cache_nothing,
    tag_manifests_revalidate_and_survive_outages,
    multi_arch_indexes_pull_through,
    the_management_api_applies_container_rules,
);

every_store!(
    manifests_and_blobs_pull_through_the_cache,
    concurrent_layer_pulls_fetch_once,
);

async fn the_token_realm_follows_the_external_url(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| {
        s.server.external_url = Some("https://registry.example.com/".into());
    })
    .await
    else {
        return;
    };
    let ping = app.client.get(app.url("/v2/")).send().await.unwrap();
    assert_eq!(ping.status(), 401);
    assert_eq!(
        ping.headers()["www-authenticate"],
        r#"Bearer realm="https://registry.example.com/jwt/auth",service="dependency_proxy""#
    );
}

both_backends!(the_token_realm_follows_the_external_url);
