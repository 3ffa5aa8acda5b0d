//! Stored browser sessions (see `session_store.rs` for the tower-sessions side).

use sqlx::{Any, Executor};

#[tracing::instrument(skip_all)]
pub async fn exists<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("select session_id from session where session_id = $1")
            .bind(session_id)
            .fetch_optional(db)
            .await?;
    Ok(row.is_some())
}

/// Stores a new session. `user_id` is the signed-in user it holds, if any.
#[tracing::instrument(skip_all)]
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
    user_id: Option<&str>,
    data: &[u8],
    expiry_date: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into session (session_id, user_id, data, expiry_date) values ($1, $2, $3, $4)
         on conflict (session_id) do update
         set user_id = excluded.user_id, data = excluded.data, expiry_date = excluded.expiry_date",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(data)
    .bind(expiry_date)
    .execute(db)
    .await?;
    Ok(())
}

/// Saves an existing session. A session deleted meanwhile (signed out, or
/// ended by a password reset while this request ran) stays deleted: a
/// request finishing late must not bring it back.
#[tracing::instrument(skip_all)]
pub async fn update<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
    user_id: Option<&str>,
    data: &[u8],
    expiry_date: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update session set user_id = $2, data = $3, expiry_date = $4 where session_id = $1",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(data)
    .bind(expiry_date)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends every session of `user_id` (a password reset); returns how many.
#[tracing::instrument(skip_all)]
pub async fn delete_for_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from session where user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

#[tracing::instrument(skip_all)]
pub async fn load<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
    now: i64,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("select data from session where session_id = $1 and expiry_date > $2")
            .bind(session_id)
            .bind(now)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(data,)| data))
}

#[tracing::instrument(skip_all)]
pub async fn delete<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from session where session_id = $1")
        .bind(session_id)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn delete_expired<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from session where expiry_date <= $1")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Whether this session is still signed in (stored, not expired) and
/// `user_id` still a member of `org_id`: the live stream's periodic re-check,
/// one query.
#[tracing::instrument(skip_all)]
pub async fn still_member<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
    user_id: &str,
    org_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "select session.session_id from session, membership
          where session.session_id = $1 and session.expiry_date > $2
            and membership.user_id = $3 and membership.org_id = $4",
    )
    .bind(session_id)
    .bind(now)
    .bind(user_id)
    .bind(org_id)
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// A stored, unexpired session of one account, for its sessions list.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredSession {
    pub session_id: String,
    /// tower-sessions' record, JSON (`session_store::encode`).
    pub data: Vec<u8>,
    pub expiry_date: i64,
}

/// The unexpired sessions of `user_id`, most recently active first (an
/// active session's idle expiry is the latest).
#[tracing::instrument(skip_all)]
pub async fn of_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    now: i64,
) -> Result<Vec<StoredSession>, sqlx::Error> {
    sqlx::query_as(
        "select session_id, data, expiry_date from session
          where user_id = $1 and expiry_date > $2
          order by expiry_date desc, session_id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Ends every session of `user_id` except `keep` (the one asking); returns how many.
#[tracing::instrument(skip_all)]
pub async fn delete_others_of_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    keep: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from session where user_id = $1 and session_id <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
