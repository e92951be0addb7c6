//! Faults answered fast and clearly: a database that can't be reached, a full disk.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;

use packyard_domain::Format;

use crate::fixtures::{PullThrough, pull_through};
use crate::{Backend, Reply, TestApp};

/// Runs a statement on the PostgreSQL server as its administrator.
pub(crate) fn on_server(statement: &str) {
    let server = packyard_test_support::postgres_server_url();
    let mut conn = packyard_db::establish_postgres(&format!("{server}/postgres")).unwrap();
    diesel::sql_query(statement).execute(&mut conn).unwrap();
}

#[tokio::test]
async fn a_database_outage_answers_503_at_once_and_recovers_by_itself() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        return;
    };
    let name = app.database_name();
    let groups = || {
        app.client
            .get(app.url("/api/v4/groups"))
            .header("PRIVATE-TOKEN", &app.admin_token)
            .send()
    };
    assert_eq!(groups().await.unwrap().status(), 200);

    on_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    on_server(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    for _ in 0..3 {
        let started = Instant::now();
        let response = groups().await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    on_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    // Connections the outage cut off are replaced as they are found broken; no restart is needed. The
    // client retries as `Retry-After` tells it to, only sooner.
    let deadline = Instant::now() + Duration::from_secs(10);
    while groups().await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "still failing after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Warm hits (a cached file and a hosted file asked for before) are served from memory through a
/// database outage; what needs the database answers 503 with `Retry-After`, on the container surface too.
#[tokio::test]
async fn warm_hits_are_served_through_a_database_outage() {
    let Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        ..
    }) = pull_through(Backend::Postgres, Format::Maven).await
    else {
        return;
    };
    let name = app.database_name();
    let jar = "org/example/warm/1.0/warm-1.0.jar";
    let cold = "org/example/cold/1.0/cold-1.0.jar";
    upstream.set(
        jar,
        Reply::file(b"warm bytes".to_vec(), "application/java-archive"),
    );
    upstream.set(
        cold,
        Reply::file(b"cold bytes".to_vec(), "application/java-archive"),
    );
    let maven = |path: &str| {
        app.client
            .get(app.url(&format!(
                "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
            )))
            .header("PRIVATE-TOKEN", &app.admin_token)
            .send()
    };
    let hosted = || {
        app.client
            .get(app.url("/registry/package/generic/warm/1.0.0/tool.bin"))
            .header("Authorization", format!("token {}", app.admin_token))
            .send()
    };
    let put = app
        .client
        .put(app.url("/registry/package/generic/warm/1.0.0/tool.bin"))
        .header("Authorization", format!("token {}", app.admin_token))
        .body("hosted bytes")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let (oci, _) = app
        .virtual_registry(Format::Container, group, &[&upstream.url])
        .await;
    let oci_token = crate::container::pull_token(&app, oci).await;
    // Twice each: the second answer comes from memory.
    for _ in 0..2 {
        assert_eq!(
            maven(jar).await.unwrap().text().await.unwrap(),
            "warm bytes"
        );
        assert_eq!(
            hosted().await.unwrap().text().await.unwrap(),
            "hosted bytes"
        );
    }

    on_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    on_server(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    // Through several background syncs that fail.
    for _ in 0..4 {
        let warm = maven(jar).await.unwrap();
        assert_eq!(warm.status(), 200);
        assert_eq!(warm.text().await.unwrap(), "warm bytes");
        let stored = hosted().await.unwrap();
        assert_eq!(stored.status(), 200);
        assert_eq!(stored.text().await.unwrap(), "hosted bytes");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let missed = maven(cold).await.unwrap();
    assert_eq!(missed.status(), 503);
    assert_eq!(missed.headers()["retry-after"], "5");
    let container = app
        .client
        .get(app.url(&crate::container::v2(oci, "app/manifests/latest")))
        .bearer_auth(&oci_token)
        .send()
        .await
        .unwrap();
    assert_eq!(container.status(), 503);
    assert_eq!(container.headers()["retry-after"], "5");
    on_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while maven(cold).await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "still failing after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A 1 MiB file system, unmounted when dropped; `None` where mounting needs rights the test lacks.
pub(crate) struct TinyDisk(pub(crate) tempfile::TempDir);

impl TinyDisk {
    pub(crate) fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        Some(Self(dir))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_507_and_keeps_nothing() {
    let Some(disk) = TinyDisk::mount() else {
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
    let response = app
        .client
        .put(app.url("/registry/package/generic/demo/1.0.0/big.bin"))
        .header("Authorization", format!("token {}", app.admin_token))
        .body(vec![1u8; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 507);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["message"], "the server has no room left for the file",
        "{body}"
    );
    let staged = std::fs::read_dir(disk.0.path().join("tmp"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "a staging file was left behind");
}

#[tokio::test]
async fn staging_files_left_by_a_crash_are_collected_at_start() {
    let mut leftover = None;
    let Some(_app) = TestApp::start_with(Backend::Sqlite, |settings| {
        let blobs = settings
            .storage
            .url
            .clone()
            .unwrap()
            .trim_start_matches("file://")
            .to_owned();
        let staging = std::path::Path::new(&blobs).join("tmp");
        std::fs::create_dir_all(&staging).unwrap();
        let file = staging.join("8f2c61f0-crashed#1");
        std::fs::write(&file, vec![0u8; 4096]).unwrap();
        leftover = Some(file);
    })
    .await
    else {
        return;
    };
    let leftover = leftover.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while leftover.exists() {
        assert!(Instant::now() < deadline, "the leftover is still there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
