//! End to end: the real binary, real pip and twine, and a real PyPI index as the upstream: pypiserver
//! (from `scripts/install-test-deps.sh`) on loopback, serving wheels the test puts in its folder. A PyPI
//! virtual registry of group `acme` has the group's hosted PyPI repository (where twine publishes) as a
//! local upstream and pypiserver as a remote one. `pip install --require-hashes` of a locked
//! requirements file installs projects from both through that one registry, the group's project
//! winning a name pypiserver also has. Then pypiserver stops, and the same install in a fresh
//! environment, without pip's cache, comes from packyard's cache.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::clients::{PythonProject, file_digests, installed_client, isolated, succeed};
use common::{HostedGroup, cached_paths, free_port, post, start_with_hosted_group};
use serde_json::json;

/// pypiserver on a loopback port serving `packages`; killed when dropped.
struct PypiServer {
    child: Child,
    url: String,
}

impl PypiServer {
    async fn start(packages: &Path, home: &Path) -> Self {
        let program = installed_client(
            "PACKYARD_TEST_PYPISERVER",
            "/opt/packyard-test-pypiserver/bin/pypi-server",
        );
        let port = free_port();
        // No authentication: `-a . -P .`.
        let child = isolated(&program, home)
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-a",
                ".",
                "-P",
                ".",
            ])
            .arg(packages)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{}/simple/", server.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("pypiserver did not start");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh virtual environment; its Python.
fn venv(dir: &Path, home: &Path) -> PathBuf {
    succeed(
        "python3 -m venv",
        isolated(Path::new("python3"), home)
            .args(["-m", "venv"])
            .arg(dir)
            .output()
            .unwrap(),
    );
    dir.join("bin/python")
}

/// pip with no configuration, no cache and no index but the one given.
fn pip_install(python: &Path, home: &Path, index: &str, requirements: &Path) -> String {
    succeed(
        "pip install",
        isolated(python, home)
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
            .args(["-m", "pip", "install", "--no-cache-dir", "--require-hashes"])
            .args(["--index-url", index, "-r"])
            .arg(requirements)
            .output()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_installs_through_a_virtual_registry_and_from_its_cache() {
    let twine = installed_client("PACKYARD_TEST_TWINE", "/opt/packyard-test-venv/bin/twine");
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let home = work.join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The upstream's projects: one depending on another, and one with the name of the team's.
    let packages = work.join("pypiserver-packages");
    let ext_left = PythonProject {
        name: "ext-left",
        version: "1.0",
        requires: &[],
        module: "ext_left",
        value: "left",
    }
    .build_wheel(&packages);
    let ext_right = PythonProject {
        name: "ext-right",
        version: "2.0",
        requires: &["ext-left>=1.0"],
        module: "ext_right",
        value: "right",
    }
    .build_wheel(&packages);
    PythonProject {
        name: "acme-shared",
        version: "9.0",
        requires: &[],
        module: "acme_shared",
        value: "impostor",
    }
    .build_wheel(&packages);
    let mut pypiserver = PypiServer::start(&packages, &home).await;

    // The group's own projects, published with twine.
    let data = work.join("data");
    let HostedGroup {
        server,
        api,
        client,
        admin,
        group,
        developer_token,
        ..
    } = start_with_hosted_group(&data, ("twine", &["write_package_registry"]), "pip").await;
    let group_id = group["id"].as_i64().unwrap();
    let ours = work.join("ours");
    let acme_shared = PythonProject {
        name: "acme-shared",
        version: "1.0",
        requires: &[],
        module: "acme_shared",
        value: "ours",
    }
    .build_wheel(&ours);
    let acme_internal = PythonProject {
        name: "acme-internal",
        version: "1.0",
        requires: &["acme-shared>=1.0", "ext-left>=1.0"],
        module: "acme_internal",
        value: "internal",
    }
    .build_wheel(&ours);
    succeed(
        "twine upload",
        isolated(&twine, &home)
            .args(["upload", "--non-interactive", "--repository-url"])
            .arg(format!("{}/company/acme/package/-/pypi", server.base))
            .args(["-u", "__token__", "-p", &developer_token])
            .arg(&acme_shared)
            .arg(&acme_internal)
            .output()
            .unwrap(),
    );

    let (registry, upstreams) = common::create_virtual_registry(
        &client,
        &api,
        &admin,
        "packages/pypi",
        group_id,
        &[
            json!({"url": format!("gid://packyard/Group/{group_id}"), "name": "acme projects"}),
            json!({"url": format!("{}/simple", pypiserver.url), "name": "pypiserver"}),
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
    let index = format!(
        "http://__token__:{installer}@{}/api/v4/virtual_registries/packages/pypi/{registry}/simple/",
        server.base.trim_start_matches("http://")
    );

    // A locked requirements file: every project pinned with its digest, ours for acme-shared.
    let requirements = work.join("requirements.txt");
    let pinned = |name: &str, version: &str, wheel: &Path| {
        format!(
            "{name}=={version} --hash=sha256:{}\n",
            file_digests(wheel).sha256
        )
    };
    std::fs::write(
        &requirements,
        [
            pinned("ext-right", "2.0", &ext_right),
            pinned("ext-left", "1.0", &ext_left),
            pinned("acme-internal", "1.0", &acme_internal),
            pinned("acme-shared", "1.0", &acme_shared),
        ]
        .concat(),
    )
    .unwrap();
    let check = |python: &Path| {
        let ran = isolated(python, &home)
            .args([
                "-c",
                "import acme_internal, acme_shared, ext_left, ext_right; \
                 print(ext_right.VALUE, ext_left.VALUE, acme_internal.VALUE, acme_shared.VALUE)",
            ])
            .output()
            .unwrap();
        assert_eq!(succeed("python", ran).trim(), "right left internal ours");
    };
    let first = venv(&work.join("venv-1"), &home);
    pip_install(&first, &home, &index, &requirements);
    check(&first);

    // pypiserver stops; a fresh environment installs the same from packyard's cache.
    pypiserver.stop();
    let second = venv(&work.join("venv-2"), &home);
    pip_install(&second, &home, &index, &requirements);
    check(&second);

    // Only the upstream's own projects were cached from it.
    let paths = cached_paths(&client, &api, &admin, "pypi", upstreams[1]).await;
    assert_eq!(
        paths,
        [
            "ext-left",
            "ext-left/ext_left-1.0-py3-none-any.whl",
            "ext-right",
            "ext-right/ext_right-2.0-py3-none-any.whl"
        ],
        "nothing of acme-shared came from the upstream"
    );
}
