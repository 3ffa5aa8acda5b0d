//! The rating a call got after it ended (1–5 stars, changeable), stored on
//! the call row. Who may rate is decided by `api::call_rating`; these
//! queries only read and write, always scoped to the organization.

use sqlx::{Any, Executor, FromRow};

/// What deciding about a rating needs to know of a call.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct RatedCall {
    /// The member who placed it.
    pub user_id: String,
    pub status: String,
    pub rating: Option<i64>,
}

#[tracing::instrument(skip_all)]
pub async fn rated_call<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    call_id: &str,
) -> Result<Option<RatedCall>, sqlx::Error> {
    sqlx::query_as("select user_id, status, rating from call where call_id = $1 and org_id = $2")
        .bind(call_id)
        .bind(org_id)
        .fetch_optional(db)
        .await
}

/// Stores the rating of an ended call; false when the call is not in the
/// organization or has not ended (the status check is in the statement, so
/// a call cannot be rated while it is still live, whatever raced).
#[tracing::instrument(skip_all)]
pub async fn set_rating<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    call_id: &str,
    rating: i64,
    rated_by: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update call set rating = $1, rated_by = $2, rated_at = $3
         where call_id = $4 and org_id = $5
           and status in ('completed', 'busy', 'no-answer', 'failed', 'canceled')",
    )
    .bind(rating)
    .bind(rated_by)
    .bind(now)
    .bind(call_id)
    .bind(org_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
