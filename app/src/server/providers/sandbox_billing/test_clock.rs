//! The sandbox's test clock, as Stripe's test clocks: an owner moves their
//! organization's billing time forward to see what a renewal or the end of
//! the payment grace period does, without waiting a month. The clock is the
//! organization's offset in `billing_clock`; what the subscription does on
//! the way is `renewal.rs`. The clock's move, the subscription's changes and
//! their events commit together.

use super::{events, renewal};
use crate::server::clock;
use crate::server::db::sandbox_billing::{self as rows, Subscription};
use crate::server::db::{billing_clock, Db};
use crate::server::providers::sandbox;
use sqlx::AnyConnection;

/// One minute past the grace period: access is judged by the clock, and the
/// check must see the period over, not ending this second.
pub const PAST_GRACE_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("this organization has no sandbox subscription")]
    NoSubscription,
    #[error("this organization's sandbox subscription has ended")]
    Ended,
    #[error("no payment of this subscription has failed: there is no grace period to wait out")]
    NoFailedPayment,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The organization's billing clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// How far billing time runs ahead of the wall clock (seconds).
    pub offset_secs: i64,
    /// Billing time now (unix seconds).
    pub billing_now: i64,
}

pub async fn read(db: &Db, org_id: &str) -> Result<Clock, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let offset_secs = billing_clock::offset(&mut conn, org_id).await?;
    Ok(Clock {
        offset_secs,
        billing_now: clock::now() + offset_secs,
    })
}

/// The subscription the clock acts on, locked: the organization's newest,
/// unless it has ended.
async fn live_subscription(
    conn: &mut AnyConnection,
    org_id: &str,
) -> Result<Subscription, ClockError> {
    let newest = rows::newest_subscription_of_org(&mut *conn, org_id)
        .await?
        .ok_or(ClockError::NoSubscription)?;
    let sub = rows::lock_subscription(conn, &newest.subscription_id)
        .await?
        .ok_or(ClockError::NoSubscription)?;
    if sub.status == "canceled" {
        return Err(ClockError::Ended);
    }
    Ok(sub)
}

/// Moves the clock to the subscription's period end (or the one after, if
/// that has passed) and does what happens on the way. Returns the types of
/// the events sent, in order.
pub async fn advance_to_renewal(db: &Db, org_id: &str) -> Result<Vec<String>, ClockError> {
    let mut tx = db.begin_write().await?;
    let mut sub = live_subscription(&mut tx, org_id).await?;
    let customer = rows::find_customer(&mut *tx, &sub.customer_id)
        .await?
        .ok_or(ClockError::NoSubscription)?;
    let now = clock::now();
    let billing_now = billing_clock::billing_now(&mut tx, org_id, now).await?;
    let target = renewal::renewal_target(&sub, billing_now);
    let moved = renewal::run_until(&mut sub, billing_now, target, super::card_pays(&customer));
    for invoice in &moved.invoices {
        rows::insert_invoice(&mut tx, invoice).await?;
    }
    rows::save_subscription(&mut tx, &sub).await?;
    billing_clock::advance(&mut tx, org_id, target - billing_now, now).await?;
    let types = moved
        .happenings
        .iter()
        .map(|h| h.event_type.to_owned())
        .collect();
    sandbox::enqueue_events(&mut tx, &events(moved.happenings)).await?;
    tx.commit().await?;
    Ok(types)
}

/// Moves the clock a minute past the grace period of the subscription's
/// failed invoice (counted from its first failure; the oldest, if several
/// are unpaid). A clock already past it stays where it is. Sends nothing: the
/// sandbox does not retry by itself; the app judges access by the clock.
pub async fn advance_past_grace(db: &Db, org_id: &str, grace_secs: i64) -> Result<(), ClockError> {
    let mut tx = db.begin_write().await?;
    let sub = live_subscription(&mut tx, org_id).await?;
    let failed_at = rows::invoices_of_subscription(&mut *tx, &sub.subscription_id)
        .await?
        .into_iter()
        .filter(|invoice| invoice.status == "open")
        .filter_map(|invoice| invoice.first_failed_at)
        // Past due since the oldest unpaid failure: its grace ends first.
        .min()
        .ok_or(ClockError::NoFailedPayment)?;
    let now = clock::now();
    let billing_now = billing_clock::billing_now(&mut tx, org_id, now).await?;
    let target = failed_at + grace_secs + PAST_GRACE_SECS;
    billing_clock::advance(&mut tx, org_id, target - billing_now, now).await?;
    tx.commit().await?;
    Ok(())
}
