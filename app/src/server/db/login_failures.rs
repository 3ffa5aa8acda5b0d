//! The audit trail of failed logins (and of registration attempts), which the
//! throttle also counts. Rows are pruned after `throttle::AUDIT_RETENTION_SECS`.

use sqlx::{Any, Executor};

/// The longest email stored (the longest address there can be): whatever was
/// typed, a row stays small.
pub const MAX_STORED_EMAIL_CHARS: usize = 254;

/// Writes one audit row and returns its id.
#[tracing::instrument(skip_all)]
pub async fn record<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
    ip: &str,
    reason: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = crate::server::ids::new_id("lf");
    let email: String = email.chars().take(MAX_STORED_EMAIL_CHARS).collect();
    sqlx::query(
        "insert into login_failure (login_failure_id, email, ip, reason, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(email)
    .bind(ip)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(id)
}

/// Removes one row: an attempt counted ahead of its verdict that turned out right (or got none).
#[tracing::instrument(skip_all)]
pub async fn delete<'c>(
    db: impl Executor<'c, Database = Any>,
    login_failure_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from login_failure where login_failure_id = $1")
        .bind(login_failure_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Removes rows older than `before`; returns how many.
#[tracing::instrument(skip_all)]
pub async fn delete_older_than<'c>(
    db: impl Executor<'c, Database = Any>,
    before: i64,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("delete from login_failure where created_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

/// Rows with `reason` for one email since `since`.
#[tracing::instrument(skip_all)]
pub async fn count_for_email<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
    reason: &str,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "select count(*) from login_failure
          where email = $1 and created_at >= $2 and reason = $3",
    )
    .bind(email)
    .bind(since)
    .bind(reason)
    .fetch_one(db)
    .await?;
    Ok(count)
}

/// Rows with `reason` for one address (throttle key) since `since`.
#[tracing::instrument(skip_all)]
pub async fn count_for_ip<'c>(
    db: impl Executor<'c, Database = Any>,
    ip: &str,
    reason: &str,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "select count(*) from login_failure
          where ip = $1 and created_at >= $2 and reason = $3",
    )
    .bind(ip)
    .bind(since)
    .bind(reason)
    .fetch_one(db)
    .await?;
    Ok(count)
}

/// Serializes the transactions that check and count attempts for one key
/// until the transaction ends. On PostgreSQL a transaction-scoped advisory
/// lock on a stable hash of the key; on SQLite nothing is needed, because a
/// write transaction (`Db::begin_write`) already holds the one write lock.
pub async fn lock_key(
    tx: &mut sqlx::Transaction<'static, Any>,
    backend: super::Backend,
    key: &str,
) -> Result<(), sqlx::Error> {
    if backend == super::Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(stable_hash(key))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// FNV-1a: the same on every instance and every build, unlike `std`'s hasher.
fn stable_hash(key: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}
