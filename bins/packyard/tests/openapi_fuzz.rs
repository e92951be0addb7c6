//! End to end: schemathesis fuzzes the management APIs of the real binary from the OpenAPI description
//! the binary serves, with an administrator's token. It checks that no answer is a server error, that
//! every status is one the description lists and that every body matches its schema. The server holds a
//! group with users, tokens, both kinds of virtual registry, upstreams, a cache entry, a cleanup policy
//! and a hosted package, and the fuzzer draws real ids of them half of the time, so the operations reach
//! records as well as their 404s.
//!
//! Every upstream request the fuzzed URLs cause goes to an HTTP proxy on a closed loopback port, so
//! nothing leaves the machine; only the test's own upstream on loopback is reached directly.
//!
//! schemathesis comes from `scripts/install-test-deps.sh` (or where `PACKYARD_TEST_SCHEMATHESIS`
//! points); the test fails when it is missing. It prints its figure: operations, requests, failures.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::clients::{installed_client, isolated};
use common::{bootstrap_admin, post, start_server_with};
use packyard_test_support::{FakeUpstream, Reply};
use serde_json::{Value, json};

/// Examples per operation and phase: enough to reach every parameter, few enough for a few minutes on
/// two cores. `PACKYARD_FUZZ_EXAMPLES` asks for more.
const MAX_EXAMPLES: &str = "30";

