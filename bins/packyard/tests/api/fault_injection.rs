//! The fault-injection suite: upstreams that hang, reset, truncate, lie about lengths and digests, cut
//! bodies without a length or answer 5xx storms; a server killed with SIGKILL mid-fill and mid-upload; a
//! full disk; database connections killed under load. Every scenario sends concurrent clients and
//! classifies each transfer: whole and correct, refused or aborted (what a client retries), or corrupt
//! (a body with the wrong bytes presented as complete). Then the fault heals and the file must come
//! back right, and no cache entry or blob may hold anything but its own bytes. The suite prints its
//! figure, a table per scenario, and fails on any corrupt transfer or partial file kept.

use std::fmt::Write as _;
use std::time::Duration;

use futures_util::future::join_all;
use packyard_domain::Format;
use packyard_test_support::CloseDelimitedUpstream;
use sha2::{Digest, Sha256};

use crate::container::{Image, digest_of, pull_token, v2};
use crate::fixtures::{PullThrough, pull_through};
use crate::{Backend, FakeUpstream, Reply, TestApp};

/// Concurrent clients per scenario.
const CLIENTS: usize = 8;
/// The size of the files the faults are injected into.
const SIZE: usize = 300 * 1024;

/// What a client got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every byte, the right ones.
    Whole,
    /// An error status or a transfer cut off: the client knows to retry.
    Refused,
    /// A complete-looking body with the wrong bytes.
    Corrupt,
}

/// One scenario's figures.
#[derive(Default)]
struct Tally {
    whole: usize,
    refused: usize,
    corrupt: usize,
    /// Cache entries or files left that are not the upstream's whole, right file.
    kept_partial: usize,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Whole => self.whole += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Corrupt => self.corrupt += 1,
        }
    }
}

/// The suite's report, printed at the end.
#[derive(Default)]
struct Report {
    rows: Vec<(&'static str, Tally)>,
}

impl Report {
    fn record(&mut self, scenario: &'static str, tally: Tally) {
        self.rows.push((scenario, tally));
    }

    fn print_and_check(&self) {
        let mut table = String::from(
            "| scenario | transfers | whole | refused or aborted | corrupt | partial kept |\n|---|---|---|---|---|---|\n",
        );
        let (mut transfers, mut corrupt, mut kept) = (0, 0, 0);
        for (scenario, t) in &self.rows {
            let n = t.whole + t.refused + t.corrupt;
            transfers += n;
            corrupt += t.corrupt;
            kept += t.kept_partial;
            writeln!(
                table,
                "| {scenario} | {n} | {} | {} | {} | {} |",
                t.whole, t.refused, t.corrupt, t.kept_partial
            )
            .unwrap();
        }
        println!("{table}");
        println!(
            "fault injection: {} scenarios, {transfers} transfers, {corrupt} corrupt bodies presented \
             as whole, {kept} partial files kept",
            self.rows.len()
        );
        assert_eq!(corrupt, 0, "corrupt bodies were presented as whole");
        assert_eq!(kept, 0, "partial files were kept");
    }
}

/// Deterministic file contents for a scenario.
fn contents(seed: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(SIZE);
    let mut block = Sha256::digest(seed.as_bytes()).to_vec();
    while bytes.len() < SIZE {
        block = Sha256::digest(&block).to_vec();
        bytes.extend_from_slice(&block);
    }
    bytes.truncate(SIZE);
    bytes
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

/// Classifies one GET.
async fn transfer(request: reqwest::RequestBuilder, expected: &[u8]) -> Outcome {
    let Ok(response) = request.timeout(Duration::from_secs(30)).send().await else {
        return Outcome::Refused;
    };
    if response.status() != 200 {
        return Outcome::Refused;
    }
    match response.bytes().await {
        Err(_) => Outcome::Refused,
        Ok(body) if body == expected => Outcome::Whole,
        Ok(_) => Outcome::Corrupt,
    }
}

/// Every stored blob holds the bytes its name says; counts those that do not.
fn blobs_not_matching_their_names(root: &std::path::Path) -> usize {
    let mut wrong = 0;
    let mut stack = vec![root.join("sha256")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if hex::encode(Sha256::digest(&bytes)) != name {
                    wrong += 1;
                }
            }
        }
    }
    wrong
}

fn blob_root(app: &TestApp) -> std::path::PathBuf {
    let url = app.settings.storage.url.clone().unwrap();
    std::path::PathBuf::from(url.trim_start_matches("file://"))
}

