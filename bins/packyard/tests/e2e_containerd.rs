//! End to end: the real binary as a container virtual registry in front of a real OCI registry (Debian's
//! `docker-registry`, with htpasswd auth), pulled through by a `containerd` of the test's own with `ctr
//! images pull --user <user>:<token>`: a two-platform index with every platform (the registry set up in
//! a `hosts.toml` as plain HTTP), then an image whose transfers a proxy cuts every megabyte, which
//! containerd completes only by resuming each blob with `Range` requests that packyard answers `206`. Judged by the content store: containerd
//! commits a blob only once its bytes match its digest.
//! Needs the Debian packages that `scripts/install-test-deps.sh` installs, and root (containerd).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{blocking, start_container_registry};
use packyard_test_support::oci_daemons::{Containerd, CuttingProxy};
use packyard_test_support::oci_registry::OciRegistry;

const UPSTREAM_USER: &str = "puller";
const UPSTREAM_PASSWORD: &str = "upstream-s3cret";
const CUT_AFTER: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctr_pulls_through_packyard_and_resumes_cut_transfers_with_ranges() {
    let Some(upstream) = OciRegistry::start(Some((UPSTREAM_USER, UPSTREAM_PASSWORD))) else {
        return;
    };
    let index = upstream.push_index("team/multi", "v1");
    let big = upstream.push_image("team/big", "v1", 2, 3 * 1024 * 1024 + 12345);

    let work = tempfile::tempdir().unwrap();
    let registry = start_container_registry(
        &work.path().join("data"),
        &upstream.base_url(),
        Some((UPSTREAM_USER, UPSTREAM_PASSWORD)),
    )
    .await;
    let Some(containerd) = blocking(Containerd::start).await else {
        return;
    };
    let containerd = Arc::new(containerd);
    let credentials = ("admin".to_owned(), registry.admin.clone());
    let hosts_dir = containerd.hosts_dir(&registry.host).display().to_string();
    let pull = |reference: String, how: Vec<String>, all_platforms: bool| {
        let (containerd, credentials) = (containerd.clone(), credentials.clone());
        blocking(move || {
            let how: Vec<&str> = how.iter().map(String::as_str).collect();
            containerd.pull(
                &reference,
                (&credentials.0, &credentials.1),
                &how,
                all_platforms,
            )
        })
    };
    let with_hosts_toml = vec!["--hosts-dir".to_owned(), hosts_dir];

    // A wrong token gets nothing.
    let refused = {
        let containerd = containerd.clone();
        let reference = registry.reference("team/multi:v1");
        let how = ["--plain-http"];
        blocking(move || containerd.pull(&reference, ("admin", "pyat-wrong"), &how, false)).await
    };
    assert!(refused.is_err(), "{refused:?}");

    // Every platform of an index: the index, each image's manifest, config and layers; the registry
    // configured in a `hosts.toml`, as a machine's containerd is.
    let multi = registry.reference("team/multi:v1");
    pull(multi.clone(), with_hosts_toml, true).await.unwrap();
    assert_eq!(containerd.image_digest(&multi), Some(index.digest.clone()));
    let (stored, active) = containerd.content();
    let stored: BTreeSet<String> = stored.into_iter().collect();
    let mut expected: BTreeSet<String> = index.manifests.iter().map(|m| m.digest.clone()).collect();
    expected.insert(index.digest.clone());
    for manifest in &index.manifests {
        expected.extend(manifest.blobs().map(|b| b.digest.clone()));
    }
    assert_eq!(stored, expected);
    assert!(active.is_empty(), "unfinished ingests: {active:?}");

    // Through a proxy that cuts every connection after a megabyte: each layer takes several
    // connections, each resuming where the last one stopped. An answer of 200 with the whole blob would
    // be cut at the same place again and the pull would never end.
    let proxy = CuttingProxy::start(&registry.host, CUT_AFTER);
    let cut = format!(
        "{}/virtual_registries/container/{}/team/big:v1",
        proxy.host(),
        registry.registry_id
    );
    pull(cut.clone(), vec!["--plain-http".to_owned()], false)
        .await
        .unwrap();
    assert_eq!(containerd.image_digest(&cut), Some(big.digest.clone()));
    let (stored, active) = containerd.content();
    for blob in big.blobs() {
        assert!(stored.contains(&blob.digest), "{} not stored", blob.digest);
    }
    assert!(active.is_empty(), "unfinished ingests: {active:?}");
    for layer in &big.layers {
        let resumed_at: Vec<u64> = proxy
            .requests()
            .iter()
            .filter(|r| r.line.contains(&format!("/blobs/{} ", layer.digest)))
            .filter_map(|r| {
                r.range
                    .as_deref()?
                    .strip_prefix("bytes=")?
                    .strip_suffix('-')?
                    .parse()
                    .ok()
            })
            .collect();
        assert!(
            resumed_at.len() as u64 >= layer.size / CUT_AFTER,
            "{} ({} bytes) resumed at {resumed_at:?}",
            layer.digest,
            layer.size
        );
        assert!(resumed_at.windows(2).all(|w| w[0] < w[1]), "{resumed_at:?}");
    }
    let statuses = proxy.statuses();
    assert!(
        statuses
            .iter()
            .filter(|s| s.starts_with("HTTP/1.1 206"))
            .count()
            >= 2,
        "{statuses:?}"
    );
    // Each blob crossed the proxy about once, not once per attempt.
    let total: u64 = big.blobs().map(|b| b.size).sum();
    assert!(
        proxy.response_bytes() < total + total / 4,
        "{} response bytes for {total} bytes of blobs",
        proxy.response_bytes()
    );
    for blob in big.blobs() {
        assert_eq!(upstream.blob_get_count(&blob.digest), 1, "{}", blob.digest);
    }
}