/// The operations the fuzzer does not run: revoking `self` (or its id) would revoke the token it fuzzes
/// with, and every later answer would be a 401 (the identity tests cover it); the description takes no
/// input.
const EXCLUDED: [&str; 2] = ["revoke_personal_access_token", "openapi"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_mismatch() {
    let schemathesis = installed_client(
        "PACKYARD_TEST_SCHEMATHESIS",
        "/opt/packyard-test-schemathesis/bin/schemathesis",
    );
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let admin = bootstrap_admin(&data);
    // Port 9 (discard) is closed on loopback: every upstream request but the test's own fails at once.
    let server = start_server_with(
        &data,
        &[
            ("PACKYARD__UPSTREAM__PROXY", "http://127.0.0.1:9"),
            ("NO_PROXY", "127.0.0.1"),
        ],
    )
    .await;
    let upstream = FakeUpstream::start().await;
    let ids = seed(&server.base, &admin, &upstream).await;

    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, ids.config()).unwrap();
    let reports = work.path().join("reports");
    let examples =
        std::env::var("PACKYARD_FUZZ_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned());
    // Two workers trip over hypothesis reading its own lambdas' source in parallel ("AST constructor
    // recursion depth mismatch"): one worker, and a run of about a minute.
    let output = isolated(&schemathesis, work.path())
        .current_dir(work.path())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/api/v4/openapi.json", server.base)])
        .args(["--header", &format!("PRIVATE-TOKEN: {admin}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples, "--seed", "1", "--workers", "1"])
        .args(EXCLUDED.map(|id| format!("--exclude-operation-id={id}")))
        .args(["--report", "ndjson", "--report-dir"])
        .arg(&reports)
        .args(["--no-color"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figure = Figure::read(&reports);
    println!(
        "openapi fuzz: {} operations, {} requests, {} failures",
        figure.operations.len(),
        figure.requests,
        figure.failures
    );
    assert!(
        output.status.success() && figure.failures == 0,
        "schemathesis failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // Every operation of the description was run, and the run was more than a handful of requests.
    let document: Value = reqwest::get(format!("{}/api/v4/openapi.json", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let described = operation_count(&document) - EXCLUDED.len();
    assert_eq!(
        figure.operations.len(),
        described,
        "{:?}",
        figure.operations
    );
    assert!(
        figure.requests > described * 20,
        "{} requests",
        figure.requests
    );
}

/// The ids of what [`seed`] made, handed to the fuzzer as dictionaries.
struct Seeded {
    group: i64,
    users: Vec<i64>,
    deploy_tokens: Vec<i64>,
    registries: Vec<i64>,
    upstreams: Vec<i64>,
    associations: Vec<i64>,
    cache_entries: Vec<String>,
    package: String,
}

impl Seeded {
    /// `schemathesis.toml`: each id parameter drawn from the real ids half of the time.
    fn config(&self) -> String {
        let list = |values: Vec<String>| values.join(", ");
        let numbers = |ids: &[i64]| list(ids.iter().map(i64::to_string).collect());
        let texts = |ids: Vec<String>| list(ids.iter().map(|id| format!("{id:?}")).collect());
        let mut config = String::new();
        for (name, values) in [
            (
                "groups",
                texts(vec![self.group.to_string(), "acme".to_owned()]),
            ),
            ("users", numbers(&self.users)),
            ("deploy_tokens", numbers(&self.deploy_tokens)),
            ("registries", numbers(&self.registries)),
            ("upstreams", numbers(&self.upstreams)),
            ("associations", numbers(&self.associations)),
            ("cache_entries", texts(self.cache_entries.clone())),
            ("packages", texts(vec![self.package.clone()])),
            ("versions", texts(vec!["1.0.0".to_owned()])),
        ] {
            config.push_str(&format!("[dictionaries.{name}]\nvalues = [{values}]\n\n"));
        }
        let bind =
            |dictionary: &str| format!("{{ dictionary = \"{dictionary}\", probability = 0.5 }}");
        for (path, parameters) in [
            (
                r"^/api/v4/groups/\{id\}",
                vec![
                    ("path.id", bind("groups")),
                    ("path.user_id", bind("users")),
                    ("path.token_id", bind("deploy_tokens")),
                    ("body.user_id", bind("users")),
                ],
            ),
            (r"^/api/v4/users/\{id\}", vec![("path.id", bind("users"))]),
            (r"/registries/\{id\}", vec![("path.id", bind("registries"))]),
            (r"/upstreams/\{id\}", vec![("path.id", bind("upstreams"))]),
            (
                r"/registry_upstreams/\{id\}$",
                vec![("path.id", bind("associations"))],
            ),
            (
                r"/registry_upstreams$",
                vec![
                    ("body.registry_id", bind("registries")),
                    ("body.upstream_id", bind("upstreams")),
                ],
            ),
            (
                r"/cache_entries/\{id\}$",
                vec![("path.id", bind("cache_entries"))],
            ),
            (
                r"^/registry/package/\{packageUuid\}",
                vec![
                    ("path.packageUuid", bind("packages")),
                    ("path.packageVersion", bind("versions")),
                ],
            ),
        ] {
            config.push_str(&format!(
                "[[operations]]\ninclude-path-regex = '{path}'\nparameters = {{ {} }}\n\n",
                parameters
                    .iter()
                    .map(|(name, binding)| format!("\"{name}\" = {binding}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        config
    }
}

/// A group `acme` with a Developer and a deploy token, a cleanup policy, three Maven and three container
/// registries with two upstreams each on the test's upstream (one artifact cached through the first
/// Maven one), and a generic package.
async fn seed(base: &str, admin: &str, upstream: &FakeUpstream) -> Seeded {
    let api = format!("{base}/api/v4");
    let client = reqwest::Client::new();
    let group = post(
        &client,
        format!("{api}/groups"),
        admin,
        json!({"name": "acme", "path": "acme"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let developer = post(
        &client,
        format!("{api}/users"),
        admin,
        json!({"username": "dev", "name": "Developer"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    post(
        &client,
        format!("{api}/groups/{group}/members"),
        admin,
        json!({"user_id": developer, "access_level": 30}),
    )
    .await;
    post(
        &client,
        format!("{api}/users/{developer}/personal_access_tokens"),
        admin,
        json!({"name": "ci", "scopes": ["api"]}),
    )
    .await;
    let deploy_token = post(
        &client,
        format!("{api}/groups/{group}/deploy_tokens"),
        admin,
        json!({"name": "pull", "scopes": ["read_virtual_registry"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    post(
        &client,
        format!("{api}/groups/{group}/-/virtual_registries/cleanup/policy"),
        admin,
        json!({"enabled": true}),
    )
    .await;

    let mut registries = Vec::new();
    let mut upstreams = Vec::new();
    let mut associations = Vec::new();
    // Several of each, so that the fuzzer's deletes leave some for the operations after them.
    for (kind, name) in [("packages/maven", "maven"), ("container", "container")] {
        for n in 1..=3 {
            let registry = post(
                &client,
                format!("{api}/groups/{group}/-/virtual_registries/{kind}/registries"),
                admin,
                json!({"name": format!("registry-{n}")}),
            )
            .await["id"]
                .as_i64()
                .unwrap();
            for m in 1..=2 {
                let upstream_name = format!("{name}-{n}-{m}");
                let created = post(
                    &client,
                    format!("{api}/virtual_registries/{kind}/registries/{registry}/upstreams"),
                    admin,
                    json!({"name": upstream_name, "url": format!("{}/{upstream_name}", upstream.url)}),
                )
                .await;
                upstreams.push(created["id"].as_i64().unwrap());
                associations.push(created["registry_upstream"]["id"].as_i64().unwrap());
            }
            registries.push(registry);
        }
    }

    let artifact = "com/example/demo/1.0/demo-1.0.jar";
    upstream.set(
        &format!("maven-1-1/{artifact}"),
        Reply::file("jar bytes", "application/java-archive"),
    );
    let pulled = client
        .get(format!(
            "{api}/virtual_registries/packages/maven/{}/{artifact}",
            registries[0]
        ))
        .header("PRIVATE-TOKEN", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(pulled.bytes().await.unwrap(), "jar bytes");
    // The entry is committed once the whole body is stored, which may be just after it was sent.
    let mut cache_entries = Vec::new();
    for _ in 0..100 {
        let entries: Vec<Value> = client
            .get(format!(
                "{api}/virtual_registries/packages/maven/upstreams/{}/cache_entries",
                upstreams[0]
            ))
            .header("PRIVATE-TOKEN", admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cache_entries = entries
            .iter()
            .map(|entry| entry["id"].as_str().unwrap().to_owned())
            .collect();
        if !cache_entries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(cache_entries.len(), 1);

    let uploaded = client
        .put(format!(
            "{base}/registry/package/generic/tool/1.0.0/tool.bin"
        ))
        .header("Authorization", format!("token {admin}"))
        .body("tool bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let packages: Value = client
        .get(format!("{base}/registry/package"))
        .header("Authorization", format!("token {admin}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let package = packages["_embedded"]["simplePackageInfoModelList"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    Seeded {
        group,
        users: vec![developer],
        deploy_tokens: vec![deploy_token],
        registries,
        upstreams,
        associations,
        cache_entries,
        package,
    }
}

/// How many operations a description lists.
fn operation_count(document: &Value) -> usize {
    document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .iter()
            .filter(|method| item.get(**method).is_some())
            .count()
        })
        .sum()
}

/// What a run did, read from its NDJSON report: the operations that were sent requests, the requests
/// and the failed checks.
struct Figure {
    operations: BTreeSet<String>,
    requests: usize,
    failures: usize,
}

impl Figure {
    fn read(reports: &Path) -> Self {
        let mut figure = Figure {
            operations: BTreeSet::new(),
            requests: 0,
            failures: 0,
        };
        // No report when schemathesis failed before its run; its output then says why.
        let Ok(files) = std::fs::read_dir(reports) else {
            return figure;
        };
        for report in files {
            let text = std::fs::read_to_string(report.unwrap().path()).unwrap();
            for line in text.lines() {
                let event: Value = serde_json::from_str(line).unwrap();
                let scenario = &event["ScenarioFinished"];
                let recorder = &scenario["recorder"];
                let answered = recorder["interactions"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, interaction)| interaction["response"].is_object())
                    .count();
                figure.requests += answered;
                // A stateful scenario chains operations under one label of its own.
                if answered > 0 && scenario["phase"] != "stateful" {
                    figure
                        .operations
                        .insert(recorder["label"].as_str().unwrap_or_default().to_owned());
                }
                figure.failures += recorder["checks"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .flat_map(|(_, checks)| checks.as_array().into_iter().flatten())
                    .filter(|check| check["status"] == "failure")
                    .count();
            }
        }
        figure
    }
}
