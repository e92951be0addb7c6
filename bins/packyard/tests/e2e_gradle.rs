//! End to end: the real binary and a real Gradle (Debian's 4.4, on the JDK 17 the Maven tests use),
//! offline. An init script points every project at a packyard Maven virtual registry whose upstream
//! serves Debian's Maven repository, with Basic credentials (user and token) from Gradle properties set
//! as `ORG_GRADLE_PROJECT_*` variables, as CI sets them. A library built with Gradle is put into the
//! group's hosted Maven repository; an application resolves it from there with a deploy token, and its
//! dependency through the virtual registry; a second build with an empty Gradle home is served from
//! packyard without asking the upstream again. Judged by the bytes of every jar Gradle resolved.
//!
//! Debian's Gradle 4.4 cannot publish to any remote repository (its `maven-publish` and `maven` plugins
//! lack a transporter: "Cannot access … using the available connector factories"), so the library's jar
//! and the POM that `maven-publish` generates go up with the same PUTs that plugin sends.
//! Needs the Debian packages that `scripts/install-test-deps.sh` installs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    bootstrap_admin, copy_dir, create_group, create_virtual_registry, post, start_server,
};
use packyard_test_support::FakeUpstream;
use serde_json::json;

const DEBIAN_MAVEN_REPO: &str = "/usr/share/maven-repo";
const LANG3_JAR: &str = "org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar";
const LIB_PATH: &str = "dev/packyard/fixture/gradle-lib/1.0.0";

/// Where packyard is and who Gradle is there: the `ORG_GRADLE_PROJECT_*` variables of a build.
#[derive(Clone)]
struct GradleSetup {
    init_script: PathBuf,
    maven_url: String,
    hosted_url: String,
    user: String,
    token: String,
}

/// Runs `gradle <tasks>` on a copy of `fixture` in `work/<name>`, with its own empty Gradle home
/// (`work/<name>-gradle-home`); returns the project folder.
fn gradle(fixture: &str, work: &Path, name: &str, setup: &GradleSetup, tasks: &[&str]) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let project = work.join(name);
    copy_dir(&fixtures.join(fixture), &project);
    let home = work.join(format!("{name}-gradle-home"));
    assert!(
        !home.exists(),
        "each build starts with an empty Gradle home"
    );
    let output = Command::new("gradle")
        .current_dir(&project)
        .env("GRADLE_USER_HOME", &home)
        .env("HOME", work)
        .env_remove("GRADLE_OPTS")
        .env("ORG_GRADLE_PROJECT_packyardMavenUrl", &setup.maven_url)
        .env("ORG_GRADLE_PROJECT_packyardHostedUrl", &setup.hosted_url)
        .env("ORG_GRADLE_PROJECT_packyardUser", &setup.user)
        .env("ORG_GRADLE_PROJECT_packyardToken", &setup.token)
        .args([
            "--no-daemon",
            "--console=plain",
            "--stacktrace",
            "--init-script",
        ])
        .arg(&setup.init_script)
        .args(tasks)
        .output()
        .expect("gradle must be installed (scripts/install-test-deps.sh)");
    assert!(
        output.status.success(),
        "gradle {tasks:?} in {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    project
}

