//! A tower-sessions store on our own database pool, so sessions live in
//! SQLite or PostgreSQL alike and survive restarts and multiple instances.

use super::db::{self, Db};
use async_trait::async_trait;
use std::cell::Cell;
use std::future::Future;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Removes expired sessions; the server calls this periodically.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        db::sessions::delete_expired(&self.db.pool, super::clock::now()).await
    }
}

tokio::task_local! {
    /// Within `noting_unavailable`: whether the store met an unavailable
    /// database (busy, restarting, out of connections).
    static MET_UNAVAILABLE: Cell<bool>;
}

/// Runs a request, telling afterwards whether the session store failed on
/// an unavailable database. tower-sessions turns a failed save into a bare
/// 500 and its error type cannot say why; the server's outermost session
/// layer (`server/src/store_outage.rs`) uses this to answer 503 instead.
pub async fn noting_unavailable<F: Future>(request: F) -> (F::Output, bool) {
    MET_UNAVAILABLE
        .scope(Cell::new(false), async move {
            let output = request.await;
            (output, MET_UNAVAILABLE.with(Cell::get))
        })
        .await
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

/// The signed-in user the session holds, kept in its own column so every
/// session of one user can be ended at once (`db::sessions::delete_for_user`).
fn user_of(record: &Record) -> Option<&str> {
    record
        .data
        .get(super::guard::USER_ID)
        .and_then(|value| value.as_str())
}

fn backend(error: sqlx::Error) -> session_store::Error {
    if db::is_unreachable(&error) {
        // Outside a request (no scope) there is nobody to tell.
        let _ = MET_UNAVAILABLE.try_with(|met| met.set(true));
    }
    session_store::Error::Backend(error.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id must never land on an existing session (vanishingly rare, but cheap to rule out).
        while db::sessions::exists(&self.db.pool, &record.id.to_string())
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        let data = encode(record)?;
        db::sessions::insert(
            &self.db.pool,
            &record.id.to_string(),
            user_of(record),
            &data,
            record.expiry_date.unix_timestamp(),
        )
        .await
        .map_err(backend)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        db::sessions::update(
            &self.db.pool,
            &record.id.to_string(),
            user_of(record),
            &data,
            record.expiry_date.unix_timestamp(),
        )
        .await
        .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let data = db::sessions::load(&self.db.pool, &id.to_string(), super::clock::now())
            .await
            .map_err(backend)?;
        data.map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        db::sessions::delete(&self.db.pool, &id.to_string())
            .await
            .map_err(backend)
    }
}
