//! End to end: the real binary as a container virtual registry in front of a real OCI registry (Debian's
//! `docker-registry`, with htpasswd auth), and a real `dockerd` of the test's own (private socket, data
//! and exec roots; `insecure-registries` names packyard, which speaks plain HTTP) that `docker login`s
//! with a group deploy token and `docker pull`s by tag, by digest, and a two-platform index for each
//! platform. Judged by what the daemon holds: the image ID (the config's digest), the digests it was
//! pulled by and the diff IDs of the layers it extracted and verified.
//! Needs the Debian packages that `scripts/install-test-deps.sh` installs, and root (dockerd).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::{blocking, start_container_registry};
use packyard_test_support::oci_daemons::DockerDaemon;
use packyard_test_support::oci_registry::{Descriptor, OciRegistry};
use serde_json::Value;

const UPSTREAM_USER: &str = "puller";
const UPSTREAM_PASSWORD: &str = "upstream-s3cret";

/// The diff IDs a config lists: what the daemon must hold once it has extracted the layers.
fn diff_ids(upstream: &OciRegistry, repo: &str, config: &Descriptor) -> Vec<String> {
    let authorization = upstream.authorization().unwrap();
    let reply = upstream.fetch(
        "GET",
        &format!("/v2/{repo}/blobs/{}", config.digest),
        &[("Authorization", &authorization)],
    );
    assert_eq!(reply.status, 200);
    let config: Value = serde_json::from_slice(&reply.body).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_logs_in_and_pulls_through_packyard() {
    let Some(upstream) = OciRegistry::start(Some((UPSTREAM_USER, UPSTREAM_PASSWORD))) else {
        return;
    };
    let image = upstream.push_image("team/app", "v1", 3, 1024 * 1024);
    let pinned = upstream.push_image("team/pinned", "v1", 2, 256 * 1024);
    let index = upstream.push_index("team/multi", "v1");

    let work = tempfile::tempdir().unwrap();
    let registry = start_container_registry(
        &work.path().join("data"),
        &upstream.base_url(),
        Some((UPSTREAM_USER, UPSTREAM_PASSWORD)),
    )
    .await;
    let host = registry.host.clone();
    let Some(docker) = blocking(move || DockerDaemon::start(&[&host])).await else {
        return;
    };
    let docker = std::sync::Arc::new(docker);
    let pull = |reference: String, platform: Option<&'static str>| {
        let docker = docker.clone();
        blocking(move || docker.pull(&reference, platform))
    };

    // Without a login the daemon gets the challenge and no image.
    let anonymous = pull(registry.reference("team/app:v1"), None).await;
    assert!(anonymous.is_err(), "{anonymous:?}");

    // A wrong token is refused by `docker login` itself, which checks it against the registry.
    let (deploy_user, deploy_token) = registry.deploy_token("ci").await;
    let (host, user) = (registry.host.clone(), deploy_user.clone());
    let docker_ = docker.clone();
    let refused = blocking(move || docker_.login(&host, &user, "pyat-not-a-token")).await;
    assert!(refused.is_err(), "a wrong token logs in");
    let (host, docker_) = (registry.host.clone(), docker.clone());
    blocking(move || docker_.login(&host, &deploy_user, &deploy_token))
        .await
        .unwrap();
    let config: Value =
        serde_json::from_slice(&std::fs::read(docker.client_config().join("config.json")).unwrap())
            .unwrap();
    assert!(
        config["auths"][&registry.host]["auth"].is_string(),
        "docker login stores the credentials for packyard's host: {config}"
    );

    // By tag: the image the upstream holds, every layer extracted and verified.
    let pulled = pull(registry.reference("team/app:v1"), None).await.unwrap();
    assert_eq!(pulled.id, image.config.digest);
    assert_eq!(
        pulled.repo_digests,
        vec![format!(
            "{}@{}",
            registry.reference("team/app"),
            image.digest
        )]
    );
    let app_layers = diff_ids(&upstream, "team/app", &image.config);
    assert_eq!(pulled.layers, app_layers);
    for blob in image.blobs() {
        assert_eq!(upstream.blob_get_count(&blob.digest), 1, "{}", blob.digest);
    }

    // By digest, an image never pulled by tag.
    let by_digest = registry.reference(&format!("team/pinned@{}", pinned.digest));
    let pulled = pull(by_digest.clone(), None).await.unwrap();
    assert_eq!(pulled.id, pinned.config.digest);
    assert_eq!(pulled.repo_digests, vec![by_digest]);
    assert_eq!(
        pulled.layers,
        diff_ids(&upstream, "team/pinned", &pinned.config)
    );

    // A two-platform index: this machine's platform by default, the other one when asked for.
    let multi = registry.reference("team/multi:v1");
    let index_digest = format!("{}@{}", registry.reference("team/multi"), index.digest);
    for (platform, architecture) in [(None, "amd64"), (Some("linux/arm64"), "arm64")] {
        let expected = index
            .manifests
            .iter()
            .find(|m| m.platform.architecture == architecture)
            .unwrap();
        let pulled = pull(multi.clone(), platform).await.unwrap();
        assert_eq!(pulled.architecture, architecture);
        assert_eq!(pulled.id, expected.config.digest, "{architecture}");
        // dockerd 20.10 records the index's digest for this machine's platform only.
        if platform.is_none() {
            assert_eq!(pulled.repo_digests, vec![index_digest.clone()]);
        }
        assert_eq!(
            pulled.layers,
            diff_ids(&upstream, "team/multi", &expected.config)
        );
    }

    // Removed and pulled again with the upstream stopped: served from packyard's cache.
    upstream.stop();
    let reference = registry.reference("team/app:v1");
    let docker_ = docker.clone();
    blocking(move || docker_.remove(&reference)).await;
    let again = pull(registry.reference("team/app:v1"), None).await.unwrap();
    assert_eq!(again.id, image.config.digest);
    assert_eq!(again.layers, app_layers);
}
