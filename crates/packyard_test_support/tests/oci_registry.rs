//! The OCI registry fixture against the registry itself: push with skopeo, pull back with skopeo.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use packyard_test_support::oci_registry::{
    ACCEPT_ALL_MANIFESTS, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ManifestFormat, OCI_INDEX,
    OCI_MANIFEST, OciRegistry, podman_available, podman_pull, sha256_digest, skopeo_pull,
    try_podman_pull, try_skopeo_pull,
};

const USER: &str = "puller";
const PASSWORD: &str = "s3cret";

#[test]
fn unauthenticated_requests_get_a_basic_challenge() {
    let Some(registry) = OciRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let reply = registry.fetch("GET", "/v2/", &[]);
    assert_eq!(reply.status, 401);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    assert!(challenge.contains("realm=\"packyard-test\""), "{challenge}");

    let wrong = packyard_test_support::oci_registry::basic_authorization(USER, "wrong");
    let reply = registry.fetch("GET", "/v2/", &[("Authorization", &wrong)]);
    assert_eq!(reply.status, 401);

    let right = registry.authorization().unwrap();
    let reply = registry.fetch("GET", "/v2/", &[("Authorization", &right)]);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    let log = registry.access_log();
    let statuses: Vec<u16> = log
        .iter()
        .filter(|entry| entry.path() == "/v2/")
        .map(|entry| entry.status)
        .collect();
    // The readiness probe's 401, then the three above.
    assert_eq!(statuses, [401, 401, 401, 200]);
}

#[test]
fn an_image_pulls_back_with_the_digests_pushed() {
    let Some(registry) = OciRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let image = registry.push_image("team/app", "v1", 3, 3 * 1024 * 1024);
    assert_eq!(image.media_type, OCI_MANIFEST);
    assert_eq!(image.layers.len(), 3);
    assert!(image.layers.iter().all(|l| l.size > 3 * 1024 * 1024));
    assert_eq!(image.digest, sha256_digest(&image.manifest));
    let blobs: Vec<&str> = image.blobs().map(|b| b.digest.as_str()).collect();
    for blob in &blobs {
        assert_eq!(registry.blob_get_count(blob), 0, "the push GETs no blob");
    }
    let gets_before = registry.manifest_get_count("v1");

    let pulled = skopeo_pull(
        &format!("{}/team/app:v1", registry.host()),
        Some((USER, PASSWORD)),
        false,
    );
    assert_eq!(pulled.digest, image.digest);
    assert_eq!(pulled.manifests, std::slice::from_ref(&image.digest));
    let mut expected: Vec<String> = blobs.iter().map(|b| (*b).to_owned()).collect();
    expected.sort();
    assert_eq!(pulled.blobs, expected);
    for blob in &blobs {
        assert_eq!(registry.blob_get_count(blob), 1, "{blob}");
    }
    assert_eq!(registry.manifest_get_count("v1"), gets_before + 1);

    // The same image by digest, without credentials: refused.
    let error = try_skopeo_pull(
        &format!("{}/team/app@{}", registry.host(), image.digest),
        None,
        false,
    )
    .unwrap_err();
    assert!(
        error.contains("401") || error.contains("authentication required"),
        "{error}"
    );
    for blob in &blobs {
        assert_eq!(registry.blob_get_count(blob), 1, "{blob}");
    }
}

#[test]
fn an_index_pulls_back_with_every_platform() {
    let Some(registry) = OciRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let index = registry.push_index("team/multi", "latest");
    assert_eq!(index.media_type, OCI_INDEX);
    assert_eq!(index.digest, sha256_digest(&index.index));
    let platforms: Vec<String> = index
        .manifests
        .iter()
        .map(|m| format!("{}/{}", m.platform.os, m.platform.architecture))
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert!(index.manifests.iter().all(|m| m.media_type == OCI_MANIFEST));

    let pulled = skopeo_pull(
        &format!("{}/team/multi:latest", registry.host()),
        Some((USER, PASSWORD)),
        true,
    );
    assert_eq!(pulled.digest, index.digest);
    let mut manifests: Vec<String> = index.manifests.iter().map(|m| m.digest.clone()).collect();
    manifests.push(index.digest.clone());
    manifests.sort();
    let mut pulled_manifests = pulled.manifests.clone();
    pulled_manifests.sort();
    assert_eq!(pulled_manifests, manifests);
    let mut blobs: Vec<String> = index.blobs().map(|b| b.digest.clone()).collect();
    blobs.sort();
    assert_eq!(pulled.blobs, blobs);
    for blob in &blobs {
        assert_eq!(registry.blob_get_count(blob), 1, "{blob}");
    }
    for manifest in &index.manifests {
        assert_eq!(registry.manifest_get_count(&manifest.digest), 1);
    }

    // Without `--all`, skopeo copies only this machine's platform's image.
    let single = skopeo_pull(
        &format!("{}/team/multi:latest", registry.host()),
        Some((USER, PASSWORD)),
        false,
    );
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let native = index
        .manifests
        .iter()
        .find(|m| m.platform.architecture == architecture)
        .unwrap();
    assert_eq!(single.digest, native.digest);
    assert_eq!(single.manifests, std::slice::from_ref(&native.digest));
}

