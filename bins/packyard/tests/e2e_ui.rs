//! End to end: the web interface in headless Chromium (Debian's `chromium`, driven by playwright-core
//! from the npm registry; both installed by `scripts/install-test-deps.sh`). The real binary, two fake
//! Maven upstreams on loopback, a package published with the real `npm publish`, and a real `mvn` build
//! configured from the page; the steps are in `tests/ui/flows.mjs`. Screenshots of the main pages are
//! kept under the test target folder (`ui-screenshots`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::clients::succeed;
use common::{HostedGroup, post, start_with_hosted_group};
use packyard_test_support::FakeUpstream;
use serde_json::json;

const DEBIAN_MAVEN_REPO: &str = "/usr/share/maven-repo";
const LANG3: &str = "org/apache/commons/commons-lang3/3.12.0";

/// A tool the test needs: from its variable, else its default place. Missing, it fails under CI and is
/// skipped, loudly, elsewhere.
fn tool(variable: &str, default: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var(variable).unwrap_or_else(|_| default.to_owned()));
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{} not found ({variable}); run scripts/install-test-deps.sh",
        path.display()
    );
    assert!(std::env::var("CI").is_err(), "{message}");
    eprintln!("SKIPPED e2e_ui: {message}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_manages_registries_packages_and_tokens_in_the_browser() {
    let (Some(chromium), Some(playwright)) = (
        tool("PACKYARD_TEST_CHROMIUM", "/usr/bin/chromium"),
        tool("PACKYARD_TEST_PLAYWRIGHT", "/opt/packyard-test-playwright"),
    ) else {
        return;
    };
    assert!(
        Path::new(DEBIAN_MAVEN_REPO).is_dir(),
        "run scripts/install-test-deps.sh first"
    );
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // Upstream A holds only the application's dependency; upstream B is Debian's whole Maven repository.
    let only_lang3 = work.path().join("lang3-repo");
    std::fs::create_dir_all(only_lang3.join(LANG3)).unwrap();
    for file in ["commons-lang3-3.12.0.pom", "commons-lang3-3.12.0.jar"] {
        std::fs::copy(
            Path::new(DEBIAN_MAVEN_REPO).join(LANG3).join(file),
            only_lang3.join(LANG3).join(file),
        )
        .unwrap();
    }
    let upstream_a = FakeUpstream::serve_directory(&only_lang3).await;
    let upstream_b = FakeUpstream::serve_directory(DEBIAN_MAVEN_REPO).await;

    let data = work.path().join("data");
    let HostedGroup {
        server,
        api,
        client,
        admin,
        group,
        developer_token,
        ..
    } = start_with_hosted_group(
        &data,
        ("npm", &["read_package_registry", "write_package_registry"]),
        "ci",
    )
    .await;
    let group_id = group["id"].as_i64().unwrap();

    // A Guest of the group and a user of no group, each with a token.
    let mut tokens = Vec::new();
    for (username, level) in [("guest", Some(10)), ("outsider", None)] {
        let user = post(
            &client,
            format!("{api}/users"),
            &admin,
            json!({"username": username, "name": username}),
        )
        .await;
        if let Some(level) = level {
            post(
                &client,
                format!("{api}/groups/{group_id}/members"),
                &admin,
                json!({"user_id": user["id"], "access_level": level}),
            )
            .await;
        }
        let token = post(
            &client,
            format!("{api}/users/{}/personal_access_tokens", user["id"]),
            &admin,
            json!({"name": "ui", "scopes": ["api"]}),
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        tokens.push(token);
    }

    // A package published with the real npm.
    let registry = format!("{}/company/acme/package/-/npm/", server.base);
    let npmrc = work.path().join("npmrc");
    std::fs::write(
        &npmrc,
        format!(
            "registry={registry}\n{}:_authToken={developer_token}\n",
            registry.trim_start_matches("http:")
        ),
    )
    .unwrap();
    let package = work.path().join("packyard-demo");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        package.join("package.json"),
        json!({"name": "packyard-demo", "version": "1.0.0", "description": "A demo of the web interface",
               "main": "index.js", "license": "MIT"})
        .to_string(),
    )
    .unwrap();
    std::fs::write(package.join("index.js"), "module.exports = 'demo';\n").unwrap();
    succeed(
        "npm publish",
        Command::new("npm")
            .current_dir(&package)
            .env("HOME", &home)
            .env("npm_config_userconfig", &npmrc)
            .env("npm_config_cache", work.path().join("npm-cache"))
            .env("npm_config_update_notifier", "false")
            .arg("publish")
            .output()
            .unwrap(),
    );

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui/flows.mjs");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/maven-app");
    let (base, script_work) = (server.base.clone(), work.path().join("flows"));
    let (url_a, url_b) = (upstream_a.url.clone(), upstream_b.url.clone());
    std::fs::create_dir_all(&script_work).unwrap();
    let output = common::blocking(move || {
        Command::new("node")
            .arg(script)
            .env("PLAYWRIGHT_DIR", playwright)
            .env("CHROMIUM", chromium)
            .env("BASE", base)
            .env("GROUP_ID", group_id.to_string())
            .env("ADMIN_TOKEN", admin)
            .env("GUEST_TOKEN", &tokens[0])
            .env("OUTSIDER_TOKEN", &tokens[1])
            .env("UPSTREAM_A", url_a)
            .env("UPSTREAM_B", url_b)
            .env("MAVEN_FIXTURE", fixture)
            .env("WORK", script_work)
            .env("SHOTS", &shots)
            .output()
            .unwrap()
    })
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "flows failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("flows: ok"), "{stdout}");
    drop((server, upstream_a, upstream_b));
}
