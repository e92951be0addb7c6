//! Maven on hosted repositories: the Maven 2 layout on a group's repository (what `mvn deploy` and
//! resolution send), generated `maven-metadata.xml`, checksum sidecars, pom checks, GitFlic's Maven
//! content routes, permissions and the listing.

use packyard_core::hosted::{Owner, PackageRef};
use packyard_domain::{AccessLevel, PackageType, Scope};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::fixtures::app_with_group;
use crate::hosted::{admin_json, call, digests};
use crate::{Backend, TestApp, both_backends};

pub(crate) const BASE: &str = "/company/acme/package/-/maven";
const DIR: &str = "org/example/lib";

fn pom(group_id: &str, artifact_id: &str, version: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n\
           <modelVersion>4.0.0</modelVersion>\n\
           <groupId>{group_id}</groupId>\n\
           <artifactId>{artifact_id}</artifactId>\n\
           <version>{version}</version>\n\
         </project>\n"
    )
    .into_bytes()
}

/// A request with Basic credentials (any username, the token as the password), as mvn sends them.
async fn maven(
    app: &TestApp,
    method: Method,
    token: Option<&str>,
    path: &str,
    body: Option<&[u8]>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(&format!("{BASE}/{path}")));
    if let Some(token) = token {
        request = request.basic_auth("deployer", Some(token));
    }
    if let Some(body) = body {
        request = request.body(body.to_vec());
    }
    request.send().await.unwrap()
}

async fn put_ok(app: &TestApp, token: &str, path: &str, body: &[u8]) {
    let response = maven(app, Method::PUT, Some(token), path, Some(body)).await;
    let status = response.status();
    assert_eq!(
        status,
        200,
        "PUT {path}: {}",
        response.text().await.unwrap()
    );
}

/// PUTs a file with its `.sha1` and `.md5`, as mvn deploys it.
pub(crate) async fn deploy(app: &TestApp, token: &str, path: &str, body: &[u8]) {
    put_ok(app, token, path, body).await;
    let expected = digests(body);
    put_ok(
        app,
        token,
        &format!("{path}.sha1"),
        expected.sha1.as_bytes(),
    )
    .await;
    put_ok(app, token, &format!("{path}.md5"), expected.md5.as_bytes()).await;
}

async fn text(app: &TestApp, token: &str, path: &str) -> String {
    let response = maven(app, Method::GET, Some(token), path, None).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

/// `yyyyMMddHHmmss` of each stored file, by name, as the generated metadata shows it.
async fn updated(app: &TestApp, group: &str) -> std::collections::HashMap<String, String> {
    let group = app.core.find_group(group).await.unwrap();
    let package = app
        .core
        .find_hosted_package_by_ref(&PackageRef {
            owner: Owner::Company(group),
            package_type: PackageType::Maven,
            name: "org.example:lib".into(),
            normalized_name: "org.example:lib".into(),
            group_name: "org.example".into(),
            artifact_id: "lib".into(),
        })
        .await
        .unwrap();
    app.core
        .list_hosted_files_with_versions(&package)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, file)| {
            (
                file.name,
                file.updated_at.format("%Y%m%d%H%M%S").to_string(),
            )
        })
        .collect()
}

