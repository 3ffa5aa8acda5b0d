//! The payment sandbox's subscriptions, invoices, customers (their test
//! card), Billing Portal sessions and idempotency keys
//! (`0017_sandbox_billing.sql`). Only the sandbox provider
//! (`server::providers::sandbox_billing`) and its portal page use them.
//! A subscription is read, changed in memory and written back whole
//! (`save_subscription`) inside a transaction that locked it first.

use sqlx::{Any, AnyConnection, Executor, FromRow};

/// A sandbox subscription as stored; flags as bools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub subscription_id: String,
    pub org_id: String,
    pub customer_id: String,
    pub item_id: String,
    pub price_id: String,
    /// `month` or `year`.
    pub billing_interval: String,
    pub unit_amount_cents: i64,
    pub quantity: i64,
    /// `active`, `past_due` or `canceled`.
    pub status: String,
    pub cancel_at_period_end: bool,
    pub paused: bool,
    pub pause_resumes_at: Option<i64>,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub latest_invoice_id: Option<String>,
    /// Also the billing cycle anchor.
    pub created_at: i64,
}

/// `sqlx::Any` reads the 0/1 flags as integers.
#[derive(FromRow)]
struct SubscriptionRow {
    subscription_id: String,
    org_id: String,
    customer_id: String,
    item_id: String,
    price_id: String,
    billing_interval: String,
    unit_amount_cents: i64,
    quantity: i64,
    status: String,
    cancel_at_period_end: i64,
    paused: i64,
    pause_resumes_at: Option<i64>,
    current_period_start: i64,
    current_period_end: i64,
    canceled_at: Option<i64>,
    ended_at: Option<i64>,
    latest_invoice_id: Option<String>,
    created_at: i64,
}

impl From<SubscriptionRow> for Subscription {
    fn from(row: SubscriptionRow) -> Self {
        Subscription {
            subscription_id: row.subscription_id,
            org_id: row.org_id,
            customer_id: row.customer_id,
            item_id: row.item_id,
            price_id: row.price_id,
            billing_interval: row.billing_interval,
            unit_amount_cents: row.unit_amount_cents,
            quantity: row.quantity,
            status: row.status,
            cancel_at_period_end: row.cancel_at_period_end != 0,
            paused: row.paused != 0,
            pause_resumes_at: row.pause_resumes_at,
            current_period_start: row.current_period_start,
            current_period_end: row.current_period_end,
            canceled_at: row.canceled_at,
            ended_at: row.ended_at,
            latest_invoice_id: row.latest_invoice_id,
            created_at: row.created_at,
        }
    }
}

const SUBSCRIPTION_COLUMNS: &str = "subscription_id, org_id, customer_id, item_id, price_id, \
     billing_interval, unit_amount_cents, quantity, status, cancel_at_period_end, paused, \
     pause_resumes_at, current_period_start, current_period_end, canceled_at, ended_at, \
     latest_invoice_id, created_at";

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Invoice {
    pub invoice_id: String,
    pub subscription_id: String,
    pub amount_cents: i64,
    /// `open` or `paid`.
    pub status: String,
    /// `subscription_create` or `subscription_cycle`.
    pub billing_reason: String,
    pub attempt_count: i64,
    pub first_failed_at: Option<i64>,
    pub created_at: i64,
    pub period_start: i64,
    pub period_end: i64,
}

const INVOICE_COLUMNS: &str = "invoice_id, subscription_id, amount_cents, status, billing_reason, \
     attempt_count, first_failed_at, created_at, period_start, period_end";

/// A sandbox customer and the test payment method it pays with.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Customer {
    pub customer_id: String,
    pub org_id: String,
    pub payment_method_id: String,
    pub card_last4: String,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct PortalSession {
    pub portal_session_id: String,
    pub customer_id: String,
    pub org_id: String,
    pub return_url: String,
    pub created_at: i64,
}

// ---- customers ----

