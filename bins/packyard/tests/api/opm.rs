//! OneScript opm on hosted repositories: a replay of `opm push` and `opm install` (opm has no
//! installable client), malformed packages, permissions, and GitFlic's opm content routes; metadata
//! is read from the `opm-metadata.xml` inside the `.ospx`.

use std::io::Write;

use base64::Engine;
use packyard_domain::AccessLevel;
use reqwest::{Method, Response};
use serde_json::Value;

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

/// `ПутьНаСервере` and `РесурсПубликацииПакетов` of an `opm.cfg` pointing at group `acme`.
pub(crate) const BASE: &str = "/company/acme/package/-/opm";

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn metadata(name: &str, version: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<opm-metadata xmlns="http://oscript.io/schemas/opm-metadata/1.0">
  <name>{name}</name>
  <version>{version}</version>
  <engine-version>1.8.0</engine-version>
  <author>Acme</author>
  <description>Greetings</description>
  <depends-on name="logos" version="0.6.0" version-max="1.0.0" dev="false"/>
</opm-metadata>"#
    )
}

/// An `.ospx` as `opm build` makes it: `opm-metadata.xml` and `content.zip`.
pub(crate) fn ospx(name: &str, version: &str) -> Vec<u8> {
    let content = zip(&[
        (
            "packagedef",
            format!("Описание.Имя(\"{name}\").Версия(\"{version}\");").as_bytes(),
        ),
        (
            "src/Hello.os",
            format!("Сообщить(\"{version}\");").as_bytes(),
        ),
    ]);
    zip(&[
        ("opm-metadata.xml", metadata(name, version).as_bytes()),
        ("content.zip", &content),
    ])
}

/// `opm push`: POST of the raw `.ospx` with `Авторизация` verbatim, `FILE-NAME` and `CHANNEL`.
pub(crate) async fn push(
    app: &TestApp,
    authorization: Option<&str>,
    file_name: &str,
    body: &[u8],
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("{BASE}/push")))
        .header("FILE-NAME", file_name)
        .header("CHANNEL", "stable")
        .body(body.to_vec());
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.unwrap()
}

/// `opm install`: GETs of `Сервер + ПутьНаСервере + resource`.
async fn get(app: &TestApp, authorization: &str, resource: &str) -> Response {
    app.client
        .get(app.url(&format!("{BASE}/{resource}")))
        .header("Authorization", authorization)
        .send()
        .await
        .unwrap()
}

pub(crate) fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

async fn package_count(app: &TestApp) -> Value {
    admin_json(app, "/registry/package").await["page"]["totalElements"].clone()
}

