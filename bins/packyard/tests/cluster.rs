//! A real cluster: three instances of the binary on one PostgreSQL database and one S3 bucket (a Garage
//! server), each on its own loopback port, in front of one upstream whose access log is counted.
//!
//! What it shows: one upstream GET per file however the cold requests spread over the instances; purges
//! and revoked tokens honoured by every instance within the documented bound; a due cleanup policy run
//! once and an unreferenced blob collected once; a fill leader killed with SIGKILL replaced by another
//! instance once its lease ran out, nothing partial served or kept.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use packyard_test_support::{Backend, FakeUpstream, Reply, S3Server, TestDb};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How late an instance may honour another's change: the change generations are read every second
/// (`hot::SYNC_INTERVAL`), plus a query; docs/scaling.md gives the bound operators rely on.
const INVALIDATION_BOUND: Duration = Duration::from_secs(3);

/// One instance of the binary.
struct Instance {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Instance {
    /// SIGKILL: no shutdown, no cleanup, as a crashed machine.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three instances, their database, bucket and upstream, and a Maven registry in front of it.
struct Cluster {
    instances: Vec<Instance>,
    admin: String,
    upstream: FakeUpstream,
    registry: i64,
    group: i64,
    client: reqwest::Client,
    db: TestDb,
    s3: S3Server,
    _dir: tempfile::TempDir,
}

/// The binary with the cluster's shared settings.
fn packyard(data: &Path, shared: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_packyard"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PACKYARD__SERVER__DATA_DIR", data)
        .env("PACKYARD__UPSTREAM__ALLOW_LOCAL_NETWORK", "true")
        .envs(shared.iter().map(|(k, v)| (k, v)));
    command
}

impl Cluster {
    /// Starts it; `extra` settings go to every instance. `None` when PostgreSQL is not reachable (and not
    /// under CI, where that fails).
    async fn start(extra: &[(&str, &str)]) -> Option<Self> {
        let db = TestDb::create(Backend::Postgres)?;
        let s3 = S3Server::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut shared = s3.env();
        shared.push(("PACKYARD__DATABASE__URL".into(), db.url.clone()));
        shared.push((
            "PACKYARD__SECRETS__KEY".into(),
            packyard_core::SecretKey::generate().to_base64(),
        ));
        shared.push((
            "RUST_LOG".into(),
            "warn,packyard_core::maintenance=info".into(),
        ));
        shared.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );

        let bootstrap = packyard(&dir.path().join("admin"), &shared)
            .args(["admin", "bootstrap", "--username", "admin"])
            .output()
            .unwrap();
        assert!(
            bootstrap.status.success(),
            "{}",
            String::from_utf8_lossy(&bootstrap.stderr)
        );
        let admin = String::from_utf8(bootstrap.stdout)
            .unwrap()
            .trim()
            .to_owned();

        let mut instances = Vec::new();
        for name in ["a", "b", "c"] {
            let data = dir.path().join(name);
            let listen = format!("127.0.0.1:{}", common::free_port());
            let log = dir.path().join(format!("{name}.log"));
            let child = packyard(&data, &shared)
                .env("PACKYARD__SERVER__LISTEN", &listen)
                .arg("serve")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            instances.push(Instance {
                child,
                base: format!("http://{listen}"),
                log,
            });
        }
        let client = reqwest::Client::new();
        for instance in &instances {
            wait_until_ready(&client, instance).await;
        }

