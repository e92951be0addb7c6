//! npm on hosted repositories: the registry protocol npm speaks (packuments, tarballs, publish,
//! dist-tags, whoami, login), its permissions, and GitFlic's npm content routes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use packyard_domain::{AccessLevel, Scope};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

pub(crate) const BASE: &str = "/company/acme/package/-/npm";
const ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// A package tarball as `npm pack` makes it, with `package/package.json` (none when `None`).
fn tgz(manifest: Option<Value>) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    let mut entries = vec![(
        "package/index.js".to_owned(),
        "module.exports = 42;\n".to_owned(),
    )];
    if let Some(manifest) = manifest {
        entries.push(("package/package.json".to_owned(), manifest.to_string()));
    }
    for (path, text) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn manifest(name: &str, version: &str) -> Value {
    json!({
        "name": name,
        "version": version,
        "description": "A demo",
        "main": "index.js",
        "dependencies": {},
        "scripts": {"test": "true"},
    })
}

fn bare(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}

fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        STANDARD.encode(hex::decode(digests(bytes).sha512).unwrap())
    )
}

/// The body `npm publish` sends for one version.
fn publish_body(name: &str, version: &str, tarball: &[u8], tag: &str) -> Value {
    // npm names the attachment after the full name, scope included.
    let file = format!("{name}-{version}.tgz");
    let mut document = manifest(name, version);
    document["_id"] = json!(format!("{name}@{version}"));
    document["dist"] = json!({
        "integrity": integrity(tarball),
        "shasum": digests(tarball).sha1,
        "tarball": format!("http://localhost/{name}/-/{file}"),
    });
    json!({
        "_id": name,
        "name": name,
        "description": "A demo",
        "dist-tags": {tag: version},
        "versions": {version: document},
        "access": null,
        "_attachments": {file: {
            "content_type": "application/octet-stream",
            "data": STANDARD.encode(tarball),
            "length": tarball.len(),
        }},
    })
}

/// The path npm requests for a package: scoped names with an encoded `/`.
fn escaped(name: &str) -> String {
    name.replace('/', "%2f")
}

