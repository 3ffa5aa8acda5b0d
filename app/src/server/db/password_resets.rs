//! Password reset tokens. Only the SHA-256 of each token is stored, so the
//! table alone cannot reset anyone's password (`server::password_reset`).

use sqlx::{Any, Executor};

pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    token_hash: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into password_reset (token_hash, user_id, created_at, expires_at)
         values ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The user a token resets, while it is unused and unexpired.
pub async fn usable_user<'c>(
    db: impl Executor<'c, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "select user_id from password_reset
         where token_hash = $1 and used_at is null and expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(user_id,)| user_id))
}

/// Uses the token: true for exactly one caller, while it is unused and
/// unexpired (two resets racing with one link: the second finds it used).
pub async fn use_token<'c>(
    db: impl Executor<'c, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update password_reset set used_at = $2
         where token_hash = $1 and used_at is null and expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every other outstanding link of the user stops working once the password
/// has been reset.
pub async fn use_all_of<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update password_reset set used_at = $2 where user_id = $1 and used_at is null")
        .bind(user_id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}