async fn releases_deploy_once_and_metadata_is_generated(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let jar = b"PK\x03\x04 a jar".as_slice();
    let lib_pom = pom("org.example", "lib", "1.0.0");

    let missing = maven(
        &app,
        Method::GET,
        Some(&developer),
        &format!("{DIR}/maven-metadata.xml"),
        None,
    )
    .await;
    assert_eq!(missing.status(), 404, "no package, no metadata");
    // What mvn deploy sends for a release.
    deploy(&app, &developer, &format!("{DIR}/1.0.0/lib-1.0.0.jar"), jar).await;
    deploy(
        &app,
        &developer,
        &format!("{DIR}/1.0.0/lib-1.0.0.pom"),
        &lib_pom,
    )
    .await;
    // The client's metadata is accepted and dropped: the served copy is generated.
    deploy(
        &app,
        &developer,
        &format!("{DIR}/maven-metadata.xml"),
        b"<metadata><versioning><versions><version>9.9</version></versions></versioning></metadata>",
    )
    .await;
    put_ok(
        &app,
        &developer,
        &format!("{DIR}/2.0.0/lib-2.0.0.jar"),
        b"second",
    )
    .await;

    let stamps = updated(&app, "acme").await;
    let metadata = text(&app, &developer, &format!("{DIR}/maven-metadata.xml")).await;
    assert_eq!(
        metadata,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <metadata>\n\
             \x20 <groupId>org.example</groupId>\n\
             \x20 <artifactId>lib</artifactId>\n\
             \x20 <versioning>\n\
             \x20   <latest>2.0.0</latest>\n\
             \x20   <release>2.0.0</release>\n\
             \x20   <versions>\n\
             \x20     <version>1.0.0</version>\n\
             \x20     <version>2.0.0</version>\n\
             \x20   </versions>\n\
             \x20   <lastUpdated>{}</lastUpdated>\n\
             \x20 </versioning>\n\
             </metadata>\n",
            stamps["lib-2.0.0.jar"]
        )
    );
    let metadata_digests = digests(metadata.as_bytes());
    assert_eq!(
        text(&app, &developer, &format!("{DIR}/maven-metadata.xml.sha1")).await,
        metadata_digests.sha1
    );
    assert_eq!(
        text(&app, &developer, &format!("{DIR}/maven-metadata.xml.md5")).await,
        metadata_digests.md5
    );

    // Files, with every sidecar answered from the stored digests.
    let path = format!("{DIR}/1.0.0/lib-1.0.0.jar");
    let get = maven(&app, Method::GET, Some(&developer), &path, None).await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], "application/java-archive");
    assert_eq!(get.bytes().await.unwrap(), jar);
    let head = maven(&app, Method::HEAD, Some(&developer), &path, None).await;
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        jar.len().to_string().as_str()
    );
    let expected = digests(jar);
    for (extension, digest) in [
        ("md5", &expected.md5),
        ("sha1", &expected.sha1),
        ("sha256", &expected.sha256),
        ("sha512", &expected.sha512),
    ] {
        assert_eq!(
            &text(&app, &developer, &format!("{path}.{extension}")).await,
            digest
        );
    }
    let unknown = maven(
        &app,
        Method::GET,
        Some(&developer),
        &format!("{DIR}/1.0.0/lib-1.0.0-sources.jar"),
        None,
    )
    .await;
    assert_eq!(unknown.status(), 404);
    let unknown = maven(
        &app,
        Method::GET,
        Some(&developer),
        &format!("{DIR}/1.0.0/lib-1.0.0-sources.jar.sha1"),
        None,
    )
    .await;
    assert_eq!(unknown.status(), 404);

    // An uploaded checksum is checked, not stored.
    let wrong = maven(
        &app,
        Method::PUT,
        Some(&developer),
        &format!("{path}.sha256"),
        Some(expected.md5.as_bytes()),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(
        error["message"],
        format!(
            "the sha256 checksum {} does not match lib-1.0.0.jar's ({})",
            expected.md5, expected.sha256
        )
    );
    put_ok(
        &app,
        &developer,
        &format!("{path}.sha512"),
        format!("{}  lib-1.0.0.jar\n", expected.sha512).as_bytes(),
    )
    .await;

    // Releases are immutable: the same bytes again succeed, other bytes are a conflict.
    put_ok(&app, &developer, &path, jar).await;
    let conflict = maven(&app, Method::PUT, Some(&developer), &path, Some(b"other")).await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        conflict.json::<Value>().await.unwrap()["message"],
        "File lib-1.0.0.jar of version 1.0.0 already exists with different content"
    );
    assert_eq!(text(&app, &developer, &path).await.as_bytes(), jar);

    // Paths outside the layout.
    for (bad, status) in [
        (format!("{DIR}/1.0.0/other-1.0.0.jar"), 400),
        ("lib/1.0.0/lib-1.0.0.jar".to_owned(), 400),
        (format!("{DIR}/1.0.0/%2e%2e/lib-1.0.0.jar"), 400),
    ] {
        let response = maven(&app, Method::PUT, Some(&developer), &bad, Some(b"x")).await;
        assert_eq!(response.status(), status, "PUT {bad}");
    }

    // The listing: one package, its versions and files (sidecars and metadata are no files), and the
    // downloads counted (GETs of the jar, not HEADs, sidecars or metadata).
    let list = admin_json(&app, "/registry/package?type=maven").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(list["page"]["totalElements"], 1);
    assert_eq!(package["name"], "org.example:lib");
    assert_eq!(package["groupId"], "org.example");
    assert_eq!(package["artifactId"], "lib");
    assert_eq!(package["type"], "maven");
    assert_eq!(package["ownerType"], "COMPANY");
    let uuid = package["id"].as_str().unwrap();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version["downloadCount"], 2);
    assert_eq!(version["packageUploadType"], "TRANSPORT");
    let names: Vec<&str> = version["packageFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lib-1.0.0.jar", "lib-1.0.0.pom"]);
    assert_eq!(version["packageFiles"][0]["hashSHA1"], expected.sha1);
}