        let upstream = FakeUpstream::start().await;
        let api = format!("{}/api/v4", instances[0].base);
        let group = common::create_group(&client, &api, &admin, "platform").await;
        let registry = common::post(
            &client,
            format!("{api}/groups/{group}/-/virtual_registries/packages/maven/registries"),
            &admin,
            json!({"name": "maven"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        common::post(
            &client,
            format!("{api}/virtual_registries/packages/maven/registries/{registry}/upstreams"),
            &admin,
            json!({"name": "upstream", "url": upstream.url}),
        )
        .await;
        Some(Self {
            instances,
            admin,
            upstream,
            registry,
            group,
            client,
            db,
            s3,
            _dir: dir,
        })
    }

    fn file_url(&self, instance: usize, path: &str) -> String {
        format!(
            "{}/api/v4/virtual_registries/packages/maven/{}/{path}",
            self.instances[instance].base, self.registry
        )
    }

    fn api(&self, instance: usize, path: &str) -> String {
        format!("{}/api/v4{path}", self.instances[instance].base)
    }

    /// GETs a file through an instance with `token`; the status, and the body's length and sha256 (or the
    /// error that cut it short).
    async fn download(&self, instance: usize, path: &str, token: &str) -> Download {
        download(
            self.client.clone(),
            self.file_url(instance, path),
            token.to_owned(),
        )
        .await
    }

    /// Runs SQL on the cluster's database.
    fn sql(&self, statement: &str) -> usize {
        use diesel::RunQueryDsl;
        let mut conn = packyard_db::establish_postgres(&self.db.url).unwrap();
        diesel::sql_query(statement).execute(&mut conn).unwrap()
    }

    /// A single number from SQL (`SELECT count(*) AS n …`).
    fn count(&self, query: &str) -> i64 {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = packyard_db::establish_postgres(&self.db.url).unwrap();
        diesel::sql_query(query)
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    }
}

async fn wait_until_ready(client: &reqwest::Client, instance: &Instance) {
    for _ in 0..300 {
        if let Ok(response) = client
            .get(format!("{}/-/health", instance.base))
            .send()
            .await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("an instance did not start:\n{}", instance.log());
}

#[derive(Debug, PartialEq)]
struct Download {
    status: u16,
    length: u64,
    sha256: String,
    /// The transfer broke off before its end.
    broken: bool,
}

async fn download(client: reqwest::Client, url: String, token: String) -> Download {
    let response = match client.get(url).header("PRIVATE-TOKEN", token).send().await {
        Ok(response) => response,
        Err(_) => {
            return Download {
                status: 0,
                length: 0,
                sha256: String::new(),
                broken: true,
            };
        }
    };
    let status = response.status().as_u16();
    let mut body = response.bytes_stream();
    let (mut hasher, mut length, mut broken) = (Sha256::new(), 0u64, false);
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                hasher.update(&chunk);
                length += chunk.len() as u64;
            }
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    Download {
        status,
        length,
        sha256: hex::encode(hasher.finalize()),
        broken,
    }
}

/// Content that is not all one byte, so that a shifted or spliced body shows.
fn content(seed: u8, length: usize) -> Vec<u8> {
    (0..length)
        .map(|i| (i as u64 * 31 + seed as u64 * 7 + (i as u64 >> 12)) as u8)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn whole(bytes: &[u8]) -> Download {
    Download {
        status: 200,
        length: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        broken: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_cold_requests_over_three_instances_make_one_upstream_get() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    const JAR: &str = "org/example/big/1.0/big-1.0.jar";
    let bytes = content(1, 64 << 20);
    cluster
        .upstream
        .set(JAR, Reply::file(bytes.clone(), "application/java-archive"));

    let downloads = futures_util::future::join_all(
        (0..30).map(|i| cluster.download(i % 3, JAR, &cluster.admin)),
    )
    .await;
    let expected = whole(&bytes);
    for (i, got) in downloads.iter().enumerate() {
        assert_eq!(got, &expected, "client {i} (instance {})", i % 3);
    }
    assert_eq!(
        cluster.upstream.count("GET", JAR),
        1,
        "one upstream GET for the whole cluster"
    );
    // And it stays cached for everyone.
    for instance in 0..3 {
        assert_eq!(
            cluster.download(instance, JAR, &cluster.admin).await,
            expected
        );
    }
    assert_eq!(cluster.upstream.count("GET", JAR), 1);
    assert!(
        cluster
            .s3
            .store()
            .staging_objects()
            .await
            .unwrap()
            .is_empty()
    );
}

/// Polls until `done` holds on every instance; returns how long that took.
async fn until_every_instance<F, Fut>(cluster: &Cluster, what: &str, done: F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut pending: Vec<usize> = (0..cluster.instances.len()).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for instance in pending {
            if !done(instance).await {
                still.push(instance);
            }
        }
        pending = still;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: instances {pending:?} never did"
        );
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purges_and_revoked_tokens_reach_every_instance_within_the_bound() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    const JAR: &str = "org/example/lib/1.0/lib-1.0.jar";
    let (old, new) = (content(2, 4096), content(3, 5000));
    cluster
        .upstream
        .set(JAR, Reply::file(old.clone(), "application/java-archive"));

    // A user's token, used on every instance: every instance remembers the file and the token.
    let user = common::post(
        &cluster.client,
        cluster.api(0, "/users"),
        &cluster.admin,
        json!({"username": "dev", "name": "Dev"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let member = cluster
        .client
        .post(cluster.api(0, &format!("/groups/{}/members", cluster.group)))
        .header("PRIVATE-TOKEN", &cluster.admin)
        .json(&json!({"user_id": user, "access_level": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), 201, "{}", member.text().await.unwrap());
    let issued = common::post(
        &cluster.client,
        cluster.api(0, &format!("/users/{user}/personal_access_tokens")),
        &cluster.admin,
        json!({"name": "ci", "scopes": ["read_virtual_registry"]}),
    )
    .await;
    let (token, token_id) = (
        issued["token"].as_str().unwrap().to_owned(),
        issued["id"].as_i64().unwrap(),
    );
    for instance in 0..3 {
        assert_eq!(cluster.download(instance, JAR, &token).await, whole(&old));
    }
    assert_eq!(cluster.upstream.count("GET", JAR), 1);

    // The upstream's file changes; a purge on A makes every instance fetch it again.
    cluster
        .upstream
        .set(JAR, Reply::file(new.clone(), "application/java-archive"));
    let purged = cluster
        .client
        .delete(cluster.api(
            0,
            &format!(
                "/virtual_registries/packages/maven/registries/{}/cache",
                cluster.registry
            ),
        ))
        .header("PRIVATE-TOKEN", &cluster.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), 204);
    let took = until_every_instance(&cluster, "serve the file fetched after the purge", |i| {
        let (cluster, new, token) = (&cluster, &new, &token);
        async move { cluster.download(i, JAR, token).await == whole(new) }
    })
    .await;
    assert!(
        took <= INVALIDATION_BOUND,
        "the purge took {took:?} to reach every instance"
    );

    // The token is revoked on A: every instance refuses it within the bound.
    let revoked = cluster
        .client
        .delete(cluster.api(0, &format!("/personal_access_tokens/{token_id}")))
        .header("PRIVATE-TOKEN", &cluster.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let took = until_every_instance(&cluster, "refuse the revoked token", |i| {
        let cluster = &cluster;
        let token = &token;
        async move { cluster.download(i, JAR, token).await.status == 401 }
    })
    .await;
    assert!(
        took <= INVALIDATION_BOUND,
        "the revocation took {took:?} to reach every instance"
    );
}

/// `blobs=N` of every "collected unreferenced blobs" line of a log.
fn blobs_collected(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("collected unreferenced blobs"))
        .filter_map(|line| line.split("blobs=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_due_cleanup_policy_runs_once_and_blobs_are_collected_once() {
    let Some(cluster) = Cluster::start(&[
        ("PACKYARD__JOBS__SCHEDULER_INTERVAL_SECS", "1"),
        ("PACKYARD__JOBS__MAINTENANCE_INTERVAL_SECS", "1"),
        ("PACKYARD__JOBS__POLL_INTERVAL_MS", "200"),
        ("PACKYARD__JOBS__BLOB_GRACE_SECS", "3"),
    ])
    .await
    else {
        return;
    };
    // Two files with the same content share a blob; a third has its own.
    let (shared, own) = (content(4, 3000), content(5, 7000));
    let files = [
        ("org/example/a/1.0/a-1.0.jar", &shared),
        ("org/example/b/1.0/b-1.0.jar", &shared),
        ("org/example/c/1.0/c-1.0.jar", &own),
    ];
    for (i, (path, bytes)) in files.iter().enumerate() {
        cluster.upstream.set(
            path,
            Reply::file((*bytes).clone(), "application/java-archive"),
        );
        assert_eq!(
            cluster.download(i, path, &cluster.admin).await,
            whole(bytes)
        );
    }
    let policy = cluster
        .client
        .post(cluster.api(
            1,
            &format!(
                "/groups/{}/-/virtual_registries/cleanup/policy",
                cluster.group
            ),
        ))
        .header("PRIVATE-TOKEN", &cluster.admin)
        .json(&json!({"enabled": true, "keep_n_days_after_download": 1, "cadence": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201);
    // Let the instances write their download counts, then make a and c unused for two days and the
    // policy due.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let aged = cluster.sql(
        "UPDATE cache_entries SET downloaded_at = now() - interval '2 days' \
         WHERE relative_path IN ('org/example/a/1.0/a-1.0.jar', 'org/example/c/1.0/c-1.0.jar')",
    );
    assert_eq!(aged, 2);
    cluster.sql("UPDATE cleanup_policies SET next_run_at = now() - interval '1 minute'");

    let started = Instant::now();
    let ran = loop {
        let policy: Value = cluster
            .client
            .get(cluster.api(
                2,
                &format!(
                    "/groups/{}/-/virtual_registries/cleanup/policy",
                    cluster.group
                ),
            ))
            .header("PRIVATE-TOKEN", &cluster.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !policy["last_run_at"].is_null() {
            break policy;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the policy never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ran["last_run_deleted_entries_count"], 2, "{ran}");
    assert_eq!(
        ran["last_run_deleted_size"],
        (shared.len() + own.len()) as i64
    );

    // The blob of c is collected once its grace period is over; the shared one stays for b.
    let store = cluster.s3.store();
    let started = Instant::now();
    while store.exists(&sha256_hex(&own)).await.unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the unreferenced blob stayed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(store.exists(&sha256_hex(&shared)).await.unwrap());
    assert_eq!(
        cluster.download(0, files[1].0, &cluster.admin).await,
        whole(&shared)
    );
    assert_eq!(
        cluster.upstream.count("GET", files[1].0),
        1,
        "b is still cached"
    );
    // Every instance ran its workers the whole time; the policy ran once, the blob was deleted once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.count("SELECT count(*) AS n FROM jobs WHERE kind = 'execute_cleanup_policy'"),
        1,
        "one run of the policy for the whole cluster"
    );
    let collected: usize = cluster
        .instances
        .iter()
        .map(|instance| blobs_collected(&instance.log()))
        .sum();
    assert_eq!(
        collected, 1,
        "one deletion of the unreferenced blob in the cluster"
    );
    assert_eq!(
        cluster.count("SELECT count(*) AS n FROM blobs"),
        1,
        "only the shared blob's row is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fill_leader_killed_mid_fill_is_replaced_and_nothing_partial_is_kept() {
    let Some(mut cluster) = Cluster::start(&[]).await else {
        return;
    };
    const JAR: &str = "org/example/slow/1.0/slow-1.0.jar";
    let bytes = content(6, 8 << 20);
    // The upstream sends the first MiB, then stalls: the leader is mid-fill when it dies.
    cluster.upstream.set(
        JAR,
        Reply::Stall {
            body: bytes[..1 << 20].to_vec().into(),
            declared: bytes.len() as u64,
        },
    );
    let client = cluster.client.clone();
    let admin = cluster.admin.clone();
    let on_a = tokio::spawn(download(
        client.clone(),
        cluster.file_url(0, JAR),
        admin.clone(),
    ));
    let started = Instant::now();
    while cluster.upstream.count("GET", JAR) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A never fetched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B and C miss the same file while A holds its lease: they wait for A.
    let on_b = tokio::spawn(download(
        client.clone(),
        cluster.file_url(1, JAR),
        admin.clone(),
    ));
    let on_c = tokio::spawn(download(
        client.clone(),
        cluster.file_url(2, JAR),
        admin.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        cluster.upstream.count("GET", JAR),
        1,
        "B and C wait for the leader"
    );

    cluster.instances[0].kill();
    let a = on_a.await.unwrap();
    assert!(
        a.broken || a.status != 200 || a.length < bytes.len() as u64,
        "the client of the killed instance got no whole file: {a:?}"
    );
    // The upstream recovers; once A's lease has run out, B or C fetches the file, once, for both.
    cluster
        .upstream
        .set(JAR, Reply::file(bytes.clone(), "application/java-archive"));
    let (b, c) = (on_b.await.unwrap(), on_c.await.unwrap());
    assert_eq!(b, whole(&bytes));
    assert_eq!(c, whole(&bytes));
    assert_eq!(
        cluster.upstream.count("GET", JAR),
        2,
        "one more GET, by the new leader"
    );
    // Later requests are served from the cache.
    assert_eq!(
        cluster.download(1, JAR, &cluster.admin).await,
        whole(&bytes)
    );
    assert_eq!(
        cluster.download(2, JAR, &cluster.admin).await,
        whole(&bytes)
    );
    assert_eq!(cluster.upstream.count("GET", JAR), 2);
    // Nothing of A's fill was kept: its multipart upload never became an object.
    assert!(
        cluster
            .s3
            .store()
            .staging_objects()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        cluster.count("SELECT count(*) AS n FROM cache_entries"),
        1,
        "one entry, the whole file"
    );
}
