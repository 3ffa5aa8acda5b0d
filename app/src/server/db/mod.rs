//! The database: one runtime-selected pool (SQLite or PostgreSQL through
//! `sqlx::Any`), its migrations, and the queries grouped by aggregate.
//! Every query here runs unchanged on both backends (`$1` placeholders,
//! integers for times and flags, text ids); the test suite runs on both.

pub mod auto_recharge;
pub mod call_history;
pub mod calls;
pub mod jobs;
pub mod ledger;
pub mod login_failures;
pub mod notices;
pub mod orgs;
pub mod purchases;
pub mod rates;
pub mod sandbox_sessions;
pub mod sessions;
pub mod sim_calls;
pub mod stripe_events;
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

impl Db {
    /// Opens a pool. SQLite files are created on first use, in WAL mode with
    /// foreign keys on and a busy timeout so concurrent writers wait instead of failing.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
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
            .acquire_timeout(Duration::from_secs(5));
        let pool = match backend {
            Backend::Sqlite => {
                pool_options
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "pragma foreign_keys = on; pragma busy_timeout = 5000; pragma synchronous = normal;",
                            )
                            .await?;
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
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("begin immediate").await,
            Backend::Postgres => self.pool.begin().await,
        }
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

/// True when the error means the database could not be reached at all, as
/// opposed to a query that failed: shown to people as "temporarily unavailable".
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
    )
}
