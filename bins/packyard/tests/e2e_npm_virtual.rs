//! End to end: the real binary, the machine's real npm, and a real npm registry as the upstream: Verdaccio
//! (from `scripts/install-test-deps.sh`) on loopback, serving packages the test publishes to it. An npm
//! virtual registry of group `acme` has the group's hosted npm repository as a local upstream and
//! Verdaccio as a remote one. `npm install` of a project installs a scoped and an unscoped package from
//! Verdaccio and the group's own packages through that one registry, the group's package winning a name
//! Verdaccio also has; the lockfile points at packyard. Then Verdaccio stops, and `npm ci` from the
//! lockfile, with a fresh npm cache, installs everything again from packyard's cache.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::clients::{installed_client, npm, succeed};
use common::{HostedGroup, cached_paths, free_port, post, start_with_hosted_group};
use serde_json::{Value, json};

/// Verdaccio on a loopback port, with its storage in `dir`; killed when dropped.
struct Verdaccio {
    child: Child,
    url: String,
}

impl Verdaccio {
    async fn start(dir: &Path) -> Self {
        let program = installed_client(
            "PACKYARD_TEST_VERDACCIO",
            "/opt/packyard-test-verdaccio/bin/verdaccio",
        );
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("config.yaml");
        // No uplinks: it serves only what the test publishes. Anyone may read; users it registers publish.
        std::fs::write(
            &config,
            format!(
                "storage: {storage}\nauth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: 10\n\
                 uplinks: {{}}\npackages:\n  '@*/*':\n    access: $all\n    publish: $authenticated\n\
                 \x20 '**':\n    access: $all\n    publish: $authenticated\nlog: {{type: stdout, format: pretty, level: warn}}\n",
                storage = dir.join("storage").display(),
                htpasswd = dir.join("htpasswd").display(),
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(&program)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let verdaccio = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{}/-/ping", verdaccio.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return verdaccio;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Verdaccio did not start");
    }

    /// Registers a user (Verdaccio's htpasswd lets anyone sign up) and returns its token.
    async fn user_token(&self) -> String {
        let response = reqwest::Client::new()
            .put(format!("{}/-/user/org.couchdb.user:publisher", self.url))
            .json(&json!({"name": "publisher", "password": "publisher-secret"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "registering a Verdaccio user");
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a package folder, packs it and publishes it with the npm config `rc`.
fn publish(home: &Path, rc: &Path, work: &Path, manifest: Value, index: &str) -> PathBuf {
    let name = manifest["name"].as_str().unwrap().replace('/', "-");
    let dir = work.join(format!(
        "src-{name}-{}",
        manifest["version"].as_str().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("index.js"), index).unwrap();
    let cache = work.join("publisher-cache");
    succeed(
        "npm publish",
        npm(home, rc, &cache)
            .current_dir(&dir)
            .arg("publish")
            .output()
            .unwrap(),
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_installs_through_a_virtual_registry_and_from_its_cache() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let home = work.join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The upstream: Verdaccio, with a scoped package depending on an unscoped one, and a package with
    // the name of one of the team's.
    let mut verdaccio = Verdaccio::start(&work.join("verdaccio")).await;
    let verdaccio_rc = work.join("verdaccio.npmrc");
    std::fs::write(
        &verdaccio_rc,
        format!(
            "registry={url}/\n{auth}/:_authToken={token}\n",
            url = verdaccio.url,
            auth = verdaccio.url.trim_start_matches("http:"),
            token = verdaccio.user_token().await
        ),
    )
    .unwrap();
    let manifest = |name: &str, version: &str, dependencies: Value| json!({"name": name, "version": version, "main": "index.js", "license": "MIT", "dependencies": dependencies});
    publish(
        &home,
        &verdaccio_rc,
        work,
        manifest("left-tool", "1.2.0", json!({})),
        "module.exports = 'left';\n",
    );
    publish(
        &home,
        &verdaccio_rc,
        work,
        manifest("@ext/right", "2.0.0", json!({"left-tool": "^1.0.0"})),
        "module.exports = 'right with ' + require('left-tool');\n",
    );
    publish(
        &home,
        &verdaccio_rc,
        work,
        manifest("acme-shared", "9.0.0", json!({})),
        "module.exports = 'impostor';\n",
    );

    // packyard: group acme publishes its own packages, and has an npm virtual registry with the
    // group's repository first and Verdaccio after it.
    let data = work.join("data");
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
    let hosted = format!("{}/company/acme/package/-/npm/", server.base);
    let hosted_rc = work.join("hosted.npmrc");
    std::fs::write(
        &hosted_rc,
        format!(
            "registry={hosted}\n{}:_authToken={developer_token}\n",
            hosted.trim_start_matches("http:")
        ),
    )
    .unwrap();
    publish(
        &home,
        &hosted_rc,
        work,
        manifest("acme-shared", "1.0.0", json!({})),
        "module.exports = 'ours';\n",
    );
    publish(
        &home,
        &hosted_rc,
        work,
        manifest(
            "@acme/internal",
            "1.0.0",
            json!({"left-tool": "^1.0.0", "acme-shared": "^1.0.0"}),
        ),
        "module.exports = 'internal with ' + require('acme-shared');\n",
    );
    let (registry, upstreams) = common::create_virtual_registry(
        &client,
        &api,
        &admin,
        "packages/npm",
        group_id,
        &[
            json!({"url": format!("gid://packyard/Group/{group_id}"), "name": "acme packages"}),
            json!({"url": verdaccio.url, "name": "verdaccio"}),
        ],
    )
    .await;
    let installer = post(
        &client,
        format!("{api}/groups/{group_id}/deploy_tokens"),
        &admin,
        json!({"name": "installer", "scopes": ["read_virtual_registry", "read_package_registry"]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The project installs through the virtual registry alone.
    let virtual_url = format!(
        "{}/api/v4/virtual_registries/packages/npm/{registry}/",
        server.base
    );
    let installer_rc = work.join("installer.npmrc");
    std::fs::write(
        &installer_rc,
        format!(
            "registry={virtual_url}\n{}:_authToken={installer}\n",
            virtual_url.trim_start_matches("http:")
        ),
    )
    .unwrap();
    let project = work.join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        json!({"name": "app", "version": "1.0.0", "private": true,
               "dependencies": {"@ext/right": "^2.0.0", "@acme/internal": "1.0.0", "acme-shared": "^1.0.0"}})
        .to_string(),
    )
    .unwrap();
    let install = |command: &str, cache: &str| {
        succeed(
            &format!("npm {command}"),
            npm(&home, &installer_rc, &work.join(cache))
                .current_dir(&project)
                .args([command, "--no-audit", "--no-fund"])
                .output()
                .unwrap(),
        )
    };
    let check_installed = || {
        let ran = Command::new("node")
            .current_dir(&project)
            .args([
                "-e",
                "console.log(require('@ext/right') + ' / ' + require('@acme/internal'))",
            ])
            .output()
            .unwrap();
        assert_eq!(
            succeed("node", ran).trim(),
            "right with left / internal with ours",
            "the group's acme-shared wins over the upstream's"
        );
    };
    install("install", "cache-1");
    check_installed();
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package-lock.json")).unwrap())
            .unwrap();
    for (path, file) in [
        ("node_modules/@ext/right", "@ext/right/-/right-2.0.0.tgz"),
        ("node_modules/left-tool", "left-tool/-/left-tool-1.2.0.tgz"),
        (
            "node_modules/acme-shared",
            "acme-shared/-/acme-shared-1.0.0.tgz",
        ),
        (
            "node_modules/@acme/internal",
            "@acme/internal/-/internal-1.0.0.tgz",
        ),
    ] {
        let locked = &lock["packages"][path];
        assert_eq!(locked["resolved"], format!("{virtual_url}{file}"), "{path}");
        assert!(
            locked["integrity"].as_str().unwrap().starts_with("sha512-"),
            "{path}"
        );
    }

    // Verdaccio stops; from the lockfile, with a fresh npm cache, everything comes from packyard.
    verdaccio.stop();
    std::fs::remove_dir_all(project.join("node_modules")).unwrap();
    install("ci", "cache-2");
    check_installed();

    // Only the upstream's own packages were cached from it.
    let paths = cached_paths(&client, &api, &admin, "npm", upstreams[1]).await;
    assert_eq!(
        paths,
        [
            "@ext/right",
            "@ext/right/-/right-2.0.0.tgz",
            "left-tool",
            "left-tool/-/left-tool-1.2.0.tgz"
        ],
        "nothing of acme-shared came from the upstream"
    );
}
