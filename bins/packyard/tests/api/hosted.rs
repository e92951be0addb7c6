//! Hosted packages through GitFlic's service-level API and the generic transport: uploads, downloads,
//! the listing's shapes, pagination, permissions and errors.

use packyard_domain::{AccessLevel, FileDigests, Scope};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::fixtures::app_with_group;
use crate::{Backend, TestApp, both_backends, every_store};

/// The digests of some bytes, as the server computes them.
pub fn digests(bytes: &[u8]) -> FileDigests {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(bytes);
    hashers.finish()
}

/// Sends a request with `Authorization: token <token>` (GitFlic's form), when a token is given.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("token {token}"));
    }
    if let Some(body) = body {
        request = request.body(body.to_vec());
    }
    request.send().await.unwrap()
}

/// GETs JSON as the administrator and expects 200.
pub async fn admin_json(app: &TestApp, path: &str) -> Value {
    let response = call(app, Method::GET, path, Some(&app.admin_token), None).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

fn generic(path: &str) -> String {
    format!("/registry/package/generic/{path}")
}

async fn put_generic(app: &TestApp, path: &str, body: &[u8]) -> Response {
    call(
        app,
        Method::PUT,
        &generic(path),
        Some(&app.admin_token),
        Some(body),
    )
    .await
}

fn is_gitflic_timestamp(text: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
        && text.len() == "2024-08-01T06:57:07.150295".len()
}

async fn generic_files_round_trip_through_the_service_api(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let body = b"generic bytes".as_slice();
    let expected = digests(body);

    let put = put_generic(&app, "tool/1.0.0/tool.bin", body).await;
    assert_eq!(put.status(), 200);
    let file: Value = put.json().await.unwrap();
    assert_eq!(file["name"], "tool.bin");
    assert_eq!(file["size"], body.len());
    assert_eq!(file["hashMd5"], expected.md5);
    assert_eq!(file["hashSHA1"], expected.sha1);
    assert_eq!(file["hashSHA256"], expected.sha256);
    assert_eq!(file["packageUploadType"], "API");
    assert!(is_gitflic_timestamp(file["createdAt"].as_str().unwrap()));
    assert_eq!(file.as_object().unwrap().len(), 8, "{file}");

    let get = call(
        &app,
        Method::GET,
        &generic("tool/1.0.0/tool.bin"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-length"], "13");
    assert_eq!(get.headers()["x-checksum-sha256"], expected.sha256.as_str());
    assert_eq!(get.bytes().await.unwrap(), body);

    // The same bytes again: an idempotent success naming the same file.
    let again = put_generic(&app, "tool/1.0.0/tool.bin", body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], file["id"]);
    // Other bytes under the same name: a conflict, and the file is unchanged.
    let conflict = put_generic(&app, "tool/1.0.0/tool.bin", b"other bytes").await;
    assert_eq!(conflict.status(), 409);
    let error: Value = conflict.json().await.unwrap();
    assert_eq!(error["status"], 409);
    assert_eq!(error["error"], "Conflict");
    assert_eq!(
        error["message"],
        "File tool.bin of version 1.0.0 already exists with different content"
    );
    let get = call(
        &app,
        Method::GET,
        &generic("tool/1.0.0/tool.bin"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(get.bytes().await.unwrap(), body);

    // A second file and a second version.
    assert_eq!(
        put_generic(&app, "tool/1.0.0/tool.sig", b"sig")
            .await
            .status(),
        200
    );
    assert_eq!(
        put_generic(&app, "tool/2.0.0-RC1/tool.bin", b"v2")
            .await
            .status(),
        200
    );

    // The listing reflects all of it.
    let list = admin_json(&app, "/registry/package").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    let uuid = package["id"].as_str().unwrap().to_owned();
    assert_eq!(
        list,
        json!({
            "_embedded": {"simplePackageInfoModelList": [{
                "id": uuid,
                "name": "tool",
                "version": "2.0.0-RC1",
                "groupId": "tool",
                "artifactId": "tool",
                "type": "generic",
                "ownerUuid": "",
                "ownerType": "GLOBAL",
            }]},
            "page": {"size": 10, "totalElements": 1, "totalPages": 1, "number": 0},
        })
    );
    assert_eq!(
        admin_json(&app, &format!("/registry/package/{uuid}")).await,
        *package
    );

    let versions = admin_json(&app, &format!("/registry/package/{uuid}/version-list")).await;
    assert_eq!(
        versions["page"],
        json!({"size": 10, "totalElements": 2, "totalPages": 1, "number": 0})
    );
    let first = &versions["_embedded"]["simplePackageVersionModelList"][0];
    assert_eq!(first["version"], "1.0.0");
    assert_eq!(first["baseVersion"], "1.0.0");
    assert_eq!(first["lowerVersion"], "1.0.0");
    assert_eq!(first["downloadCount"], 2);
    assert_eq!(first["languageVersion"], Value::Null);
    assert_eq!(first["packageUploadType"], "API");
    assert_eq!(first["internal"], Value::Null);
    assert!(first.as_object().unwrap().contains_key("internal"));
    let names: Vec<&str> = first["packageFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tool.bin", "tool.sig"]);
    assert_eq!(first["packageFiles"][0], file);
    let second = &versions["_embedded"]["simplePackageVersionModelList"][1];
    assert_eq!(second["version"], "2.0.0-RC1");
    assert_eq!(second["lowerVersion"], "2.0.0-rc1");
    assert_eq!(second["downloadCount"], 0);

    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version, *first);

    let files = admin_json(&app, &format!("/registry/package/{uuid}/package-file")).await;
    let listed: Vec<&str> = files["_embedded"]["simplePackageFileModelList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["tool.bin", "tool.sig", "tool.bin"]);
    assert_eq!(files["page"]["totalElements"], 3);
}

async fn listing_pages_are_zero_based_bounded_and_filtered(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    for name in ["alpha", "beta", "gamma-tool"] {
        let put = put_generic(&app, &format!("{name}/1.0/{name}.txt"), name.as_bytes()).await;
        assert_eq!(put.status(), 200);
    }
    let names = |page: &Value| -> Vec<String> {
        page["_embedded"]["simplePackageInfoModelList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = admin_json(&app, "/registry/package?size=2").await;
    assert_eq!(names(&first), ["alpha", "beta"]);
    assert_eq!(
        first["page"],
        json!({"size": 2, "totalElements": 3, "totalPages": 2, "number": 0})
    );
    let second = admin_json(&app, "/registry/package?size=2&page=1").await;
    assert_eq!(names(&second), ["gamma-tool"]);
    assert_eq!(second["page"]["number"], 1);
    let beyond = admin_json(&app, "/registry/package?size=2&page=7").await;
    assert_eq!(
        beyond,
        json!({
            "_embedded": {"simplePackageInfoModelList": []},
            "page": {"size": 2, "totalElements": 3, "totalPages": 2, "number": 7},
        })
    );
    // Out-of-range numbers are brought into range, as Spring does.
    let defaults = admin_json(&app, "/registry/package?size=0&page=-1").await;
    assert_eq!(defaults["page"]["size"], 10);
    assert_eq!(defaults["page"]["number"], 0);
    let capped = admin_json(&app, "/registry/package?size=5000").await;
    assert_eq!(capped["page"]["size"], 100);
    let bad = call(
        &app,
        Method::GET,
        "/registry/package?page=first",
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["message"],
        "page must be an integer"
    );

    // Filters: type and a case-insensitive name search.
    assert_eq!(
        names(&admin_json(&app, "/registry/package?type=generic&q=TOOL").await),
        ["gamma-tool"]
    );
    let none = admin_json(&app, "/registry/package?type=pypi").await;
    assert_eq!(
        none,
        json!({
            "_embedded": {"simplePackageInfoModelList": []},
            "page": {"size": 10, "totalElements": 0, "totalPages": 0, "number": 0},
        })
    );
    let unknown = call(
        &app,
        Method::GET,
        "/registry/package?type=rpm",
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(unknown.status(), 400);

    // Versions and files page the same way.
    let uuid = first["_embedded"]["simplePackageInfoModelList"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for version in ["1.1", "1.2"] {
        put_generic(
            &app,
            &format!("alpha/{version}/alpha.txt"),
            version.as_bytes(),
        )
        .await;
    }
    let page = admin_json(
        &app,
        &format!("/registry/package/{uuid}/version-list?size=2&page=1"),
    )
    .await;
    let versions = page["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["version"], "1.2");
    assert_eq!(
        page["page"],
        json!({"size": 2, "totalElements": 3, "totalPages": 2, "number": 1})
    );
    let files = admin_json(
        &app,
        &format!("/registry/package/{uuid}/package-file?size=1&page=2"),
    )
    .await;
    assert_eq!(
        files["_embedded"]["simplePackageFileModelList"][0]["name"],
        "alpha.txt"
    );
    assert_eq!(files["page"]["totalPages"], 3);
}

/// Sends a request line exactly as given (HTTP clients normalise dot segments away).
async fn raw_request(app: &TestApp, method: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: token {}\r\n\
         Content-Length: 1\r\nConnection: close\r\n\r\nx",
        app.admin_token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response[9..12].parse().unwrap()
}

async fn the_service_api_refuses_strangers_unknowns_and_bad_names(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    put_generic(&app, "tool/1.0/tool.bin", b"x").await;
    let (_, user_token) = app.create_user_with_token("someone").await;

    for (method, path) in [
        (Method::GET, "/registry/package".to_owned()),
        (Method::GET, generic("tool/1.0/tool.bin")),
        (Method::PUT, generic("tool/1.0/other.bin")),
    ] {
        let anonymous = call(&app, method.clone(), &path, None, Some(b"x")).await;
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Basic realm=\"packyard\""
        );
        assert_eq!(
            anonymous.json::<Value>().await.unwrap(),
            json!({"status": 401, "error": "Unauthorized", "message": "Authentication required"})
        );
        let wrong = call(&app, method.clone(), &path, Some("pyat-wrong"), Some(b"x")).await;
        assert_eq!(wrong.status(), 401);
        let stranger = call(&app, method.clone(), &path, Some(&user_token), Some(b"x")).await;
        assert_eq!(stranger.status(), 403, "{method} {path}");
        assert_eq!(
            stranger.json::<Value>().await.unwrap(),
            json!({"status": 403, "error": "Forbidden", "message": "No access rights"})
        );
    }

    // Other credential forms work too.
    let private = app
        .client
        .get(app.url("/registry/package"))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    let basic = app
        .client
        .get(app.url("/registry/package"))
        .basic_auth("anyone", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);

    // A read-only administrator token may list but not upload.
    let admin = app.admin().await;
    let read_only = app
        .core
        .create_personal_access_token(
            admin.user().unwrap(),
            "read".into(),
            vec![Scope::ReadApi],
            None,
        )
        .await
        .unwrap()
        .token;
    let listed = call(
        &app,
        Method::GET,
        "/registry/package",
        Some(&read_only),
        None,
    )
    .await;
    assert_eq!(listed.status(), 200);
    let refused = call(
        &app,
        Method::PUT,
        &generic("tool/1.0/more.bin"),
        Some(&read_only),
        Some(b"x"),
    )
    .await;
    assert_eq!(refused.status(), 403);

    let missing_uuid = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("/registry/package/{missing_uuid}"),
        format!("/registry/package/{missing_uuid}/version-list"),
        format!("/registry/package/{missing_uuid}/package-file"),
        format!("/registry/package/{missing_uuid}/1.0"),
        "/registry/package/not-a-uuid".to_owned(),
        "/registry/package/generic".to_owned(),
        "/registry/package/not-a-uuid/version-list".to_owned(),
        generic("tool/1.0/missing.bin"),
        generic("tool/9.9/tool.bin"),
        generic("nothing/1.0/tool.bin"),
    ] {
        let response = call(&app, Method::GET, &path, Some(&app.admin_token), None).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 404, "{path}");
        assert_eq!(body["error"], "Not Found");
    }
    let uuid = admin_json(&app, "/registry/package").await["_embedded"]
        ["simplePackageInfoModelList"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing_version = call(
        &app,
        Method::GET,
        &format!("/registry/package/{uuid}/9.9"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(
        missing_version.json::<Value>().await.unwrap()["message"],
        "Package version not found"
    );

    for bad in [
        "bad name/1.0/file.bin",
        "tool/1..0/file.bin",
        "tool/1.0/file%2Fname",
        "tool/1.0/caf\u{e9}.bin",
    ] {
        let response = put_generic(&app, bad, b"x").await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    for traversal in [
        "/registry/package/generic/tool/1.0/../../../etc/passwd",
        "/registry/package/generic/tool/../x/file.bin",
        "/registry/package/generic/../tool/1.0/file.bin",
        "/registry/package/generic/tool/1.0/..",
        "/registry/package/generic/tool/1.0/%2e%2e",
        "/company/acme/package/-/generic/tool/1.0/..%2fx",
    ] {
        let status = raw_request(&app, "PUT", traversal).await;
        assert!(
            matches!(status, 400 | 404 | 405),
            "{traversal} answered {status}"
        );
    }
    // Nothing of those was stored.
    let packages = admin_json(&app, "/registry/package").await;
    assert_eq!(packages["page"]["totalElements"], 1);
}

async fn group_transport_follows_group_permissions(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    app.create_group("other").await;
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let path = "/company/acme/package/-/generic/tool/1.0/tool.bin";
    let send = |method: Method, token: &str, body: Option<&'static [u8]>| {
        let request = app
            .client
            .request(method, app.url(path))
            .basic_auth("ci", Some(token));
        async move {
            match body {
                Some(body) => request.body(body).send().await.unwrap(),
                None => request.send().await.unwrap(),
            }
        }
    };

    assert_eq!(
        app.client.get(app.url(path)).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        send(Method::PUT, &guest, Some(b"bytes")).await.status(),
        403
    );
    assert_eq!(
        send(Method::PUT, &stranger, Some(b"bytes")).await.status(),
        404
    );
    let put = send(Method::PUT, &developer, Some(b"bytes")).await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<Value>().await.unwrap()["packageUploadType"],
        "TRANSPORT"
    );
    let got = send(Method::GET, &guest, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), "bytes");
    assert_eq!(send(Method::GET, &stranger, None).await.status(), 404);
    assert_eq!(
        send(Method::PUT, &developer, Some(b"changed"))
            .await
            .status(),
        409
    );

    // A deploy token of the group with read_package_registry installs, and cannot publish.
    let admin = app.admin().await;
    let acme = app.core.find_group("acme").await.unwrap();
    let deploy = app
        .core
        .create_deploy_token(
            &admin,
            &acme,
            "ci".into(),
            None,
            vec![Scope::ReadPackageRegistry],
            None,
        )
        .await
        .unwrap()
        .token;
    assert_eq!(send(Method::GET, &deploy, None).await.status(), 200);
    assert_eq!(
        send(Method::PUT, &deploy, Some(b"other")).await.status(),
        403
    );
    let writer = app
        .core
        .create_deploy_token(
            &admin,
            &acme,
            "publisher".into(),
            None,
            vec![Scope::WritePackageRegistry],
            None,
        )
        .await
        .unwrap()
        .token;
    let published = app
        .client
        .put(app.url("/company/acme/package/-/generic/tool/1.0/tool.sig"))
        .basic_auth("deployer", Some(&writer))
        .body("sig")
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);

    // Unknown groups, subgroups and another group's packages are not there.
    for path in [
        "/company/nowhere/package/-/generic/tool/1.0/tool.bin",
        "/company/other/package/-/generic/tool/1.0/tool.bin",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .basic_auth("root", Some(&app.admin_token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    // The service-level listing shows the group's package as COMPANY-owned, with a stable owner uuid.
    let other_package = app
        .client
        .put(app.url("/company/acme/package/-/generic/lib/2.0/lib.a"))
        .basic_auth("ci", Some(&developer))
        .body("lib")
        .send()
        .await
        .unwrap();
    assert_eq!(other_package.status(), 200);
    let list = admin_json(&app, "/registry/package").await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    assert_eq!(packages.len(), 2);
    let owner = packages[0]["ownerUuid"].as_str().unwrap();
    assert_eq!(owner.len(), 36, "{owner}");
    assert_eq!(packages[1]["ownerUuid"], owner);
    assert_eq!(packages[0]["ownerType"], "COMPANY");
    let uuid = packages[0]["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0")).await;
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    assert_eq!(version["downloadCount"], 2);
    // A GLOBAL package of the same name is another package.
    put_generic(&app, "tool/1.0/tool.bin", b"global").await;
    assert_eq!(
        admin_json(&app, "/registry/package").await["page"]["totalElements"],
        3
    );
}

async fn collecting_blobs_keeps_package_files_and_failed_uploads_leave_nothing(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |settings| {
        settings.storage.max_file_size = Some(16);
    })
    .await
    else {
        return;
    };
    assert_eq!(
        put_generic(&app, "tool/1.0/tool.bin", b"kept")
            .await
            .status(),
        200
    );
    // An unreferenced blob, as a deleted cache entry leaves one, written the way every writer does.
    let mut writer = app.core.blobs().writer(1024).await.unwrap();
    writer.write(b"orphan").await.unwrap();
    let staged = writer.finish().await.unwrap();
    let (orphan, size) = (staged.digests().sha256.clone(), staged.digests().size);
    let key = orphan.clone();
    app.core
        .db()
        .transaction(move |conn| {
            packyard_db::queries::cache::pin_blob(conn, &key, size, packyard_db::now())
        })
        .await
        .unwrap();
    staged.publish().await.unwrap();

    // Collection runs (its interval and the grace period pass twice): the orphan goes, the file's stays.
    let day = chrono::Duration::days(1);
    for _ in 0..2 {
        app.core.clock().advance(day);
        app.run_jobs().await;
    }
    assert!(!app.blob_stored(&orphan).await);
    assert!(!app.blob_row_exists(&orphan).await);
    let kept = digests(b"kept");
    assert!(app.core.blobs().exists(&kept.sha256).await.unwrap());
    let get = call(
        &app,
        Method::GET,
        &generic("tool/1.0/tool.bin"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(get.bytes().await.unwrap(), "kept");

    // Too large: 413, and nothing was created.
    let large = put_generic(&app, "big/1.0/big.bin", &[7u8; 17]).await;
    assert_eq!(large.status(), 413);
    let listed = admin_json(&app, "/registry/package?q=big").await;
    assert_eq!(listed["page"]["totalElements"], 0);
    assert!(!app.blob_stored(&digests(&[7u8; 17]).sha256).await);
}

both_backends!(
    listing_pages_are_zero_based_bounded_and_filtered,
    the_service_api_refuses_strangers_unknowns_and_bad_names,
    group_transport_follows_group_permissions,
);

every_store!(
    generic_files_round_trip_through_the_service_api,
    collecting_blobs_keeps_package_files_and_failed_uploads_leave_nothing,
);
