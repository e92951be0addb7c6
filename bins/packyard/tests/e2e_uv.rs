//! End to end: the real binary with uv. `uv publish` sends the fixture's wheel and sdist and a second
//! wheel that depends on the first to a group's PyPI repository with a developer's token from the
//! environment, as CI does; then, with a `uv.toml` naming packyard as the default index and a deploy
//! token in `UV_INDEX_*` variables, `uv pip compile` resolves the dependency from PEP 691 JSON and
//! PEP 658 metadata alone (no distribution is downloaded, as the download counts show) and `uv pip
//! install` installs both wheels byte for byte. uv comes from `scripts/install-test-deps.sh`; it never
//! reaches the internet: its only index is packyard and its cache is fresh.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::clients::{
    PythonProject, as_listed, copy_dir, installed_client, isolated, listed_version, succeed,
};
use common::{HostedGroup, start_with_hosted_group};

/// uv with a fresh cache and no user or system configuration.
fn uv(uv: &Path, home: &Path, cache: &Path) -> Command {
    let mut command = isolated(uv, home);
    command
        .env("UV_CACHE_DIR", cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_PROGRESS", "1");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_publishes_resolves_from_metadata_and_installs() {
    let uv_bin = installed_client("PACKYARD_TEST_UV", "/opt/packyard-test-venv/bin/uv");
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The fixture's wheel and sdist, and a wheel that depends on it.
    let fixture = work.path().join("demo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pypi-app"),
        &fixture,
    );
    succeed(
        "building the fixture's distributions",
        Command::new("python3")
            .current_dir(&fixture)
            .args([
                "-c",
                "import packyard_demo_backend as b; b.build_sdist('dist'); b.build_wheel('dist')",
            ])
            .output()
            .unwrap(),
    );
    let demo_wheel = fixture.join("dist/packyard_demo-1.0.0-py3-none-any.whl");
    let demo_sdist = fixture.join("dist/packyard_demo-1.0.0.tar.gz");
    let widget = PythonProject {
        name: "packyard-widget",
        version: "2.1.0",
        requires: &["packyard-demo>=1.0"],
        module: "packyard_widget",
        value: "widget resolved by uv",
    };
    let widget_wheel = widget.build_wheel(&work.path().join("widget-dist"));

    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_user,
        deploy_token,
        ..
    } = start_with_hosted_group(&data, ("uv", &["write_package_registry"]), "uv-ci").await;
    let repository = format!("{}/company/acme/package/-/pypi", server.base);

    // uv publish, with the credentials in the environment as a CI job passes them.
    let publish_cache = work.path().join("publish-cache");
    succeed(
        "uv publish",
        uv(&uv_bin, &home, &publish_cache)
            .env("UV_PUBLISH_URL", &repository)
            .env("UV_PUBLISH_USERNAME", "dev")
            .env("UV_PUBLISH_PASSWORD", &developer_token)
            .args(["publish", "--no-config"])
            .arg(&demo_wheel)
            .arg(&demo_sdist)
            .arg(&widget_wheel)
            .output()
            .unwrap(),
    );
    let listed = |name: &'static str, version: &'static str| {
        let (client, base, admin) = (client.clone(), server.base.clone(), admin.clone());
        async move { listed_version(&client, &base, &admin, ("pypi", name, version)).await }
    };
    let demo = listed("packyard-demo", "1.0.0").await;
    assert_eq!(
        demo.files,
        [as_listed(&demo_wheel), as_listed(&demo_sdist)],
        "what uv published"
    );
    assert_eq!(
        listed("packyard-widget", "2.1.0").await.files,
        [as_listed(&widget_wheel)]
    );

    // A project's uv.toml: packyard is the default (and only) index; the deploy token comes from
    // UV_INDEX_PACKYARD_USERNAME/PASSWORD.
    let project = work.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("uv.toml"),
        format!("[[index]]\nname = \"packyard\"\nurl = \"{repository}/simple/\"\ndefault = true\n"),
    )
    .unwrap();
    std::fs::write(project.join("requirements.in"), "packyard-widget\n").unwrap();
    let cache = work.path().join("install-cache");
    let consumer = || {
        let mut command = uv(&uv_bin, &home, &cache);
        command
            .current_dir(&project)
            .env("UV_INDEX_PACKYARD_USERNAME", &deploy_user)
            .env("UV_INDEX_PACKYARD_PASSWORD", &deploy_token);
        command
    };

    // Resolving reads the JSON index and the wheels' core metadata, and downloads nothing.
    let compiled = succeed(
        "uv pip compile",
        consumer()
            .args([
                "pip",
                "compile",
                "--config-file",
                "uv.toml",
                "--python",
                "python3",
                "--no-header",
                "--no-annotate",
                "requirements.in",
            ])
            .output()
            .unwrap(),
    );
    let pins: Vec<&str> = compiled.lines().map(str::trim).collect();
    assert_eq!(
        pins,
        ["packyard-demo==1.0.0", "packyard-widget==2.1.0"],
        "{compiled}"
    );
    assert_eq!(listed("packyard-demo", "1.0.0").await.downloads, 0);
    assert_eq!(listed("packyard-widget", "2.1.0").await.downloads, 0);

    // Installing downloads each wheel once and lays down the bytes that were published.
    let site = work.path().join("site");
    succeed(
        "uv pip install",
        consumer()
            .args([
                "pip",
                "install",
                "--config-file",
                "uv.toml",
                "--python",
                "python3",
                "--target",
            ])
            .arg(&site)
            .args(["-r", "requirements.in"])
            .output()
            .unwrap(),
    );
    let installed = |relative: &str| -> PathBuf { site.join(relative) };
    assert_eq!(
        std::fs::read(installed("packyard_widget/__init__.py")).unwrap(),
        widget.module_source().as_bytes()
    );
    assert_eq!(
        std::fs::read(installed("packyard_demo/__init__.py")).unwrap(),
        std::fs::read(fixture.join("packyard_demo/__init__.py")).unwrap()
    );
    assert!(installed("packyard_widget-2.1.0.dist-info/METADATA").is_file());
    assert_eq!(listed("packyard-demo", "1.0.0").await.downloads, 1);
    assert_eq!(listed("packyard-widget", "2.1.0").await.downloads, 1);
    let imported = succeed(
        "importing what uv installed",
        Command::new("python3")
            .env("PYTHONPATH", &site)
            .args([
                "-c",
                "import packyard_widget, packyard_demo; print(packyard_widget.VALUE, '/', packyard_demo.VALUE)",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(
        imported.trim(),
        "widget resolved by uv / installed through packyard"
    );
}
