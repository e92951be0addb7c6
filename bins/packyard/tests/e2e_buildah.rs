//! End to end: the real binary as a container virtual registry in front of a real OCI registry (Debian's
//! `docker-registry`, with htpasswd auth), pulled through by `buildah pull --creds` into a storage of
//! the test's own: an image by tag, by digest, and a two-platform index (this machine's platform).
//! Judged by what buildah stored: the manifest digest it records and the image ID (the config's
//! digest, which names every layer's diff ID; buildah verifies each layer against its digest).
//! Needs the Debian packages that `scripts/install-test-deps.sh` installs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::{blocking, start_container_registry};
use packyard_test_support::oci_registry::{OciRegistry, buildah_available, buildah_pull};

const UPSTREAM_USER: &str = "puller";
const UPSTREAM_PASSWORD: &str = "upstream-s3cret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildah_pulls_through_packyard() {
    if !buildah_available() {
        return;
    }
    let Some(upstream) = OciRegistry::start(Some((UPSTREAM_USER, UPSTREAM_PASSWORD))) else {
        return;
    };
    let image = upstream.push_image("team/app", "v1", 2, 512 * 1024);
    let index = upstream.push_index("team/multi", "v1");

    let work = tempfile::tempdir().unwrap();
    let registry = start_container_registry(
        &work.path().join("data"),
        &upstream.base_url(),
        Some((UPSTREAM_USER, UPSTREAM_PASSWORD)),
    )
    .await;
    let pull = |reference: String| {
        let token = registry.admin.clone();
        blocking(move || buildah_pull(&reference, Some(("admin", &token))))
    };

    let by_tag = pull(registry.reference("team/app:v1")).await;
    assert_eq!(by_tag.digest, image.digest);
    assert_eq!(format!("sha256:{}", by_tag.id), image.config.digest);
    for blob in image.blobs() {
        assert_eq!(upstream.blob_get_count(&blob.digest), 1, "{}", blob.digest);
    }

    let by_digest = pull(registry.reference(&format!("team/app@{}", image.digest))).await;
    assert_eq!(by_digest.digest, image.digest);
    assert_eq!(by_digest.id, by_tag.id);

    let amd64 = index
        .manifests
        .iter()
        .find(|m| m.platform.architecture == "amd64")
        .unwrap();
    // buildah records the digest of the platform's manifest it picked from the index.
    let multi = pull(registry.reference("team/multi:v1")).await;
    assert_eq!(multi.digest, amd64.digest);
    assert_eq!(format!("sha256:{}", multi.id), amd64.config.digest);
}
