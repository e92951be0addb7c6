//! The backup and restore of the operator guide (`docs/operations.md`), run as the guide writes them: the
//! real binary on SQLite and local disk publishes a hosted file and caches one from an upstream that wants
//! a password; the guide's backup commands copy the data while the server runs; the data folder is wiped;
//! the guide's restore commands bring it back; and the restarted server serves both files with the same
//! digests to the same tokens, and still reaches the upstream with the password the restored secret key
//! decrypts. Needs the `sqlite3` command (`scripts/install-test-deps.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{create_virtual_registry, start_server, start_with_hosted_group};
use packyard_test_support::{FakeAuth, FakeUpstream, Reply};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The shell block that follows `<!-- backup-restore-check: NAME -->` in the operator guide.
fn guide_block(name: &str) -> String {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md"),
    )
    .unwrap();
    let marker = format!("<!-- backup-restore-check: {name} -->");
    let (_, after) = guide
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker} in docs/operations.md"));
    let block = after
        .trim_start()
        .strip_prefix("```sh\n")
        .unwrap_or_else(|| panic!("no ```sh block right after {marker}"));
    block.split_once("\n```").unwrap().0.to_owned()
}

/// Runs a block of the guide with bash, as an operator pastes it, with `DATA` and `BACKUP` set.
fn run_guide(name: &str, data: &Path, backup: &Path) {
    let script = guide_block(name);
    let output = Command::new("bash")
        .args(["-e", "-u", "-o", "pipefail", "-c", &script])
        .env("DATA", data)
        .env("BACKUP", backup)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "the guide's {name} failed:\n{script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that compress badly and differ per seed, so a mix-up can't pass.
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 2_654_435_761 + u64::from(seed)).to_be_bytes()[5])
        .collect()
}

#[tokio::test]
async fn the_guides_backup_restores_files_tokens_and_upstream_passwords() {
    assert!(
        Command::new("sqlite3").arg("--version").output().is_ok(),
        "the guide's backup needs sqlite3 (scripts/install-test-deps.sh)"
    );
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let backup = work.path().join("backup");

    let upstream = FakeUpstream::start().await;
    upstream.require(FakeAuth::Basic("reader".into(), "upstream-s3cret".into()));
    let cached = content(1, 300_000);
    let later = content(2, 1_000);
    let cached_path = "com/example/lib/1.0/lib-1.0.jar";
    let later_path = "com/example/lib/1.1/lib-1.1.jar";
    upstream.set(
        &format!("/{cached_path}"),
        Reply::file(cached.clone(), "application/java-archive"),
    );
    upstream.set(
        &format!("/{later_path}"),
        Reply::file(later.clone(), "application/java-archive"),
    );

    let acme = start_with_hosted_group(&data, ("build", &["api"]), "ci").await;
    let client = acme.client.clone();
    let group = acme.group["id"].as_i64().unwrap();
    let (registry, _) = create_virtual_registry(
        &client,
        &acme.api,
        &acme.admin,
        "packages/maven",
        group,
        &[json!({
            "name": "company", "url": upstream.url,
            "username": "reader", "password": "upstream-s3cret",
        })],
    )
    .await;
    let maven = |base: &str, path: &str| {
        format!("{base}/api/v4/virtual_registries/packages/maven/{registry}/{path}")
    };
    let hosted_path = "company/acme/package/-/generic/tool/1.0.0/tool.bin";
    let hosted = content(3, 200_000);
    let published = client
        .put(format!("{}/{hosted_path}", acme.server.base))
        .basic_auth("dev", Some(&acme.developer_token))
        .body(hosted.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    let filled = client
        .get(maven(&acme.server.base, cached_path))
        .header("PRIVATE-TOKEN", &acme.developer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(filled.status(), 200);
    assert_eq!(sha256(&filled.bytes().await.unwrap()), sha256(&cached));

    // Backed up while the server runs, then everything is lost.
    run_guide("backup", &data, &backup);
    let (admin, developer_token, deploy_user, deploy_token) = (
        acme.admin.clone(),
        acme.developer_token.clone(),
        acme.deploy_user.clone(),
        acme.deploy_token.clone(),
    );
    drop(acme);
    std::fs::remove_dir_all(&data).unwrap();
    run_guide("restore", &data, &backup);
    let server = start_server(&data).await;

    let download = client
        .get(format!("{}/{hosted_path}", server.base))
        .basic_auth(&deploy_user, Some(&deploy_token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.status(),
        200,
        "the hosted file, to the same deploy token"
    );
    assert_eq!(download.headers()["x-checksum-sha256"], sha256(&hosted));
    assert_eq!(sha256(&download.bytes().await.unwrap()), sha256(&hosted));

    let upstream_gets = upstream.count("GET", &format!("/{cached_path}"));
    let from_cache = client
        .get(maven(&server.base, cached_path))
        .header("PRIVATE-TOKEN", &developer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(from_cache.status(), 200, "the personal token still works");
    assert_eq!(sha256(&from_cache.bytes().await.unwrap()), sha256(&cached));
    assert_eq!(
        upstream.count("GET", &format!("/{cached_path}")),
        upstream_gets,
        "served from the restored cache"
    );

    // A file not cached yet: the upstream password is decrypted with the restored secret key.
    let fetched = client
        .get(maven(&server.base, later_path))
        .header("PRIVATE-TOKEN", &developer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(sha256(&fetched.bytes().await.unwrap()), sha256(&later));
    let credentials = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("reader:upstream-s3cret")
    );
    assert!(
        upstream
            .requests()
            .iter()
            .any(|request| request.path == format!("/{later_path}")
                && request.method == "GET"
                && request.authorization.as_deref() == Some(credentials.as_str())),
        "the upstream got its password: {:?}",
        upstream.requests()
    );

    let groups = client
        .get(format!("{}/api/v4/groups", server.base))
        .header("PRIVATE-TOKEN", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.status(),
        200,
        "the administrator's token still works"
    );
    let groups: serde_json::Value = groups.json().await.unwrap();
    assert_eq!(groups[0]["path"], "acme");
}