async fn snapshots_keep_every_timestamp_and_may_be_replaced(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let snapshot_dir = format!("{DIR}/1.1.0-SNAPSHOT");
    let snapshot_pom = pom("org.example", "lib", "1.1.0-SNAPSHOT");
    put_ok(
        &app,
        &developer,
        &format!("{DIR}/1.0.0/lib-1.0.0.jar"),
        b"release",
    )
    .await;
    for (stamp, jar) in [("20261123.101010-1", "one"), ("20261123.111111-2", "two")] {
        let missing = maven(
            &app,
            Method::GET,
            Some(&developer),
            &format!("{snapshot_dir}/maven-metadata.xml"),
            None,
        )
        .await;
        assert!(missing.status() == 404 || missing.status() == 200);
        deploy(
            &app,
            &developer,
            &format!("{snapshot_dir}/lib-1.1.0-{stamp}.jar"),
            jar.as_bytes(),
        )
        .await;
        deploy(
            &app,
            &developer,
            &format!("{snapshot_dir}/lib-1.1.0-{stamp}.pom"),
            &snapshot_pom,
        )
        .await;
        deploy(
            &app,
            &developer,
            &format!("{snapshot_dir}/lib-1.1.0-{stamp}-sources.jar"),
            b"sources",
        )
        .await;
        deploy(
            &app,
            &developer,
            &format!("{snapshot_dir}/maven-metadata.xml"),
            b"<metadata/>",
        )
        .await;
        deploy(
            &app,
            &developer,
            &format!("{DIR}/maven-metadata.xml"),
            b"<metadata/>",
        )
        .await;
    }
    // A SNAPSHOT file may be replaced.
    put_ok(
        &app,
        &developer,
        &format!("{snapshot_dir}/lib-1.1.0-20261123.111111-2.jar"),
        b"two, rebuilt",
    )
    .await;
    assert_eq!(
        text(
            &app,
            &developer,
            &format!("{snapshot_dir}/lib-1.1.0-20261123.111111-2.jar")
        )
        .await,
        "two, rebuilt"
    );
    assert_eq!(
        text(
            &app,
            &developer,
            &format!("{snapshot_dir}/lib-1.1.0-20261123.101010-1.jar")
        )
        .await,
        "one"
    );

    let stamps = updated(&app, "acme").await;
    let newest = stamps.values().max().unwrap().clone();
    let snapshot = text(
        &app,
        &developer,
        &format!("{snapshot_dir}/maven-metadata.xml"),
    )
    .await;
    assert_eq!(
        snapshot,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <metadata modelVersion=\"1.1.0\">\n\
             \x20 <groupId>org.example</groupId>\n\
             \x20 <artifactId>lib</artifactId>\n\
             \x20 <version>1.1.0-SNAPSHOT</version>\n\
             \x20 <versioning>\n\
             \x20   <snapshot>\n\
             \x20     <timestamp>20261123.111111</timestamp>\n\
             \x20     <buildNumber>2</buildNumber>\n\
             \x20   </snapshot>\n\
             \x20   <lastUpdated>{newest}</lastUpdated>\n\
             \x20   <snapshotVersions>\n\
             \x20     <snapshotVersion>\n\
             \x20       <extension>jar</extension>\n\
             \x20       <value>1.1.0-20261123.111111-2</value>\n\
             \x20       <updated>{}</updated>\n\
             \x20     </snapshotVersion>\n\
             \x20     <snapshotVersion>\n\
             \x20       <classifier>sources</classifier>\n\
             \x20       <extension>jar</extension>\n\
             \x20       <value>1.1.0-20261123.111111-2</value>\n\
             \x20       <updated>{}</updated>\n\
             \x20     </snapshotVersion>\n\
             \x20     <snapshotVersion>\n\
             \x20       <extension>pom</extension>\n\
             \x20       <value>1.1.0-20261123.111111-2</value>\n\
             \x20       <updated>{}</updated>\n\
             \x20     </snapshotVersion>\n\
             \x20   </snapshotVersions>\n\
             \x20 </versioning>\n\
             </metadata>\n",
            stamps["lib-1.1.0-20261123.111111-2.jar"],
            stamps["lib-1.1.0-20261123.111111-2-sources.jar"],
            stamps["lib-1.1.0-20261123.111111-2.pom"],
        )
    );
    assert_eq!(
        text(
            &app,
            &developer,
            &format!("{snapshot_dir}/maven-metadata.xml.sha1")
        )
        .await,
        digests(snapshot.as_bytes()).sha1
    );
    let artifact = text(&app, &developer, &format!("{DIR}/maven-metadata.xml")).await;
    assert!(
        artifact.contains(
            "    <latest>1.1.0-SNAPSHOT</latest>\n    <release>1.0.0</release>\n    <versions>\n      \
             <version>1.0.0</version>\n      <version>1.1.0-SNAPSHOT</version>\n    </versions>\n"
        ),
        "{artifact}"
    );

    // The listing: one SNAPSHOT version (its baseVersion) holding every timestamped file.
    let list = admin_json(&app, "/registry/package?type=maven").await;
    let uuid = list["_embedded"]["simplePackageInfoModelList"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.1.0-SNAPSHOT")).await;
    assert_eq!(version["baseVersion"], "1.1.0-SNAPSHOT");
    assert_eq!(version["packageFiles"].as_array().unwrap().len(), 6);
}

