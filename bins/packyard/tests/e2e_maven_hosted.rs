//! End to end: the real binary and a real `mvn`, offline. `mvn deploy` puts a small library into a
//! group's hosted Maven repository (a release, then one SNAPSHOT twice), resolving its plugins through a
//! packyard virtual registry whose upstream serves Debian's Maven repository; a second project resolves
//! the library from the hosted repository with `mvn package`; the GitFlic listing shows exactly what was
//! deployed. Needs the Debian packages that `scripts/install-test-deps.sh` installs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bootstrap_admin, create_group, create_virtual_registry, start_server};
use packyard_test_support::FakeUpstream;
use serde_json::{Value, json};

const DEBIAN_MAVEN_REPO: &str = "/usr/share/maven-repo";

/// Copies a fixture, substituting placeholders in its `pom.xml`.
fn copy_project(from: &Path, to: &Path, replacements: &[(&str, &str)]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_project(&entry.path(), &target, replacements);
        } else if entry.file_name() == "pom.xml" {
            let mut text = std::fs::read_to_string(entry.path()).unwrap();
            for (from, to) in replacements {
                text = text.replace(from, to);
            }
            std::fs::write(target, text).unwrap();
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn mvn(project: &Path, settings: &Path, local_repo: &Path, args: &[&str]) -> String {
    let output = Command::new("mvn")
        .current_dir(project)
        .args(["-B", "-ntp", "-C", "-s"])
        .arg(settings)
        .arg(format!("-Dmaven.repo.local={}", local_repo.display()))
        .args(args)
        .output()
        .expect("mvn must be installed (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "mvn {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// md5, sha1 and sha256 of a file, as the listing shows them.
fn digests(path: &Path) -> (String, String, String) {
    let mut hashers = packyard_blob::Hashers::default();
    hashers.update(&std::fs::read(path).unwrap());
    let digests = hashers.finish();
    (digests.md5, digests.sha1, digests.sha256)
}

async fn get_json(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client
        .get(&url)
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// The files of a listed version: name -> (md5, sha1, sha256).
fn listed_files(version: &Value) -> Vec<(String, (String, String, String))> {
    let mut files: Vec<_> = version["packageFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap().to_owned();
            (
                text("name"),
                (text("hashMd5"), text("hashSHA1"), text("hashSHA256")),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvn_deploys_to_a_hosted_repository_and_another_build_resolves_from_it() {
    assert!(
        Path::new(DEBIAN_MAVEN_REPO)
            .join("org/apache/maven/plugins/maven-deploy-plugin/3.0.0")
            .is_dir(),
        "run scripts/install-test-deps.sh first"
    );
    let work = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let debian = FakeUpstream::serve_directory(DEBIAN_MAVEN_REPO).await;

    let data = work.path().join("data");
    let token = bootstrap_admin(&data);
    let server = start_server(&data).await;
    let api = format!("{}/api/v4", server.base);
    let client = reqwest::Client::new();
    let group = create_group(&client, &api, &token, "acme").await;
    let (registry_id, _) = create_virtual_registry(
        &client,
        &api,
        &token,
        "packages/maven",
        group,
        &[json!({"name": "debian", "url": debian.url})],
    )
    .await;

    let hosted_url = format!("{}/company/acme/package/-/maven", server.base);
    let settings = work.path().join("settings.xml");
    let template =
        std::fs::read_to_string(fixtures.join("maven-lib/settings.xml.template")).unwrap();
    std::fs::write(
        &settings,
        template
            .replace(
                "@REGISTRY_URL@",
                &format!("{api}/virtual_registries/packages/maven/{registry_id}"),
            )
            .replace("@TOKEN@", &token),
    )
    .unwrap();
    let deploy_repo = work.path().join("m2-deploy");

    // The release, to <distributionManagement>.
    let release = work.path().join("lib-release");
    copy_project(
        &fixtures.join("maven-lib"),
        &release,
        &[("@HOSTED_URL@", &hosted_url)],
    );
    mvn(&release, &settings, &deploy_repo, &["deploy"]);

    // The SNAPSHOT, twice, with -DaltDeploymentRepository: two timestamps, build numbers 1 and 2.
    let alt = format!("-DaltDeploymentRepository=packyard-hosted::{hosted_url}");
    let mut snapshot_projects: Vec<PathBuf> = Vec::new();
    for round in ["1", "2"] {
        let project = work.path().join(format!("lib-snapshot-{round}"));
        copy_project(
            &fixtures.join("maven-lib"),
            &project,
            &[
                ("@HOSTED_URL@", &hosted_url),
                (
                    "<version>1.0.0</version>\n  <packaging>",
                    "<version>1.1.0-SNAPSHOT</version>\n  <packaging>",
                ),
            ],
        );
        mvn(&project, &settings, &deploy_repo, &["deploy", &alt]);
        snapshot_projects.push(project);
    }

    // Another project resolves each from the hosted repository, with a fresh local repository.
    for lib_version in ["1.0.0", "1.1.0-SNAPSHOT"] {
        let consumer = work.path().join(format!("consumer-{lib_version}"));
        copy_project(
            &fixtures.join("maven-consumer"),
            &consumer,
            &[
                ("@HOSTED_URL@", &hosted_url),
                ("@LIB_VERSION@", lib_version),
            ],
        );
        mvn(
            &consumer,
            &settings,
            &work.path().join(format!("m2-consumer-{lib_version}")),
            &["package"],
        );
        assert!(consumer.join("target/maven-consumer-1.0.0.jar").is_file());
    }

    // The listing: exactly the package, its two versions and their files, with the digests of what
    // the deploying builds produced.
    let list = get_json(
        &client,
        format!("{}/registry/package?type=maven", server.base),
        &token,
    )
    .await;
    let packages = list["_embedded"]["simplePackageInfoModelList"]
        .as_array()
        .unwrap();
    assert_eq!(packages.len(), 1, "{list}");
    let package = &packages[0];
    assert_eq!(package["name"], "dev.packyard.fixture:maven-lib");
    assert_eq!(package["groupId"], "dev.packyard.fixture");
    assert_eq!(package["artifactId"], "maven-lib");
    assert_eq!(package["ownerType"], "COMPANY");
    let uuid = package["id"].as_str().unwrap();
    let versions = get_json(
        &client,
        format!("{}/registry/package/{uuid}/version-list", server.base),
        &token,
    )
    .await;
    let versions = versions["_embedded"]["simplePackageVersionModelList"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = versions
        .iter()
        .map(|v| v["baseVersion"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["1.0.0", "1.1.0-SNAPSHOT"]);

    let released = &versions[0];
    assert_eq!(released["packageUploadType"], "TRANSPORT");
    assert_eq!(
        listed_files(released),
        vec![
            (
                "maven-lib-1.0.0.jar".to_owned(),
                digests(&release.join("target/maven-lib-1.0.0.jar"))
            ),
            (
                "maven-lib-1.0.0.pom".to_owned(),
                digests(&release.join("pom.xml"))
            ),
        ]
    );
    // The consumer fetched the pom and the jar once each.
    assert_eq!(released["downloadCount"], 2);

    let snapshot = &versions[1];
    let files = listed_files(snapshot);
    assert_eq!(files.len(), 4, "two jars and two poms: {files:?}");
    let jars: Vec<&(String, (String, String, String))> =
        files.iter().filter(|(n, _)| n.ends_with(".jar")).collect();
    assert!(jars[0].0.starts_with("maven-lib-1.1.0-") && jars[0].0.ends_with("-1.jar"));
    assert!(jars[1].0.ends_with("-2.jar"), "{files:?}");
    assert_ne!(jars[0].0, jars[1].0);
    for (jar, project) in jars.iter().zip(&snapshot_projects) {
        assert_eq!(
            jar.1,
            digests(&project.join("target/maven-lib-1.1.0-SNAPSHOT.jar"))
        );
    }
    for (name, digest) in files.iter().filter(|(n, _)| n.ends_with(".pom")) {
        assert_eq!(
            digest,
            &digests(&snapshot_projects[0].join("pom.xml")),
            "{name}"
        );
    }
    // The newest SNAPSHOT's pom and jar.
    assert_eq!(snapshot["downloadCount"], 2);
    // The upstream served plugins only: nothing of the hosted library reached it.
    assert!(
        debian
            .requests()
            .iter()
            .all(|r| !r.path.contains("maven-lib"))
    );
}
