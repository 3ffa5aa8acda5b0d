//! Stored Stripe webhook events.

use sqlx::{Any, AnyConnection, Executor};

/// Stores the event unless it is already stored; true when it was new.
#[tracing::instrument(skip_all, fields(event_id))]
pub async fn insert_if_absent<'c>(
    db: impl Executor<'c, Database = Any>,
    event_id: &str,
    event_type: &str,
    payload: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into stripe_event (event_id, event_type, payload, received_at) values ($1, $2, $3, $4)
         on conflict (event_id) do nothing",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(payload)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn is_processed(conn: &mut AnyConnection, event_id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("select processed_at from stripe_event where event_id = $1")
            .bind(event_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(matches!(row, Some((Some(_),))))
}

/// Marks the event processed; called in the transaction that applied its effect.
pub async fn mark_processed(
    conn: &mut AnyConnection,
    event_id: &str,
    outcome: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update stripe_event set processed_at = $1, outcome = $2 where event_id = $3")
        .bind(now)
        .bind(outcome)
        .bind(event_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records why processing failed (the event stays unprocessed; Stripe retries).
pub async fn record_failure<'c>(
    db: impl Executor<'c, Database = Any>,
    event_id: &str,
    why: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update stripe_event set outcome = $1 where event_id = $2 and processed_at is null",
    )
    .bind(format!("failed: {why}"))
    .bind(event_id)
    .execute(db)
    .await?;
    Ok(())
}
