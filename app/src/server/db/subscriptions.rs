//! The stored subscription (`subscription`), its failed invoices
//! (`subscription_invoice`) and the once-per-cause notices about it
//! (`subscription_notice`). The rules are `server::subscriptions`.

use sqlx::{Any, AnyConnection, Executor, FromRow};

/// One organization's subscription row.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Row {
    pub org_id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub price_id: String,
    pub plan_interval: String,
    pub quantity: i64,
    pub unit_amount_cents: Option<i64>,
    pub status: String,
    pub cancel_at_period_end: i64,
    pub paused: i64,
    pub pause_resumes_at: Option<i64>,
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub ended_at: Option<i64>,
    pub object_at: i64,
}

const COLUMNS: &str = "org_id, subscription_id, customer_id, price_id, plan_interval, quantity, \
     unit_amount_cents, status, cancel_at_period_end, paused, pause_resumes_at, \
     current_period_end, trial_end, ended_at, object_at";

pub async fn for_org<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from subscription where org_id = $1"
    ))
    .bind(org_id)
    .fetch_optional(db)
    .await
}

pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    subscription_id: &str,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from subscription where subscription_id = $1"
    ))
    .bind(subscription_id)
    .fetch_optional(db)
    .await
}

/// Writes the organization's row as `row` describes it (one per organization:
/// a new subscription after an ended one takes its place).
pub async fn put(conn: &mut AnyConnection, row: &Row, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into subscription (org_id, subscription_id, customer_id, price_id, plan_interval,
             quantity, unit_amount_cents, status, cancel_at_period_end, paused, pause_resumes_at,
             current_period_end, trial_end, ended_at, object_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         on conflict (org_id) do update set
             subscription_id = excluded.subscription_id, customer_id = excluded.customer_id,
             price_id = excluded.price_id, plan_interval = excluded.plan_interval,
             quantity = excluded.quantity, unit_amount_cents = excluded.unit_amount_cents,
             status = excluded.status, cancel_at_period_end = excluded.cancel_at_period_end,
             paused = excluded.paused, pause_resumes_at = excluded.pause_resumes_at,
             current_period_end = excluded.current_period_end, trial_end = excluded.trial_end,
             ended_at = excluded.ended_at, object_at = excluded.object_at,
             updated_at = excluded.updated_at",
    )
    .bind(&row.org_id)
    .bind(&row.subscription_id)
    .bind(&row.customer_id)
    .bind(&row.price_id)
    .bind(&row.plan_interval)
    .bind(row.quantity)
    .bind(row.unit_amount_cents)
    .bind(&row.status)
    .bind(row.cancel_at_period_end)
    .bind(row.paused)
    .bind(row.pause_resumes_at)
    .bind(row.current_period_end)
    .bind(row.trial_end)
    .bind(row.ended_at)
    .bind(row.object_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed payment of `invoice_id`, unless it was paid already.
/// True when this is the invoice's first recorded failure.
pub async fn invoice_failed(
    conn: &mut AnyConnection,
    invoice: &InvoiceRef<'_>,
    failed_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into subscription_invoice (invoice_id, subscription_id, org_id, status, failed_at, updated_at)
         values ($1, $2, $3, 'failed', $4, $5)
         on conflict (invoice_id) do nothing",
    )
    .bind(invoice.invoice_id)
    .bind(invoice.subscription_id)
    .bind(invoice.org_id)
    .bind(failed_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        // Known already: an earlier failure moves the start of grace back,
        // never forward; a paid invoice stays paid.
        sqlx::query(
            "update subscription_invoice set failed_at = $2, updated_at = $3
             where invoice_id = $1 and status = 'failed' and failed_at > $2",
        )
        .bind(invoice.invoice_id)
        .bind(failed_at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Marks `invoice_id` paid, for good.
pub async fn invoice_paid(
    conn: &mut AnyConnection,
    invoice: &InvoiceRef<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into subscription_invoice (invoice_id, subscription_id, org_id, status, failed_at, updated_at)
         values ($1, $2, $3, 'paid', null, $4)
         on conflict (invoice_id) do update set status = 'paid', updated_at = $4",
    )
    .bind(invoice.invoice_id)
    .bind(invoice.subscription_id)
    .bind(invoice.org_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// An invoice of a subscription of an organization.
#[derive(Clone, Copy, Debug)]
pub struct InvoiceRef<'a> {
    pub invoice_id: &'a str,
    pub subscription_id: &'a str,
    pub org_id: &'a str,
}

/// The subscription's unpaid failed invoices, oldest failure first.
pub async fn failed_invoices<'c>(
    db: impl Executor<'c, Database = Any>,
    subscription_id: &str,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select invoice_id, failed_at from subscription_invoice
         where subscription_id = $1 and status = 'failed' and failed_at is not null
         order by failed_at, invoice_id",
    )
    .bind(subscription_id)
    .fetch_all(db)
    .await
}

/// Claims the notice for `cause`: true the first time only.
pub async fn notice_once(
    conn: &mut AnyConnection,
    org_id: &str,
    cause: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into subscription_notice (org_id, cause, sent_at) values ($1, $2, $3)
         on conflict (org_id, cause) do nothing",
    )
    .bind(org_id)
    .bind(cause)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Subscriptions whose collection is paused with a resume date: the job
/// resumes them on that date and reminds owners before it.
pub async fn paused_with_resume_date<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from subscription
         where paused = 1 and pause_resumes_at is not null
           and status not in ('canceled', 'incomplete_expired')"
    ))
    .fetch_all(db)
    .await
}