async fn poms_must_match_their_path(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let path = format!("{DIR}/1.0.0/lib-1.0.0.pom");
    for (body, message) in [
        (
            b"<project><groupId>org.example</groupId>".to_vec(),
            "invalid pom: malformed XML",
        ),
        (
            b"<settings/>".to_vec(),
            "invalid pom: the root element is not <project>",
        ),
        (
            pom("org.other", "lib", "1.0.0"),
            "invalid pom: the pom's groupId org.other does not match the path's org.example",
        ),
        (
            pom("org.example", "lib", "1.0.1"),
            "invalid pom: the pom's version 1.0.1 does not match the path's 1.0.0",
        ),
        (
            b"<project><groupId>org.example</groupId><version>1.0.0</version></project>".to_vec(),
            "invalid pom: the pom declares no artifactId",
        ),
        (
            format!(
                "<project>{}{}</project>",
                "<a>".repeat(100_000),
                "</a>".repeat(100_000)
            )
            .into_bytes(),
            "invalid pom: elements are nested deeper than 64 levels",
        ),
    ] {
        let response = maven(&app, Method::PUT, Some(&developer), &path, Some(&body)).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert!(
            error["message"].as_str().unwrap().starts_with(message),
            "{error}"
        );
    }
    // A pom above the metadata size cap: refused, and the answer names the limit.
    let mut huge = pom("org.example", "lib", "1.0.0");
    huge.extend(std::iter::repeat_n(b' ', 4 * 1024 * 1024));
    let response = maven(&app, Method::PUT, Some(&developer), &path, Some(&huge)).await;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["message"], "a .pom is limited to 4194304 bytes",
        "{error}"
    );
    // Nothing was kept.
    let list = admin_json(&app, "/registry/package?type=maven").await;
    assert_eq!(list["page"]["totalElements"], 0);
    // groupId and version from the parent.
    let inherited =
        b"<project><parent><groupId>org.example</groupId><artifactId>parent</artifactId>\
        <version>1.0.0</version></parent><artifactId>lib</artifactId></project>";
    put_ok(&app, &developer, &path, inherited).await;
}

