//! End to end: the real binary with pdm. `pdm publish` builds the fixture project (its in-tree backend
//! needs nothing installed) and uploads its wheel and sdist to a group's PyPI repository with a
//! developer's token in `PDM_PUBLISH_*` variables; a second project replaces the default `pypi` source
//! with packyard, credentials expanded from the environment (a deploy token, as CI passes it),
//! `pdm lock` resolves from the index's core metadata without downloading a distribution, and `pdm
//! install` installs the locked wheel, whose hash the lock file records, byte for byte. pdm comes from
//! `scripts/install-test-deps.sh`; its only index is packyard, its cache and configuration are fresh.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

use common::clients::{
    as_listed, copy_dir, file_digests, find_installed, installed_client, isolated, listed_version,
    succeed,
};
use common::{HostedGroup, start_with_hosted_group};

/// pdm with its own home, configuration and cache, and no update check.
fn pdm(pdm: &Path, home: &Path) -> Command {
    let mut command = isolated(pdm, home);
    command
        .env("PDM_HOME", home.join("pdm-home"))
        .env("PDM_CONFIG_FILE", home.join("pdm-config.toml"))
        .env("PDM_CACHE_DIR", home.join("pdm-cache"))
        .env("PDM_CHECK_UPDATE", "false")
        .env("PDM_NON_INTERACTIVE", "1")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdm_publishes_locks_and_installs_through_packyard() {
    let pdm_bin = installed_client("PACKYARD_TEST_PDM", "/opt/packyard-test-pdm/bin/pdm");
    let work = tempfile::tempdir().unwrap();
    let publisher_home = work.path().join("publisher-home");
    let consumer_home = work.path().join("consumer-home");

    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_user,
        deploy_token,
        ..
    } = start_with_hosted_group(&data, ("pdm", &["write_package_registry"]), "pdm-ci").await;
    let repository = format!("{}/company/acme/package/-/pypi", server.base);

    // pdm publish: builds, then uploads with the credentials from the environment.
    let demo = work.path().join("demo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pypi-app"),
        &demo,
    );
    succeed(
        "pdm publish",
        pdm(&pdm_bin, &publisher_home)
            .current_dir(&demo)
            .env("PDM_PUBLISH_REPO", &repository)
            .env("PDM_PUBLISH_USERNAME", "dev")
            .env("PDM_PUBLISH_PASSWORD", &developer_token)
            .arg("publish")
            .output()
            .unwrap(),
    );
    let wheel = demo.join("dist/packyard_demo-1.0.0-py3-none-any.whl");
    let sdist = demo.join("dist/packyard_demo-1.0.0.tar.gz");
    let listed = || {
        listed_version(
            &client,
            &server.base,
            &admin,
            ("pypi", "packyard-demo", "1.0.0"),
        )
    };
    let mut files = listed().await.files;
    files.sort();
    let mut expected = vec![as_listed(&wheel), as_listed(&sdist)];
    expected.sort();
    assert_eq!(files, expected, "what pdm built and published");

    // A project whose only source is packyard, its credentials expanded from the environment.
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let host = server.base.trim_start_matches("http://");
    std::fs::write(
        app.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
             dependencies = [\"packyard-demo>=1.0\"]\n\n\
             [tool.pdm]\ndistribution = false\n\n\
             [[tool.pdm.source]]\nname = \"pypi\"\n\
             url = \"http://${{PACKYARD_USER}}:${{PACKYARD_TOKEN}}@{host}/company/acme/package/-/pypi/simple\"\n"
        ),
    )
    .unwrap();
    let consumer = || {
        let mut command = pdm(&pdm_bin, &consumer_home);
        command
            .current_dir(&app)
            .env("PACKYARD_USER", &deploy_user)
            .env("PACKYARD_TOKEN", &deploy_token);
        command
    };
    succeed("pdm lock", consumer().arg("lock").output().unwrap());
    assert_eq!(
        listed().await.downloads,
        0,
        "pdm lock reads the core metadata, not the distributions"
    );
    let lock = std::fs::read_to_string(app.join("pdm.lock")).unwrap();
    for (file, sha256) in [
        (
            "packyard_demo-1.0.0-py3-none-any.whl",
            file_digests(&wheel).sha256,
        ),
        ("packyard_demo-1.0.0.tar.gz", file_digests(&sdist).sha256),
    ] {
        assert!(
            lock.contains(&format!(
                "{{file = \"{file}\", hash = \"sha256:{sha256}\"}}"
            )),
            "{file} with its sha256 in pdm.lock:\n{lock}"
        );
    }
    assert!(
        !lock.contains(&deploy_token),
        "pdm.lock keeps the variables, not the token"
    );

    succeed(
        "pdm install",
        consumer()
            .args(["install", "--frozen-lockfile"])
            .output()
            .unwrap(),
    );
    let installed = find_installed(
        &app.join(".venv"),
        "site-packages/packyard_demo/__init__.py",
    );
    assert_eq!(
        std::fs::read(installed).unwrap(),
        std::fs::read(demo.join("packyard_demo/__init__.py")).unwrap()
    );
    assert_eq!(listed().await.downloads, 1, "the wheel, once");
}
