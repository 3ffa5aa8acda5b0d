//! The payment sandbox's checkout sessions (`sandbox_session`): what the
//! sandbox's own checkout page shows and pays. Only the sandbox provider
//! (`server::providers::sandbox`) and its page use them.

use sqlx::{Any, AnyConnection, Executor, FromRow};

/// A session to open.
#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    pub session_id: &'a str,
    /// `payment` (buy credits), `setup` (save a card) or `subscription`.
    pub mode: &'a str,
    pub amount_cents: i64,
    /// Stripe-style metadata, stored as JSON text.
    pub metadata: &'a str,
    pub customer_id: Option<&'a str>,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Subscription mode only: the plan price and its seats.
    pub price_id: Option<&'a str>,
    pub quantity: Option<i64>,
}

/// What the checkout page shows.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Session {
    pub session_id: String,
    pub mode: String,
    pub amount_cents: i64,
    pub success_url: String,
    pub cancel_url: String,
    pub status: String,
    /// Subscription mode only.
    pub price_id: Option<String>,
    pub quantity: Option<i64>,
}

impl Session {
    pub fn is_complete(&self) -> bool {
        self.status == "complete"
    }
}

/// What a completed session reports in its events.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Completed {
    pub metadata: String,
    pub customer_id: Option<String>,
}

#[tracing::instrument(skip_all, fields(session_id = new.session_id))]
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewSession<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into sandbox_session (session_id, mode, amount_cents, metadata, customer_id,
                                      success_url, cancel_url, status, created_at,
                                      price_id, quantity)
         values ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10)",
    )
    .bind(new.session_id)
    .bind(new.mode)
    .bind(new.amount_cents)
    .bind(new.metadata)
    .bind(new.customer_id)
    .bind(new.success_url)
    .bind(new.cancel_url)
    .bind(now)
    .bind(new.price_id)
    .bind(new.quantity)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    session_id: &str,
) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(
        "select session_id, mode, amount_cents, success_url, cancel_url, status,
                price_id, quantity
         from sandbox_session where session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(db)
    .await
}

/// Marks an open session paid with the card ending in `card_last4`. `None`
/// when it was not open (a concurrent submit paid it first), so its events
/// are queued exactly once.
#[tracing::instrument(skip_all)]
pub async fn complete(
    conn: &mut AnyConnection,
    session_id: &str,
    card_last4: &str,
) -> Result<Option<Completed>, sqlx::Error> {
    sqlx::query_as(
        "update sandbox_session set status = 'complete', card_last4 = $2
         where session_id = $1 and status = 'open'
         returning metadata, customer_id",
    )
    .bind(session_id)
    .bind(card_last4)
    .fetch_optional(conn)
    .await
}