async fn permissions_follow_the_group(backend: Backend) {
    let Some((app, group)) = app_with_group(backend).await else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let guest = app.member_token(group, "guest", AccessLevel::Guest).await;
    let (_, stranger) = app.create_user_with_token("stranger").await;
    let path = format!("{DIR}/1.0.0/lib-1.0.0.jar");
    put_ok(&app, &developer, &path, b"jar").await;

    for method in [Method::GET, Method::PUT] {
        let anonymous = maven(&app, method.clone(), None, &path, Some(b"jar")).await;
        assert_eq!(anonymous.status(), 401, "{method}");
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Basic realm=\"packyard\""
        );
    }
    assert_eq!(
        maven(&app, Method::PUT, Some(&guest), &path, Some(b"jar"))
            .await
            .status(),
        403
    );
    assert_eq!(text(&app, &guest, &path).await, "jar");
    for method in [Method::GET, Method::PUT] {
        assert_eq!(
            maven(&app, method, Some(&stranger), &path, Some(b"jar"))
                .await
                .status(),
            404
        );
    }

    // The group's deploy tokens: read_package_registry resolves, write_package_registry deploys.
    let admin = app.admin().await;
    let acme = app.core.find_group("acme").await.unwrap();
    let deploy_token = |name: &'static str, scope: Scope| {
        let (core, admin, acme) = (app.core.clone(), admin.clone(), acme.clone());
        async move {
            core.create_deploy_token(&admin, &acme, name.into(), None, vec![scope], None)
                .await
                .unwrap()
                .token
        }
    };
    let reader = deploy_token("ci", Scope::ReadPackageRegistry).await;
    let writer = deploy_token("publisher", Scope::WritePackageRegistry).await;
    assert_eq!(text(&app, &reader, &path).await, "jar");
    let second = format!("{DIR}/1.0.1/lib-1.0.1.jar");
    assert_eq!(
        maven(&app, Method::PUT, Some(&reader), &second, Some(b"jar"))
            .await
            .status(),
        403
    );
    put_ok(&app, &writer, &second, b"jar").await;
}