#[test]
fn docker_format_images_and_lists_are_served_as_docker_media_types() {
    let Some(registry) = OciRegistry::start(None) else {
        return;
    };
    let reply = registry.fetch("GET", "/v2/", &[]);
    assert_eq!(reply.status, 200);

    let image = registry.push_image_as(ManifestFormat::Docker, "plain", "v1", 1, 1024);
    assert_eq!(image.media_type, DOCKER_MANIFEST);
    let index = registry.push_index_as(ManifestFormat::Docker, "plain-multi", "v1");
    assert_eq!(index.media_type, DOCKER_MANIFEST_LIST);
    assert!(
        index
            .manifests
            .iter()
            .all(|m| m.media_type == DOCKER_MANIFEST)
    );

    let pulled = skopeo_pull(&format!("{}/plain-multi:v1", registry.host()), None, true);
    assert_eq!(pulled.digest, index.digest);
    let reply = registry.fetch(
        "GET",
        &format!("/v2/plain/manifests/{}", image.digest),
        &[("Accept", ACCEPT_ALL_MANIFESTS)],
    );
    assert_eq!(reply.body, image.manifest);
}

#[test]
fn a_stopped_registry_refuses_connections_and_restarts_with_its_images() {
    let Some(registry) = OciRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let image = registry.push_image("app", "v1", 1, 4096);
    registry.stop();
    assert!(std::net::TcpStream::connect(registry.host()).is_err());
    let error = try_skopeo_pull(
        &format!("{}/app:v1", registry.host()),
        Some((USER, PASSWORD)),
        false,
    )
    .unwrap_err();
    assert!(error.contains("connection refused"), "{error}");

    registry.restart();
    let pulled = skopeo_pull(
        &format!("{}/app:v1", registry.host()),
        Some((USER, PASSWORD)),
        false,
    );
    assert_eq!(pulled.digest, image.digest);
    assert_eq!(registry.blob_get_count(&image.layers[0].digest), 1);
}

/// What this registry answers to each `Accept`: the exact stored type must be accepted (`*/*` is not
/// enough), except that a Docker manifest list is rewritten to its linux/amd64 image for a client that
/// accepts only Docker manifests.
#[test]
fn manifests_are_served_only_to_clients_accepting_their_type() {
    let Some(registry) = OciRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let authorization = registry.authorization().unwrap();
    let oci_index = registry.push_index("oci-multi", "v1");
    let oci_image = registry.push_image("oci-single", "v1", 1, 16);
    let docker_list = registry.push_index_as(ManifestFormat::Docker, "docker-multi", "v1");
    let docker_image = registry.push_image_as(ManifestFormat::Docker, "docker-single", "v1", 1, 16);
    let get = |repo: &str, accept: Option<&str>| {
        let mut headers = vec![("Authorization", authorization.as_str())];
        headers.extend(accept.map(|accept| ("Accept", accept)));
        let reply = registry.fetch("GET", &format!("/v2/{repo}/manifests/v1"), &headers);
        let digest = reply.header("docker-content-digest").map(str::to_owned);
        (reply.status, digest)
    };

    assert_eq!(
        get("oci-multi", Some(OCI_INDEX)),
        (200, Some(oci_index.digest))
    );
    assert_eq!(
        get("oci-single", Some(OCI_MANIFEST)),
        (200, Some(oci_image.digest))
    );
    assert_eq!(
        get("docker-multi", Some(DOCKER_MANIFEST_LIST)),
        (200, Some(docker_list.digest))
    );
    assert_eq!(
        get("docker-single", Some(DOCKER_MANIFEST)),
        (200, Some(docker_image.digest))
    );
    // The list's linux/amd64 image instead of the list.
    let amd64 = &docker_list.manifests[0];
    assert_eq!(amd64.platform.architecture, "amd64");
    assert_eq!(
        get("docker-multi", Some(DOCKER_MANIFEST)),
        (200, Some(amd64.digest.clone()))
    );

    for accept in [
        None,
        Some("*/*"),
        Some(DOCKER_MANIFEST),
        Some(DOCKER_MANIFEST_LIST),
    ] {
        assert_eq!(get("oci-multi", accept), (404, None), "{accept:?}");
        assert_eq!(get("oci-single", accept), (404, None), "{accept:?}");
    }
    assert_eq!(get("oci-multi", Some(OCI_MANIFEST)), (404, None));
    assert_eq!(get("oci-single", Some(OCI_INDEX)), (404, None));
    // Docker types not accepted: the registry tries a schema 1 conversion, and refuses.
    for accept in [None, Some("*/*"), Some(OCI_INDEX), Some(OCI_MANIFEST)] {
        assert_eq!(get("docker-multi", accept), (400, None), "{accept:?}");
        assert_eq!(get("docker-single", accept), (400, None), "{accept:?}");
    }
}

#[test]
fn podman_pulls_an_image_and_an_index() {
    if !podman_available() {
        return;
    }
    let Some(registry) = OciRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let image = registry.push_image("app", "v1", 2, 256 * 1024);
    let index = registry.push_index("multi", "v1");

    let pulled = podman_pull(
        &format!("{}/app:v1", registry.host()),
        Some((USER, PASSWORD)),
    );
    assert_eq!(pulled.digest, image.digest);
    assert_eq!(format!("sha256:{}", pulled.id), image.config.digest);
    for blob in image.blobs() {
        assert_eq!(registry.blob_get_count(&blob.digest), 1);
    }

    let pulled = podman_pull(
        &format!("{}/multi:v1", registry.host()),
        Some((USER, PASSWORD)),
    );
    let picked = index
        .manifests
        .iter()
        .find(|m| format!("sha256:{}", pulled.id) == m.config.digest)
        .expect("podman stored one of the index's images");
    assert_eq!(pulled.digest, index.digest);
    assert_eq!(registry.manifest_get_count(&picked.digest), 1);

    let refused = try_podman_pull(&format!("{}/app:v1", registry.host()), None).unwrap_err();
    assert!(
        refused.contains("unauthorized") || refused.contains("401"),
        "{refused}"
    );
}
