//! End to end: the real binary with the machine's real npm. `npm pack` builds an unscoped and a scoped
//! package, `npm publish` sends them to a group's npm registry with a developer's token from an
//! `.npmrc`, `npm whoami` names the developer, and `npm install` in a fresh project (with a fresh cache
//! and a group deploy token) installs both from packyard alone; then a second version under a dist-tag,
//! `npm dist-tag`, `npm deprecate` and `npm unpublish` (of a version and of a package). GitFlic's
//! service-level listing finally shows exactly the packages, versions, tarballs, digests and downloads
//! that remain. npm never reaches the internet: every registry is packyard.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::clients::npm;
use common::{HostedGroup, start_with_hosted_group};
use serde_json::{Value, json};

fn succeed(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn digests(path: &Path) -> packyard_domain::FileDigests {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(&std::fs::read(path).unwrap());
    hashers.finish()
}

async fn admin_get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client
        .get(&url)
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// Writes a package's folder: its `package.json` and an `index.js`.
fn package(dir: &Path, manifest: Value, index: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("index.js"), index).unwrap();
}

/// `npm pack` in a package folder: the tarball's path.
fn pack(npm: impl Fn() -> Command, dir: &Path, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    let stdout = succeed(
        "npm pack",
        npm()
            .current_dir(dir)
            .arg("pack")
            .arg("--pack-destination")
            .arg(out)
            .output()
            .unwrap(),
    );
    out.join(stdout.lines().last().unwrap().trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_publishes_and_installs_through_packyard() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The server, a group with a developer who publishes and a deploy token that installs.
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
        ("npm", &["read_package_registry", "write_package_registry"]),
        "ci",
    )
    .await;

    let registry = format!("{}/company/acme/package/-/npm/", server.base);
    let auth_key = registry.trim_start_matches("http:");
    let npmrc = |token: &str| {
        format!(
            "registry={registry}\n@acme:registry={registry}\n{auth_key}:_authToken={token}\n\
             audit=false\nfund=false\nupdate-notifier=false\n"
        )
    };
    let publisher_rc = work.path().join("publisher.npmrc");
    std::fs::write(&publisher_rc, npmrc(&developer_token)).unwrap();
    let publisher_cache = work.path().join("publisher-cache");
    let publisher = || npm(&home, &publisher_rc, &publisher_cache);

    // whoami with the developer's token.
    let who = succeed("npm whoami", publisher().arg("whoami").output().unwrap());
    assert_eq!(who.trim(), "dev");

    // Two packages: the scoped one depends on the unscoped one, and says where it publishes.
    let demo_dir = work.path().join("packyard-demo");
    package(
        &demo_dir,
        json!({"name": "packyard-demo", "version": "1.0.0", "description": "A demo", "main": "index.js", "license": "MIT"}),
        "module.exports = 'demo 1';\n",
    );
    let widget_dir = work.path().join("widget");
    package(
        &widget_dir,
        json!({
            "name": "@acme/widget", "version": "1.0.0", "main": "index.js", "license": "MIT",
            "dependencies": {"packyard-demo": "^1.0.0"},
            "publishConfig": {"registry": registry},
        }),
        "module.exports = 'widget with ' + require('packyard-demo');\n",
    );
    let tarballs = work.path().join("tarballs");
    let demo_tgz = pack(publisher, &demo_dir, &tarballs);
    let widget_tgz = pack(publisher, &widget_dir, &tarballs);
    for tarball in [&demo_tgz, &widget_tgz] {
        succeed(
            "npm publish",
            publisher().arg("publish").arg(tarball).output().unwrap(),
        );
    }
    // Publishing a version again is refused, and npm says so (npm checks the packument itself first;
    // packyard's 409 says the same).
    let again = publisher().arg("publish").arg(&demo_tgz).output().unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("previously published version"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A fresh project installs both with the deploy token, from packyard alone.
    let project = work.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name": "app", "version": "1.0.0", "private": true}"#,
    )
    .unwrap();
    let installer_rc = work.path().join("installer.npmrc");
    std::fs::write(&installer_rc, npmrc(&deploy_token)).unwrap();
    let installer_cache = work.path().join("installer-cache");
    succeed(
        "npm install",
        npm(&home, &installer_rc, &installer_cache)
            .current_dir(&project)
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "@acme/widget",
                "packyard-demo",
            ])
            .output()
            .unwrap(),
    );
    let modules = project.join("node_modules");
    for (dir, source) in [("packyard-demo", &demo_dir), ("@acme/widget", &widget_dir)] {
        assert_eq!(
            std::fs::read_to_string(modules.join(dir).join("index.js")).unwrap(),
            std::fs::read_to_string(source.join("index.js")).unwrap()
        );
    }
    let ran = Command::new("node")
        .current_dir(&project)
        .args(["-e", "console.log(require('@acme/widget'))"])
        .output()
        .unwrap();
    assert_eq!(succeed("node", ran).trim(), "widget with demo 1");
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package-lock.json")).unwrap())
            .unwrap();
    let locked = &lock["packages"]["node_modules/@acme/widget"];
    assert_eq!(
        locked["resolved"],
        format!("{registry}@acme/widget/-/widget-1.0.0.tgz")
    );
    assert!(locked["integrity"].as_str().unwrap().starts_with("sha512-"));

    // A second version under a dist-tag, then another tag with npm dist-tag.
    std::fs::write(
        demo_dir.join("package.json"),
        json!({"name": "packyard-demo", "version": "2.0.0-beta.1", "main": "index.js", "license": "MIT"})
            .to_string(),
    )
    .unwrap();
    let demo_beta = pack(publisher, &demo_dir, &tarballs);
    succeed(
        "npm publish --tag next",
        publisher()
            .arg("publish")
            .arg(&demo_beta)
            .args(["--tag", "next"])
            .output()
            .unwrap(),
    );
    succeed(
        "npm dist-tag add",
        publisher()
            .args(["dist-tag", "add", "packyard-demo@2.0.0-beta.1", "beta"])
            .output()
            .unwrap(),
    );
    let tags = succeed(
        "npm dist-tag ls",
        publisher()
            .args(["dist-tag", "ls", "packyard-demo"])
            .output()
            .unwrap(),
    );
    for line in ["latest: 1.0.0", "next: 2.0.0-beta.1", "beta: 2.0.0-beta.1"] {
        assert!(tags.contains(line), "{line} in {tags}");
    }
    let view = succeed(
        "npm view",
        publisher()
            .args(["view", "packyard-demo", "dist-tags.latest"])
            .output()
            .unwrap(),
    );
    assert_eq!(view.trim(), "1.0.0");

    // npm deprecate: the message shows on that version only.
    succeed(
        "npm deprecate",
        publisher()
            .args(["deprecate", "packyard-demo@2.0.0-beta.1", "try 1.0.0"])
            .output()
            .unwrap(),
    );
    let deprecated = succeed(
        "npm view deprecated",
        publisher()
            .args(["view", "packyard-demo@2.0.0-beta.1", "deprecated"])
            .output()
            .unwrap(),
    );
    assert_eq!(deprecated.trim(), "try 1.0.0");

    // npm unpublish: one version of a package, then a whole package.
    std::fs::write(
        demo_dir.join("package.json"),
        json!({"name": "packyard-demo", "version": "3.0.0-rc.1", "main": "index.js", "license": "MIT"})
            .to_string(),
    )
    .unwrap();
    let demo_rc = pack(publisher, &demo_dir, &tarballs);
    succeed(
        "npm publish --tag rc",
        publisher()
            .arg("publish")
            .arg(&demo_rc)
            .args(["--tag", "rc"])
            .output()
            .unwrap(),
    );
    succeed(
        "npm unpublish of a version",
        publisher()
            .args(["unpublish", "packyard-demo@3.0.0-rc.1"])
            .output()
            .unwrap(),
    );
    let versions = succeed(
        "npm view versions",
        publisher()
            .args(["view", "packyard-demo", "versions", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        serde_json::from_str::<Value>(&versions).unwrap(),
        json!(["1.0.0", "2.0.0-beta.1"])
    );
    let gone_dir = work.path().join("packyard-gone");
    package(
        &gone_dir,
        json!({"name": "packyard-gone", "version": "1.0.0", "main": "index.js", "license": "MIT"}),
        "module.exports = 0;\n",
    );
    succeed(
        "npm publish",
        publisher()
            .arg("publish")
            .current_dir(&gone_dir)
            .output()
            .unwrap(),
    );
    succeed(
        "npm unpublish --force",
        publisher()
            .args(["unpublish", "packyard-gone", "--force"])
            .output()
            .unwrap(),
    );
    let view_gone = publisher()
        .args(["view", "packyard-gone"])
        .output()
        .unwrap();
    assert!(!view_gone.status.success());
    assert!(String::from_utf8_lossy(&view_gone.stderr).contains("E404"));

    // GitFlic's listing shows exactly what npm published, with the digests of npm's tarballs and the
    // installs counted.
    let list = admin_get(
        &client,
        format!("{}/registry/package?type=npm", server.base),
        &admin,
    )
    .await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["packyard-demo", "@acme/widget"]);
    let expected: [(&str, Vec<(&str, &Path)>); 2] = [
        (
            "packyard-demo",
            vec![
                ("1.0.0", demo_tgz.as_path()),
                ("2.0.0-beta.1", demo_beta.as_path()),
            ],
        ),
        ("@acme/widget", vec![("1.0.0", widget_tgz.as_path())]),
    ];
    for (package, (name, versions)) in packages.iter().zip(expected) {
        assert_eq!(package["name"], name);
        assert_eq!(package["type"], "npm");
        assert_eq!(package["ownerType"], "COMPANY");
        let listed = admin_get(
            &client,
            format!(
                "{}/registry/package/{}/version-list",
                server.base,
                package["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
        let listed = listed["_embedded"]["simplePackageVersionModelList"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(listed.len(), versions.len());
        for (version, (number, tarball)) in listed.iter().zip(versions) {
            assert_eq!(version["version"], number);
            assert_eq!(version["packageUploadType"], "TRANSPORT");
            let installed = number == "1.0.0";
            assert_eq!(
                version["downloadCount"],
                u64::from(installed),
                "{name} {number}"
            );
            let files = version["packageFiles"].as_array().unwrap();
            assert_eq!(files.len(), 1);
            let file = &files[0];
            let digests = digests(tarball);
            assert_eq!(
                file["name"],
                tarball
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .trim_start_matches("acme-")
            );
            assert_eq!(file["size"], digests.size);
            assert_eq!(file["hashSHA256"], digests.sha256);
            assert_eq!(file["hashSHA1"], digests.sha1);
            assert_eq!(file["hashMd5"], digests.md5);
            assert_eq!(file["packageUploadType"], "TRANSPORT");
        }
    }
}
