//! End to end: the real binary with pnpm. `pnpm publish` sends an unscoped package and a scoped one
//! that depends on it to a group's npm registry with a developer's token; a developer's `pnpm install`
//! writes the project's `pnpm-lock.yaml`; then, as CI does, a fresh checkout of the project (its
//! `package.json`, `.npmrc` and lock file only) with a fresh store runs `pnpm install
//! --frozen-lockfile` with a group deploy token expanded from the environment. What it installed is
//! compared byte for byte with the packages' sources, and the lock's integrities with the tarballs
//! packyard stores. pnpm comes from `scripts/install-test-deps.sh`; its only registry is packyard.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use common::clients::{installed_client, isolated, listed_version, succeed};
use common::{HostedGroup, start_with_hosted_group};
use serde_json::json;
use sha2::{Digest, Sha512};

/// pnpm (and the npm it runs to publish) with this user `.npmrc`, and no update check.
fn pnpm(pnpm: &Path, home: &Path, userconfig: &Path) -> Command {
    let mut command = isolated(pnpm, home);
    command
        .env("npm_config_userconfig", userconfig)
        .env("npm_config_globalconfig", home.join("no-global-npmrc"))
        .env("npm_config_cache", home.join("npm-cache"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fetch_retries", "0");
    command
}

/// Writes a package: its `package.json` and `index.js`.
fn package(dir: &Path, manifest: &serde_json::Value, index: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("index.js"), index).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnpm_publishes_and_installs_a_locked_project() {
    let pnpm_bin = installed_client("PACKYARD_TEST_PNPM", "/opt/packyard-test-npm/bin/pnpm");
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
        ("pnpm", &["read_package_registry", "write_package_registry"]),
        "pnpm-ci",
    )
    .await;
    let registry = format!("{}/company/acme/package/-/npm/", server.base);
    let auth_key = registry.trim_start_matches("http:");
    // The `.npmrc` files the docs give: the project's names the registry for every package and for
    // the scope; the user's holds the token, from an environment variable (pnpm expands variables
    // in credentials only there, never in a project's file).
    let project_npmrc = format!("registry={registry}\n@acme:registry={registry}\n");
    let user_npmrc = format!("{auth_key}:_authToken=${{PACKYARD_NPM_TOKEN}}\n");

    // pnpm publish of both packages, from their folders.
    let developer_home = work.path().join("developer-home");
    let developer_rc = developer_home.join(".npmrc");
    std::fs::create_dir_all(&developer_home).unwrap();
    std::fs::write(&developer_rc, format!("{project_npmrc}{user_npmrc}")).unwrap();
    let developer = || {
        let mut command = pnpm(&pnpm_bin, &developer_home, &developer_rc);
        command.env("PACKYARD_NPM_TOKEN", &developer_token);
        command
    };
    let left = work.path().join("left");
    let left_index = "module.exports = 'left 1.2.0';\n";
    package(
        &left,
        &json!({"name": "packyard-left", "version": "1.2.0", "main": "index.js", "license": "MIT"}),
        left_index,
    );
    let widget = work.path().join("widget");
    let widget_index = "module.exports = 'widget with ' + require('packyard-left');\n";
    package(
        &widget,
        &json!({
            "name": "@acme/widget", "version": "1.0.0", "main": "index.js", "license": "MIT",
            "dependencies": {"packyard-left": "^1.0.0"},
        }),
        widget_index,
    );
    for dir in [&left, &widget] {
        succeed(
            "pnpm publish",
            developer()
                .current_dir(dir)
                .args(["publish", "--no-git-checks"])
                .output()
                .unwrap(),
        );
    }

    // The developer's install writes the lock file.
    let project_files = |dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            json!({"name": "app", "version": "1.0.0", "private": true,
                   "dependencies": {"@acme/widget": "^1.0.0"}})
            .to_string(),
        )
        .unwrap();
        std::fs::write(dir.join(".npmrc"), &project_npmrc).unwrap();
    };
    let checkout = work.path().join("developer-app");
    project_files(&checkout);
    succeed(
        "pnpm install",
        developer()
            .current_dir(&checkout)
            .arg("install")
            .output()
            .unwrap(),
    );
    let lock = std::fs::read_to_string(checkout.join("pnpm-lock.yaml")).unwrap();

    // CI: a fresh checkout, home and store, the deploy token, the lock file as it was committed.
    let ci_home = work.path().join("ci-home");
    std::fs::create_dir_all(&ci_home).unwrap();
    let ci_rc = ci_home.join(".npmrc");
    std::fs::write(&ci_rc, &user_npmrc).unwrap();
    let ci_app = work.path().join("ci-app");
    project_files(&ci_app);
    std::fs::write(ci_app.join("pnpm-lock.yaml"), &lock).unwrap();
    succeed(
        "pnpm install --frozen-lockfile",
        pnpm(&pnpm_bin, &ci_home, &ci_rc)
            .current_dir(&ci_app)
            .env("PACKYARD_NPM_TOKEN", &deploy_token)
            .args(["install", "--frozen-lockfile"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(ci_app.join("pnpm-lock.yaml")).unwrap(),
        lock,
        "a frozen install leaves the lock as it was"
    );
    let modules = ci_app.join("node_modules");
    assert_eq!(
        std::fs::read_to_string(modules.join("@acme/widget/index.js")).unwrap(),
        widget_index
    );
    assert_eq!(
        std::fs::read_to_string(
            modules.join(".pnpm/packyard-left@1.2.0/node_modules/packyard-left/index.js")
        )
        .unwrap(),
        left_index
    );
    let ran = Command::new("node")
        .current_dir(&ci_app)
        .args(["-e", "console.log(require('@acme/widget'))"])
        .output()
        .unwrap();
    assert_eq!(succeed("node", ran).trim(), "widget with left 1.2.0");

    // The lock's integrities are those of the tarballs packyard stores, each downloaded once per
    // install (the developer's and CI's).
    for (name, tarball, version) in [
        (
            "packyard-left",
            "packyard-left/-/packyard-left-1.2.0.tgz",
            "1.2.0",
        ),
        ("@acme/widget", "@acme/widget/-/widget-1.0.0.tgz", "1.0.0"),
    ] {
        let listed = listed_version(&client, &server.base, &admin, ("npm", name, version)).await;
        assert_eq!(listed.downloads, 2, "{name}");
        let bytes = client
            .get(format!("{registry}{tarball}"))
            .bearer_auth(&deploy_token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            listed.files[0].2,
            "{name}"
        );
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
        );
        assert!(
            lock.contains(&format!("resolution: {{integrity: {integrity}}}")),
            "{name}'s integrity {integrity} in pnpm-lock.yaml:\n{lock}"
        );
    }
}
