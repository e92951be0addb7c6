//! The only crate that uses diesel: the schema, row structs, queries per aggregate, the connection pool
//! over SQLite or PostgreSQL (chosen by URL scheme) and the embedded migrations.
//!
//! Depends on `packyard_domain` only. Queries are plain functions over `&mut AnyConnection`; [`Db::run`]
//! runs them on the blocking pool so that no connection is held across an `.await`.

pub mod queries;
pub mod rows;
pub mod schema;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use thiserror::Error;

/// A connection to either backend; portable queries run on it directly.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL.
    Postgres(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// Runs the same diesel expression on whichever backend the connection is, for the few statements that
/// the multi-backend query builder cannot express (upserts, `RETURNING`).
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::AnyConnection::Postgres($c) => $body,
            $crate::AnyConnection::Sqlite($c) => $body,
        }
    };
}

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Errors of the database layer.
#[derive(Debug, Error)]
pub enum DbError {
    /// The URL is neither `sqlite://` nor `postgres://`.
    #[error("unsupported database URL (use sqlite://PATH or postgres://...): {0}")]
    UnsupportedUrl(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// No connection could be had.
    #[error("database connection failed: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// Migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// The blocking task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// True when a unique constraint was violated (a lost race on insert).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when the row was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(diesel::result::Error::NotFound))
    }
}

/// Result of database calls.
pub type DbResult<T> = Result<T, DbError>;

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH`
    Sqlite,
    /// `postgres://...` or `postgresql://...`
    Postgres,
}

impl Backend {
    /// Chooses the backend from the URL scheme.
    pub fn from_url(url: &str) -> DbResult<Self> {
        if url.starts_with("sqlite://") || url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// The path part of a `sqlite://PATH` URL (`sqlite:///abs` and `sqlite://rel` both work).
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(c) = conn {
            // WAL lets readers run beside the one writer; the busy timeout waits out the writer's lock.
            c.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 15000; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// The connection pool and async facade.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<AnyConnection>>,
    backend: Backend,
    /// Writes made through this handle ([`Db::write`], [`Db::transaction`]), so that what this instance
    /// remembers can be checked against its own changes before it answers from memory.
    writes: Arc<AtomicU64>,
}

impl Db {
    /// Connects (creating the SQLite file and its folder when needed) and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> DbResult<Self> {
        let backend = Backend::from_url(url)?;
        let conn_url = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(url);
                if let Some(parent) = std::path::Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| DbError::Migration(format!("{}: {e}", parent.display())))?;
                }
                path.to_owned()
            }
            Backend::Postgres => url.to_owned(),
        };
        let max = match backend {
            // One writer at a time anyway; a few readers beside it.
            Backend::Sqlite => max_connections.clamp(1, 8),
            Backend::Postgres => max_connections.max(1),
        };
        let pool = tokio::task::spawn_blocking(move || {
            Pool::builder()
                .max_size(max)
                // Open connections as needed: many at once on a new SQLite file contend for its lock.
                .min_idle(Some(1))
                // A broken connection fails its query and is then dropped; a `SELECT 1` before every
                // checkout doubled the statements of a request.
                .test_on_check_out(false)
                .connection_timeout(Duration::from_secs(15))
                .connection_customizer(Box::new(ConnectionSetup))
                .build(ConnectionManager::<AnyConnection>::new(conn_url))
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))??;
        let db = Self {
            pool,
            backend,
            writes: Arc::new(AtomicU64::new(0)),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this backend's tree.
    pub async fn migrate(&self) -> DbResult<()> {
        self.run(|conn| {
            let result = match conn {
                AnyConnection::Postgres(c) => {
                    c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ())
                }
                AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
            };
            result.map_err(|e| DbError::Migration(e.to_string()))
        })
        .await
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> DbResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Runs `f`, which changes data, with a pooled connection on the blocking pool; counted in
    /// [`Db::writes`].
    pub async fn write<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> DbResult<T> + Send + 'static,
    {
        let result = self.run(f).await;
        self.writes.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// How many writes this handle (and its clones) made so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Runs `f` in a transaction; counted in [`Db::writes`].
    pub async fn transaction<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> DbResult<T> + Send + 'static,
    {
        use diesel::Connection;
        self.write(move |conn| match conn {
            // SQLite: take the write lock up front (BEGIN IMMEDIATE) so that concurrent writers wait on the
            // busy timeout instead of failing when a read lock cannot be upgraded. Query functions never
            // open transactions of their own, so the manual BEGIN/COMMIT cannot nest.
            AnyConnection::Sqlite(_) => {
                conn.batch_execute("BEGIN IMMEDIATE")?;
                match f(conn) {
                    Ok(value) => match conn.batch_execute("COMMIT") {
                        Ok(()) => Ok(value),
                        Err(e) => {
                            let _ = conn.batch_execute("ROLLBACK");
                            Err(e.into())
                        }
                    },
                    Err(e) => {
                        let _ = conn.batch_execute("ROLLBACK");
                        Err(e)
                    }
                }
            }
            AnyConnection::Postgres(_) => conn.transaction(f),
        })
        .await
    }
}

/// The names of the migrations of each tree, for the test that both trees match.
pub fn migration_names() -> (Vec<String>, Vec<String>) {
    use diesel::migration::MigrationSource;
    let names = |source: EmbeddedMigrations| -> Vec<String> {
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&source)
            .map(|ms| ms.iter().map(|m| m.name().to_string()).collect())
            .unwrap_or_default()
    };
    (names(POSTGRES_MIGRATIONS), names(SQLITE_MIGRATIONS))
}

/// The current time in UTC, as stored.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
