//! The `call_attempt` table (migration 0008): the one-shot id a browser
//! presents to start a call (`device.connect({ params: { attempt } })`). The
//! rules for taking one live in `crate::server::calls::take_attempt`; this
//! module is only the SQL. The caller holds the call's lock (`calls::lock`)
//! whenever it reads an attempt to decide on it, so an attempt is taken at
//! most once however many requests race for it.

use crate::server::ids::new_id;
use sqlx::{Any, AnyConnection, Executor, FromRow};

/// One attempt, as stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Attempt {
    pub attempt_id: String,
    pub call_id: String,
    pub user_id: String,
    /// Unix seconds after which it can no longer be taken.
    pub expires_at: i64,
    pub taken_at: Option<i64>,
    /// The browser leg's CallSid that took it.
    pub parent_sid: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "attempt_id, call_id, user_id, expires_at, taken_at, parent_sid, created_at";

/// A new attempt for a call just authorized; returns its id (128 random bits).
#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut AnyConnection,
    call_id: &str,
    user_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<String, sqlx::Error> {
    let attempt_id = new_id("att");
    sqlx::query(
        "insert into call_attempt (attempt_id, call_id, user_id, expires_at, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&attempt_id)
    .bind(call_id)
    .bind(user_id)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(attempt_id)
}

/// An attempt by its id (any organization's: the carrier's request names it).
#[tracing::instrument(skip_all)]
pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    attempt_id: &str,
) -> Result<Option<Attempt>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from call_attempt where attempt_id = $1"
    ))
    .bind(attempt_id)
    .fetch_optional(db)
    .await
}

/// The attempt of a call, if it has one.
#[tracing::instrument(skip_all)]
pub async fn for_call<'c>(
    db: impl Executor<'c, Database = Any>,
    call_id: &str,
) -> Result<Option<Attempt>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from call_attempt where call_id = $1"
    ))
    .bind(call_id)
    .fetch_optional(db)
    .await
}

/// Takes the attempt for the browser leg `parent_sid`: only if nobody took it
/// before (the condition makes a second taker change nothing even without
/// the call's lock). Returns whether this request took it.
#[tracing::instrument(skip_all)]
pub async fn take(
    conn: &mut AnyConnection,
    attempt_id: &str,
    parent_sid: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query(
        "update call_attempt set taken_at = $2, parent_sid = $3
         where attempt_id = $1 and taken_at is null",
    )
    .bind(attempt_id)
    .bind(now)
    .bind(parent_sid)
    .execute(&mut *conn)
    .await?;
    Ok(taken.rows_affected() == 1)
}
