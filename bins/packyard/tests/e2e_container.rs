//! End to end: the real binary as a container virtual registry in front of a real OCI registry (Debian's
//! `docker-registry`, with htpasswd auth), pulled through by `skopeo copy` and `podman pull`, which find
//! their way through the `/v2/` challenge and `/jwt/auth` on their own.
//! Needs the Debian packages that `scripts/install-test-deps.sh` installs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeSet;

use common::{blocking, bootstrap_admin, create_group, create_virtual_registry, start_server};
use packyard_test_support::oci_registry::{
    Descriptor, OciRegistry, PulledImage, podman_available, skopeo_pull, try_skopeo_pull,
};
use serde_json::json;

const UPSTREAM_USER: &str = "puller";
const UPSTREAM_PASSWORD: &str = "upstream-s3cret";

fn sorted(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

fn digests<'a>(descriptors: impl Iterator<Item = &'a Descriptor>) -> BTreeSet<String> {
    descriptors.map(|d| d.digest.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_and_podman_pull_through_packyard() {
    let Some(upstream) = OciRegistry::start(Some((UPSTREAM_USER, UPSTREAM_PASSWORD))) else {
        return;
    };
    let image = upstream.push_image("team/app", "v1", 3, 2 * 1024 * 1024);
    let index = upstream.push_index("team/multi", "v1");

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let token = bootstrap_admin(&data);
    let server = start_server(&data).await;
    let api = format!("{}/api/v4", server.base);
    let client = reqwest::Client::new();
    let group = create_group(&client, &api, &token, "acme").await;
    let (registry_id, _) = create_virtual_registry(
        &client,
        &api,
        &token,
        "container",
        group,
        &[json!({"name": "private", "url": upstream.base_url(),
                 "username": UPSTREAM_USER, "password": UPSTREAM_PASSWORD})],
    )
    .await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let reference =
        move |name: &str| format!("{host}/virtual_registries/container/{registry_id}/{name}");
    let credentials = ("admin".to_owned(), token.clone());
    let pull = |name: String, all: bool| {
        let credentials = credentials.clone();
        blocking(move || skopeo_pull(&name, Some((&credentials.0, &credentials.1)), all))
    };

    // A multi-layer image: the client gets exactly the upstream's digests.
    let pulled: PulledImage = pull(reference("team/app:v1"), false).await;
    assert_eq!(pulled.digest, image.digest);
    assert_eq!(sorted(&pulled.blobs), digests(image.blobs()));
    for blob in digests(image.blobs()) {
        assert_eq!(upstream.blob_get_count(&blob), 1, "{blob}");
    }

    // A two-platform index with every platform.
    let pulled_index = pull(reference("team/multi:v1"), true).await;
    assert_eq!(pulled_index.digest, index.digest);
    let platform_digests: BTreeSet<String> =
        index.manifests.iter().map(|m| m.digest.clone()).collect();
    assert!(platform_digests.is_subset(&sorted(&pulled_index.manifests)));
    assert_eq!(sorted(&pulled_index.blobs), digests(index.blobs()));

    // Pulled by digest, the manifest cached by tag answers.
    let by_digest = pull(reference(&format!("team/app@{}", image.digest)), false).await;
    assert_eq!(by_digest.digest, image.digest);
    assert_eq!(upstream.manifest_get_count(&image.digest), 0);

    // With the upstream stopped, both pull again from the cache.
    upstream.stop();
    let again = pull(reference("team/app:v1"), false).await;
    assert_eq!(again.digest, image.digest);
    let again_index = pull(reference("team/multi:v1"), true).await;
    assert_eq!(again_index.digest, index.digest);
    let never_cached = {
        let name = reference("team/app:v2");
        let credentials = credentials.clone();
        blocking(move || try_skopeo_pull(&name, Some((&credentials.0, &credentials.1)), false))
            .await
    };
    assert!(
        never_cached.is_err(),
        "nothing cached and no upstream: the pull fails"
    );

    if podman_available() {
        let name = reference("team/app:v1");
        let credentials = credentials.clone();
        let podman = blocking(move || {
            packyard_test_support::oci_registry::podman_pull(
                &name,
                Some((&credentials.0, &credentials.1)),
            )
        })
        .await;
        assert_eq!(podman.digest, image.digest);
        assert_eq!(format!("sha256:{}", podman.id), image.config.digest);
    }

    // Ten parallel pulls of an image not cached yet: one upstream fetch per blob.
    upstream.restart();
    let busy = upstream.push_image("team/busy", "v1", 4, 1024 * 1024);
    let pulls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(pull(reference("team/busy:v1"), false)))
        .collect();
    for handle in pulls {
        assert_eq!(handle.await.unwrap().digest, busy.digest);
    }
    for blob in digests(busy.blobs()) {
        assert_eq!(
            upstream.blob_get_count(&blob),
            1,
            "one upstream GET of {blob}"
        );
    }

    // A wrong token gets no image.
    let name = reference("team/app:v1");
    let refused =
        blocking(move || try_skopeo_pull(&name, Some(("admin", "pyat-wrong")), false)).await;
    assert!(refused.is_err());
}