/// Creates the customer, or gives an existing one this card.
pub async fn save_customer(
    conn: &mut AnyConnection,
    customer: &Customer,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into sandbox_customer (customer_id, org_id, payment_method_id, card_last4, updated_at)
         values ($1, $2, $3, $4, $5)
         on conflict (customer_id) do update
             set payment_method_id = $3, card_last4 = $4, updated_at = $5",
    )
    .bind(&customer.customer_id)
    .bind(&customer.org_id)
    .bind(&customer.payment_method_id)
    .bind(&customer.card_last4)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_customer<'c>(
    db: impl Executor<'c, Database = Any>,
    customer_id: &str,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(
        "select customer_id, org_id, payment_method_id, card_last4
         from sandbox_customer where customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(db)
    .await
}

// ---- subscriptions ----

pub async fn insert_subscription(
    conn: &mut AnyConnection,
    sub: &Subscription,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into sandbox_subscription ({SUBSCRIPTION_COLUMNS})
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(&sub.subscription_id)
    .bind(&sub.org_id)
    .bind(&sub.customer_id)
    .bind(&sub.item_id)
    .bind(&sub.price_id)
    .bind(&sub.billing_interval)
    .bind(sub.unit_amount_cents)
    .bind(sub.quantity)
    .bind(&sub.status)
    .bind(i64::from(sub.cancel_at_period_end))
    .bind(i64::from(sub.paused))
    .bind(sub.pause_resumes_at)
    .bind(sub.current_period_start)
    .bind(sub.current_period_end)
    .bind(sub.canceled_at)
    .bind(sub.ended_at)
    .bind(&sub.latest_invoice_id)
    .bind(sub.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back everything a change may touch.
pub async fn save_subscription(
    conn: &mut AnyConnection,
    sub: &Subscription,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update sandbox_subscription
            set quantity = $2, status = $3, cancel_at_period_end = $4, paused = $5,
                pause_resumes_at = $6, current_period_start = $7, current_period_end = $8,
                canceled_at = $9, ended_at = $10, latest_invoice_id = $11
          where subscription_id = $1",
    )
    .bind(&sub.subscription_id)
    .bind(sub.quantity)
    .bind(&sub.status)
    .bind(i64::from(sub.cancel_at_period_end))
    .bind(i64::from(sub.paused))
    .bind(sub.pause_resumes_at)
    .bind(sub.current_period_start)
    .bind(sub.current_period_end)
    .bind(sub.canceled_at)
    .bind(sub.ended_at)
    .bind(&sub.latest_invoice_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_subscription<'c>(
    db: impl Executor<'c, Database = Any>,
    subscription_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    let row: Option<SubscriptionRow> = sqlx::query_as(&format!(
        "select {SUBSCRIPTION_COLUMNS} from sandbox_subscription where subscription_id = $1"
    ))
    .bind(subscription_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Subscription::from))
}

/// Reads the subscription for a change. On PostgreSQL the no-op update
/// holds its row lock until the transaction ends, so two changes of one
/// subscription never interleave; on SQLite `begin_write` already serializes
/// writers.
pub async fn lock_subscription(
    conn: &mut AnyConnection,
    subscription_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    sqlx::query(
        "update sandbox_subscription set subscription_id = subscription_id
          where subscription_id = $1",
    )
    .bind(subscription_id)
    .execute(&mut *conn)
    .await?;
    find_subscription(conn, subscription_id).await
}

/// The organization's newest subscription: the one its test clock acts on.
pub async fn newest_subscription_of_org<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    let row: Option<SubscriptionRow> = sqlx::query_as(&format!(
        "select {SUBSCRIPTION_COLUMNS} from sandbox_subscription where org_id = $1
          order by created_at desc, subscription_id desc limit 1"
    ))
    .bind(org_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Subscription::from))
}

/// The customer's subscriptions, newest first (the portal lists them).
pub async fn subscriptions_of_customer<'c>(
    db: impl Executor<'c, Database = Any>,
    customer_id: &str,
) -> Result<Vec<Subscription>, sqlx::Error> {
    let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
        "select {SUBSCRIPTION_COLUMNS} from sandbox_subscription where customer_id = $1
          order by created_at desc, subscription_id desc"
    ))
    .bind(customer_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Subscription::from).collect())
}