/// Sends a request as npm does: `Authorization: Bearer <token>` when a token is given.
async fn npm(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    accept: Option<&str>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn publish(app: &TestApp, token: &str, name: &str, body: Value) -> Response {
    npm(
        app,
        Method::PUT,
        &format!("{BASE}/{}", escaped(name)),
        Some(token),
        Some(body),
        None,
    )
    .await
}

pub(crate) async fn publish_ok(
    app: &TestApp,
    token: &str,
    name: &str,
    version: &str,
    tag: &str,
) -> Vec<u8> {
    let tarball = tgz(Some(manifest(name, version)));
    let response = publish(app, token, name, publish_body(name, version, &tarball, tag)).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    tarball
}

async fn json_of(response: Response, status: u16) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn npm_publishes_and_installs_scoped_and_unscoped_packages(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;

    for name in ["left-pad", "@acme/widget"] {
        let tarball = publish_ok(&app, &developer, name, "1.0.0", "latest").await;

        // The full document, by the encoded and the plain scoped path.
        for path in [escaped(name), name.to_owned()] {
            let response = npm(
                &app,
                Method::GET,
                &format!("{BASE}/{path}"),
                Some(&guest),
                None,
                None,
            )
            .await;
            assert_eq!(response.headers()["content-type"], "application/json");
            let doc = json_of(response, 200).await;
            assert_eq!(doc["name"], name);
            assert_eq!(doc["dist-tags"], json!({"latest": "1.0.0"}));
            assert_eq!(doc["description"], "A demo");
            assert!(doc["time"]["1.0.0"].as_str().unwrap().ends_with('Z'));
            let version = &doc["versions"]["1.0.0"];
            assert_eq!(version["_id"], format!("{name}@1.0.0"));
            assert_eq!(version["main"], "index.js");
            assert_eq!(version["scripts"]["test"], "true");
            assert_eq!(
                version["dist"]["tarball"],
                app.url(&format!("{BASE}/{name}/-/{}-1.0.0.tgz", bare(name)))
            );
            assert_eq!(version["dist"]["shasum"], digests(&tarball).sha1);
            assert_eq!(version["dist"]["integrity"], integrity(&tarball));
        }

        // The abbreviated document npm install asks for.
        let response = npm(
            &app,
            Method::GET,
            &format!("{BASE}/{}", escaped(name)),
            Some(&guest),
            None,
            Some(ABBREVIATED),
        )
        .await;
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.npm.install-v1+json"
        );
        let corgi = json_of(response, 200).await;
        assert_eq!(corgi["name"], name);
        assert!(corgi.get("time").is_none());
        assert!(corgi["modified"].is_string());
        let mut keys: Vec<String> = corgi["versions"]["1.0.0"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        assert_eq!(keys, ["dependencies", "dist", "name", "version"]);

        // The tarball is the bytes published; each download counts.
        let tarball_url = format!("{BASE}/{name}/-/{}-1.0.0.tgz", bare(name));
        let download = npm(&app, Method::GET, &tarball_url, Some(&guest), None, None).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.bytes().await.unwrap().as_ref(), tarball.as_slice());
        let encoded = format!("{BASE}/{}/-/{}-1.0.0.tgz", escaped(name), bare(name));
        assert_eq!(
            npm(&app, Method::GET, &encoded, Some(&guest), None, None)
                .await
                .status(),
            200
        );
        let missing = format!("{BASE}/{name}/-/{}-9.9.9.tgz", bare(name));
        assert_eq!(
            npm(&app, Method::GET, &missing, Some(&guest), None, None)
                .await
                .status(),
            404
        );

        // Versions are immutable: publishing 1.0.0 again is a 409 that says why.
        let other = tgz(Some(
            json!({"name": name, "version": "1.0.0", "description": "changed"}),
        ));
        let conflict = json_of(
            publish(
                &app,
                &developer,
                name,
                publish_body(name, "1.0.0", &other, "latest"),
            )
            .await,
            409,
        )
        .await;
        assert!(
            conflict["error"]
                .as_str()
                .unwrap()
                .contains("previously published version 1.0.0"),
            "{conflict}"
        );

        // A second version under a tag, then latest moves with the next default publish.
        publish_ok(&app, &developer, name, "2.0.0-beta.1", "beta").await;
        let tags_path = format!("{BASE}/-/package/{}/dist-tags", escaped(name));
        let tags = json_of(
            npm(&app, Method::GET, &tags_path, Some(&guest), None, None).await,
            200,
        )
        .await;
        assert_eq!(tags, json!({"latest": "1.0.0", "beta": "2.0.0-beta.1"}));
        publish_ok(&app, &developer, name, "1.1.0", "latest").await;

        // dist-tags: add, move, remove; latest stays; unknown versions are 404.
        let tag = |t: &str| format!("{tags_path}/{t}");
        let set = npm(
            &app,
            Method::PUT,
            &tag("next"),
            Some(&developer),
            Some(json!("2.0.0-beta.1")),
            None,
        )
        .await;
        assert_eq!(set.status(), 200);
        let unknown = npm(
            &app,
            Method::PUT,
            &tag("next"),
            Some(&developer),
            Some(json!("7.0.0")),
            None,
        )
        .await;
        assert_eq!(unknown.status(), 404);
        let as_guest = npm(
            &app,
            Method::PUT,
            &tag("next"),
            Some(&guest),
            Some(json!("1.0.0")),
            None,
        )
        .await;
        assert_eq!(as_guest.status(), 403);
        let removed = npm(
            &app,
            Method::DELETE,
            &tag("beta"),
            Some(&developer),
            None,
            None,
        )
        .await;
        assert_eq!(removed.status(), 200);
        let latest = npm(
            &app,
            Method::DELETE,
            &tag("latest"),
            Some(&developer),
            None,
            None,
        )
        .await;
        assert_eq!(latest.status(), 400);
        let doc = json_of(
            npm(
                &app,
                Method::GET,
                &format!("{BASE}/{}", escaped(name)),
                Some(&guest),
                None,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            doc["dist-tags"],
            json!({"latest": "1.1.0", "next": "2.0.0-beta.1"})
        );
        assert_eq!(
            doc["versions"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["1.0.0", "1.1.0", "2.0.0-beta.1"]
        );

        // npm deprecate sends the whole document back without attachments.
        let mut deprecation = doc.clone();
        deprecation["versions"]["1.0.0"]["deprecated"] = json!("use 1.1.0");
        let path = format!("{BASE}/{}", escaped(name));
        let deprecated = npm(
            &app,
            Method::PUT,
            &path,
            Some(&developer),
            Some(deprecation.clone()),
            None,
        )
        .await;
        assert_eq!(deprecated.status(), 200);
        let as_guest = npm(
            &app,
            Method::PUT,
            &path,
            Some(&guest),
            Some(deprecation.clone()),
            None,
        )
        .await;
        assert_eq!(as_guest.status(), 403);
        let corgi = json_of(
            npm(
                &app,
                Method::GET,
                &path,
                Some(&guest),
                None,
                Some(ABBREVIATED),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(corgi["versions"]["1.0.0"]["deprecated"], "use 1.1.0");
        assert!(corgi["versions"]["1.1.0"].get("deprecated").is_none());
        // Lifting it: an empty message.
        deprecation["versions"]["1.0.0"]["deprecated"] = json!("");
        let lifted = npm(
            &app,
            Method::PUT,
            &path,
            Some(&developer),
            Some(deprecation.clone()),
            None,
        )
        .await;
        assert_eq!(lifted.status(), 200);
        let full = json_of(
            npm(&app, Method::GET, &path, Some(&guest), None, None).await,
            200,
        )
        .await;
        assert!(full["versions"]["1.0.0"].get("deprecated").is_none());
        assert_eq!(
            full["versions"]["1.0.0"]["dist"],
            doc["versions"]["1.0.0"]["dist"]
        );
        // A version that was never published is not created this way.
        deprecation["versions"]["9.0.0"] =
            json!({"name": name, "version": "9.0.0", "deprecated": "x"});
        let unknown = npm(
            &app,
            Method::PUT,
            &path,
            Some(&developer),
            Some(deprecation),
            None,
        )
        .await;
        assert_eq!(unknown.status(), 400);
    }

    // GitFlic's listing reflects npm: TRANSPORT uploads, digests and download counts.
    let list = admin_json(&app, "/registry/package?type=npm").await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["left-pad", "@acme/widget"]);
    let widget = &packages[1];
    assert_eq!(widget["type"], "npm");
    assert_eq!(widget["ownerType"], "COMPANY");
    assert_eq!(widget["version"], "1.1.0");
    let versions = admin_json(
        &app,
        &format!(
            "/registry/package/{}/version-list",
            widget["id"].as_str().unwrap()
        ),
    )
    .await;
    let first = &versions["_embedded"]["simplePackageVersionModelList"][0];
    assert_eq!(first["version"], "1.0.0");
    assert_eq!(first["downloadCount"], 2);
    assert_eq!(first["packageUploadType"], "TRANSPORT");
    let file = &first["packageFiles"][0];
    assert_eq!(file["name"], "widget-1.0.0.tgz");
    assert_eq!(file["packageUploadType"], "TRANSPORT");
    assert_eq!(
        file["hashSHA256"],
        digests(&tgz(Some(manifest("@acme/widget", "1.0.0")))).sha256
    );
}

async fn npm_publishes_are_checked_before_anything_is_kept(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let name = "demo";
    let good = tgz(Some(manifest(name, "1.0.0")));

    let raw = app
        .client
        .put(app.url(&format!("{BASE}/{name}")))
        .bearer_auth(&developer)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let malformed = json_of(raw, 400).await;
    assert!(
        malformed["error"].as_str().unwrap().contains("not valid"),
        "{malformed}"
    );

    let mut cases: Vec<(Value, &str)> = vec![
        (
            publish_body(name, "1.0.0", &tgz(None), "latest"),
            "no package/package.json",
        ),
        (
            publish_body(name, "1.0.0", b"not a tarball", "latest"),
            "invalid package tarball",
        ),
        (
            publish_body(
                name,
                "1.0.0",
                &tgz(Some(manifest("other", "1.0.0"))),
                "latest",
            ),
            "names package \"other\"",
        ),
        (
            publish_body(name, "1.0.0", &tgz(Some(manifest(name, "1.0.1"))), "latest"),
            "has version \"1.0.1\"",
        ),
    ];
    let mut wrong_sum = publish_body(name, "1.0.0", &good, "latest");
    wrong_sum["versions"]["1.0.0"]["dist"]["shasum"] = json!("0".repeat(40));
    cases.push((wrong_sum, "dist.shasum"));
    let mut wrong_integrity = publish_body(name, "1.0.0", &good, "latest");
    wrong_integrity["versions"]["1.0.0"]["dist"]["integrity"] = json!(integrity(b"other"));
    cases.push((wrong_integrity, "dist.integrity"));
    let mut bad_base64 = publish_body(name, "1.0.0", &good, "latest");
    bad_base64["_attachments"]["demo-1.0.0.tgz"]["data"] = json!("!!!not base64!!!");
    cases.push((bad_base64, "not valid base64"));
    cases.push((
        publish_body("someone-else", "1.0.0", &good, "latest"),
        "publishes \"someone-else\"",
    ));
    let mut no_attachments = publish_body(name, "1.0.0", &good, "latest");
    no_attachments["_attachments"] = json!({});
    no_attachments["versions"] = json!({});
    cases.push((no_attachments, "no _attachments"));
    let mut renamed = publish_body(name, "1.0.0", &good, "latest");
    let attachment = renamed["_attachments"]["demo-1.0.0.tgz"].take();
    renamed["_attachments"] = json!({"evil.tgz": attachment});
    cases.push((renamed, "the attachment is named"));
    let mut wrong_length = publish_body(name, "1.0.0", &good, "latest");
    wrong_length["_attachments"]["demo-1.0.0.tgz"]["length"] = json!(3);
    cases.push((wrong_length, "length 3 does not match"));
    for (body, expected) in cases {
        let answer = json_of(publish(&app, &developer, name, body).await, 400).await;
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{expected}: {answer}"
        );
    }

    // Nothing was kept: npm's 404 shape.
    let missing = json_of(
        npm(
            &app,
            Method::GET,
            &format!("{BASE}/{name}"),
            Some(&developer),
            None,
            None,
        )
        .await,
        404,
    )
    .await;
    assert_eq!(missing, json!({"error": "Not found"}));

    // A version document over its cap is a 413 that names the limit, whatever the file size cap.
    let mut huge = publish_body(name, "1.0.0", &good, "latest");
    huge["versions"]["1.0.0"]["readme"] = json!("x".repeat(5 * 1024 * 1024));
    let response = publish(&app, &developer, name, huge).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "a version document is limited to 4194304 bytes"})
    );
    // A document over the cap is a 413.
    let Some(small) = TestApp::start_with(backend, |s| s.storage.max_file_size = Some(1024)).await
    else {
        return;
    };
    let group = small.create_group("acme").await;
    let developer = small
        .member_token(group, "dev", AccessLevel::Developer)
        .await;
    let mut huge = publish_body(name, "1.0.0", &good, "latest");
    huge["readme"] = json!("x".repeat(17 * 1024 * 1024));
    assert_eq!(publish(&small, &developer, name, huge).await.status(), 413);
}