/// A Maven file behind a fault: CLIENTS concurrent GETs, then the fault heals and the file must come
/// back whole, with nothing wrong cached in between.
async fn maven_scenario(
    app: &TestApp,
    upstream: &FakeUpstream,
    registry: i64,
    upstream_id: i64,
    slug: &str,
    fault: impl Fn(&[u8]) -> Vec<(String, Reply)>,
) -> Tally {
    let path = format!("org/fault/{slug}/1.0/{slug}-1.0.jar");
    let good = contents(slug);
    for (suffix, reply) in fault(&good) {
        upstream.set(&format!("{path}{suffix}"), reply);
    }
    let url = app.url(&format!(
        "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
    ));
    let get = || {
        app.client
            .get(&url)
            .header("PRIVATE-TOKEN", &app.admin_token)
    };
    let mut tally = Tally::default();
    for outcome in join_all((0..CLIENTS).map(|_| transfer(get(), &good))).await {
        tally.add(outcome);
    }
    let cached = app
        .entries(upstream_id)
        .await
        .iter()
        .any(|entry| entry.relative_path.trim_start_matches('/') == path);
    if cached && tally.whole == 0 {
        tally.kept_partial += 1;
    }
    // Healed: the right file, vouched for by its checksum.
    upstream.set(&path, Reply::file(good.clone(), "application/java-archive"));
    upstream.set(
        &format!("{path}.sha1"),
        Reply::file(sha1_hex(&good), "text/plain"),
    );
    if transfer(get(), &good).await != Outcome::Whole {
        tally.kept_partial += 1;
    }
    tally
}

/// The upstream-side faults, on a Maven registry and a container registry.
async fn upstream_faults(report: &mut Report) -> bool {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    }) = pull_through(Backend::Sqlite, Format::Maven).await
    else {
        return false;
    };
    let id = upstreams[0];
    let file = |body: &[u8]| Reply::file(body.to_vec(), "application/java-archive");
    let sha1 = |good: &[u8]| {
        (
            ".sha1".to_owned(),
            Reply::file(sha1_hex(good), "text/plain"),
        )
    };
    type Fault = Box<dyn Fn(&[u8]) -> Vec<(String, Reply)>>;
    let scenarios: Vec<(&'static str, &str, Fault)> = vec![
        (
            "upstream hangs before its headers",
            "hang-headers",
            Box::new(move |good: &[u8]| {
                vec![(
                    String::new(),
                    Reply::Delay(Duration::from_secs(12), Box::new(file(good))),
                )]
            }),
        ),
        (
            "upstream hangs mid-body",
            "hang-body",
            Box::new(|good: &[u8]| {
                vec![(
                    String::new(),
                    Reply::Stall {
                        body: good[..SIZE / 2].to_vec().into(),
                        declared: SIZE as u64,
                    },
                )]
            }),
        ),
        (
            "upstream resets before a byte",
            "reset",
            Box::new(|_: &[u8]| {
                vec![(
                    String::new(),
                    Reply::Truncate {
                        body: Vec::new().into(),
                        declared: SIZE as u64,
                    },
                )]
            }),
        ),
        (
            "upstream truncates (declares more than it sends)",
            "truncate",
            Box::new(|good: &[u8]| {
                vec![(
                    String::new(),
                    Reply::Truncate {
                        body: good[..SIZE - 1000].to_vec().into(),
                        declared: SIZE as u64,
                    },
                )]
            }),
        ),
        (
            "upstream sends a short file whole (length and sha1 disagree)",
            "short",
            Box::new(move |good: &[u8]| vec![(String::new(), file(&good[..SIZE / 3])), sha1(good)]),
        ),
        (
            "upstream lies about the digest",
            "digest-lie",
            Box::new(move |good: &[u8]| {
                let mut wrong = good.to_vec();
                wrong[SIZE / 2] ^= 0xff;
                vec![(String::new(), file(&wrong)), sha1(good)]
            }),
        ),
        (
            "upstream 5xx storm",
            "storm",
            Box::new(|_: &[u8]| vec![(String::new(), Reply::Status(503))]),
        ),
    ];
    for (name, slug, fault) in &scenarios {
        let tally = maven_scenario(&app, &upstream, registry, id, slug, fault).await;
        report.record(name, tally);
    }

    // A body without a length (close-delimited) cut short, with the published sha1 that exposes it.
    let close = CloseDelimitedUpstream::start().await;
    let (close_registry, close_ids) = app.maven_registry(group, &[&close.url]).await;
    let path = "org/fault/cut/1.0/cut-1.0.jar";
    let good = contents("cut");
    close.set(path, good[..SIZE / 2].to_vec());
    close.set(&format!("{path}.sha1"), sha1_hex(&good).into_bytes());
    let url = app.url(&format!(
        "/api/v4/virtual_registries/packages/maven/{close_registry}/{path}"
    ));
    let get = || {
        app.client
            .get(&url)
            .header("PRIVATE-TOKEN", &app.admin_token)
    };
    let mut tally = Tally::default();
    for outcome in join_all((0..CLIENTS).map(|_| transfer(get(), &good))).await {
        tally.add(outcome);
    }
    tally.kept_partial += app.entries(close_ids[0]).await.len();
    close.set(path, good.clone());
    if transfer(get(), &good).await != Outcome::Whole {
        tally.kept_partial += 1;
    }
    report.record("upstream cuts a body without a length", tally);

    // Container blobs: bytes that do not match the digest, and a truncated blob.
    let container_upstream = FakeUpstream::start().await;
    let (oci, oci_ids) = app
        .virtual_registry(Format::Container, group, &[&container_upstream.url])
        .await;
    let token = pull_token(&app, oci).await;
    for (name, seed, truncate) in [
        ("container blob whose bytes miss its digest", "lie", false),
        ("container blob truncated", "cut", true),
    ] {
        let image = Image::new(seed, &[SIZE], "amd64");
        image.serve(&container_upstream, "app", Some("latest"));
        let layer = &image.layers[0];
        let digest = digest_of(layer);
        let upstream_path = format!("/v2/app/blobs/{digest}");
        container_upstream.set(
            &upstream_path,
            if truncate {
                Reply::Truncate {
                    body: layer[..SIZE / 2].to_vec().into(),
                    declared: SIZE as u64,
                }
            } else {
                Reply::file(vec![b'x'; SIZE], "application/octet-stream")
            },
        );
        let url = app.url(&v2(oci, &format!("app/blobs/{digest}")));
        let get = || app.client.get(&url).bearer_auth(&token);
        let mut tally = Tally::default();
        for outcome in join_all((0..CLIENTS).map(|_| transfer(get(), layer))).await {
            tally.add(outcome);
        }
        tally.kept_partial += app
            .entries(oci_ids[0])
            .await
            .iter()
            .filter(|entry| entry.relative_path.contains(&digest))
            .count();
        container_upstream.set(
            &upstream_path,
            Reply::file(layer.clone(), "application/octet-stream"),
        );
        if transfer(get(), layer).await != Outcome::Whole {
            tally.kept_partial += 1;
        }
        report.record(name, tally);
    }

    let wrong = blobs_not_matching_their_names(&blob_root(&app));
    report.record(
        "blob store after the upstream faults",
        Tally {
            kept_partial: wrong,
            ..Tally::default()
        },
    );
    true
}