async fn gitflic_maven_content_routes_store_global_packages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let jar = b"global jar".as_slice();
    let put = call(
        &app,
        Method::PUT,
        "/registry/package/maven/org.example/lib/1.0.0/lib-1.0.0.jar",
        Some(&app.admin_token),
        Some(jar),
    )
    .await;
    assert_eq!(put.status(), 200);
    let file: Value = put.json().await.unwrap();
    assert_eq!(file["name"], "lib-1.0.0.jar");
    assert_eq!(file["packageUploadType"], "API");
    assert_eq!(file["hashSHA256"], digests(jar).sha256);
    let pom_put = call(
        &app,
        Method::PUT,
        "/registry/package/maven/org.example/lib/1.0.0/lib-1.0.0.pom",
        Some(&app.admin_token),
        Some(&pom("org.example", "other", "1.0.0")),
    )
    .await;
    assert_eq!(pom_put.status(), 400, "the pom is checked here too");
    let conflict = call(
        &app,
        Method::PUT,
        "/registry/package/maven/org.example/lib/1.0.0/lib-1.0.0.jar",
        Some(&app.admin_token),
        Some(b"other"),
    )
    .await;
    assert_eq!(conflict.status(), 409);
    let traversal = call(
        &app,
        Method::PUT,
        "/registry/package/maven/org..example/lib/1.0.0/lib-1.0.0.jar",
        Some(&app.admin_token),
        Some(jar),
    )
    .await;
    assert_eq!(traversal.status(), 400);

    let list = admin_json(&app, "/registry/package?type=maven").await;
    let package = &list["_embedded"]["simplePackageInfoModelList"][0];
    assert_eq!(package["ownerType"], "GLOBAL");
    assert_eq!(package["groupId"], "org.example");
    assert_eq!(package["artifactId"], "lib");
    assert_eq!(package["version"], "1.0.0");
    let uuid = package["id"].as_str().unwrap();
    let download = format!(
        "/registry/package/maven/{uuid}/1.0.0/{}/download",
        file["id"].as_str().unwrap()
    );
    let get = call(&app, Method::GET, &download, Some(&app.admin_token), None).await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.bytes().await.unwrap(), jar);
    let version = admin_json(&app, &format!("/registry/package/{uuid}/1.0.0")).await;
    assert_eq!(version["downloadCount"], 1);
    assert_eq!(version["packageUploadType"], "API");

    // Unknown version or file: 404; a non-administrator: 403; no credentials: 401.
    for path in [
        format!(
            "/registry/package/maven/{uuid}/9.9/{}/download",
            file["id"].as_str().unwrap()
        ),
        format!("/registry/package/maven/{uuid}/1.0.0/{uuid}/download"),
    ] {
        let response = call(&app, Method::GET, &path, Some(&app.admin_token), None).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let (_, user) = app.create_user_with_token("user").await;
    assert_eq!(
        call(&app, Method::GET, &download, Some(&user), None)
            .await
            .status(),
        403
    );
    assert_eq!(
        call(
            &app,
            Method::PUT,
            "/registry/package/maven/org.example/lib/1.0.1/lib-1.0.1.jar",
            Some(&user),
            Some(jar)
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        call(&app, Method::GET, &download, None, None)
            .await
            .status(),
        401
    );
}

/// A Maven virtual registry whose first upstream is the group's hosted repository (a local upstream):
/// the group's artifacts win over a remote upstream's at the same path and are never cached; other paths
/// go on to the remote upstream.
async fn a_local_upstream_answers_before_remote_ones(backend: Backend) {
    let Some(crate::fixtures::PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = crate::fixtures::pull_through(backend, packyard_domain::Format::Maven).await
    else {
        return;
    };
    let developer = app.member_token(group, "dev", AccessLevel::Developer).await;
    let jar = b"PK\x03\x04 the group's jar".as_slice();
    deploy(&app, &developer, &format!("{DIR}/1.0.0/lib-1.0.0.jar"), jar).await;
    deploy(
        &app,
        &developer,
        &format!("{DIR}/1.0.0/lib-1.0.0.pom"),
        &pom("org.example", "lib", "1.0.0"),
    )
    .await;
    upstream.set(
        &format!("{DIR}/1.0.0/lib-1.0.0.jar"),
        packyard_test_support::Reply::file("an impostor", "application/java-archive"),
    );
    upstream.set(
        "org/example/other/1.0/other-1.0.jar",
        packyard_test_support::Reply::file("public jar", "application/java-archive"),
    );
    let local = crate::fixtures::post(
        &app,
        &app.admin_token,
        &format!("{}/registries/{registry}/upstreams", crate::fixtures::MAVEN),
        serde_json::json!({"url": format!("gid://packyard/Group/{group}")}),
    )
    .await;
    assert_eq!(local.status, 201, "{}", local.body);
    // Last by position, asked first all the same.
    assert_eq!(
        local.body["registry_upstream"]["position"], 2,
        "{}",
        local.body
    );

    let get = |path: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("{}/{registry}/{path}", crate::fixtures::MAVEN)))
                .header("PRIVATE-TOKEN", &app.admin_token)
                .send()
                .await
                .unwrap()
        }
    };
    let served = get(format!("{DIR}/1.0.0/lib-1.0.0.jar")).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap(), jar);
    let sha1 = get(format!("{DIR}/1.0.0/lib-1.0.0.jar.sha1")).await;
    assert_eq!(sha1.text().await.unwrap(), digests(jar).sha1);
    let metadata = get(format!("{DIR}/maven-metadata.xml"))
        .await
        .text()
        .await
        .unwrap();
    assert!(metadata.contains("<release>1.0.0</release>"), "{metadata}");
    let other = get("org/example/other/1.0/other-1.0.jar".into()).await;
    assert_eq!(other.bytes().await.unwrap(), "public jar");
    assert_eq!(
        upstream.count("GET", &format!("/{DIR}/1.0.0/lib-1.0.0.jar")),
        0
    );
    let cached: Vec<String> = app
        .entries(upstreams[0])
        .await
        .into_iter()
        .map(|e| e.relative_path)
        .collect();
    assert_eq!(cached, ["org/example/other/1.0/other-1.0.jar"]);
}

both_backends!(
    a_local_upstream_answers_before_remote_ones,
    releases_deploy_once_and_metadata_is_generated,
    snapshots_keep_every_timestamp_and_may_be_replaced,
    poms_must_match_their_path,
    permissions_follow_the_group,
    gitflic_maven_content_routes_store_global_packages,
);