/// The files of the application's runtime classpath, as its `resolvedClasspath` task wrote them.
fn resolved_classpath(project: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(project.join("build/resolved-classpath.txt"))
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// The one resolved file with this name; its bytes must be `expected`'s.
fn assert_resolved(classpath: &[PathBuf], file_name: &str, expected: &Path) {
    let found: Vec<&PathBuf> = classpath
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == file_name))
        .collect();
    assert_eq!(found.len(), 1, "{file_name} in {classpath:?}");
    assert!(
        std::fs::read(found[0]).unwrap() == std::fs::read(expected).unwrap(),
        "{} is not {}",
        found[0].display(),
        expected.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gradle_resolves_through_packyard_and_from_a_hosted_repository() {
    assert!(
        Path::new(DEBIAN_MAVEN_REPO).join(LANG3_JAR).is_file(),
        "run scripts/install-test-deps.sh first"
    );
    let work = tempfile::tempdir().unwrap();
    let debian = FakeUpstream::serve_directory(DEBIAN_MAVEN_REPO).await;

    let data = work.path().join("data");
    let admin = bootstrap_admin(&data);
    let server = start_server(&data).await;
    let api = format!("{}/api/v4", server.base);
    let client = reqwest::Client::new();
    let group = create_group(&client, &api, &admin, "acme").await;
    let (registry_id, _) = create_virtual_registry(
        &client,
        &api,
        &admin,
        "packages/maven",
        group,
        &[json!({"name": "debian", "url": debian.url})],
    )
    .await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut setup = GradleSetup {
        init_script: fixtures.join("gradle-init.gradle"),
        maven_url: format!("{api}/virtual_registries/packages/maven/{registry_id}"),
        hosted_url: format!("{}/company/acme/package/-/maven", server.base),
        user: "admin".into(),
        token: admin.clone(),
    };
    // GETs of files the upstream has (Gradle also asks it for the library, which is not there).
    let upstream_gets = |fake: &FakeUpstream| {
        fake.requests()
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && Path::new(DEBIAN_MAVEN_REPO)
                        .join(r.path.trim_start_matches('/'))
                        .is_file()
            })
            .count()
    };

    // The library: its dependency resolves through the virtual registry; maven-publish writes its POM.
    let lib = blocking_gradle(
        "gradle-lib",
        work.path(),
        "lib",
        &setup,
        &["jar", "generatePomFileForMavenJavaPublication"],
    )
    .await;
    assert_eq!(debian.count("GET", &format!("/{LANG3_JAR}")), 1);
    let lib_jar = lib.join("build/libs/gradle-lib-1.0.0.jar");
    let lib_pom = lib.join("build/publications/mavenJava/pom-default.xml");
    for (file, name) in [
        (&lib_jar, "gradle-lib-1.0.0.jar"),
        (&lib_pom, "gradle-lib-1.0.0.pom"),
    ] {
        let response = client
            .put(format!("{}/{LIB_PATH}/{name}", setup.hosted_url))
            .basic_auth("admin", Some(&admin))
            .body(std::fs::read(file).unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "PUT {name}: {}",
            response.status()
        );
    }

    // The application, as CI builds it: a deploy token that reads the group's packages and pulls
    // through its virtual registries.
    let deploy = post(
        &client,
        format!("{api}/groups/{group}/deploy_tokens"),
        &admin,
        json!({"name": "ci", "scopes": ["read_virtual_registry", "read_package_registry"]}),
    )
    .await;
    setup.user = deploy["username"].as_str().unwrap().to_owned();
    setup.token = deploy["token"].as_str().unwrap().to_owned();
    let lang3 = Path::new(DEBIAN_MAVEN_REPO).join(LANG3_JAR);
    let app = blocking_gradle(
        "gradle-app",
        work.path(),
        "app",
        &setup,
        &["resolvedClasspath"],
    )
    .await;
    let classpath = resolved_classpath(&app);
    assert_eq!(classpath.len(), 2, "{classpath:?}");
    assert_resolved(&classpath, "gradle-lib-1.0.0.jar", &lib_jar);
    assert_resolved(&classpath, "commons-lang3-3.12.0.jar", &lang3);
    assert!(app.join("build/libs/gradle-app.jar").is_file());

    // Again with an empty Gradle home: the same bytes, and the upstream is not asked again.
    let gets_before = upstream_gets(&debian);
    let again = blocking_gradle(
        "gradle-app",
        work.path(),
        "app-again",
        &setup,
        &["resolvedClasspath"],
    )
    .await;
    let classpath = resolved_classpath(&again);
    assert_resolved(&classpath, "gradle-lib-1.0.0.jar", &lib_jar);
    assert_resolved(&classpath, "commons-lang3-3.12.0.jar", &lang3);
    assert_eq!(upstream_gets(&debian), gets_before, "no upstream GET");
}

/// [`gradle`] off the async runtime, which keeps serving packyard meanwhile.
async fn blocking_gradle(
    fixture: &'static str,
    work: &Path,
    name: &'static str,
    setup: &GradleSetup,
    tasks: &'static [&'static str],
) -> PathBuf {
    let (work, setup) = (work.to_owned(), setup.clone());
    common::blocking(move || gradle(fixture, &work, name, &setup, tasks)).await
}
