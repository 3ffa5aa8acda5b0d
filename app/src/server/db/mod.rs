//! The database: one runtime-selected pool (SQLite or PostgreSQL through
//! `sqlx::Any`), its migrations, and the queries grouped by aggregate.
//! Every query here runs unchanged on both backends (`$1` placeholders,
//! integers for times and flags, text ids); the test suite runs on both.

pub mod accounts;
pub mod auto_recharge;
pub mod billing_checkouts;
pub mod billing_clock;
pub mod call_attempts;
pub mod call_history;
pub mod call_ratings;
pub mod calls;
pub mod invitations;
pub mod jobs;
pub mod ledger;
pub mod login_failures;
pub mod notices;
pub mod org_audit;
pub mod orgs;
pub mod outbox;
pub mod password_resets;
pub mod purchases;
pub mod rates;
pub mod sandbox_billing;
pub mod sandbox_sessions;
pub mod sessions;
pub mod sim_calls;
pub mod spending;
pub mod stripe_events;
pub mod subscriptions;
pub mod users;
pub mod wallet;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The pool and which backend it talks to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres:")]
    UnsupportedUrl,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// How the pool is opened, beyond the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbOptions {
    /// How long a SQLite statement waits for another connection's write lock
    /// before giving up with "database is locked" (`SQLITE_BUSY_TIMEOUT_MS`),
    /// which is then answered as "temporarily unavailable" (503).
    pub sqlite_busy_timeout_ms: u64,
    /// How long a request waits for a free pooled connection before it is
    /// answered "temporarily unavailable" (`DB_ACQUIRE_TIMEOUT_MS`).
    pub acquire_timeout_ms: u64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            sqlite_busy_timeout_ms: 5_000,
            acquire_timeout_ms: 5_000,
        }
    }
}

impl Db {
    /// Opens a pool with the default options.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// Opens a pool. SQLite files are created on first use, in WAL mode with
    /// foreign keys on and a busy timeout so concurrent writers wait instead of failing.
    pub async fn connect_with(url: &str, db_options: DbOptions) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or(DbError::UnsupportedUrl)?;
        let options = AnyConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let pool_options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            // sqlx pings a connection before lending it out. On SQLite that is
            // a hand-off to the connection's thread per statement, but turning
            // it off made /calls slower, not faster (docs/performance.md).
            .acquire_timeout(Duration::from_millis(db_options.acquire_timeout_ms));
        let pool = match backend {
            Backend::Sqlite => {
                pool_options
                    .after_connect(move |conn, _| {
                        let pragmas = format!(
                            "pragma foreign_keys = on; pragma busy_timeout = {}; pragma synchronous = normal;",
                            db_options.sqlite_busy_timeout_ms
                        );
                        Box::pin(async move {
                            conn.execute(pragmas.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool_options.connect_with(options).await?,
        };
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set once, it stays.
            pool.execute("pragma journal_mode = wal").await?;
        }
        Ok(Self { pool, backend })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`): a transaction that reads first cannot
    /// upgrade its lock while another writer is active and fails at once with
    /// "database is locked" instead of waiting out the busy timeout.
    ///
    /// The `BEGIN` runs in a task of its own, so it always completes: a
    /// caller dropped while it runs (a request timing out, its client going
    /// away) would otherwise return the connection to the pool inside a
    /// transaction nobody rolls back. On SQLite every later write then waits
    /// out the busy timeout; on PostgreSQL later autocommit statements on that
    /// connection would silently run inside it. Completed but unwanted, the
    /// transaction is dropped in that task and rolled back as usual.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        let pool = self.pool.clone();
        let backend = self.backend;
        tokio::spawn(async move {
            match backend {
                Backend::Sqlite => pool.begin_with("begin immediate").await,
                Backend::Postgres => pool.begin().await,
            }
        })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// True when a trivial query answers: what `/readyz` reports.
    pub async fn is_reachable(&self) -> bool {
        sqlx::query("select 1").execute(&self.pool).await.is_ok()
    }
}

/// True when `error` is a unique violation of the named constraint (or, on
/// SQLite, which reports columns instead of names, of the given column).
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str, sqlite_column: &str) -> bool {
    let Some(db_error) = error.as_database_error() else {
        return false;
    };
    if !db_error.is_unique_violation() {
        return false;
    }
    db_error.constraint() == Some(constraint) || db_error.message().contains(sqlite_column)
}

/// True when the error means the database cannot serve us right now, as
/// opposed to a query that is wrong: shown to people as "temporarily
/// unavailable" (503), never as an internal error. That is:
///
/// - it could not be reached: I/O and TLS errors, no connection from the pool
///   in time (`PoolTimedOut`), the pool closed, the SQLite worker gone;
/// - SQLite was busy past its busy timeout, or a table was locked
///   (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes);
/// - PostgreSQL ended or refused the connection: SQLSTATE class `08`
///   (connection exception), `57P01` admin shutdown (a terminated backend),
///   `57P02` crash shutdown, `57P03` cannot connect now, `53300` too many
///   connections.
///
/// Classified by the backend's own error code, never by message text.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_error) => {
            if let Some(sqlite) = db_error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                sqlite_is_busy(sqlx::error::DatabaseError::code(sqlite).as_deref())
            } else if let Some(postgres) =
                db_error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            {
                postgres_is_unavailable(postgres.code())
            } else {
                false
            }
        }
        _ => false,
    }
}

/// SQLite's (extended) result code, as sqlx reports it: the primary code is
/// its low byte. `SQLITE_BUSY` is 5, `SQLITE_LOCKED` 6.
fn sqlite_is_busy(code: Option<&str>) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    code.and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// PostgreSQL SQLSTATEs that mean the server ended or refused the session.
fn postgres_is_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "53300")
}

#[cfg(test)]
mod tests {
    use super::{postgres_is_unavailable, sqlite_is_busy};

    #[test]
    fn sqlite_busy_and_locked_codes_are_unavailable_and_others_are_not() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT (517), SQLITE_LOCKED_SHAREDCACHE (262).
        for code in ["5", "6", "517", "262"] {
            assert!(sqlite_is_busy(Some(code)), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT_UNIQUE (2067), nothing.
        for code in [Some("1"), Some("2067"), Some("not a number"), None] {
            assert!(!sqlite_is_busy(code), "{code:?}");
        }
    }

    #[test]
    fn postgres_shutdown_and_connection_codes_are_unavailable_and_others_are_not() {
        for code in ["57P01", "57P02", "57P03", "08006", "08003", "53300"] {
            assert!(postgres_is_unavailable(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "57014"] {
            assert!(!postgres_is_unavailable(code), "{code}");
        }
    }
}
