//! NuGet v3 on hosted repositories: push with the API key (multipart, quoted boundary, chunked), the
//! service index, flat container, registrations, search, unlist and relist, and GitFlic's NuGet content
//! routes; the id and version are read from the `.nuspec` inside the package.

use std::io::Write;

use packyard_domain::AccessLevel;
use reqwest::{Method, Response};
use serde_json::Value;

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

pub(crate) const BASE: &str = "/company/acme/package/-/nuget";

pub(crate) fn nuspec(id: &str, version: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>{id}</id>
    <version>{version}</version>
    <authors>packyard</authors>
    <description>A demo</description>
    <tags>demo</tags>
    <dependencies>
      <group targetFramework=".NETStandard2.0">
        <dependency id="Other.Lib" version="[1.0, 2.0)" />
      </group>
    </dependencies>
  </metadata>
</package>"#
    )
}

/// A package whose root `.nuspec` is `nuspec` (none when `None`), with `marker` as a library file.
pub(crate) fn nupkg(nuspec: Option<&str>, marker: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    if let Some(nuspec) = nuspec {
        writer.start_file("Packyard.Demo.nuspec", options).unwrap();
        writer.write_all(nuspec.as_bytes()).unwrap();
    }
    writer
        .start_file("lib/netstandard2.0/readme.txt", options)
        .unwrap();
    writer.write_all(marker.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

/// A multipart body as NuGet.exe sends it: one `package` part, and a quoted boundary.
fn form(content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "8a3f4c1e-packyard";
    let mut body = Vec::new();
    write!(
        body,
        "--{boundary}\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: form-data; name=package; filename=package.nupkg; filename*=utf-8''package.nupkg\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(content);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (
        format!("multipart/form-data; boundary=\"{boundary}\""),
        body,
    )
}

/// Pushes as NuGet.exe does: `PUT` with a trailing `/`, the API key, and a chunked multipart body.
async fn push(app: &TestApp, key: Option<&str>, content: &[u8]) -> Response {
    let (content_type, body) = form(content);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let mut request = app
        .client
        .put(app.url(&format!("{BASE}/package/")))
        .header("Content-Type", content_type)
        .header("X-NuGet-Session-Id", "b7f0")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )));
    if let Some(key) = key {
        request = request.header("X-NuGet-ApiKey", key);
    }
    request.send().await.unwrap()
}