async fn npm_authenticates_with_bearer_tokens(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    app.create_group("other").await;
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let admin = app.admin().await;
    let acme = app.core.find_group("acme").await.unwrap();
    let deploy = |name: &'static str, scope: Scope| {
        let (core, admin, acme) = (app.core.clone(), admin.clone(), acme.clone());
        async move {
            core.create_deploy_token(&admin, &acme, name.into(), None, vec![scope], None)
                .await
                .unwrap()
        }
    };
    let reader = deploy("ci-read", Scope::ReadPackageRegistry).await;
    let writer = deploy("ci-write", Scope::WritePackageRegistry).await;

    // Without credentials: 401 with a challenge; ping answers anyone.
    let anonymous = npm(
        &app,
        Method::GET,
        &format!("{BASE}/-/whoami"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    let bad = npm(
        &app,
        Method::GET,
        &format!("{BASE}/-/whoami"),
        Some("nope"),
        None,
        None,
    )
    .await;
    assert_eq!(bad.status(), 401);
    // No web login: npm falls back to the CouchDB login on this 404.
    let web = npm(
        &app,
        Method::POST,
        &format!("{BASE}/-/v1/login"),
        None,
        Some(json!({})),
        None,
    )
    .await;
    assert_eq!(web.status(), 404);
    for path in [format!("{BASE}/-/ping"), format!("{BASE}/")] {
        assert_eq!(
            npm(&app, Method::GET, &path, None, None, None)
                .await
                .status(),
            200
        );
    }

    // whoami with personal and deploy tokens as Bearer.
    for (token, username) in [
        (&developer, "dev".to_owned()),
        (&reader.token, reader.owner.clone()),
    ] {
        let who = json_of(
            npm(
                &app,
                Method::GET,
                &format!("{BASE}/-/whoami"),
                Some(token),
                None,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(who, json!({"username": username}));
    }
    let hidden = npm(
        &app,
        Method::GET,
        "/company/other/package/-/npm/-/whoami",
        Some(&developer),
        None,
        None,
    )
    .await;
    assert_eq!(hidden.status(), 404);

    // Token login: the password is a token, answered back; nothing else is accepted.
    let login_path = format!("{BASE}/-/user/org.couchdb.user:dev");
    let login = |password: &str| {
        npm(
            &app,
            Method::PUT,
            &login_path,
            None,
            Some(
                json!({"_id": "org.couchdb.user:dev", "name": "dev", "password": password, "type": "user", "roles": []}),
            ),
            None,
        )
    };
    let logged_in = json_of(login(&developer).await, 201).await;
    assert_eq!(logged_in["ok"], true);
    assert_eq!(logged_in["token"], developer.as_str());
    assert_eq!(login("guessed-password").await.status(), 401);

    // Permissions: a deploy writer publishes with Bearer; readers install but don't publish.
    publish_ok(&app, &writer.token, "demo", "1.0.0", "latest").await;
    let tarball = tgz(Some(manifest("demo", "2.0.0")));
    let body = publish_body("demo", "2.0.0", &tarball, "latest");
    assert_eq!(
        publish(&app, &guest, "demo", body.clone()).await.status(),
        403
    );
    assert_eq!(
        publish(&app, &reader.token, "demo", body.clone())
            .await
            .status(),
        403
    );
    assert_eq!(
        publish(&app, &stranger, "demo", body.clone())
            .await
            .status(),
        404
    );
    assert_eq!(publish(&app, "nope", "demo", body).await.status(), 401);
    for token in [&guest, &reader.token, &developer] {
        let doc = npm(
            &app,
            Method::GET,
            &format!("{BASE}/demo"),
            Some(token),
            None,
            None,
        )
        .await;
        assert_eq!(doc.status(), 200);
    }
    assert_eq!(
        npm(
            &app,
            Method::GET,
            &format!("{BASE}/demo"),
            Some(&stranger),
            None,
            None
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        npm(&app, Method::GET, &format!("{BASE}/demo"), None, None, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        npm(
            &app,
            Method::GET,
            "/company/nowhere/package/-/npm/demo",
            Some(&developer),
            None,
            None
        )
        .await
        .status(),
        404
    );
    // The package is the group's: another group's registry does not have it.
    assert_eq!(
        npm(
            &app,
            Method::GET,
            "/company/other/package/-/npm/demo",
            Some(&app.admin_token),
            None,
            None
        )
        .await
        .status(),
        404
    );
}

async fn gitflic_npm_content_routes_store_global_packages(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let unscoped = tgz(Some(manifest("left-pad", "1.0.0")));
    let scoped = tgz(Some(manifest("@acme/widget", "1.0.0")));
    let routes = [
        (
            "/registry/package/npm/left-pad/1.0.0/left-pad-1.0.0.tgz",
            &unscoped,
        ),
        (
            "/registry/package/npm/widget/@acme/1.0.0/widget-1.0.0.tgz",
            &scoped,
        ),
    ];
    for (path, bytes) in routes {
        let stored = json_of(
            call(&app, Method::PUT, path, Some(&app.admin_token), Some(bytes)).await,
            200,
        )
        .await;
        assert_eq!(stored["packageUploadType"], "API");
        assert_eq!(stored["hashSHA256"], digests(bytes).sha256);
        assert_eq!(stored["hashSHA1"], digests(bytes).sha1);
        // Same bytes again: fine. Other bytes: 409.
        assert_eq!(
            call(&app, Method::PUT, path, Some(&app.admin_token), Some(bytes))
                .await
                .status(),
            200
        );
        let other = tgz(Some(
            json!({"name": if path.contains("widget") {"@acme/widget"} else {"left-pad"}, "version": "1.0.0", "x": 1}),
        ));
        assert_eq!(
            call(
                &app,
                Method::PUT,
                path,
                Some(&app.admin_token),
                Some(&other)
            )
            .await
            .status(),
            409
        );
        let download = call(&app, Method::GET, path, Some(&app.admin_token), None).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());
        // Administrators only.
        assert_eq!(
            call(&app, Method::GET, path, Some(&developer), None)
                .await
                .status(),
            403
        );
        assert_eq!(
            call(&app, Method::PUT, path, Some(&developer), Some(bytes))
                .await
                .status(),
            403
        );
        assert_eq!(
            call(&app, Method::GET, path, None, None).await.status(),
            401
        );
    }
    // The scope may be given without its @.
    let plain_scope = call(
        &app,
        Method::GET,
        "/registry/package/npm/widget/acme/1.0.0/widget-1.0.0.tgz",
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(plain_scope.status(), 200);

    // The tarball must be the package and version the path names.
    for (path, bytes, expected) in [
        (
            "/registry/package/npm/left-pad/2.0.0/left-pad-2.0.0.tgz",
            &unscoped,
            "has version",
        ),
        (
            "/registry/package/npm/other/1.0.0/other-1.0.0.tgz",
            &unscoped,
            "names package",
        ),
        (
            "/registry/package/npm/demo/1.0.0/demo-1.0.0.tgz",
            &tgz(None),
            "no package/package.json",
        ),
        (
            "/registry/package/npm/demo/1.0.0/demo-1.0.0.zip",
            &unscoped,
            "not a package tarball name",
        ),
        (
            "/registry/package/npm/demo/not-a-version/demo.tgz",
            &unscoped,
            "not a valid version",
        ),
    ] {
        let refused = json_of(
            call(&app, Method::PUT, path, Some(&app.admin_token), Some(bytes)).await,
            400,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(expected),
            "{path}: {refused}"
        );
    }

    let list = admin_json(&app, "/registry/package?type=npm").await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    assert_eq!(packages.len(), 2);
    assert_eq!(packages[1]["name"], "@acme/widget");
    assert_eq!(packages[1]["ownerType"], "GLOBAL");
    assert_eq!(packages[1]["groupId"], "acme");
    let versions = admin_json(
        &app,
        &format!(
            "/registry/package/{}/version-list",
            packages[1]["id"].as_str().unwrap()
        ),
    )
    .await;
    let version = &versions["_embedded"]["simplePackageVersionModelList"][0];
    assert_eq!(version["packageUploadType"], "API");
    assert_eq!(version["downloadCount"], 2);
}

async fn npm_unpublishes_versions_and_packages(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let name = "@acme/widget";
    let path = format!("{BASE}/{}", escaped(name));
    publish_ok(&app, &developer, name, "1.0.0", "latest").await;
    publish_ok(&app, &developer, name, "1.1.0", "latest").await;
    publish_ok(&app, &developer, name, "2.0.0-rc.1", "next").await;

    // npm unpublish @acme/widget@1.1.0: the document back without 1.1.0 and with latest moved, then the
    // tarball.
    let mut doc = json_of(
        npm(&app, Method::GET, &path, Some(&developer), None, None).await,
        200,
    )
    .await;
    let rev = doc["_rev"].as_str().unwrap().to_owned();
    assert!(rev.starts_with("1-"));
    doc["versions"].as_object_mut().unwrap().remove("1.1.0");
    doc["dist-tags"]["latest"] = json!("1.0.0");
    let rewrite = format!("{path}/-rev/{rev}");
    let as_guest = npm(
        &app,
        Method::PUT,
        &rewrite,
        Some(&guest),
        Some(doc.clone()),
        None,
    )
    .await;
    assert_eq!(as_guest.status(), 403);
    let rewritten = npm(
        &app,
        Method::PUT,
        &rewrite,
        Some(&developer),
        Some(doc.clone()),
        None,
    )
    .await;
    assert_eq!(rewritten.status(), 200);
    let tarball = format!("{BASE}/{name}/-/widget-1.1.0.tgz/-rev/{rev}");
    let deleted = npm(&app, Method::DELETE, &tarball, Some(&developer), None, None).await;
    assert_eq!(deleted.status(), 200);
    let after = json_of(
        npm(&app, Method::GET, &path, Some(&guest), None, None).await,
        200,
    )
    .await;
    assert_eq!(
        after["versions"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1.0.0", "2.0.0-rc.1"]
    );
    assert_eq!(
        after["dist-tags"],
        json!({"latest": "1.0.0", "next": "2.0.0-rc.1"})
    );
    let gone = npm(
        &app,
        Method::GET,
        &format!("{BASE}/{name}/-/widget-1.1.0.tgz"),
        Some(&guest),
        None,
        None,
    )
    .await;
    assert_eq!(gone.status(), 404);
    // The version can be published again, with other content.
    publish_ok(&app, &developer, name, "1.1.0", "latest").await;

    // A document that keeps no version is refused; the whole package goes with DELETE.
    let mut empty = doc.clone();
    empty["versions"] = json!({"9.9.9": {"name": name, "version": "9.9.9"}});
    let refused = npm(
        &app,
        Method::PUT,
        &rewrite,
        Some(&developer),
        Some(empty),
        None,
    )
    .await;
    assert_eq!(refused.status(), 400);
    let as_guest = npm(&app, Method::DELETE, &rewrite, Some(&guest), None, None).await;
    assert_eq!(as_guest.status(), 403);
    let removed = npm(&app, Method::DELETE, &rewrite, Some(&developer), None, None).await;
    assert_eq!(removed.status(), 200);
    let missing = json_of(
        npm(&app, Method::GET, &path, Some(&guest), None, None).await,
        404,
    )
    .await;
    assert_eq!(missing, json!({"error": "Not found"}));
    let list = admin_json(&app, "/registry/package?type=npm").await;
    assert_eq!(list["page"]["totalElements"], 0);
}

/// npm sends deploy tokens as `Bearer`: every hosted surface takes them so, the management API still
/// does not.
async fn bearer_deploy_tokens_work_on_every_hosted_surface(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    app.create_group("acme").await;
    let admin = app.admin().await;
    let acme = app.core.find_group("acme").await.unwrap();
    let writer = app
        .core
        .create_deploy_token(
            &admin,
            &acme,
            "ci".into(),
            None,
            vec![Scope::WritePackageRegistry, Scope::ReadPackageRegistry],
            None,
        )
        .await
        .unwrap()
        .token;
    let generic = app
        .client
        .put(app.url("/company/acme/package/-/generic/tool/1.0/tool.bin"))
        .bearer_auth(&writer)
        .body("bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(generic.status(), 200);
    let simple = app
        .client
        .get(app.url("/company/acme/package/-/pypi/simple/"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    let management = app
        .client
        .get(app.url("/api/v4/groups/acme"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(management.status(), 401);
}

/// Packuments are written a page of versions at a time: a package with more versions than a page and
/// large readmes lists every version, the abbreviated document carries no readme, a version stored
/// before install fields were kept apart is still served, and install fields past their cap are
/// refused with nothing kept.
async fn npm_documents_list_every_version_without_their_readmes(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let name = "@acme/many";
    let path = format!("{BASE}/{}", escaped(name));
    let readme = |version: &str| format!("{version}: {}", "r".repeat(200 * 1024));
    let count = 40;
    for minor in 0..count {
        let version = format!("1.{minor}.0");
        let tarball = tgz(Some(manifest(name, &version)));
        let mut body = publish_body(name, &version, &tarball, "latest");
        let document = &mut body["versions"][&version];
        document["readme"] = json!(readme(&version));
        document["dependencies"] = json!({"left-pad": format!("^1.{minor}.0")});
        let response = publish(&app, &developer, name, body).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    // The first version as a release before this one stored it: no install fields of its own.
    app.sql("UPDATE package_versions SET index_metadata = NULL WHERE version = '1.0.0'")
        .await;

    let response = npm(
        &app,
        Method::GET,
        &path,
        Some(&developer),
        None,
        Some(ABBREVIATED),
    )
    .await;
    let text = response.text().await.unwrap();
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    assert!(
        !text.contains("rrrr"),
        "the abbreviated document has a readme"
    );
    let corgi: Value = serde_json::from_str(&text).unwrap();
    let versions = corgi["versions"].as_object().unwrap();
    assert_eq!(versions.len(), count);
    for minor in 0..count {
        let version = &versions[&format!("1.{minor}.0")];
        assert_eq!(version["dependencies"]["left-pad"], format!("^1.{minor}.0"));
        assert_eq!(version["name"], name);
        assert!(
            version["dist"]["integrity"]
                .as_str()
                .unwrap()
                .starts_with("sha512-")
        );
    }
    assert_eq!(corgi["dist-tags"]["latest"], format!("1.{}.0", count - 1));

    let full = json_of(
        npm(&app, Method::GET, &path, Some(&developer), None, None).await,
        200,
    )
    .await;
    let versions = full["versions"].as_object().unwrap();
    assert_eq!(versions.len(), count);
    assert_eq!(versions["1.0.0"]["readme"], readme("1.0.0"));
    assert_eq!(versions["1.7.0"]["readme"], readme("1.7.0"));
    let latest = format!("1.{}.0", count - 1);
    assert_eq!(full["readme"], readme(&latest));
    let time = full["time"].as_object().unwrap();
    assert_eq!(time.len(), count + 2, "every version, created and modified");

    // Install fields past 1 MiB: 413, and the package keeps what it had.
    let version = "2.0.0";
    let tarball = tgz(Some(manifest(name, version)));
    let mut body = publish_body(name, version, &tarball, "latest");
    let dependencies: serde_json::Map<String, Value> = (0..30_000)
        .map(|i| (format!("dependency-number-{i:06}"), json!("^1.0.0")))
        .collect();
    body["versions"][version]["dependencies"] = Value::Object(dependencies);
    let refused = publish(&app, &developer, name, body).await;
    assert_eq!(refused.status(), 413);
    let error = refused.text().await.unwrap();
    assert!(error.contains("1048576 bytes"), "{error}");
    let after = json_of(
        npm(
            &app,
            Method::GET,
            &path,
            Some(&developer),
            None,
            Some(ABBREVIATED),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(after["versions"].as_object().unwrap().len(), count);
    assert_eq!(after["dist-tags"]["latest"], latest);
}

both_backends!(
    npm_documents_list_every_version_without_their_readmes,
    bearer_deploy_tokens_work_on_every_hosted_surface,
    npm_unpublishes_versions_and_packages,
    npm_publishes_and_installs_scoped_and_unscoped_packages,
    npm_publishes_are_checked_before_anything_is_kept,
    npm_authenticates_with_bearer_tokens,
    gitflic_npm_content_routes_store_global_packages,
);
