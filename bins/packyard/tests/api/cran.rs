//! CRAN on hosted repositories: GitFlic's source upload, the repository layout R reads
//! (`PACKAGES`, `PACKAGES.gz`, current tarballs and the archive), GitFlic's CRAN content routes, and
//! packages refused because of their DESCRIPTION.

use std::io::Read;

use packyard_domain::AccessLevel;
use reqwest::{Method, Response};
use serde_json::Value;

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

pub(crate) const BASE: &str = "/company/acme/package/-/cran";

fn description(name: &str, version: &str) -> String {
    format!(
        "Package: {name}\nType: Package\nTitle: Says hello\nVersion: {version}\n\
         Depends: R (>= 3.5.0),\n    utils\nImports: stats\nSuggests: testthat\nLicense: MIT\n\
         NeedsCompilation: no\nPackaged: 2026-11-23 10:00:00 UTC; me\n"
    )
}

/// A source tarball: `<folder>/DESCRIPTION` (when given), `NAMESPACE` and one R file.
fn tarball(folder: &str, description: Option<&str>) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    let mut entries = vec![
        (format!("{folder}/NAMESPACE"), "export(hello)\n".to_owned()),
        (
            format!("{folder}/R/hello.R"),
            "hello <- function() \"hi\"\n".to_owned(),
        ),
    ];
    if let Some(description) = description {
        entries.insert(0, (format!("{folder}/DESCRIPTION"), description.to_owned()));
    }
    for (path, text) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, &path, text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

pub(crate) fn source(name: &str, version: &str) -> Vec<u8> {
    tarball(name, Some(&description(name, version)))
}