pub(crate) async fn push_status(app: &TestApp, key: &str, content: &[u8]) -> (u16, String) {
    let response = push(app, Some(key), content).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A read as NuGet does it after the challenge: Basic with the token as the password.
async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .basic_auth("nuget", Some(token))
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = get(app, token, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

async fn nuget_pushes_and_reads_every_resource(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let first = nupkg(Some(&nuspec("Packyard.Demo", "1.0")), "one");
    let beta = nupkg(Some(&nuspec("Packyard.Demo", "01.2.0.0-Beta+build")), "two");

    // The index needs credentials, and challenges for them.
    let anonymous = app
        .client
        .get(app.url(&format!("{BASE}/index.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    let index = get_json(&app, &guest, &format!("{BASE}/index.json")).await;
    assert_eq!(index["version"], "3.0.0");
    let resource = |kind: &str| -> String {
        index["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["@type"] == kind)
            .unwrap_or_else(|| panic!("{kind} is advertised"))["@id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let publish = resource("PackagePublish/2.0.0");
    assert_eq!(publish, app.url(&format!("{BASE}/package")));
    assert_eq!(
        resource("PackageBaseAddress/3.0.0"),
        app.url(&format!("{BASE}/v3-flatcontainer/"))
    );
    for alias in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.4.0", "/3.6.0"] {
        assert_eq!(
            resource(&format!("RegistrationsBaseUrl{alias}")),
            app.url(&format!("{BASE}/registration/"))
        );
    }
    for alias in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0"] {
        assert_eq!(
            resource(&format!("SearchQueryService{alias}")),
            app.url(&format!("{BASE}/query"))
        );
    }

    // Push: no key is a challenge, a guest may not, a developer's token may.
    let unauthenticated = push(&app, None, &first).await;
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(push_status(&app, &guest, &first).await.0, 403);
    let (status, body) = push_status(&app, &developer, &first).await;
    assert_eq!(status, 201, "{body}");
    let pushed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pushed["name"], "packyard.demo.1.0.0.nupkg");
    assert_eq!(pushed["hashSHA256"], digests(&first).sha256);
    assert_eq!(pushed["packageUploadType"], "TRANSPORT");
    // The same bytes again are fine; other bytes for the version are a conflict.
    assert_eq!(push_status(&app, &developer, &first).await.0, 200);
    let other = nupkg(Some(&nuspec("packyard.demo", "1.0.0")), "other");
    let (status, body) = push_status(&app, &developer, &other).await;
    assert_eq!(status, 409, "{body}");
    // The same route without the trailing slash, and a version that needs normalising.
    let (content_type, form_body) = form(&beta);
    let response = app
        .client
        .put(app.url(&format!("{BASE}/package")))
        .header("Content-Type", content_type)
        .header("X-NuGet-ApiKey", &developer)
        .body(form_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // The flat container: lowercase ids, normalized versions, the package and its nuspec.
    let flat = format!("{BASE}/v3-flatcontainer");
    let versions = get_json(&app, &guest, &format!("{flat}/packyard.demo/index.json")).await;
    assert_eq!(
        versions["versions"],
        serde_json::json!(["1.0.0", "1.2.0-beta"])
    );
    let mixed = get_json(&app, &guest, &format!("{flat}/Packyard.Demo/index.json")).await;
    assert_eq!(mixed, versions);
    let package = get(
        &app,
        &guest,
        &format!("{flat}/packyard.demo/1.0.0/packyard.demo.1.0.0.nupkg"),
    )
    .await;
    assert_eq!(package.status(), 200);
    assert_eq!(package.bytes().await.unwrap(), first);
    let head = app
        .client
        .head(app.url(&format!("{flat}/packyard.demo/index.json")))
        .basic_auth("nuget", Some(&guest))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let nuspec_text = get(
        &app,
        &guest,
        &format!("{flat}/packyard.demo/1.2.0-beta/packyard.demo.nuspec"),
    )
    .await;
    assert_eq!(nuspec_text.status(), 200);
    assert_eq!(
        nuspec_text.text().await.unwrap(),
        nuspec("Packyard.Demo", "01.2.0.0-Beta+build")
    );
    for missing in [
        format!("{flat}/unknown/index.json"),
        format!("{flat}/packyard.demo/9.0.0/packyard.demo.9.0.0.nupkg"),
        format!("{flat}/packyard.demo/1.0.0/other.1.0.0.nupkg"),
    ] {
        assert_eq!(get(&app, &guest, &missing).await.status(), 404, "{missing}");
    }

    // Registrations: one page with the leaves inlined.
    let registration = get_json(
        &app,
        &guest,
        &format!("{BASE}/registration/packyard.demo/index.json"),
    )
    .await;
    assert_eq!(registration["count"], 1);
    let page = &registration["items"][0];
    assert_eq!(page["count"], 2);
    assert_eq!(page["lower"], "1.0.0");
    assert_eq!(page["upper"], "1.2.0-beta");
    let leaf = &page["items"][0];
    let entry = &leaf["catalogEntry"];
    assert_eq!(entry["id"], "Packyard.Demo");
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["listed"], true);
    assert_eq!(entry["description"], "A demo");
    assert_eq!(
        entry["packageContent"],
        app.url(&format!(
            "{flat}/packyard.demo/1.0.0/packyard.demo.1.0.0.nupkg"
        ))
    );
    assert_eq!(leaf["packageContent"], entry["packageContent"]);
    let group_entry = &entry["dependencyGroups"][0];
    assert_eq!(group_entry["targetFramework"], ".NETStandard2.0");
    assert_eq!(group_entry["dependencies"][0]["id"], "Other.Lib");
    assert_eq!(group_entry["dependencies"][0]["range"], "[1.0, 2.0)");
    let leaf_doc = get_json(
        &app,
        &guest,
        &format!("{BASE}/registration/packyard.demo/1.0.0.json"),
    )
    .await;
    assert_eq!(leaf_doc["catalogEntry"]["version"], "1.0.0");

    // Search, with and without prerelease versions.
    let found = get_json(&app, &guest, &format!("{BASE}/query?q=demo&skip=0&take=20")).await;
    assert_eq!(found["totalHits"], 1);
    assert_eq!(found["data"][0]["id"], "Packyard.Demo");
    assert_eq!(found["data"][0]["version"], "1.0.0");
    let pre = get_json(&app, &guest, &format!("{BASE}/query?q=&prerelease=true")).await;
    assert_eq!(pre["data"][0]["version"], "1.2.0-beta");
    assert_eq!(pre["data"][0]["versions"].as_array().unwrap().len(), 2);
    let none = get_json(&app, &guest, &format!("{BASE}/query?q=nothing")).await;
    assert_eq!(none["totalHits"], 0);

    // Unlist hides the version from search and marks its leaf; relist brings it back.
    let delete = |key: &str| {
        app.client
            .delete(app.url(&format!("{BASE}/package/Packyard.Demo/1.0.0")))
            .header("X-NuGet-ApiKey", key)
            .send()
    };
    assert_eq!(delete(&guest).await.unwrap().status(), 403);
    assert_eq!(delete(&developer).await.unwrap().status(), 204);
    let registration = get_json(
        &app,
        &guest,
        &format!("{BASE}/registration/packyard.demo/index.json"),
    )
    .await;
    assert_eq!(
        registration["items"][0]["items"][0]["catalogEntry"]["listed"],
        false
    );
    let found = get_json(&app, &guest, &format!("{BASE}/query?q=demo")).await;
    assert_eq!(found["totalHits"], 0);
    let relist = app
        .client
        .post(app.url(&format!("{BASE}/package/packyard.demo/1.0")))
        .header("X-NuGet-ApiKey", &developer)
        .send()
        .await
        .unwrap();
    assert_eq!(relist.status(), 200);
    let found = get_json(&app, &guest, &format!("{BASE}/query?q=demo")).await;
    assert_eq!(found["totalHits"], 1);
    let unknown = app
        .client
        .delete(app.url(&format!("{BASE}/package/Packyard.Demo/7.0.0")))
        .header("X-NuGet-ApiKey", &developer)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The GitFlic listing: versions with their files and digests, one download of 1.0.0.
    let list = admin_json(&app, "/registry/package?type=nuget").await;
    assert_eq!(list["page"]["totalElements"], 1);
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], "Packyard.Demo");
    assert_eq!(package["ownerType"], "COMPANY");
    let uuid = package["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    assert!(version["languageVersion"].is_null());
    assert_eq!(
        version["packageFiles"][0]["name"],
        "packyard.demo.1.0.0.nupkg"
    );
    assert_eq!(version["packageFiles"][0]["hashSHA1"], digests(&first).sha1);
}

async fn malformed_packages_are_refused_and_nothing_is_kept(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let refusals: Vec<(Vec<u8>, &str)> = vec![
        (
            b"not a zip".to_vec(),
            "invalid package: the package is not a zip",
        ),
        (
            nupkg(None, "x"),
            "invalid package: the package has no .nuspec at its root",
        ),
        (
            nupkg(Some("<package><metadata><id>A</id>"), "x"),
            "invalid package: malformed XML",
        ),
        (
            nupkg(
                Some("<package><metadata><version>1.0</version></metadata></package>"),
                "x",
            ),
            "invalid package: the .nuspec has no <metadata><id>",
        ),
        (
            nupkg(Some(&nuspec("Bad Id", "1.0")), "x"),
            "invalid package: \"Bad Id\" is not a valid package id",
        ),
        (
            nupkg(Some(&nuspec("Packyard.Demo", "one")), "x"),
            "invalid package: \"one\" is not a valid version",
        ),
    ];
    for (content, why) in refusals {
        let (status, body) = push_status(&app, &developer, &content).await;
        assert_eq!(status, 400, "{why}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(
            body["message"].as_str().unwrap().starts_with(why),
            "{why}: {body}"
        );
    }
    let empty_form = app
        .client
        .put(app.url(&format!("{BASE}/package/")))
        .header("X-NuGet-ApiKey", &developer)
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body("--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(empty_form.status(), 400);
    let list = admin_json(&app, "/registry/package?type=nuget").await;
    assert_eq!(list["page"]["totalElements"], 0);
}

async fn gitflic_nuget_content_routes_store_global_packages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let content = nupkg(Some(&nuspec("Packyard.Demo", "1.0")), "one");
    let (content_type, body) = form(&content);
    let put = app
        .client
        .put(app.url("/registry/package/nuget"))
        .header("Authorization", format!("token {}", app.admin_token))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<Value>().await.unwrap()["packageUploadType"],
        "API"
    );
    for path in [
        "/registry/package/nuget/Packyard.Demo/1.0.0",
        "/registry/package/nuget/packyard.demo/1.0",
    ] {
        let got = call(&app, Method::GET, path, Some(&app.admin_token), None).await;
        assert_eq!(got.status(), 200, "{path}");
        assert_eq!(got.bytes().await.unwrap(), content);
    }
    let malformed = call(
        &app,
        Method::PUT,
        "/registry/package/nuget",
        Some(&app.admin_token),
        Some(b"not a zip"),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let missing = call(
        &app,
        Method::GET,
        "/registry/package/nuget/Packyard.Demo/2.0.0",
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);
    let (_, user) = app.create_user_with_token("someone").await;
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/registry/package/nuget/Packyard.Demo/1.0.0",
            Some(&user),
            None
        )
        .await
        .status(),
        403
    );

    let list = admin_json(&app, "/registry/package?type=nuget").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], "Packyard.Demo");
    assert_eq!(package["version"], "1.0.0");
    assert_eq!(package["ownerType"], "GLOBAL");
    let uuid = package["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version["downloadCount"], 2);
    assert_eq!(
        version["packageFiles"][0]["hashSHA256"],
        digests(&content).sha256
    );
}

both_backends!(
    nuget_pushes_and_reads_every_resource,
    malformed_packages_are_refused_and_nothing_is_kept,
    gitflic_nuget_content_routes_store_global_packages,
);
