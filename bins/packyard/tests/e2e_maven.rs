//! End to end: the real binary, a real `mvn` build resolving every plugin and dependency through a
//! packyard Maven virtual registry with two upstreams, then a second build served from the cache.
//! Needs the Debian packages that `scripts/install-test-deps.sh` installs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bootstrap_admin, copy_dir, create_group, create_virtual_registry, start_server};
use packyard_test_support::FakeUpstream;
use serde_json::{Value, json};

const DEBIAN_MAVEN_REPO: &str = "/usr/share/maven-repo";
const LANG3: &str = "org/apache/commons/commons-lang3/3.12.0";

fn mvn_package(fixture: &Path, work: &Path, settings: &Path, local_repo: &str) -> PathBuf {
    let project = work.join(format!("app-{local_repo}"));
    copy_dir(fixture, &project);
    let output = Command::new("mvn")
        .current_dir(&project)
        .args(["-B", "-ntp", "-C", "-s"])
        .arg(settings)
        .arg(format!(
            "-Dmaven.repo.local={}",
            work.join(local_repo).display()
        ))
        .arg("package")
        .output()
        .expect("mvn must be installed (scripts/install-test-deps.sh)");
    assert!(
        output.status.success(),
        "mvn failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    project.join("target/maven-app-1.0.0.jar")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_mvn_build_resolves_everything_through_packyard() {
    assert!(
        Path::new(DEBIAN_MAVEN_REPO).is_dir(),
        "run scripts/install-test-deps.sh first"
    );
    let work = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/maven-app");

    // Upstream 1 holds only the application's dependency; upstream 2 is Debian's whole Maven repository.
    let only_lang3 = work.path().join("lang3-repo");
    std::fs::create_dir_all(only_lang3.join(LANG3)).unwrap();
    for file in ["commons-lang3-3.12.0.pom", "commons-lang3-3.12.0.jar"] {
        std::fs::copy(
            Path::new(DEBIAN_MAVEN_REPO).join(LANG3).join(file),
            only_lang3.join(LANG3).join(file),
        )
        .unwrap();
    }
    let first = FakeUpstream::serve_directory(&only_lang3).await;
    let second = FakeUpstream::serve_directory(DEBIAN_MAVEN_REPO).await;

    let data = work.path().join("data");
    let token = bootstrap_admin(&data);

    let server = start_server(&data).await;
    let api = format!("{}/api/v4", server.base);
    let client = reqwest::Client::new();
    let group = create_group(&client, &api, &token, "acme").await;
    let (registry_id, upstream_ids) = create_virtual_registry(
        &client,
        &api,
        &token,
        "packages/maven",
        group,
        &[
            json!({"name": "lang3", "url": first.url}),
            json!({"name": "debian", "url": second.url}),
        ],
    )
    .await;

    let settings = work.path().join("settings.xml");
    let template = std::fs::read_to_string(fixture.join("settings.xml.template")).unwrap();
    let registry_url = format!("{api}/virtual_registries/packages/maven/{registry_id}");
    std::fs::write(
        &settings,
        template
            .replace("@REGISTRY_URL@", &registry_url)
            .replace("@TOKEN@", &token),
    )
    .unwrap();

    let jar = mvn_package(&fixture, work.path(), &settings, "m2-first");
    assert!(jar.is_file(), "the build produced its jar");
    assert_eq!(
        first.count("GET", &format!("{LANG3}/commons-lang3-3.12.0.jar")),
        1
    );
    assert_eq!(
        second.count("GET", &format!("{LANG3}/commons-lang3-3.12.0.jar")),
        0,
        "position 1 wins"
    );
    // GETs of files the upstream has: packyard also asks for checksum files Debian's repository does not
    // publish (404s, never cached).
    let upstream_gets = |fake: &FakeUpstream, root: &Path| {
        fake.requests()
            .iter()
            .filter(|r| r.method == "GET" && root.join(r.path.trim_start_matches('/')).is_file())
            .count()
    };
    let debian_repo = Path::new(DEBIAN_MAVEN_REPO);
    let gets_after_first = (
        upstream_gets(&first, &only_lang3),
        upstream_gets(&second, debian_repo),
    );
    assert!(
        gets_after_first.1 > 50,
        "plugins came from the second upstream"
    );

    // A second build with an empty local repository is served from the cache.
    let all_gets =
        |fake: &FakeUpstream| fake.requests().iter().filter(|r| r.method == "GET").count();
    let gets_before_second = (all_gets(&first), all_gets(&second));
    mvn_package(&fixture, work.path(), &settings, "m2-second");
    assert_eq!(
        (all_gets(&first), all_gets(&second)),
        gets_before_second,
        "no upstream GET"
    );

    // The cache entries API lists what was fetched.
    let entries = client
        .get(format!(
            "{api}/virtual_registries/packages/maven/upstreams/{}/cache_entries?per_page=100",
            upstream_ids[0]
        ))
        .header("PRIVATE-TOKEN", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(entries.status(), 200);
    let entries: Value = entries.json().await.unwrap();
    let paths: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["relative_path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar"),
        "{paths:?}"
    );
    let debian = client
        .get(format!(
            "{api}/virtual_registries/packages/maven/upstreams/{}/cache_entries",
            upstream_ids[1]
        ))
        .header("PRIVATE-TOKEN", &token)
        .send()
        .await
        .unwrap();
    let total: usize = debian.headers()["x-total"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        total, gets_after_first.1,
        "one entry per file fetched from the second upstream"
    );
}
