//! Test support (a dev-dependency only): a fresh database per test on SQLite or PostgreSQL, fake upstream
//! servers on 127.0.0.1:0, and a macro that runs one test body on both backends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support fails loudly"
)]

pub mod oci_daemons;
pub mod oci_registry;
mod s3;
mod upstream;

use diesel::RunQueryDsl;
pub use oci_registry::{OciRegistry, PushedImage, PushedIndex};
use packyard_db::establish_postgres;
pub use s3::S3Server;
pub use upstream::{
    CloseDelimitedUpstream, FAKE_TOKEN_PATH, FakeAuth, FakeUpstream, Reply, UpstreamLog,
};

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in a temporary folder.
    Sqlite,
    /// A new database on the local PostgreSQL server.
    Postgres,
}

/// The PostgreSQL server tests use; `PACKYARD_TEST_POSTGRES` overrides it.
pub fn postgres_server_url() -> String {
    std::env::var("PACKYARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database that exists for one test and is dropped with it.
pub struct TestDb {
    /// The URL to give packyard.
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates the database. Without a reachable PostgreSQL server this returns `None` (the test is then
    /// skipped with a message), except under `CI=true`, where it fails the test.
    pub fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("packyard.db").display());
                Some(Self {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let mut admin = match establish_postgres(&format!("{server}/postgres")) {
                    Ok(conn) => conn,
                    Err(error) if std::env::var("CI").as_deref() != Ok("true") => {
                        eprintln!(
                            "SKIPPED: PostgreSQL at {server} is unreachable ({error}); set CI=true to fail instead"
                        );
                        return None;
                    }
                    Err(error) => {
                        panic!("PostgreSQL at {server} is unreachable under CI=true: {error}")
                    }
                };
                let name = format!("packyard_test_{}", uuid::Uuid::new_v4().simple());
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .unwrap();
                Some(Self {
                    url: format!("{server}/{name}"),
                    postgres_name: Some(name),
                    _dir: None,
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name
            && let Ok(mut admin) =
                establish_postgres(&format!("{}/postgres", postgres_server_url()))
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

tokio::task_local! {
    /// Set by [`every_store!`]'s S3 variant: the app under test keeps its blobs on a real S3 server.
    pub static ON_S3: bool;
}

/// True inside an [`every_store!`] S3 test.
pub fn on_s3() -> bool {
    ON_S3.try_with(|on| *on).unwrap_or(false)
}

/// Like [`both_backends!`], plus a third test per name, `postgres_s3`: PostgreSQL with the blobs on a real
/// S3 server ([`S3Server`]). For the tests of what touches storage: fills, uploads, purges, collection.
#[macro_export]
macro_rules! every_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }

            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }

            #[actix_web::test]
            async fn postgres_s3() {
                $crate::ON_S3
                    .scope(true, super::$name($crate::Backend::Postgres))
                    .await
            }
        }
    )*};
}

/// Declares, for each named `async fn name(backend: Backend)`, a module `name` with one test per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }

            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    )*};
}