async fn put(app: &TestApp, token: &str, path: &str, body: &[u8]) -> Response {
    app.client
        .put(app.url(path))
        .basic_auth("me", Some(token))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .basic_auth("me", Some(token))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn put_ok(app: &TestApp, token: &str, file_name: &str, body: &[u8]) -> Value {
    let response = put(app, token, &format!("{BASE}/src/{file_name}"), body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn error_message(response: Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn uploads_and_the_repository_layout(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let v1 = source("hello.pkg", "1.0.0");
    let v2 = source("hello.pkg", "1.10.0");
    let other = source("aaa", "0.1-1");

    let uploaded = put_ok(&app, &developer, "hello.pkg_1.0.0.tar.gz", &v1).await;
    assert_eq!(uploaded["packageUploadType"], "TRANSPORT");
    assert_eq!(uploaded["hashMd5"], digests(&v1).md5);
    // The same bytes again change nothing; other bytes for the version are a conflict.
    put_ok(&app, &developer, "hello.pkg_1.0.0.tar.gz", &v1).await;
    let conflict = put(
        &app,
        &developer,
        &format!("{BASE}/src/hello.pkg_1.0.0.tar.gz"),
        &tarball(
            "hello.pkg",
            Some(&description("hello.pkg", "1.0.0").replace("MIT", "GPL-3")),
        ),
    )
    .await;
    assert_eq!(conflict.status(), 409);

    // A guest reads the index; the one version is current.
    let packages = get(&app, &guest, &format!("{BASE}/src/contrib/PACKAGES")).await;
    assert_eq!(packages.status(), 200);
    let expected_v1 = format!(
        "Package: hello.pkg\nVersion: 1.0.0\nDepends: R (>= 3.5.0),\n        utils\nImports: stats\n\
         Suggests: testthat\nLicense: MIT\nMD5sum: {}\nNeedsCompilation: no\n",
        digests(&v1).md5
    );
    assert_eq!(packages.text().await.unwrap(), expected_v1);
    let current = get(
        &app,
        &guest,
        &format!("{BASE}/src/contrib/hello.pkg_1.0.0.tar.gz"),
    )
    .await;
    assert_eq!(current.status(), 200);
    assert_eq!(current.bytes().await.unwrap(), v1);

    // A newer version (1.10.0 > 1.0.0 numerically) moves 1.0.0 to the archive.
    put_ok(&app, &developer, "hello.pkg_1.10.0.tar.gz", &v2).await;
    put_ok(&app, &developer, "aaa_0.1-1.tar.gz", &other).await;
    let text = get(&app, &guest, &format!("{BASE}/src/contrib/PACKAGES"))
        .await
        .text()
        .await
        .unwrap();
    let stanzas: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(stanzas.len(), 2, "{text}");
    assert!(
        stanzas[0].starts_with("Package: aaa\nVersion: 0.1-1\n"),
        "{text}"
    );
    assert!(
        stanzas[1].starts_with("Package: hello.pkg\nVersion: 1.10.0\n"),
        "{text}"
    );
    assert!(stanzas[1].contains(&format!("MD5sum: {}\n", digests(&v2).md5)));
    let gz = get(&app, &guest, &format!("{BASE}/src/contrib/PACKAGES.gz")).await;
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-type"], "application/gzip");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.bytes().await.unwrap()[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, text);
    // PACKAGES.rds is not served: R falls back to PACKAGES.gz.
    let rds = get(&app, &guest, &format!("{BASE}/src/contrib/PACKAGES.rds")).await;
    assert_eq!(rds.status(), 404);

    for (path, status) in [
        ("src/contrib/hello.pkg_1.10.0.tar.gz", 200),
        ("src/contrib/hello.pkg_1.0.0.tar.gz", 404),
        ("src/contrib/Archive/hello.pkg/hello.pkg_1.0.0.tar.gz", 200),
        ("src/contrib/Archive/hello.pkg/hello.pkg_1.10.0.tar.gz", 404),
        ("src/contrib/Archive/aaa/hello.pkg_1.0.0.tar.gz", 404),
        ("src/contrib/nothing_1.0.tar.gz", 404),
    ] {
        let response = get(&app, &guest, &format!("{BASE}/{path}")).await;
        assert_eq!(response.status(), status, "{path}");
    }
    let archived = get(
        &app,
        &guest,
        &format!("{BASE}/src/contrib/Archive/hello.pkg/hello.pkg_1.0.0.tar.gz"),
    )
    .await;
    assert_eq!(archived.bytes().await.unwrap(), v1);

    // Permissions: no credentials 401 with a Basic challenge, a guest may not publish, a stranger
    // doesn't see the group.
    let anonymous = app
        .client
        .get(app.url(&format!("{BASE}/src/contrib/PACKAGES")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    let refused = put(&app, &guest, &format!("{BASE}/src/aaa_0.2.tar.gz"), &other).await;
    assert_eq!(refused.status(), 403);
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let hidden = get(&app, &stranger, &format!("{BASE}/src/contrib/PACKAGES")).await;
    assert_eq!(hidden.status(), 404);

    // The listing: the package, its versions, their DESCRIPTION, files and digests, downloads.
    let list = admin_json(&app, "/registry/package?type=cran").await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    let hello = packages.iter().find(|p| p["name"] == "hello.pkg").unwrap();
    assert_eq!(hello["type"], "cran");
    assert_eq!(hello["ownerType"], "COMPANY");
    assert_eq!(hello["version"], "1.10.0");
    let versions = admin_json(
        &app,
        &format!(
            "/registry/package/{}/version-list",
            hello["id"].as_str().unwrap()
        ),
    )
    .await;
    let versions = versions["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], "1.0.0");
    assert_eq!(versions[0]["languageVersion"], Value::Null);
    // Once as the current version, twice from the archive.
    assert_eq!(versions[0]["downloadCount"], 3);
    let file = &versions[0]["packageFiles"][0];
    assert_eq!(file["name"], "hello.pkg_1.0.0.tar.gz");
    assert_eq!(file["hashSHA256"], digests(&v1).sha256);
    assert_eq!(file["size"], v1.len());
}

async fn packages_are_checked_before_anything_is_kept(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "hello.zip",
            source("hello", "1.0"),
            "\"hello.zip\" is not a source package name: expected <package>_<version>.tar.gz",
        ),
        (
            "hello_1.0.tar.gz",
            tarball("hello", None),
            "invalid package: the tarball has no <package>/DESCRIPTION",
        ),
        (
            "hello_1.0.tar.gz",
            tarball("hello", Some("Package: hello\nVersion 1.0\n")),
            "invalid package: DESCRIPTION line is not a field: \"Version 1.0\"",
        ),
        (
            "hello_1.0.tar.gz",
            tarball("hello", Some("Package: hello\nTitle: x\n")),
            "invalid package: DESCRIPTION has no Version",
        ),
        (
            "hello_1.0.tar.gz",
            source("hello", "1.1"),
            "invalid package: DESCRIPTION's Version \"1.1\" is not the file name's \"1.0\"",
        ),
        (
            "hello_1.0.tar.gz",
            tarball("hello", Some(&description("other", "1.0"))),
            "invalid package: DESCRIPTION's Package \"other\" is not the archive's folder \"hello\"",
        ),
        (
            "hello_1.0.tar.gz",
            source("other", "1.0"),
            "invalid package: DESCRIPTION's Package \"other\" is not the file name's \"hello\"",
        ),
        (
            "hello_1.0.tar.gz",
            b"not a tarball".to_vec(),
            "invalid package:",
        ),
    ];
    for (file_name, body, message) in cases {
        let response = put(&app, &developer, &format!("{BASE}/src/{file_name}"), &body).await;
        let got = error_message(response, 400).await;
        assert!(got.starts_with(message), "{file_name}: {got}");
    }
    let list = admin_json(&app, "/registry/package?type=cran").await;
    assert_eq!(list["page"]["totalElements"], 0);
}

async fn gitflic_cran_content_routes_store_global_packages(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let body = source("hello", "2.0");
    let path = "/registry/package/cran/4.2/hello_2.0.tar.gz";

    // Administrators only.
    let refused = call(&app, Method::PUT, path, Some(&developer), Some(&body)).await;
    assert_eq!(refused.status(), 403);
    let anonymous = call(&app, Method::PUT, path, None, Some(&body)).await;
    assert_eq!(anonymous.status(), 401);
    let bad_r = call(
        &app,
        Method::PUT,
        "/registry/package/cran/four/hello_2.0.tar.gz",
        Some(&app.admin_token),
        Some(&body),
    )
    .await;
    assert!(
        error_message(bad_r, 400)
            .await
            .contains("is not an R version")
    );

    let stored = call(&app, Method::PUT, path, Some(&app.admin_token), Some(&body)).await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["packageUploadType"], "API");
    assert_eq!(stored["hashSHA1"], digests(&body).sha1);

    let download = call(
        &app,
        Method::GET,
        "/registry/package/cran/hello_2.0.tar.gz?languageVersion=4.2",
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap(), body);
    for missing in [
        "/registry/package/cran/hello_9.0.tar.gz",
        "/registry/package/cran/nothing_1.0.tar.gz",
        "/registry/package/cran/readme.txt",
    ] {
        let response = call(&app, Method::GET, missing, Some(&app.admin_token), None).await;
        assert_eq!(response.status(), 404, "{missing}");
    }

    let list = admin_json(&app, "/registry/package?type=cran").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["ownerType"], "GLOBAL");
    assert_eq!(package["name"], "hello");
    let version = admin_json(
        &app,
        &format!("/registry/package/{}/2.0", package["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(version["languageVersion"], "4.2");
    assert_eq!(version["packageUploadType"], "API");
    assert_eq!(version["downloadCount"], 1);
    // The global package is not in any group's repository.
    let group_index = get(&app, &developer, &format!("{BASE}/src/contrib/PACKAGES")).await;
    assert_eq!(group_index.text().await.unwrap(), "");
}

/// A binary package: `<name>/DESCRIPTION` with `Built` for R `r` on `os_type`, in a zip or a tgz.
fn binary(name: &str, version: &str, r: &str, os_type: &str, zip: bool) -> Vec<u8> {
    let description = format!(
        "{}Built: R {r}; ; 2026-11-23 10:00:00 UTC; {os_type}\n",
        description(name, version)
    );
    if !zip {
        return tarball(name, Some(&description));
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, text) in [
        (format!("{name}/DESCRIPTION"), description.as_str()),
        (format!("{name}/NAMESPACE"), "export(hello)\n"),
    ] {
        writer
            .start_file(path, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut writer, text.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

async fn binary_trees_have_their_own_packages(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let windows = binary("hello", "1.0", "4.2.2", "windows", true);
    let macos = binary("hello", "1.0", "4.2.1", "unix", false);
    let arm = binary("hello", "1.0", "4.3.1", "unix", false);
    for (path, body) in [
        ("bin/windows/contrib/4.2/hello_1.0.zip", &windows),
        ("bin/macosx/contrib/4.2/hello_1.0.tgz", &macos),
        ("bin/macosx/big-sur-arm64/contrib/4.3/hello_1.0.tgz", &arm),
    ] {
        let response = put(&app, &developer, &format!("{BASE}/{path}"), body).await;
        let status = response.status();
        assert_eq!(status, 200, "{path}: {}", response.text().await.unwrap());
    }
    put_ok(
        &app,
        &developer,
        "hello_1.0.tar.gz",
        &source("hello", "1.0"),
    )
    .await;

    // Each tree has its own index, with Built and the binary's md5.
    let index = get(
        &app,
        &developer,
        &format!("{BASE}/bin/windows/contrib/4.2/PACKAGES"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        index.starts_with("Package: hello\nVersion: 1.0\n"),
        "{index}"
    );
    assert!(
        index.contains(&format!("MD5sum: {}\n", digests(&windows).md5)),
        "{index}"
    );
    assert!(
        index.ends_with("Built: R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows\n"),
        "{index}"
    );
    let arm_index = get(
        &app,
        &developer,
        &format!("{BASE}/bin/macosx/big-sur-arm64/contrib/4.3/PACKAGES.gz"),
    )
    .await;
    assert_eq!(arm_index.status(), 200);
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&arm_index.bytes().await.unwrap()[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert!(unzipped.contains(&format!("MD5sum: {}\n", digests(&arm).md5)));
    let source_index = get(&app, &developer, &format!("{BASE}/src/contrib/PACKAGES"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!source_index.contains("Built"), "{source_index}");
    let empty = get(
        &app,
        &developer,
        &format!("{BASE}/bin/windows/contrib/4.3/PACKAGES"),
    )
    .await;
    assert_eq!(empty.text().await.unwrap(), "");

    let zip = get(
        &app,
        &developer,
        &format!("{BASE}/bin/windows/contrib/4.2/hello_1.0.zip"),
    )
    .await;
    assert_eq!(zip.status(), 200);
    assert_eq!(zip.headers()["content-type"], "application/zip");
    assert_eq!(
        zip.headers()["content-disposition"],
        "attachment; filename=\"hello_1.0.zip\""
    );
    assert_eq!(zip.bytes().await.unwrap(), windows);
    for missing in [
        "bin/windows/contrib/4.3/hello_1.0.zip",
        "bin/macosx/big-sur-x86_64/contrib/4.3/hello_1.0.tgz",
        "bin/macosx/other/contrib/4.2/PACKAGES",
        "bin/windows/contrib/latest/PACKAGES",
    ] {
        let response = get(&app, &developer, &format!("{BASE}/{missing}")).await;
        assert_eq!(response.status(), 404, "{missing}");
    }

    // Binaries are checked against their tree.
    for (path, body, message) in [
        (
            "bin/windows/contrib/4.3/hello_1.1.zip",
            binary("hello", "1.1", "4.2.2", "windows", true),
            "invalid package: DESCRIPTION's Built \"R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows\" is not for R 4.3",
        ),
        (
            "bin/macosx/contrib/4.2/hello_1.1.tgz",
            binary("hello", "1.1", "4.2.2", "windows", false),
            "invalid package: DESCRIPTION's Built \"R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows\" is not for OS type unix",
        ),
        (
            "bin/windows/contrib/4.2/hello_1.1.zip",
            source("hello", "1.1"),
            "invalid package: the package is not a zip archive",
        ),
        (
            "bin/windows/contrib/4.2/hello_1.1.tgz",
            binary("hello", "1.1", "4.2.2", "windows", true),
            "\"hello_1.1.tgz\" is not a binary package name for bin/windows/contrib/4.2",
        ),
        (
            "bin/macosx/other/contrib/4.2/hello_1.1.tgz",
            binary("hello", "1.1", "4.2.2", "unix", false),
            "\"4.2\" is not an R version such as 4.2, or the tree is not one of CRAN's",
        ),
    ] {
        let response = put(&app, &developer, &format!("{BASE}/{path}"), &body).await;
        let got = error_message(response, 400).await;
        assert!(got.starts_with(message), "{path}: {got}");
    }

    // The listing: the version's languageVersion is its first file's tree, the files are named by
    // their place in the repository.
    let list = admin_json(&app, "/registry/package?type=cran").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    let version = admin_json(
        &app,
        &format!("/registry/package/{}/1.0", package["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(version["languageVersion"], "4.2");
    let names: Vec<&str> = version["packageFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bin/windows/contrib/4.2/hello_1.0.zip",
            "bin/macosx/contrib/4.2/hello_1.0.tgz",
            "bin/macosx/big-sur-arm64/contrib/4.3/hello_1.0.tgz",
            "hello_1.0.tar.gz",
        ]
    );

    // GitFlic's service-level routes: a binary goes to the tree of its R version and platform.
    let global = binary("hello", "2.0", "4.2.2", "windows", true);
    let stored = call(
        &app,
        Method::PUT,
        "/registry/package/cran/4.2.2/hello_2.0.zip",
        Some(&app.admin_token),
        Some(&global),
    )
    .await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["name"], "bin/windows/contrib/4.2/hello_2.0.zip");
    let download = call(
        &app,
        Method::GET,
        "/registry/package/cran/hello_2.0.zip?languageVersion=4.2.2&platform=windows",
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap(), global);
    for (query, status) in [
        ("", 400),
        ("?platform=windows", 400),
        ("?platform=macosx&languageVersion=4.2", 400),
        ("?platform=linux&languageVersion=4.2", 400),
        ("?platform=windows&languageVersion=4.3", 404),
    ] {
        let response = call(
            &app,
            Method::GET,
            &format!("/registry/package/cran/hello_2.0.zip{query}"),
            Some(&app.admin_token),
            None,
        )
        .await;
        assert_eq!(response.status(), status, "{query}");
    }
}

both_backends!(
    uploads_and_the_repository_layout,
    binary_trees_have_their_own_packages,
    packages_are_checked_before_anything_is_kept,
    gitflic_cran_content_routes_store_global_packages,
);