async fn opm_push_and_install_are_replayed(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let publisher = basic("dev", &developer);
    let reader = basic("guest", &guest);
    let first = ospx("Hello-Lib", "1.0.0");
    let second = ospx("Hello-Lib", "1.10.0");
    let older = ospx("Hello-Lib", "1.9.0");

    let pushed = push(&app, Some(&publisher), "Hello-Lib-1.0.0.ospx", &first).await;
    assert_eq!(pushed.status(), 200);
    let pushed: Value = pushed.json().await.unwrap();
    assert_eq!(pushed["packageUploadType"], "TRANSPORT");
    assert_eq!(pushed["name"], "Hello-Lib-1.0.0.ospx");
    assert_eq!(pushed["hashSHA1"], digests(&first).sha1);
    // The same bytes again: fine; other bytes for the version: 409.
    assert_eq!(
        push(&app, Some(&publisher), "Hello-Lib-1.0.0.ospx", &first)
            .await
            .status(),
        200
    );
    assert_eq!(
        push(
            &app,
            Some(&publisher),
            "Hello-Lib-1.0.0.ospx",
            &zip(&[
                (
                    "opm-metadata.xml",
                    metadata("Hello-Lib", "1.0.0").as_bytes()
                ),
                ("content.zip", b"other"),
            ])
        )
        .await
        .status(),
        409
    );
    // Bearer and GitFlic's token forms are accepted too.
    for (file, body, authorization) in [
        (
            "Hello-Lib-1.10.0.ospx",
            &second,
            format!("Bearer {developer}"),
        ),
        ("Hello-Lib-1.9.0.ospx", &older, format!("token {developer}")),
    ] {
        assert_eq!(
            push(&app, Some(&authorization), file, body).await.status(),
            200
        );
    }
    // Another case of a name opm matches case-insensitively.
    assert_eq!(
        push(
            &app,
            Some(&publisher),
            "hello-lib-2.0.0.ospx",
            &ospx("hello-lib", "2.0.0")
        )
        .await
        .status(),
        409
    );

    // opm install: list.txt, then the versioned and the latest paths.
    let list = get(&app, &reader, "list.txt").await;
    assert_eq!(list.status(), 200);
    assert!(
        list.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(list.text().await.unwrap(), "Hello-Lib\n");
    let versioned = get(&app, &reader, "Hello-Lib/Hello-Lib-1.0.0.ospx").await;
    assert_eq!(versioned.status(), 200);
    assert_eq!(versioned.bytes().await.unwrap(), first);
    let latest = get(&app, &reader, "Hello-Lib/Hello-Lib.ospx").await;
    assert_eq!(latest.status(), 200);
    assert_eq!(
        latest.bytes().await.unwrap(),
        second,
        "1.10.0 is newer than 1.9.0"
    );
    for missing in [
        "Hello-Lib/Hello-Lib-3.0.0.ospx",
        "hello-lib/hello-lib.ospx",
        "Other/Other.ospx",
        "Hello-Lib/Hello-Lib-1.0.0.zip",
    ] {
        assert_eq!(get(&app, &reader, missing).await.status(), 404, "{missing}");
    }

    // Permissions: 401 with a Basic challenge, 403 for a guest, 404 for a stranger.
    let anonymous = push(
        &app,
        None,
        "Hello-Lib-3.0.0.ospx",
        &ospx("Hello-Lib", "3.0.0"),
    )
    .await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    let anonymous_list = app
        .client
        .get(app.url(&format!("{BASE}/list.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_list.status(), 401);
    assert_eq!(
        push(
            &app,
            Some(&reader),
            "Hello-Lib-3.0.0.ospx",
            &ospx("Hello-Lib", "3.0.0")
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        get(&app, &basic("s", &stranger), "list.txt").await.status(),
        404
    );

    // The GitFlic listing: the package, its versions, files, digests and downloads.
    let packages = admin_json(&app, "/registry/package?type=opm").await;
    let listed = &packages["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(listed["name"], "Hello-Lib");
    assert_eq!(listed["type"], "opm");
    assert_eq!(listed["ownerType"], "COMPANY");
    assert_eq!(packages["page"]["totalElements"], 1);
    let uuid = listed["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    let file = &version["packageFiles"][0];
    assert_eq!(file["name"], "Hello-Lib-1.0.0.ospx");
    assert_eq!(file["hashSHA1"], digests(&first).sha1);
    assert_eq!(file["hashSHA256"], digests(&first).sha256);
    let newest = admin_json(&app, &format!("/registry/package/{uuid}/1.10.0")).await;
    assert_eq!(newest["downloadCount"], 1);
    assert_eq!(newest["packageFiles"][0]["hashSHA1"], digests(&second).sha1);
}

async fn malformed_packages_are_refused(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let publisher = basic("dev", &developer);
    let refusals: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "demo-1.0.0.ospx",
            b"not a zip".to_vec(),
            "the package is not a zip archive",
        ),
        (
            "demo-1.0.0.ospx",
            zip(&[("content.zip", b"PK")]),
            "the .ospx has no opm-metadata.xml",
        ),
        (
            "demo-1.0.0.ospx",
            zip(&[("opm-metadata.xml", b"<opm-metadata><name>demo</name>")]),
            "opm-metadata.xml: malformed XML",
        ),
        (
            "demo-1.0.0.ospx",
            ospx("other", "1.0.0"),
            "the file name \"demo-1.0.0.ospx\" does not match",
        ),
        (
            "demo-1.0.0.ospx",
            ospx("demo", "1.0.1"),
            "(\"demo-1.0.1.ospx\")",
        ),
    ];
    for (file, body, message) in refusals {
        let response = push(&app, Some(&publisher), file, &body).await;
        assert_eq!(response.status(), 400, "{message}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body} should say {message}"
        );
    }
    let no_file_name = app
        .client
        .post(app.url(&format!("{BASE}/push")))
        .header("Authorization", &publisher)
        .body(ospx("demo", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file_name.status(), 400);
    assert_eq!(package_count(&app).await, 0, "nothing was kept");
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
    assert_eq!(
        get(&app, &publisher, "list.txt")
            .await
            .text()
            .await
            .unwrap(),
        ""
    );

    // Without opm-metadata.xml, the packagedef in content.zip gives the name and version.
    let content = zip(&[(
        "packagedef",
        "Описание.Имя(\"old-style\")\n    .Версия(\"0.3.0\");".as_bytes(),
    )]);
    let old_style = zip(&[("content.zip", &content)]);
    let pushed = push(&app, Some(&publisher), "old-style-0.3.0.ospx", &old_style).await;
    assert_eq!(pushed.status(), 200);
    assert_eq!(
        get(&app, &publisher, "list.txt")
            .await
            .text()
            .await
            .unwrap(),
        "old-style\n"
    );
    let latest = get(&app, &publisher, "old-style/old-style.ospx").await;
    assert_eq!(latest.bytes().await.unwrap(), old_style);
}

async fn gitflic_opm_content_routes_store_global_packages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let package = ospx("demo", "1.2.3");
    let put = call(
        &app,
        Method::PUT,
        "/registry/package/opm/demo-1.2.3.ospx",
        Some(&app.admin_token),
        Some(&package),
    )
    .await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<Value>().await.unwrap()["packageUploadType"],
        "API"
    );
    let again = call(
        &app,
        Method::PUT,
        "/registry/package/opm/demo-1.2.3.ospx",
        Some(&app.admin_token),
        Some(&package),
    )
    .await;
    assert_eq!(again.status(), 200);
    let other = call(
        &app,
        Method::PUT,
        "/registry/package/opm/demo-1.2.3.ospx",
        Some(&app.admin_token),
        Some(&zip(&[(
            "opm-metadata.xml",
            metadata("demo", "1.2.3").as_bytes(),
        )])),
    )
    .await;
    assert_eq!(other.status(), 409);
    let path = "/registry/package/opm/demo/1.2.3/demo-1.2.3.ospx";
    let got = call(&app, Method::GET, path, Some(&app.admin_token), None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/zip");
    assert_eq!(got.bytes().await.unwrap(), package);
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/registry/package/opm/demo/9.9.9/demo-9.9.9.ospx",
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
        "/registry/package/opm/demo-1.3.0.ospx",
        Some(&app.admin_token),
        Some(b"not a zip"),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let mismatch = call(
        &app,
        Method::PUT,
        "/registry/package/opm/demo-1.3.0.ospx",
        Some(&app.admin_token),
        Some(&package),
    )
    .await;
    assert_eq!(mismatch.status(), 400);
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
            "/registry/package/opm/demo-1.2.3.ospx",
            Some(&user),
            Some(&package)
        )
        .await
        .status(),
        403
    );

    let list = admin_json(&app, "/registry/package").await;
    let listed = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(listed["name"], "demo");
    assert_eq!(listed["type"], "opm");
    assert_eq!(listed["version"], "1.2.3");
    assert_eq!(listed["ownerType"], "GLOBAL");
    assert_eq!(list["page"]["totalElements"], 1);
    let uuid = listed["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.2.3")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageUploadType"], "API");
    assert_eq!(version["packageFiles"][0]["name"], "demo-1.2.3.ospx");
    assert_eq!(
        version["packageFiles"][0]["hashSHA1"],
        digests(&package).sha1
    );
}

/// `opm push --token T` with no `Авторизация` configured: the token comes as `OAUTH-TOKEN: T`.
async fn opm_push_with_only_a_token_sends_it_as_oauth_token(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let group = app.create_group("acme").await;
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let push_with = |token: String, version: &'static str| {
        let request = app
            .client
            .post(app.url(&format!("{BASE}/push")))
            .header("OAUTH-TOKEN", token)
            .header("FILE-NAME", format!("Hello-Lib-{version}.ospx"))
            .header("CHANNEL", "stable")
            .body(ospx("Hello-Lib", version));
        async move { request.send().await.unwrap() }
    };

    let pushed = push_with(developer.clone(), "1.0.0").await;
    assert_eq!(pushed.status(), 200);
    let pushed: Value = pushed.json().await.unwrap();
    assert_eq!(pushed["name"], "Hello-Lib-1.0.0.ospx");
    let list = get(&app, &basic("dev", &developer), "list.txt").await;
    assert_eq!(list.text().await.unwrap().trim(), "Hello-Lib");

    assert_eq!(push_with(guest, "2.0.0").await.status(), 403);
    let wrong = push_with("pyat-not-a-token".into(), "2.0.0").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    // Only the publishing route reads it.
    let read = app
        .client
        .get(app.url(&format!("{BASE}/list.txt")))
        .header("OAUTH-TOKEN", &developer)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 401);
}

both_backends!(
    opm_push_with_only_a_token_sends_it_as_oauth_token,
    opm_push_and_install_are_replayed,
    malformed_packages_are_refused,
    gitflic_opm_content_routes_store_global_packages,
);
