//! Composer on hosted repositories: uploads of dist zips, the Composer 2 repository (`packages.json`,
//! `p2` documents), dist downloads, and GitFlic's Composer content routes; metadata is read from the
//! `composer.json` inside the zip.

use std::io::Write;

use packyard_domain::AccessLevel;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

pub(crate) const BASE: &str = "/company/acme/package/-/composer";

fn manifest(name: &str) -> String {
    format!(
        r#"{{"name":"{name}","description":"A demo","type":"library","license":"MIT",
            "require":{{"php":">=8.0"}},"autoload":{{"psr-4":{{"Acme\\Demo\\":"src/"}}}},
            "config":{{"sort-packages":true}}}}"#
    )
}

/// A dist zip: `entries` under `prefix`.
pub fn zip(prefix: &str, entries: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (path, text) in entries {
        writer
            .start_file(format!("{prefix}{path}"), options)
            .unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub(crate) fn package(name: &str, greeting: &str) -> Vec<u8> {
    zip(
        "",
        &[
            ("composer.json", &manifest(name)),
            (
                "src/Hello.php",
                &format!(
                    "<?php\nnamespace Acme\\Demo;\nclass Hello {{ const TEXT = '{greeting}'; }}\n"
                ),
            ),
        ],
    )
}

pub(crate) async fn upload(app: &TestApp, token: &str, version: &str, body: &[u8]) -> Response {
    app.client
        .put(app.url(&format!("{BASE}/{version}")))
        .basic_auth("composer", Some(token))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .basic_auth("composer", Some(token))
        .send()
        .await
        .unwrap()
}

async fn uploads_fill_the_composer_repository(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let first = package("acme/demo", "one");
    let second = zip(
        "acme-demo-1a2b3c/",
        &[
            ("composer.json", &manifest("acme/demo")),
            ("src/Hello.php", "<?php"),
        ],
    );
    let dev = package("acme/demo", "dev");

    let uploaded = upload(&app, &developer, "1.0.0", &first).await;
    assert_eq!(uploaded.status(), 200);
    let uploaded: Value = uploaded.json().await.unwrap();
    assert_eq!(uploaded["packageUploadType"], "TRANSPORT");
    assert_eq!(uploaded["name"], "demo-1.0.0.zip");
    assert_eq!(uploaded["hashSHA1"], digests(&first).sha1);
    // The same bytes again: fine; other bytes for the version: 409.
    assert_eq!(
        upload(&app, &developer, "1.0.0", &first).await.status(),
        200
    );
    assert_eq!(
        upload(&app, &developer, "1.0.0", &second).await.status(),
        409
    );
    assert_eq!(
        upload(&app, &developer, "v1.1", &second).await.status(),
        200
    );
    assert_eq!(
        upload(&app, &developer, "dev-main", &dev).await.status(),
        200
    );

    let root = get(&app, &guest, &format!("{BASE}/packages.json")).await;
    assert_eq!(root.status(), 200);
    assert_eq!(
        root.json::<Value>().await.unwrap(),
        json!({
            "packages": {},
            "metadata-url": format!("{BASE}/p2/%package%.json"),
            "available-packages": ["acme/demo"],
        })
    );

    let document = get(&app, &guest, &format!("{BASE}/p2/acme/demo.json")).await;
    assert_eq!(document.status(), 200);
    let document: Value = document.json().await.unwrap();
    let versions = document["packages"]["acme/demo"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["version_normalized"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("v1.1", "1.1.0.0"), ("1.0.0", "1.0.0.0")]);
    let newest = &versions[0];
    assert_eq!(newest["name"], "acme/demo");
    assert_eq!(newest["type"], "library");
    assert_eq!(newest["license"], "MIT");
    assert_eq!(newest["require"], json!({"php": ">=8.0"}));
    assert_eq!(newest["autoload"]["psr-4"]["Acme\\Demo\\"], "src/");
    assert!(newest.get("config").is_none(), "root-only keys are dropped");
    assert!(newest["time"].as_str().unwrap().ends_with("+00:00"));
    let dist = &versions[1]["dist"];
    assert_eq!(dist["type"], "zip");
    assert_eq!(dist["shasum"], digests(&first).sha1);
    assert_eq!(
        dist["url"],
        app.url(&format!("{BASE}/files/acme/demo/1.0.0/demo-1.0.0.zip"))
    );
    let dev_document: Value = get(&app, &guest, &format!("{BASE}/p2/acme/demo~dev.json"))
        .await
        .json()
        .await
        .unwrap();
    let dev_versions = dev_document["packages"]["acme/demo"].as_array().unwrap();
    assert_eq!(dev_versions.len(), 1);
    assert_eq!(dev_versions[0]["version"], "dev-main");
    assert_eq!(dev_versions[0]["version_normalized"], "dev-main");
    for unknown in [
        "p2/acme/other.json",
        "p2/acme/demo.txt",
        "p2/Acme/demo.json",
    ] {
        assert_eq!(
            get(&app, &guest, &format!("{BASE}/{unknown}"))
                .await
                .status(),
            404,
            "{unknown}"
        );
    }

    // Dist downloads, counted on the version.
    let dist_path = dist["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&app.base)
        .unwrap();
    let download = get(&app, &guest, dist_path).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/zip");
    assert_eq!(download.bytes().await.unwrap(), first);

    // The GitFlic listing: vendor as groupId, name as artifactId, versions, files, digests.
    let packages = admin_json(&app, "/registry/package?type=composer").await;
    let listed = &packages["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(listed["name"], "acme/demo");
    assert_eq!(listed["groupId"], "acme");
    assert_eq!(listed["artifactId"], "demo");
    assert_eq!(listed["type"], "composer");
    assert_eq!(listed["ownerType"], "COMPANY");
    let uuid = listed["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    assert_eq!(version["languageVersion"], Value::Null);
    let file = &version["packageFiles"][0];
    assert_eq!(file["name"], "demo-1.0.0.zip");
    assert_eq!(file["hashSHA256"], digests(&first).sha256);
    assert_eq!(file["hashMd5"], digests(&first).md5);

    // Composer's cache: Last-Modified (once a second has passed), 304 until a version is added.
    app.core.clock().advance(chrono::Duration::seconds(2));
    let document_path = format!("{BASE}/p2/acme/demo.json");
    let dated = get(&app, &guest, &document_path).await;
    let last_modified = dated.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let conditional = |since: String| {
        app.client
            .get(app.url(&document_path))
            .basic_auth("composer", Some(&guest))
            .header("If-Modified-Since", since)
            .send()
    };
    let unchanged = conditional(last_modified.clone()).await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(
        upload(&app, &developer, "1.2.0", &first).await.status(),
        200
    );
    let changed = conditional(last_modified).await.unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["packages"]["acme/demo"][0]["version"], "1.2.0");
}

async fn malformed_packages_and_permissions_are_refused(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let good = package("acme/demo", "one");

    let refusals: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "1.0.0",
            b"not a zip".to_vec(),
            "invalid package: the package is not a zip archive",
        ),
        (
            "1.0.0",
            zip("", &[("src/Hello.php", "<?php")]),
            "invalid package: the zip has no composer.json",
        ),
        (
            "1.0.0",
            zip("", &[("composer.json", "{\"name\":")]),
            "invalid package: composer.json is not valid JSON",
        ),
        (
            "1.0.0",
            zip("", &[("composer.json", "{\"type\":\"library\"}")]),
            "invalid package: composer.json has no name",
        ),
        (
            "1.0.0",
            package("Acme/Demo", "x"),
            "composer.json's name \"Acme/Demo\" is not a valid package name",
        ),
        (
            "1.0.0",
            zip(
                "",
                &[("composer.json", r#"{"name":"acme/demo","version":"2.0.0"}"#)],
            ),
            "composer.json has version \"2.0.0\", not \"1.0.0\"",
        ),
        (
            "latest",
            good.clone(),
            "\"latest\" is not a valid Composer version",
        ),
    ];
    for (version, body, message) in refusals {
        let response = upload(&app, &developer, version, &body).await;
        assert_eq!(response.status(), 400, "{message}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body} should say {message}"
        );
    }
    assert_eq!(
        admin_json(&app, "/registry/package").await["page"]["totalElements"],
        0,
        "nothing was kept"
    );
    let blob_rows: i64 = app
        .core
        .db()
        .run(|conn| {
            use diesel::prelude::*;
            Ok(packyard_db::schema::blobs::table.count().get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(blob_rows, 0, "no blob was recorded for a refused upload");

    // 401 with a Basic challenge, 403 for a guest, 404 for a stranger.
    let anonymous = app
        .client
        .put(app.url(&format!("{BASE}/1.0.0")))
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    assert_eq!(upload(&app, &guest, "1.0.0", &good).await.status(), 403);
    assert_eq!(upload(&app, &stranger, "1.0.0", &good).await.status(), 404);
    let index = app
        .client
        .get(app.url(&format!("{BASE}/packages.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 401);
    assert_eq!(
        index.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    assert_eq!(
        get(&app, &stranger, &format!("{BASE}/packages.json"))
            .await
            .status(),
        404
    );
    // An empty repository is still a repository.
    let empty: Value = get(&app, &guest, &format!("{BASE}/packages.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["available-packages"], json!([]));
}

async fn gitflic_composer_content_routes_store_global_packages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let dist = package("acme/demo", "one");
    let put = call(
        &app,
        Method::PUT,
        "/registry/package/composer/1.2.3",
        Some(&app.admin_token),
        Some(&dist),
    )
    .await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<Value>().await.unwrap()["packageUploadType"],
        "API"
    );
    let path = "/registry/package/composer/acme/demo/1.2.3";
    let got = call(&app, Method::GET, path, Some(&app.admin_token), None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/zip");
    assert_eq!(got.bytes().await.unwrap(), dist);
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/registry/package/composer/acme/demo/9.9.9",
            Some(&app.admin_token),
            None
        )
        .await
        .status(),
        404
    );

    let malformed = call(
        &app,
        Method::PUT,
        "/registry/package/composer/1.3.0",
        Some(&app.admin_token),
        Some(b"not a zip"),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let bad_version = call(
        &app,
        Method::PUT,
        "/registry/package/composer/not-a-version",
        Some(&app.admin_token),
        Some(&dist),
    )
    .await;
    assert_eq!(bad_version.status(), 400);
    let (_, user) = app.create_user_with_token("someone").await;
    assert_eq!(
        call(&app, Method::GET, path, Some(&user), None)
            .await
            .status(),
        403
    );
    assert_eq!(
        call(
            &app,
            Method::PUT,
            "/registry/package/composer/1.2.3",
            Some(&user),
            Some(&dist)
        )
        .await
        .status(),
        403
    );

    let list = admin_json(&app, "/registry/package").await;
    let listed = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(listed["name"], "acme/demo");
    assert_eq!(listed["groupId"], "acme");
    assert_eq!(listed["artifactId"], "demo");
    assert_eq!(listed["version"], "1.2.3");
    assert_eq!(listed["ownerType"], "GLOBAL");
    assert_eq!(list["page"]["totalElements"], 1);
    let uuid = listed["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.2.3")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageFiles"][0]["hashSHA1"], digests(&dist).sha1);
}

both_backends!(
    uploads_fill_the_composer_repository,
    malformed_packages_and_permissions_are_refused,
    gitflic_composer_content_routes_store_global_packages,
);
