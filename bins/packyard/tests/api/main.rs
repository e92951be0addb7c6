//! In-process HTTP tests: the real app on a loopback port, a fresh database per test on SQLite and on
//! PostgreSQL, and scripted fake upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod cleanup;
#[path = "../common/mod.rs"]
mod common;
mod composer;
mod conditional;
mod connections;
mod container;
mod cran;
mod fault_injection;
mod faults;
#[path = "../common/fixtures.rs"]
mod fixtures;
mod hosted;
mod hot;
mod identity;
mod jobs;
mod management;
mod maven_hosted;
mod metrics;
mod npm;
mod npm_virtual;
mod nuget;
mod openapi;
mod opm;
mod outbound;
mod pull;
mod pypi;
mod pypi_virtual;
mod ranges;
mod storage;
mod ui;

use std::net::TcpListener;

use packyard::settings::Settings;
use packyard_core::Core;
use packyard_core::identity::{Actor, IssuedToken};
use packyard_db::rows::NewUpstream;
use packyard_domain::{AccessLevel, Format, Scope};
pub use packyard_test_support::{
    Backend, FakeUpstream, Reply, S3Server, TestDb, both_backends, every_store,
};

/// Keeps the blobs on `server`'s bucket.
pub fn use_s3(settings: &mut Settings, server: &S3Server) {
    let options = server.options();
    settings.storage.url = Some(server.storage_url());
    settings.storage.s3 = packyard::settings::S3Settings {
        endpoint: options.endpoint,
        region: options.region,
        access_key_id: options.access_key_id,
        secret_access_key: options.secret_access_key,
        secret_access_key_file: None,
        path_style: options.path_style,
        allow_http: options.allow_http,
    };
}

/// A running server with its own database and storage.
pub struct TestApp {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The services, for setup and inspection.
    pub core: Core,
    /// An administrator's `api` token.
    pub admin_token: String,
    /// The settings it runs with.
    pub settings: Settings,
    handle: actix_web::dev::ServerHandle,
    workers: Option<packyard_core::JobWorkers>,
    hot_sync: Option<packyard_core::HotSync>,
    _db: Option<TestDb>,
    /// The S3 server of an [`every_store!`] S3 test; the instance that started it keeps it.
    pub s3: Option<std::sync::Arc<S3Server>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts an app allowing local upstreams, with short timeouts.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts an app after `tweak` adjusts its settings.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Self> {
        let db = TestDb::create(backend)?;
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.server.data_dir = dir.path().to_path_buf();
        settings.database.url = Some(db.url.clone());
        settings.database.max_connections = Some(4);
        settings.upstream.allow_local_network = true;
        settings.upstream.head_timeout_secs = 2;
        settings.upstream.idle_timeout_secs = 2;
        settings.upstream.first_byte_timeout_secs = 5;
        settings.storage.url = Some(format!("file://{}", dir.path().join("blobs").display()));
        settings.secrets.key = Some(packyard_core::SecretKey::generate().to_base64());
        let s3 = if packyard_test_support::on_s3() {
            let server = S3Server::start().await;
            use_s3(&mut settings, &server);
            Some(std::sync::Arc::new(server))
        } else {
            None
        };
        tweak(&mut settings);
        let mut app = Self::serve(settings, Some(db), dir).await;
        app.s3 = s3;
        Some(app)
    }

    /// Starts another instance of this app: its own server, services and job workers, on the same
    /// database and storage with the same secret key, as a second server behind a load balancer.
    pub async fn start_another_instance(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = self.settings.clone();
        settings.server.data_dir = dir.path().to_path_buf();
        let mut another = Self::serve(settings, None, dir).await;
        another.s3 = self.s3.clone();
        another
    }

    async fn serve(settings: Settings, db: Option<TestDb>, dir: tempfile::TempDir) -> Self {
        let core = packyard::app::build_core(&settings).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app_core = core.clone();
        let limits = settings.connection_limits();
        let send_timeout = std::time::Duration::from_secs(settings.server.send_timeout_secs);
        let server =
            actix_web::HttpServer::new(move || packyard::app::app(app_core.clone(), limits))
                .on_connect(move |connection, _| {
                    packyard::app::tune_connection(connection, send_timeout)
                })
                .workers(2)
                .listen(listener)
                .unwrap()
                .run();
        let handle = server.handle();
        tokio::spawn(server);
        let workers = settings.jobs.worker.then(|| core.start_job_workers());
        let hot_sync = core.start_hot_sync();
        let admin_token = core.bootstrap_admin("root").await.unwrap().token;
        Self {
            base,
            client: reqwest::Client::new(),
            core,
            admin_token,
            settings,
            handle,
            workers,
            hot_sync: Some(hot_sync),
            _db: db,
            s3: None,
            _dir: dir,
        }
    }

    /// Stops the background sync as a graceful shutdown does, writing every download counted so far.
    pub async fn stop_hot_sync(&mut self) {
        if let Some(sync) = self.hot_sync.take() {
            sync.stop().await;
        }
    }

