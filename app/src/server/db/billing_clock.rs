//! The organization's billing clock: the wall clock plus the sandbox test
//! clock's offset (none with Stripe). Access to a subscription (grace periods,
//! pauses, period ends) is judged by this clock, so advancing the sandbox's
//! test clock moves an organization through its lifecycle as Stripe's test
//! clocks move a customer's objects.

use sqlx::AnyConnection;

/// How far `org_id`'s billing time runs ahead of the wall clock (seconds).
pub async fn offset(conn: &mut AnyConnection, org_id: &str) -> Result<i64, sqlx::Error> {
    let offset: Option<i64> =
        sqlx::query_scalar("select offset_secs from billing_clock where org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(offset.unwrap_or(0))
}

/// `now` (wall clock, unix seconds) as `org_id`'s billing clock reads it.
pub async fn billing_now(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    Ok(now + offset(conn, org_id).await?)
}

/// Moves `org_id`'s billing clock forward by `by_secs` (never back).
pub async fn advance(
    conn: &mut AnyConnection,
    org_id: &str,
    by_secs: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let by_secs = by_secs.max(0);
    sqlx::query(
        "insert into billing_clock (org_id, offset_secs, updated_at) values ($1, $2, $3) \
         on conflict (org_id) do update set offset_secs = billing_clock.offset_secs + $2, \
         updated_at = $3",
    )
    .bind(org_id)
    .bind(by_secs)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    offset(conn, org_id).await
}