// ---- invoices ----

pub async fn insert_invoice(
    conn: &mut AnyConnection,
    invoice: &Invoice,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into sandbox_invoice ({INVOICE_COLUMNS})
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&invoice.invoice_id)
    .bind(&invoice.subscription_id)
    .bind(invoice.amount_cents)
    .bind(&invoice.status)
    .bind(&invoice.billing_reason)
    .bind(invoice.attempt_count)
    .bind(invoice.first_failed_at)
    .bind(invoice.created_at)
    .bind(invoice.period_start)
    .bind(invoice.period_end)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back a payment attempt's outcome.
pub async fn save_invoice(conn: &mut AnyConnection, invoice: &Invoice) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update sandbox_invoice set status = $2, attempt_count = $3, first_failed_at = $4
          where invoice_id = $1",
    )
    .bind(&invoice.invoice_id)
    .bind(&invoice.status)
    .bind(invoice.attempt_count)
    .bind(invoice.first_failed_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_invoice<'c>(
    db: impl Executor<'c, Database = Any>,
    invoice_id: &str,
) -> Result<Option<Invoice>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {INVOICE_COLUMNS} from sandbox_invoice where invoice_id = $1"
    ))
    .bind(invoice_id)
    .fetch_optional(db)
    .await
}

/// The subscription's invoices, newest first.
pub async fn invoices_of_subscription<'c>(
    db: impl Executor<'c, Database = Any>,
    subscription_id: &str,
) -> Result<Vec<Invoice>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {INVOICE_COLUMNS} from sandbox_invoice where subscription_id = $1
          order by created_at desc, invoice_id desc"
    ))
    .bind(subscription_id)
    .fetch_all(db)
    .await
}

/// The customer's invoices across its subscriptions, newest first.
pub async fn invoices_of_customer<'c>(
    db: impl Executor<'c, Database = Any>,
    customer_id: &str,
) -> Result<Vec<Invoice>, sqlx::Error> {
    sqlx::query_as(
        "select i.invoice_id, i.subscription_id, i.amount_cents, i.status, i.billing_reason,
                i.attempt_count, i.first_failed_at, i.created_at, i.period_start, i.period_end
           from sandbox_invoice i
           join sandbox_subscription s on s.subscription_id = i.subscription_id
          where s.customer_id = $1
          order by i.created_at desc, i.invoice_id desc",
    )
    .bind(customer_id)
    .fetch_all(db)
    .await
}

// ---- portal sessions ----

pub async fn insert_portal_session<'c>(
    db: impl Executor<'c, Database = Any>,
    portal: &PortalSession,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into sandbox_portal_session (portal_session_id, customer_id, org_id, return_url, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&portal.portal_session_id)
    .bind(&portal.customer_id)
    .bind(&portal.org_id)
    .bind(&portal.return_url)
    .bind(portal.created_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find_portal_session<'c>(
    db: impl Executor<'c, Database = Any>,
    portal_session_id: &str,
) -> Result<Option<PortalSession>, sqlx::Error> {
    sqlx::query_as(
        "select portal_session_id, customer_id, org_id, return_url, created_at
           from sandbox_portal_session where portal_session_id = $1",
    )
    .bind(portal_session_id)
    .fetch_optional(db)
    .await
}

// ---- idempotency keys ----

/// What a key answered before: (request, response JSON).
pub async fn idempotent_answer(
    conn: &mut AnyConnection,
    key: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("select request, response from sandbox_idempotency where idempotency_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}

pub async fn remember_answer(
    conn: &mut AnyConnection,
    key: &str,
    request: &str,
    response: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into sandbox_idempotency (idempotency_key, request, response, created_at)
         values ($1, $2, $3, $4)",
    )
    .bind(key)
    .bind(request)
    .bind(response)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
