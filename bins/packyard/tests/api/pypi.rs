//! PyPI on hosted repositories: twine's legacy upload, the PEP 503/691 simple index, downloads, and
//! GitFlic's PyPI content routes; metadata is read from the distributions themselves.

use std::io::Write;

use packyard_domain::AccessLevel;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

pub(crate) const BASE: &str = "/company/acme/package/-/pypi";
pub(crate) const WHEEL: &str = "demo_pkg-1.0-py3-none-any.whl";
const SDIST: &str = "demo_pkg-1.0.tar.gz";

pub(crate) fn metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A demo\n\
         Requires-Python: >=3.8\nRequires-Dist: attrs\n\nThe description.\n"
    )
}

/// A wheel whose `.dist-info/METADATA` is `metadata` (none when `None`).
pub fn wheel(metadata: Option<&str>) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    writer.start_file("demo_pkg/__init__.py", options).unwrap();
    writer.write_all(b"VALUE = 1\n").unwrap();
    if let Some(metadata) = metadata {
        writer
            .start_file("demo_pkg-1.0.dist-info/METADATA", options)
            .unwrap();
        writer.write_all(metadata.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// An sdist whose top-level `PKG-INFO` is `metadata`.
pub fn sdist(metadata: &str) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (path, text) in [
        ("demo_pkg-1.0/PKG-INFO", metadata),
        ("demo_pkg-1.0/demo_pkg/__init__.py", "VALUE = 1\n"),
    ] {
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

/// A multipart form as twine sends it: text fields, then the `content` file.
fn form(fields: &[(&str, &str)], file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----packyard-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(content);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn twine_fields<'a>(name: &'a str, version: &'a str, sha256: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", name),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("pyversion", "py3"),
        ("metadata_version", "2.1"),
        ("requires_python", ">=3.8"),
        ("sha256_digest", sha256),
    ]
}

async fn upload(
    app: &TestApp,
    token: &str,
    fields: &[(&str, &str)],
    file_name: &str,
    content: &[u8],
) -> Response {
    let (content_type, body) = form(fields, file_name, content);
    app.client
        .post(app.url(BASE))
        .basic_auth("__token__", Some(token))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn upload_ok(
    app: &TestApp,
    token: &str,
    file_name: &str,
    content: &[u8],
) -> Value {
    let sha256 = digests(content).sha256;
    let response = upload(
        app,
        token,
        &twine_fields("Demo.Pkg", "1.0", &sha256),
        file_name,
        content,
    )
    .await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str, accept: Option<&str>) -> Response {
    let mut request = app.client.get(app.url(path)).basic_auth("pip", Some(token));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.unwrap()
}

const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

async fn twine_uploads_and_pip_reads_the_simple_index(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let wheel = wheel(Some(&metadata("Demo.Pkg", "1.0")));
    let sdist = sdist(&metadata("demo_pkg", "1.0"));

    let uploaded = upload_ok(&app, &developer, WHEEL, &wheel).await;
    assert_eq!(uploaded["packageUploadType"], "TRANSPORT");
    assert_eq!(uploaded["hashSHA256"], digests(&wheel).sha256);
    upload_ok(&app, &developer, SDIST, &sdist).await;
    // twine --skip-existing re-sends: the same bytes are fine.
    upload_ok(&app, &developer, WHEEL, &wheel).await;

    // The project list, in HTML by default and in JSON for pip.
    let html = get(&app, &guest, &format!("{BASE}/simple/"), None).await;
    assert_eq!(html.status(), 200);
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let html = html.text().await.unwrap();
    assert!(
        html.contains("<a href=\"demo-pkg/\">Demo.Pkg</a>"),
        "{html}"
    );
    assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
    let list = get(&app, &guest, &format!("{BASE}/simple/"), Some(PIP_ACCEPT)).await;
    assert_eq!(
        list.headers()["content-type"],
        "application/vnd.pypi.simple.v1+json"
    );
    assert_eq!(
        list.json::<Value>().await.unwrap(),
        json!({"meta": {"api-version": "1.1"}, "projects": [{"name": "Demo.Pkg"}]})
    );

    // The project page.
    let page = get(&app, &guest, &format!("{BASE}/simple/demo-pkg/"), None).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let core_metadata = digests(metadata("Demo.Pkg", "1.0").as_bytes()).sha256;
    for (file, bytes, extra) in [
        (
            WHEEL,
            &wheel,
            format!(
                " data-core-metadata=\"sha256={core_metadata}\" \
                 data-dist-info-metadata=\"sha256={core_metadata}\""
            ),
        ),
        (SDIST, &sdist, String::new()),
    ] {
        let anchor = format!(
            "<a href=\"../../files/demo-pkg/1.0/{file}#sha256={}\" data-requires-python=\"&gt;=3.8\"{extra}>{file}</a>",
            digests(bytes).sha256
        );
        assert!(page.contains(&anchor), "{anchor}\n{page}");
    }
    let json_page: Value = get(
        &app,
        &guest,
        &format!("{BASE}/simple/demo-pkg/"),
        Some(PIP_ACCEPT),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(json_page["name"], "demo-pkg");
    assert_eq!(json_page["versions"], json!(["1.0"]));
    let file = &json_page["files"][0];
    assert_eq!(file["filename"], WHEEL);
    assert_eq!(file["hashes"]["sha256"], digests(&wheel).sha256);
    assert_eq!(file["requires-python"], ">=3.8");
    assert_eq!(file["size"], wheel.len());
    assert_eq!(file["yanked"], false);
    assert!(file["upload-time"].as_str().unwrap().ends_with('Z'));

    // Redirects: a missing slash, a name that is not normalised.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (from, to) in [
        (format!("{BASE}/simple"), format!("{BASE}/simple/")),
        (
            format!("{BASE}/simple/demo-pkg"),
            format!("{BASE}/simple/demo-pkg/"),
        ),
        (
            format!("{BASE}/simple/Demo_Pkg/"),
            format!("{BASE}/simple/demo-pkg/"),
        ),
    ] {
        let response = no_redirects
            .get(app.url(&from))
            .basic_auth("pip", Some(&guest))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 301, "{from}");
        assert_eq!(response.headers()["location"], to.as_str());
    }
    // Followed, the client lands on the page.
    let followed = get(&app, &guest, &format!("{BASE}/simple/DEMO.pkg"), None).await;
    assert_eq!(followed.status(), 200);
    // Nothing acceptable: 406; unknown projects: 404.
    let refused = get(
        &app,
        &guest,
        &format!("{BASE}/simple/demo-pkg/"),
        Some("application/xml"),
    )
    .await;
    assert_eq!(refused.status(), 406);
    assert_eq!(
        get(&app, &guest, &format!("{BASE}/simple/nothing/"), None)
            .await
            .status(),
        404
    );

    // Downloads count on the version, as the service-level listing shows.
    let download = get(
        &app,
        &guest,
        &format!("{BASE}/files/demo-pkg/1.0/{WHEEL}"),
        None,
    )
    .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap(), wheel);
    let packages = admin_json(&app, "/registry/package?type=pypi").await;
    let package = &packages["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], "Demo.Pkg");
    assert_eq!(package["type"], "pypi");
    assert_eq!(package["ownerType"], "COMPANY");
    let uuid = package["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    let files: Vec<(&str, &str)> = version["packageFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["hashSHA256"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            (WHEEL, digests(&wheel).sha256.as_str()),
            (SDIST, digests(&sdist).sha256.as_str())
        ]
    );
}

/// PEP 658/714: a wheel's `METADATA`, declared with its sha256 on both index forms and served byte for
/// byte at the file's URL plus `.metadata`, without counting a download; sdists declare none.
async fn wheels_offer_their_core_metadata_to_resolvers(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    // CRLF line ends and a long description: what is served is what the wheel holds, not a rendering.
    let text = format!(
        "Metadata-Version: 2.1\r\nName: Demo.Pkg\r\nVersion: 1.0\r\nRequires-Dist: attrs\r\n\r\n{}",
        "A long description.\n".repeat(500)
    );
    let wheel = wheel(Some(&text));
    upload_ok(&app, &developer, WHEEL, &wheel).await;
    upload_ok(
        &app,
        &developer,
        SDIST,
        &sdist(&metadata("demo_pkg", "1.0")),
    )
    .await;
    let sha256 = digests(text.as_bytes()).sha256;

    let page: Value = get(
        &app,
        &guest,
        &format!("{BASE}/simple/demo-pkg/"),
        Some("application/vnd.pypi.simple.v1+json"),
    )
    .await
    .json()
    .await
    .unwrap();
    let files = page["files"].as_array().unwrap();
    assert_eq!(files[0]["filename"], WHEEL);
    assert_eq!(files[0]["core-metadata"], json!({"sha256": sha256}));
    assert_eq!(
        files[0]["data-dist-info-metadata"],
        json!({"sha256": sha256})
    );
    assert_eq!(files[1]["filename"], SDIST);
    assert_eq!(files[1].get("core-metadata"), None);
    assert_eq!(files[1].get("data-dist-info-metadata"), None);

    let served = get(
        &app,
        &guest,
        &format!("{BASE}/files/demo-pkg/1.0/{WHEEL}.metadata"),
        None,
    )
    .await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["x-checksum-sha256"], sha256.as_str());
    assert_eq!(served.bytes().await.unwrap(), text.as_bytes());
    for missing in [
        format!("{BASE}/files/demo-pkg/1.0/{SDIST}.metadata"),
        format!("{BASE}/files/demo-pkg/1.0/demo_pkg-1.0-py3-none-win32.whl.metadata"),
        format!("{BASE}/files/demo-pkg/2.0/{WHEEL}.metadata"),
    ] {
        assert_eq!(
            get(&app, &guest, &missing, None).await.status(),
            404,
            "{missing}"
        );
    }
    let anonymous = app
        .client
        .get(app.url(&format!("{BASE}/files/demo-pkg/1.0/{WHEEL}.metadata")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let packages = admin_json(&app, "/registry/package?type=pypi").await;
    let uuid = packages["_embedded"]["simplePackageInfoModelList"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0")).await;
    assert_eq!(
        version["downloadCount"], 0,
        "reading metadata is no download"
    );
}

async fn uploads_are_checked_before_anything_is_kept(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let good = wheel(Some(&metadata("Demo.Pkg", "1.0")));
    let sha256 = digests(&good).sha256;
    let zeros = "0".repeat(64);

    /// Form fields, file name, content, and what the refusal says.
    type Refusal<'a> = (Vec<(&'a str, &'a str)>, &'a str, Vec<u8>, &'a str);
    let refusals: Vec<Refusal> = vec![
        (
            twine_fields("Demo.Pkg", "1.0", &zeros),
            WHEEL,
            good.clone(),
            "the sha256 digest 0000000000000000000000000000000000000000000000000000000000000000 does not match",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            WHEEL,
            wheel(None),
            "invalid distribution: the wheel has no .dist-info/METADATA",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            WHEEL,
            b"not a zip".to_vec(),
            "invalid distribution: the wheel is not a zip",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            WHEEL,
            wheel(Some(&metadata("Other", "1.0"))),
            "the distribution's metadata names project \"Other\", not \"Demo.Pkg\"",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            WHEEL,
            wheel(Some(&metadata("Demo.Pkg", "2.0"))),
            "the distribution's metadata has version \"2.0\", not \"1.0\"",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            SDIST,
            b"plain text".to_vec(),
            "invalid distribution: the sdist is not a gzipped tar",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            "demo_pkg-1.0.zip",
            good.clone(),
            "is neither a wheel (.whl) nor an sdist (.tar.gz)",
        ),
        (
            twine_fields("Demo.Pkg", "1.0", &sha256),
            "other-1.0-py3-none-any.whl",
            good.clone(),
            "does not match project",
        ),
        (
            twine_fields("../evil", "1.0", &sha256),
            WHEEL,
            good.clone(),
            "is not a valid project name",
        ),
        (
            vec![
                (":action", "submit"),
                ("name", "Demo.Pkg"),
                ("version", "1.0"),
            ],
            WHEEL,
            good.clone(),
            "unsupported :action",
        ),
        (
            vec![(":action", "file_upload"), ("name", "Demo.Pkg")],
            WHEEL,
            good.clone(),
            "version is missing",
        ),
    ];
    for (fields, file_name, content, message) in refusals {
        let response = upload(&app, &developer, &fields, file_name, &content).await;
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

    // Permissions: 401 with a Basic challenge, 403 for a guest, 404 for a stranger.
    let anonymous = app.client.post(app.url(BASE)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    let fields = twine_fields("Demo.Pkg", "1.0", &sha256);
    assert_eq!(
        upload(&app, &guest, &fields, WHEEL, &good).await.status(),
        403
    );
    assert_eq!(
        upload(&app, &stranger, &fields, WHEEL, &good)
            .await
            .status(),
        404
    );
    let index = app
        .client
        .get(app.url(&format!("{BASE}/simple/")))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 401);
    assert_eq!(
        index.headers()["www-authenticate"],
        "Basic realm=\"packyard\""
    );
    assert_eq!(
        get(&app, &stranger, &format!("{BASE}/simple/"), None)
            .await
            .status(),
        404
    );

    // Another file under an existing name: 409, which twine --skip-existing understands.
    upload_ok(&app, &developer, WHEEL, &good).await;
    let mut changed_metadata = metadata("Demo.Pkg", "1.0");
    changed_metadata.push_str("More.\n");
    let changed = wheel(Some(&changed_metadata));
    let changed_sha256 = digests(&changed).sha256;
    let conflict = upload(
        &app,
        &developer,
        &twine_fields("Demo.Pkg", "1.0", &changed_sha256),
        WHEEL,
        &changed,
    )
    .await;
    assert_eq!(conflict.status(), 409);
}

async fn gitflic_pypi_content_routes_store_global_packages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let sdist = sdist(&metadata("demo_pkg", "1.0"));
    let path = format!("/registry/package/pypi/demo-pkg/1.0/{SDIST}");
    let put = call(
        &app,
        Method::PUT,
        &path,
        Some(&app.admin_token),
        Some(&sdist),
    )
    .await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<Value>().await.unwrap()["packageUploadType"],
        "API"
    );
    let got = call(&app, Method::GET, &path, Some(&app.admin_token), None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/gzip");
    assert_eq!(got.bytes().await.unwrap(), sdist);
    // Any spelling of the name finds it.
    let other_spelling = call(
        &app,
        Method::GET,
        &format!("/registry/package/pypi/Demo_Pkg/1.0/{SDIST}"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(other_spelling.status(), 200);

    let malformed = call(
        &app,
        Method::PUT,
        "/registry/package/pypi/demo-pkg/1.1/demo_pkg-1.1.tar.gz",
        Some(&app.admin_token),
        Some(b"not a tarball"),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let mismatch = call(
        &app,
        Method::PUT,
        &format!("/registry/package/pypi/demo-pkg/2.0/{SDIST}"),
        Some(&app.admin_token),
        Some(&sdist),
    )
    .await;
    assert_eq!(mismatch.status(), 400);
    let (_, user) = app.create_user_with_token("someone").await;
    assert_eq!(
        call(&app, Method::GET, &path, Some(&user), None)
            .await
            .status(),
        403
    );

    let list = admin_json(&app, "/registry/package").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["name"], "demo_pkg");
    assert_eq!(package["version"], "1.0");
    assert_eq!(package["ownerType"], "GLOBAL");
    assert_eq!(package["ownerUuid"], "");
    assert_eq!(list["page"]["totalElements"], 1);
    let uuid = package["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0")).await;
    assert_eq!(version["downloadCount"], 2);
    assert_eq!(version["packageFiles"][0]["hashMd5"], digests(&sdist).md5);
}

both_backends!(
    twine_uploads_and_pip_reads_the_simple_index,
    wheels_offer_their_core_metadata_to_resolvers,
    uploads_are_checked_before_anything_is_kept,
    gitflic_pypi_content_routes_store_global_packages,
);
