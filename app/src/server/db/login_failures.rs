//! The audit trail of failed logins, which the throttle also counts.

use sqlx::{Any, Executor};

#[tracing::instrument(skip_all)]
pub async fn record<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
    ip: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into login_failure (login_failure_id, email, ip, reason, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(crate::server::ids::new_id("lf"))
    .bind(email)
    .bind(ip)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Wrong-password failures for one email since `since` (refusals while locked do not extend the lock).
#[tracing::instrument(skip_all)]
pub async fn count_for_email<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "select count(*) from login_failure
          where email = $1 and created_at >= $2 and reason = 'bad_credentials'",
    )
    .bind(email)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(count)
}

#[tracing::instrument(skip_all)]
pub async fn count_for_ip<'c>(
    db: impl Executor<'c, Database = Any>,
    ip: &str,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "select count(*) from login_failure
          where ip = $1 and created_at >= $2 and reason = 'bad_credentials'",
    )
    .bind(ip)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(count)
}
