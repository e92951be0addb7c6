//! End to end: the real binary with yarn (Berry). `yarn npm publish` sends an unscoped package and a
//! scoped one that depends on it to a group's npm registry; each project's `.yarnrc.yml` names packyard as
//! `npmRegistryServer` with `npmAuthToken` expanded from the environment; a developer's `yarn install`
//! writes `yarn.lock`, then a fresh checkout with a fresh cache and a group deploy token runs `yarn
//! install --immutable`, as CI does. What it installed is compared byte for byte with the packages'
//! sources. yarn comes from `scripts/install-test-deps.sh` (the `@yarnpkg/cli-dist` bundle); it never
//! reaches the internet: telemetry is off, its only registry is packyard and its cache is the test's.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

use common::clients::{installed_client, isolated, listed_version, succeed};
use common::{HostedGroup, start_with_hosted_group};
use serde_json::json;

/// Writes a package: its `package.json` and `index.js`.
fn package(dir: &Path, manifest: &serde_json::Value, index: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("index.js"), index).unwrap();
}

/// yarn with its global folder in this home.
fn yarn(yarn: &Path, home: &Path) -> Command {
    let mut command = isolated(yarn, home);
    command
        .env("YARN_GLOBAL_FOLDER", home.join("yarn-global"))
        .env("YARN_ENABLE_TELEMETRY", "0")
        .env("YARN_ENABLE_PROGRESS_BARS", "0");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yarn_installs_a_locked_project_from_packyard() {
    let yarn_bin = installed_client("PACKYARD_TEST_YARN", "/opt/packyard-test-npm/bin/yarn");
    let work = tempfile::tempdir().unwrap();

    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_token,
        ..
    } = start_with_hosted_group(
        &data,
        ("yarn", &["read_package_registry", "write_package_registry"]),
        "yarn-ci",
    )
    .await;
    let registry = format!("{}/company/acme/package/-/npm/", server.base);

    // The .yarnrc.yml the docs give, and an empty yarn.lock that makes a folder a project of its own.
    // Yarn quarantines versions published less than a day ago (npmMinimalAgeGate), so the group's
    // own packages are preapproved.
    let yarnrc = format!(
        "npmRegistryServer: \"{registry}\"\n\
         npmAuthToken: \"${{PACKYARD_NPM_TOKEN}}\"\n\
         npmAlwaysAuth: true\n\
         unsafeHttpWhitelist:\n  - \"127.0.0.1\"\n\
         npmPreapprovedPackages:\n  - \"@acme/*\"\n  - \"packyard-*\"\n\
         enableTelemetry: false\n\
         enableGlobalCache: false\n\
         cacheFolder: \"./.yarn/cache\"\n\
         nodeLinker: node-modules\n"
    );
    let yarn_project = |dir: &Path| {
        std::fs::write(dir.join(".yarnrc.yml"), &yarnrc).unwrap();
        if !dir.join("yarn.lock").exists() {
            std::fs::write(dir.join("yarn.lock"), "").unwrap();
        }
    };
    let developer_home = work.path().join("developer-home");
    std::fs::create_dir_all(&developer_home).unwrap();
    let developer = |dir: &Path| {
        let mut command = yarn(&yarn_bin, &developer_home);
        command
            .current_dir(dir)
            .env("PACKYARD_NPM_TOKEN", &developer_token);
        command
    };

    // Two packages, installed and published with yarn npm publish (the scoped one depends on the
    // other, so its install already reads packyard).
    let left = work.path().join("left");
    let left_index = "module.exports = 'left 3.0.1';\n";
    package(
        &left,
        &json!({"name": "packyard-left", "version": "3.0.1", "main": "index.js", "license": "MIT"}),
        left_index,
    );
    let widget = work.path().join("widget");
    let widget_index = "module.exports = 'widget with ' + require('packyard-left');\n";
    package(
        &widget,
        &json!({
            "name": "@acme/widget", "version": "1.4.0", "main": "index.js", "license": "MIT",
            "dependencies": {"packyard-left": "^3.0.0"},
        }),
        widget_index,
    );
    for dir in [&left, &widget] {
        yarn_project(dir);
        succeed(
            "yarn install",
            developer(dir).arg("install").output().unwrap(),
        );
        succeed(
            "yarn npm publish",
            developer(dir).args(["npm", "publish"]).output().unwrap(),
        );
    }

    // The project.
    let project_files = |dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            json!({"name": "app", "version": "1.0.0", "private": true,
                   "dependencies": {"@acme/widget": "^1.4.0"}})
            .to_string(),
        )
        .unwrap();
        yarn_project(dir);
    };

    // The developer's install writes yarn.lock.
    let checkout = work.path().join("developer-app");
    project_files(&checkout);
    succeed(
        "yarn install",
        developer(&checkout).arg("install").output().unwrap(),
    );
    let lock = std::fs::read_to_string(checkout.join("yarn.lock")).unwrap();
    for resolution in [
        "resolution: \"@acme/widget@npm:1.4.0\"",
        "resolution: \"packyard-left@npm:3.0.1\"",
    ] {
        assert!(
            lock.contains(resolution),
            "{resolution} in yarn.lock:\n{lock}"
        );
    }

    // CI: a fresh checkout with the committed lock file, a fresh home and cache, the deploy token.
    let ci_home = work.path().join("ci-home");
    std::fs::create_dir_all(&ci_home).unwrap();
    let ci_app = work.path().join("ci-app");
    std::fs::create_dir_all(&ci_app).unwrap();
    std::fs::write(ci_app.join("yarn.lock"), &lock).unwrap();
    project_files(&ci_app);
    succeed(
        "yarn install --immutable",
        yarn(&yarn_bin, &ci_home)
            .current_dir(&ci_app)
            .env("PACKYARD_NPM_TOKEN", &deploy_token)
            .args(["install", "--immutable"])
            .output()
            .unwrap(),
    );
    let modules = ci_app.join("node_modules");
    assert_eq!(
        std::fs::read_to_string(modules.join("@acme/widget/index.js")).unwrap(),
        widget_index
    );
    assert_eq!(
        std::fs::read_to_string(modules.join("packyard-left/index.js")).unwrap(),
        left_index
    );
    let ran = Command::new("node")
        .current_dir(&ci_app)
        .args(["-e", "console.log(require('@acme/widget'))"])
        .output()
        .unwrap();
    assert_eq!(succeed("node", ran).trim(), "widget with left 3.0.1");

    // Each tarball was fetched once per home (yarn keeps a mirror in its global folder: the
    // developer's second install read packyard-left from there), and nothing else was published.
    for (name, version) in [("packyard-left", "3.0.1"), ("@acme/widget", "1.4.0")] {
        let listed = listed_version(&client, &server.base, &admin, ("npm", name, version)).await;
        assert_eq!(listed.downloads, 2, "{name}");
        assert_eq!(listed.files.len(), 1, "{name}");
    }
}
