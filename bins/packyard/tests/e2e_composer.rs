//! End to end: the real binary with the real `composer`. A dist zip (composer.json with a PSR-4
//! autoload and one class) is uploaded with curl to a group's Composer repository; in a fresh project
//! with its own `COMPOSER_HOME`, Packagist disabled and a group deploy token in `auth.json`,
//! `composer require` installs it and PHP autoloads and calls the class; a second version is uploaded
//! and required the same way; GitFlic's service-level listing shows both versions with their files,
//! digests and downloads. composer and PHP come from `scripts/install-test-deps.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use common::{HostedGroup, start_with_hosted_group};
use serde_json::{Value, json};

/// A dist zip as GitHub archives are: everything under one top-level folder.
fn dist_zip(version: &str, greeting: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let top = format!("acme-greeter-{version}");
    let manifest = json!({
        "name": "acme/greeter",
        "description": "Says hello",
        "type": "library",
        "license": "MIT",
        "require": {"php": ">=7.4"},
        "autoload": {"psr-4": {"Acme\\Greeter\\": "src/"}},
    });
    writer
        .start_file(format!("{top}/composer.json"), options)
        .unwrap();
    writer
        .write_all(serde_json::to_string_pretty(&manifest).unwrap().as_bytes())
        .unwrap();
    writer
        .start_file(format!("{top}/src/Greeter.php"), options)
        .unwrap();
    write!(
        writer,
        "<?php\nnamespace Acme\\Greeter;\n\nfinal class Greeter\n{{\n    public static function greet(string $name): string\n    {{\n        return \"{greeting}, \" . $name;\n    }}\n}}\n"
    )
    .unwrap();
    writer.finish().unwrap().into_inner()
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

/// composer with everything of its own in `home`: configuration, cache, no prompts.
fn composer(home: &Path, project: &Path) -> Command {
    let mut command = Command::new("composer");
    command
        .current_dir(project)
        .env("HOME", home)
        .env("COMPOSER_HOME", home.join("composer"))
        .env("COMPOSER_CACHE_DIR", home.join("cache"))
        .env("COMPOSER_NO_INTERACTION", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("COMPOSER_DISABLE_XDEBUG_WARN", "1")
        .env_remove("COMPOSER")
        .env_remove("COMPOSER_AUTH");
    command
}

fn curl_upload(file: &Path, url: &str, credentials: &str) -> Value {
    let output = Command::new("curl")
        .args(["--fail-with-body", "--silent", "--show-error", "--user"])
        .arg(credentials)
        .arg("--upload-file")
        .arg(file)
        .arg(url)
        .output()
        .expect("curl must be installed");
    serde_json::from_str(&succeed(&format!("curl --upload-file {url}"), output)).unwrap()
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
async fn composer_requires_packages_published_to_packyard() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    succeed(
        "composer --version (run scripts/install-test-deps.sh)",
        composer(&home, work.path())
            .arg("--version")
            .output()
            .expect("composer must be installed: run scripts/install-test-deps.sh"),
    );

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
    } = start_with_hosted_group(&data, ("upload", &["write_package_registry"]), "composer").await;
    let repository = format!("{}/company/acme/package/-/composer", server.base);
    let host = server.base.trim_start_matches("http://").to_owned();

    // The first version, uploaded with curl (twice: the same bytes are an idempotent success).
    let first = work.path().join("greeter-1.0.0.zip");
    std::fs::write(&first, dist_zip("1.0.0", "Hello")).unwrap();
    let credentials = format!("dev:{developer_token}");
    for _ in 0..2 {
        let stored = curl_upload(&first, &format!("{repository}/1.0.0"), &credentials);
        assert_eq!(stored["name"], "greeter-1.0.0.zip");
        assert_eq!(stored["packageUploadType"], "TRANSPORT");
    }

    // A fresh project: only packyard's repository, Packagist off, plain http allowed, the deploy
    // token in auth.json for the repository's host.
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("composer.json"),
        serde_json::to_string_pretty(&json!({
            "name": "acme/app",
            "repositories": [
                {"type": "composer", "url": repository},
                {"packagist.org": false},
            ],
            "config": {"secure-http": false},
        }))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        project.join("auth.json"),
        serde_json::to_string_pretty(&json!({
            "http-basic": {host.clone(): {"username": deploy_user, "password": deploy_token}},
        }))
        .unwrap(),
    )
    .unwrap();
    let run_php = |expected: &str| {
        let output = Command::new("php")
            .current_dir(&project)
            .args([
                "-r",
                "require 'vendor/autoload.php'; echo \\Acme\\Greeter\\Greeter::greet('packyard');",
            ])
            .output()
            .expect("php must be installed");
        assert_eq!(succeed("php", output), expected);
    };

    let require = |constraint: &str| {
        succeed(
            &format!("composer require acme/greeter:{constraint}"),
            composer(&home, &project)
                .args(["require", &format!("acme/greeter:{constraint}")])
                .args(["--no-interaction", "--no-progress"])
                .output()
                .unwrap(),
        )
    };
    require("^1.0");
    run_php("Hello, packyard");
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("composer.lock")).unwrap())
            .unwrap();
    let locked = &lock["packages"][0];
    assert_eq!(locked["name"], "acme/greeter");
    assert_eq!(locked["version"], "1.0.0");
    assert_eq!(
        locked["dist"]["url"],
        format!("{repository}/files/acme/greeter/1.0.0/greeter-1.0.0.zip")
    );

    // A second version, then required the same way.
    let second = work.path().join("greeter-1.1.0.zip");
    std::fs::write(&second, dist_zip("1.1.0", "Good day")).unwrap();
    curl_upload(&second, &format!("{repository}/1.1.0"), &credentials);
    require("^1.1");
    run_php("Good day, packyard");

    // The service-level listing shows what the clients did.
    let packages = admin_get(
        &client,
        format!("{}/registry/package?type=composer", server.base),
        &admin,
    )
    .await;
    assert_eq!(packages["page"]["totalElements"], 1);
    let package = &packages["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], "acme/greeter");
    assert_eq!(package["groupId"], "acme");
    assert_eq!(package["artifactId"], "greeter");
    assert_eq!(package["version"], "1.1.0");
    assert_eq!(package["type"], "composer");
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
    assert_eq!(versions["page"]["totalElements"], 2);
    let listed = versions["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap();
    for (version, (name, path)) in listed.iter().zip([("1.0.0", &first), ("1.1.0", &second)]) {
        assert_eq!(version["version"], name);
        assert_eq!(version["languageVersion"], Value::Null);
        assert_eq!(version["packageUploadType"], "TRANSPORT");
        assert_eq!(
            version["downloadCount"], 1,
            "composer downloaded {name} once"
        );
        let files = version["packageFiles"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        let bytes = std::fs::read(path).unwrap();
        let mut hashers = packyard_blob::Hashers::default();
        hashers.update(&bytes);
        let expected = hashers.finish();
        assert_eq!(files[0]["name"], format!("greeter-{name}.zip"));
        assert_eq!(files[0]["size"], expected.size);
        assert_eq!(files[0]["hashSHA256"], expected.sha256);
        assert_eq!(files[0]["hashSHA1"], expected.sha1);
        assert_eq!(files[0]["hashMd5"], expected.md5);
    }
}
