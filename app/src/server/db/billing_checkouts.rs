//! The subscription checkouts we created, one per subscribe form.

use crate::domain::PlanInterval;
use sqlx::{Any, Executor};

pub struct NewBillingCheckout<'a> {
    pub checkout_id: &'a str,
    pub org_id: &'a str,
    pub created_by: &'a str,
    pub interval: PlanInterval,
    pub seats: u32,
    pub idempotency_key: &'a str,
    pub url: &'a str,
}

/// False when a checkout with this idempotency key exists already.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewBillingCheckout<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into billing_checkout (checkout_id, org_id, created_by, plan_interval, seats,
                                       idempotency_key, url, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (idempotency_key) do nothing",
    )
    .bind(new.checkout_id)
    .bind(new.org_id)
    .bind(new.created_by)
    .bind(new.interval.as_str())
    .bind(i64::from(new.seats))
    .bind(new.idempotency_key)
    .bind(new.url)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The checkout URL already created for this form, if any.
pub async fn url_for_key<'c>(
    db: impl Executor<'c, Database = Any>,
    idempotency_key: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select url from billing_checkout where idempotency_key = $1")
        .bind(idempotency_key)
        .fetch_optional(db)
        .await
}