    /// An absolute URL for a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user and an `api` token for them.
    pub async fn create_user_with_token(&self, username: &str) -> (i64, String) {
        let user = self
            .core
            .create_user(username.into(), username.into(), None, false)
            .await
            .unwrap();
        let token: IssuedToken = self
            .core
            .create_personal_access_token(&user, "test".into(), vec![Scope::Api], None)
            .await
            .unwrap();
        (user.id, token.token)
    }

    /// Creates a user who is a member of the group at `level`; returns their `api` token.
    pub async fn member_token(&self, group_id: i64, username: &str, level: AccessLevel) -> String {
        let (user_id, token) = self.create_user_with_token(username).await;
        let group = self.core.find_group(&group_id.to_string()).await.unwrap();
        self.core
            .add_member(&self.admin().await, &group, user_id, level.as_i32())
            .await
            .unwrap();
        token
    }

    /// The administrator as an actor.
    pub async fn admin(&self) -> Actor {
        self.core
            .authenticate(packyard_core::identity::Credential::Token(
                self.admin_token.clone(),
            ))
            .await
            .unwrap()
    }

    /// Creates a top-level group owned by the administrator; returns its id.
    pub async fn create_group(&self, path: &str) -> i64 {
        let admin = self.admin().await;
        self.core
            .create_group(&admin, path.into(), path.into(), None, None)
            .await
            .unwrap()
            .id
    }

    /// Creates a Maven registry in the group with upstreams at these URLs, in this order (setup straight
    /// through the database, so these tests do not depend on the management API).
    pub async fn maven_registry(&self, group_id: i64, upstream_urls: &[&str]) -> (i64, Vec<i64>) {
        self.virtual_registry(Format::Maven, group_id, upstream_urls)
            .await
    }

    /// Creates a registry of `format` in the group with upstreams at these URLs, in this order, straight
    /// through the database.
    pub async fn virtual_registry(
        &self,
        format: Format,
        group_id: i64,
        upstream_urls: &[&str],
    ) -> (i64, Vec<i64>) {
        let urls: Vec<String> = upstream_urls.iter().map(|u| (*u).to_owned()).collect();
        let name = format!(
            "registry-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        self.core
            .db()
            .transaction(move |conn| {
                use packyard_db::queries::registries as q;
                let now = packyard_db::now();
                let registry = q::insert_registry(
                    conn,
                    &packyard_db::rows::NewRegistry {
                        group_id,
                        format: format.as_str(),
                        name: &name,
                        description: None,
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                let mut ids = Vec::new();
                for (index, url) in urls.iter().enumerate() {
                    let upstream = q::insert_upstream(
                        conn,
                        &NewUpstream {
                            group_id,
                            format: format.as_str().into(),
                            name: format!("upstream {index}"),
                            description: None,
                            url: url.clone(),
                            username: None,
                            password_encrypted: None,
                            cache_validity_hours: 24,
                            metadata_cache_validity_hours: format.has_metadata().then_some(24),
                            created_at: now,
                            updated_at: now,
                        },
                    )?;
                    q::insert_association(
                        conn,
                        group_id,
                        registry.id,
                        upstream.id,
                        index as i32 + 1,
                    )?;
                    ids.push(upstream.id);
                }
                Ok((registry.id, ids))
            })
            .await
            .unwrap()
    }

    /// The name of the app's database on its server.
    pub fn database_name(&self) -> String {
        let url = self.settings.database.url.as_deref().unwrap_or_default();
        url.rsplit('/').next().unwrap_or_default().to_owned()
    }

    /// Runs SQL against the app's database (test setup such as ageing an entry).
    pub async fn sql(&self, statement: &str) {
        let statement = statement.to_owned();
        self.core
            .db()
            .write(move |conn| {
                use diesel::RunQueryDsl;
                diesel::sql_query(statement).execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Every job row, oldest first.
    pub async fn jobs(&self) -> Vec<packyard_db::rows::Job> {
        self.core
            .db()
            .run(packyard_db::queries::jobs::list_jobs)
            .await
            .unwrap()
    }

    /// Runs every due job to its end (on this instance, or waiting for the others).
    pub async fn run_jobs(&self) {
        self.core.run_due_jobs().await.unwrap();
    }

    /// True when the blob's row exists.
    pub async fn blob_row_exists(&self, sha256: &str) -> bool {
        let sha256 = sha256.to_owned();
        self.core
            .db()
            .run(move |conn| packyard_db::queries::cache::find_blob(conn, &sha256))
            .await
            .unwrap()
            .is_some()
    }

    /// True when the blob's object is in storage.
    pub async fn blob_stored(&self, sha256: &str) -> bool {
        self.core.blobs().exists(sha256).await.unwrap()
    }

    /// The live cache entries of an upstream.
    pub async fn entries(&self, upstream_id: i64) -> Vec<packyard_db::rows::CacheEntry> {
        self.core.flush_download_counts().await.unwrap();
        self.core
            .db()
            .run(move |conn| {
                packyard_db::queries::cache::list_entries(conn, upstream_id, None, 0, 1000)
            })
            .await
            .unwrap()
            .items
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.workers.take());
        let handle = self.handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

#[test]
fn both_migration_trees_carry_the_same_names() {
    let (postgres, sqlite) = packyard_db::migration_names();
    assert!(!postgres.is_empty());
    assert_eq!(postgres, sqlite);
}
