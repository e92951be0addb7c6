//! End to end: the real binary with real Python clients. `twine upload` publishes a wheel and an sdist
//! (built from `tests/fixtures/pypi-app`) to a group's PyPI repository through a named `.pypirc`
//! repository; `pip install` then installs each of them from the simple index with a group deploy
//! token in the index URL, building the sdist offline with the fixture's own build backend; GitFlic's
//! service-level listing shows exactly those files, digests and downloads. Also a generic file PUT and
//! GET with plain HTTP, as curl would. twine comes from `scripts/install-test-deps.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{HostedGroup, start_with_hosted_group};
use serde_json::Value;

fn twine() -> PathBuf {
    let venv =
        std::env::var("PACKYARD_TEST_VENV").unwrap_or_else(|_| "/opt/packyard-test-venv".into());
    let twine = Path::new(&venv).join("bin/twine");
    assert!(
        twine.is_file(),
        "{} is missing: run scripts/install-test-deps.sh",
        twine.display()
    );
    twine
}

/// A Python tool with an environment of its own: no user configuration, no keyring, no network index.
fn python_tool(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("TWINE_REPOSITORY_URL");
    command
}

fn succeed(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twine_publishes_and_pip_installs_through_packyard() {
    let twine = twine();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The distributions, built with the fixture's own backend.
    let project = work.path().join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pypi-app"),
        &project,
    );
    succeed(
        "building the distributions",
        python_tool(Path::new("python3"), &home)
            .current_dir(&project)
            .args([
                "-c",
                "import packyard_demo_backend as b; b.build_sdist('dist'); b.build_wheel('dist')",
            ])
            .output()
            .unwrap(),
    );
    let wheel = project.join("dist/packyard_demo-1.0.0-py3-none-any.whl");
    let sdist = project.join("dist/packyard_demo-1.0.0.tar.gz");

    // The server, a group with a developer who publishes and a deploy token that installs.
    let data = work.path().join("data");
    let HostedGroup {
        server,
        client,
        admin,
        developer_token,
        deploy_user,
        deploy_token,
        ..
    } = start_with_hosted_group(&data, ("twine", &["write_package_registry"]), "pip").await;
    let repository = format!("{}/company/acme/package/-/pypi", server.base);

    // twine, through a named repository of a .pypirc.
    let pypirc = work.path().join("pypirc");
    std::fs::write(
        &pypirc,
        format!(
            "[distutils]\nindex-servers =\n    packyard\n\n[packyard]\nrepository = {repository}\n\
             username = dev\npassword = {developer_token}\n"
        ),
    )
    .unwrap();
    succeed(
        "twine upload",
        python_tool(&twine, &home)
            .arg("upload")
            .arg("--config-file")
            .arg(&pypirc)
            .args([
                "--repository",
                "packyard",
                "--non-interactive",
                "--disable-progress-bar",
            ])
            .arg(&wheel)
            .arg(&sdist)
            .output()
            .unwrap(),
    );
    // Again (as a retried CI job does): the same files are an idempotent success. (twine 7 allows
    // --skip-existing only for PyPI itself.)
    succeed(
        "a second twine upload",
        python_tool(&twine, &home)
            .arg("upload")
            .arg("--config-file")
            .arg(&pypirc)
            .args(["--repository", "packyard", "--non-interactive"])
            .arg(&wheel)
            .arg(&sdist)
            .output()
            .unwrap(),
    );

    // pip, once for the wheel and once building the sdist, each into a fresh folder.
    let index = format!(
        "http://{deploy_user}:{deploy_token}@{}/company/acme/package/-/pypi/simple",
        server.base.trim_start_matches("http://")
    );
    for (label, extra) in [
        ("wheel", "--only-binary=:all:"),
        ("sdist", "--no-binary=:all:"),
    ] {
        let target = work.path().join(format!("site-{label}"));
        succeed(
            &format!("pip install of the {label}"),
            python_tool(Path::new("python3"), &home)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--no-deps",
                    "--no-cache-dir",
                    "--index-url",
                ])
                .arg(&index)
                .arg(extra)
                .arg("--target")
                .arg(&target)
                .arg("packyard-demo==1.0.0")
                .output()
                .unwrap(),
        );
        let imported = succeed(
            &format!("importing the installed {label}"),
            python_tool(Path::new("python3"), &home)
                .env("PYTHONPATH", &target)
                .args(["-c", "import packyard_demo; print(packyard_demo.VALUE)"])
                .output()
                .unwrap(),
        );
        assert_eq!(imported.trim(), "installed through packyard");
    }

    // The service-level listing shows what the clients did.
    let packages = admin_get(
        &client,
        format!("{}/registry/package?type=pypi", server.base),
        &admin,
    )
    .await;
    assert_eq!(packages["page"]["totalElements"], 1);
    let package = &packages["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], "packyard-demo");
    assert_eq!(package["version"], "1.0.0");
    assert_eq!(package["ownerType"], "COMPANY");
    let versions = admin_get(
        &client,
        format!(
            "{}/registry/package/{}/version-list",
            server.base,
            package["id"].as_str().unwrap()
        ),
        &admin,
    )
    .await;
    assert_eq!(versions["page"]["totalElements"], 1);
    let version = &versions["_embedded"]["simplePackageVersionModelList"][0];
    assert_eq!(version["version"], "1.0.0");
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    assert_eq!(
        version["downloadCount"], 2,
        "one wheel and one sdist download"
    );
    let files = version["packageFiles"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for (file, path) in files.iter().zip([&wheel, &sdist]) {
        let expected = digests(path);
        assert_eq!(file["name"], path.file_name().unwrap().to_str().unwrap());
        assert_eq!(file["size"], expected.size);
        assert_eq!(file["hashSHA256"], expected.sha256);
        assert_eq!(file["hashSHA1"], expected.sha1);
        assert_eq!(file["hashMd5"], expected.md5);
        assert_eq!(file["packageUploadType"], "TRANSPORT");
    }

    // A generic file, with the real curl: --upload-file, then a plain GET.
    let generic = format!(
        "{}/company/acme/package/-/generic/tool/1.0/tool.bin",
        server.base
    );
    let upload = work.path().join("tool.bin");
    std::fs::write(&upload, vec![42u8; 100_000]).unwrap();
    let download = work.path().join("tool.downloaded");
    let curl = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new("curl")
                .args(["--fail-with-body", "--silent", "--show-error"])
                .args(&args)
                .output()
                .expect("curl must be installed");
            assert!(
                output.status.success(),
                "curl {args:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        })
    };
    let answer = curl(vec![
        "--user".into(),
        format!("dev:{developer_token}"),
        "--upload-file".into(),
        upload.display().to_string(),
        generic.clone(),
    ])
    .await
    .unwrap();
    let stored: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(stored["size"], 100_000);
    curl(vec![
        "--user".into(),
        format!("{deploy_user}:{deploy_token}"),
        "--output".into(),
        download.display().to_string(),
        generic.clone(),
    ])
    .await
    .unwrap();
    assert_eq!(std::fs::read(&download).unwrap(), vec![42u8; 100_000]);
    let service = format!(
        "{}/registry/package/generic/notes/2.0/notes.txt",
        server.base
    );
    let put = client
        .put(&service)
        .header("Authorization", format!("token {admin}"))
        .body("release notes")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let got = client
        .get(&service)
        .header("Authorization", format!("token {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.text().await.unwrap(), "release notes");
    let all = admin_get(&client, format!("{}/registry/package", server.base), &admin).await;
    let summary: Vec<(String, String)> = all["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["ownerType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("packyard-demo".to_owned(), "COMPANY".to_owned()),
            ("tool".to_owned(), "COMPANY".to_owned()),
            ("notes".to_owned(), "GLOBAL".to_owned()),
        ]
    );
}
