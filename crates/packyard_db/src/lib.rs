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
use diesel::r2d2::{CustomizeConnection, Pool};
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
    #[error("{0}")]
    Unreachable(String),
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
    /// True when the database could not be reached (no connection within the timeout, or one cut off):
    /// the request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        matches!(
            self,
            DbError::Pool(_)
                | DbError::Unreachable(_)
                | DbError::Query(Error::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _
                ))
        )
    }

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

impl CustomizeConnection<PooledAny, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut PooledAny) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(c) = &mut conn.conn {
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
/// A pooled connection, marked broken when a statement found it cut off (the server restarted or
/// dropped it), so the pool replaces it instead of handing it out again.
pub struct PooledAny {
    conn: AnyConnection,
    broken: bool,
}

impl std::ops::Deref for PooledAny {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledAny {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// Opens a PostgreSQL connection, the only way this project opens one.
///
/// OpenSSL is set up first, as the upstream client sets it up: whoever initialises it first decides
/// whether `OPENSSL_cleanup` runs at exit, and libpq's own initialisation registers it. That cleanup frees
/// OpenSSL's state while threads that used it are still ending, so a process that had a TLS connection to
/// PostgreSQL could crash as it exited ("free(): invalid pointer", SIGSEGV).
pub fn establish_postgres(url: &str) -> diesel::ConnectionResult<PgConnection> {
    use diesel::Connection;
    openssl_sys::init();
    PgConnection::establish(url)
}

/// Opens connections of the one backend the URL names, so a failure says why (the multi-backend
/// connection's own `establish` only says the URL fits no backend).
#[derive(Debug)]
struct Manager {
    url: String,
    backend: Backend,
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = PooledAny;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledAny, Self::Error> {
        use diesel::Connection;
        let conn = match self.backend {
            Backend::Postgres => establish_postgres(&self.url).map(AnyConnection::Postgres),
            Backend::Sqlite => SqliteConnection::establish(&self.url).map(AnyConnection::Sqlite),
        }
        .map_err(diesel::r2d2::Error::ConnectionError)?;
        Ok(PooledAny {
            conn,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut PooledAny) -> Result<(), Self::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PooledAny) -> bool {
        conn.broken || diesel::r2d2::R2D2Connection::is_broken(&mut conn.conn)
    }
}

/// How long a request waits for a database connection before it is answered "unavailable".
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// After a connection could not be had, how long requests take only an idle connection instead of
/// waiting: during an outage every request but the first answers at once.
const OUTAGE_HOLD: Duration = Duration::from_secs(2);

fn millis_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A database URL fit for logs: the password replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A connection pool's use.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// Connections open.
    pub connections: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections it opens.
    pub max: u32,
}

#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    /// Until when (milliseconds since the epoch) the database is taken to be unreachable.
    outage_until: Arc<AtomicU64>,
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
                .connection_timeout(CONNECTION_TIMEOUT)
                .connection_customizer(Box::new(ConnectionSetup))
                .build(Manager {
                    url: conn_url,
                    backend,
                })
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))??;
        let db = Self {
            pool,
            backend,
            outage_until: Arc::new(AtomicU64::new(0)),
            writes: Arc::new(AtomicU64::new(0)),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// The pool's connections now, for the metrics.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
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
        let outage_until = self.outage_until.clone();
        tokio::task::spawn_blocking(move || {
            let in_outage = millis_now() < outage_until.load(Ordering::Acquire);
            let got = if in_outage {
                pool.try_get()
                    .ok_or_else(|| DbError::Unreachable("database unreachable moments ago".into()))
            } else {
                pool.get().map_err(DbError::from)
            };
            let mut conn = got.inspect_err(|_| {
                if !in_outage {
                    let until = millis_now() + OUTAGE_HOLD.as_millis() as u64;
                    outage_until.store(until, Ordering::Release);
                }
            })?;
            let result = f(&mut conn);
            if result.as_ref().is_err_and(DbError::is_unavailable) {
                conn.broken = true;
            }
            result
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
        // A write that never had a connection changed nothing: readers need not look again (during an
        // outage, every warm hit would otherwise wait for a database that is not there).
        if !matches!(result, Err(DbError::Pool(_) | DbError::Unreachable(_))) {
            self.count_write();
        }
        result
    }

    /// Counts a write that may have changed data.
    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// How many writes this handle (and its clones) made so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Runs `f` in a transaction; counted in [`Db::writes`] unless it failed, which committed nothing.
    pub async fn transaction<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> DbResult<T> + Send + 'static,
    {
        use diesel::Connection;
        let result = self
            .run(move |conn| match conn {
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
            .await;
        if result.is_ok() {
            self.count_write();
        }
        result
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_never_show_a_database_password() {
        assert_eq!(
            redacted_url("postgres://packyard:s3cr:et@db.example:5432/packyard"),
            "postgres://packyard:***@db.example:5432/packyard"
        );
        assert_eq!(
            redacted_url("postgres://packyard@db/packyard"),
            "postgres://packyard@db/packyard"
        );
        assert_eq!(
            redacted_url("sqlite:///data/packyard.db"),
            "sqlite:///data/packyard.db"
        );
    }
}