/// The real binary killed with SIGKILL while it fills a file from a stalled upstream and while it
/// receives an upload; restarted on the same data, it serves the whole file or nothing.
async fn kills(report: &mut Report) {
    use crate::common;
    let data = tempfile::tempdir().unwrap();
    let admin = common::bootstrap_admin(data.path());
    let upstream = FakeUpstream::start().await;
    let path = "org/fault/killed/1.0/killed-1.0.jar";
    let good = contents("killed");
    upstream.set(
        path,
        Reply::Stall {
            body: good[..SIZE / 2].to_vec().into(),
            declared: SIZE as u64,
        },
    );
    let client = reqwest::Client::new();
    let server = common::start_server(data.path()).await;
    let api = format!("{}/api/v4", server.base);
    let group = common::create_group(&client, &api, &admin, "acme").await;
    let (registry, _) = common::create_virtual_registry(
        &client,
        &api,
        &admin,
        "packages/maven",
        group,
        &[serde_json::json!({"url": upstream.url, "name": "stalling"})],
    )
    .await;
    let jar =
        |base: &str| format!("{base}/api/v4/virtual_registries/packages/maven/{registry}/{path}");
    let upload = |base: &str| format!("{base}/registry/package/generic/killed/1.0.0/upload.bin");

    // Mid-fill: clients are reading the first half when the server dies.
    let mut fill = Tally::default();
    let readers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = client
                .get(jar(&server.base))
                .header("PRIVATE-TOKEN", &admin);
            let expected = good.clone();
            tokio::spawn(async move { transfer(request, &expected).await })
        })
        .collect();
    // Mid-upload: a body that sends half its declared length, then waits.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let half = good[..SIZE / 2].to_vec();
    sender.send(Ok(half)).await.unwrap();
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let uploader = tokio::spawn(
        client
            .put(upload(&server.base))
            .header("Authorization", format!("token {admin}"))
            .header("Content-Length", SIZE.to_string())
            .body(body)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(server); // SIGKILL
    for reader in readers {
        fill.add(reader.await.unwrap());
    }
    let mut uploaded = Tally::default();
    uploaded.add(match uploader.await.unwrap() {
        Ok(response) if response.status().is_success() => Outcome::Corrupt,
        _ => Outcome::Refused,
    });
    drop(sender);

    // Restarted on the same data; the upstream now answers whole.
    upstream.set(path, Reply::file(good.clone(), "application/java-archive"));
    let server = common::start_server(data.path()).await;
    let after = transfer(
        client
            .get(jar(&server.base))
            .header("PRIVATE-TOKEN", &admin),
        &good,
    )
    .await;
    if after != Outcome::Whole {
        fill.kept_partial += 1;
    }
    let upload_status = client
        .get(upload(&server.base))
        .header("Authorization", format!("token {admin}"))
        .send()
        .await
        .unwrap()
        .status();
    if upload_status != 404 {
        uploaded.kept_partial += 1;
    }
    // Staging files of the killed process are collected at start.
    let staging = data.path().join("blobs").join("tmp");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0) > 0 {
        if std::time::Instant::now() > deadline {
            uploaded.kept_partial += 1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fill.kept_partial += blobs_not_matching_their_names(&data.path().join("blobs"));
    report.record("server killed (SIGKILL) mid-fill", fill);
    report.record("server killed (SIGKILL) mid-upload", uploaded);
}

/// Database connections killed while clients pull a cached and an uncached file (PostgreSQL).
async fn database_kills(report: &mut Report) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        ..
    }) = pull_through(Backend::Postgres, Format::Maven).await
    else {
        return;
    };
    let database = app.database_name();
    let mut tally = Tally::default();
    let files: Vec<(String, Vec<u8>)> = (0..CLIENTS)
        .map(|i| {
            let path = format!("org/fault/db{i}/1.0/db{i}-1.0.jar");
            let good = contents(&path);
            upstream.set(&path, Reply::file(good.clone(), "application/java-archive"));
            (path, good)
        })
        .collect();
    let url = |path: &str| {
        app.url(&format!(
            "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
        ))
    };
    // Half the files are cached before the kills.
    for (path, good) in files.iter().step_by(2) {
        assert_eq!(
            transfer(
                app.client
                    .get(url(path))
                    .header("PRIVATE-TOKEN", &app.admin_token),
                good
            )
            .await,
            Outcome::Whole
        );
    }
    let killer = tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            crate::faults::on_server(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
            ));
            std::thread::sleep(Duration::from_millis(60));
        }
    });
    for _ in 0..4 {
        let outcomes = join_all(files.iter().map(|(path, good)| {
            transfer(
                app.client
                    .get(url(path))
                    .header("PRIVATE-TOKEN", &app.admin_token),
                good,
            )
        }))
        .await;
        for outcome in outcomes {
            tally.add(outcome);
        }
    }
    killer.await.unwrap();
    // Recovered without a restart: every file whole.
    for (path, good) in &files {
        let mut outcome = Outcome::Refused;
        for _ in 0..40 {
            outcome = transfer(
                app.client
                    .get(url(path))
                    .header("PRIVATE-TOKEN", &app.admin_token),
                good,
            )
            .await;
            if outcome == Outcome::Whole {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if outcome != Outcome::Whole {
            tally.kept_partial += 1;
        }
    }
    tally.kept_partial += blobs_not_matching_their_names(&blob_root(&app));
    report.record("database connections killed under load", tally);
}

/// A full disk: uploads answer 507 and leave no staging file.
async fn full_disk(report: &mut Report) {
    let Some(disk) = crate::faults::TinyDisk::mount() else {
        return;
    };
    let blobs = disk.0.path().to_path_buf();
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.storage.url = Some(format!("file://{}", blobs.display()));
    })
    .await
    else {
        return;
    };
    let mut tally = Tally::default();
    let outcomes = join_all((0..CLIENTS).map(|i| {
        app.client
            .put(app.url(&format!("/registry/package/generic/full/1.0.0/big-{i}.bin")))
            .header("Authorization", format!("token {}", app.admin_token))
            .body(vec![7u8; 512 * 1024])
            .send()
    }))
    .await;
    for outcome in outcomes {
        tally.add(match outcome {
            Ok(response) if response.status() == 507 => Outcome::Refused,
            Ok(response) if response.status().is_success() => Outcome::Whole,
            _ => Outcome::Refused,
        });
    }
    // What was stored whole is served whole; nothing else exists.
    for i in 0..CLIENTS {
        let response = app
            .client
            .get(app.url(&format!("/registry/package/generic/full/1.0.0/big-{i}.bin")))
            .header("Authorization", format!("token {}", app.admin_token))
            .send()
            .await
            .unwrap();
        if response.status() == 200 && response.bytes().await.unwrap() != vec![7u8; 512 * 1024] {
            tally.corrupt += 1;
        }
    }
    tally.kept_partial += std::fs::read_dir(blobs.join("tmp"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    tally.kept_partial += blobs_not_matching_their_names(&blobs);
    report.record("disk full during uploads", tally);
}

#[tokio::test]
async fn fault_injection_suite() {
    let mut report = Report::default();
    if !upstream_faults(&mut report).await {
        return;
    }
    kills(&mut report).await;
    database_kills(&mut report).await;
    full_disk(&mut report).await;
    report.print_and_check();
}
