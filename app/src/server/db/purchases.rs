//! Checkout sessions we created (who bought what) and the organization's
//! payment details for auto-recharge (customer and saved card at the provider).

use crate::domain::Money;
use sqlx::{Any, AnyConnection, Executor, FromRow};

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Checkout {
    pub checkout_id: String,
    pub org_id: String,
    pub provider: String,
    pub purpose: String,
    pub amount: i64,
    pub created_by: String,
    pub url: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct NewCheckout<'a> {
    pub checkout_id: &'a str,
    pub org_id: &'a str,
    pub provider: &'a str,
    pub purpose: &'a str,
    pub amount: i64,
    pub created_by: &'a str,
    pub idempotency_key: &'a str,
    pub url: &'a str,
}

const CHECKOUT_COLUMNS: &str =
    "checkout_id, org_id, provider, purpose, amount, created_by, url, created_at";

/// Records the session; false when a checkout with the same idempotency key
/// (a double submit that raced this one) was recorded first.
#[tracing::instrument(skip_all, fields(checkout_id = new.checkout_id))]
pub async fn insert_checkout<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewCheckout<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into checkout (checkout_id, org_id, provider, purpose, amount, created_by, idempotency_key, url, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict do nothing",
    )
    .bind(new.checkout_id)
    .bind(new.org_id)
    .bind(new.provider)
    .bind(new.purpose)
    .bind(new.amount)
    .bind(new.created_by)
    .bind(new.idempotency_key)
    .bind(new.url)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn checkout_by_key<'c>(
    db: impl Executor<'c, Database = Any>,
    idempotency_key: &str,
) -> Result<Option<Checkout>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {CHECKOUT_COLUMNS} from checkout where idempotency_key = $1"
    ))
    .bind(idempotency_key)
    .fetch_optional(db)
    .await
}

/// One of the organization's checkouts (None for another organization's id).
pub async fn checkout_of_org<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    checkout_id: &str,
) -> Result<Option<Checkout>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {CHECKOUT_COLUMNS} from checkout where org_id = $1 and checkout_id = $2"
    ))
    .bind(org_id)
    .bind(checkout_id)
    .fetch_optional(db)
    .await
}

/// The auto-recharge half of `wallet_settings` (defaults when no row exists).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoRechargeRule {
    pub enabled: bool,
    /// Recharge when the available balance falls below this.
    pub threshold: Money,
    /// Recharge up to this.
    pub target: Money,
    /// At most this much per calendar month.
    pub monthly_cap: Money,
    /// Failed charges in a row.
    pub failures: i64,
    pub payment_customer_id: Option<String>,
    pub payment_method_id: Option<String>,
}

#[derive(FromRow)]
struct AutoRechargeRow {
    auto_recharge_enabled: i64,
    auto_recharge_threshold: i64,
    auto_recharge_target: i64,
    auto_recharge_monthly_cap: i64,
    auto_recharge_failures: i64,
    payment_customer_id: Option<String>,
    payment_method_id: Option<String>,
}

impl From<AutoRechargeRow> for AutoRechargeRule {
    fn from(row: AutoRechargeRow) -> Self {
        AutoRechargeRule {
            enabled: row.auto_recharge_enabled != 0,
            threshold: Money::from_micros(row.auto_recharge_threshold),
            target: Money::from_micros(row.auto_recharge_target),
            monthly_cap: Money::from_micros(row.auto_recharge_monthly_cap),
            failures: row.auto_recharge_failures,
            payment_customer_id: row.payment_customer_id,
            payment_method_id: row.payment_method_id,
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn auto_recharge_settings<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<AutoRechargeRule, sqlx::Error> {
    let row: Option<AutoRechargeRow> = sqlx::query_as(
        "select auto_recharge_enabled, auto_recharge_threshold, auto_recharge_target,
                auto_recharge_monthly_cap, auto_recharge_failures, payment_customer_id, payment_method_id
         from wallet_settings where org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(AutoRechargeRule::from).unwrap_or_default())
}

/// Saves the rule; a fresh start for the failure count when it is switched on.
pub async fn save_auto_recharge<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    enabled: bool,
    threshold: i64,
    target: i64,
    monthly_cap: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into wallet_settings (org_id, auto_recharge_enabled, auto_recharge_threshold,
                                      auto_recharge_target, auto_recharge_monthly_cap, updated_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (org_id) do update set
             auto_recharge_enabled = excluded.auto_recharge_enabled,
             auto_recharge_threshold = excluded.auto_recharge_threshold,
             auto_recharge_target = excluded.auto_recharge_target,
             auto_recharge_monthly_cap = excluded.auto_recharge_monthly_cap,
             auto_recharge_failures = case when excluded.auto_recharge_enabled = 1
                                           then 0 else wallet_settings.auto_recharge_failures end,
             updated_at = excluded.updated_at",
    )
    .bind(org_id)
    .bind(i64::from(enabled))
    .bind(threshold)
    .bind(target)
    .bind(monthly_cap)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The provider customer the organization's card setups belong to.
pub async fn set_payment_customer<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    customer_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into wallet_settings (org_id, payment_customer_id, updated_at) values ($1, $2, $3)
         on conflict (org_id) do update set payment_customer_id = excluded.payment_customer_id,
                                            updated_at = excluded.updated_at",
    )
    .bind(org_id)
    .bind(customer_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// A card saved by a setup-mode checkout: charged by auto-recharge from now
/// on, unless the card saved already came from a newer setup.
/// `setup_created_at` is when the provider created the setup (unix seconds);
/// setup events arrive in any order, so the newest setup wins, not the last
/// event delivered (on a tie, the later delivery). False when an older setup
/// was ignored.
pub async fn save_card(
    conn: &mut AnyConnection,
    org_id: &str,
    customer_id: &str,
    payment_method_id: &str,
    setup_created_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let saved = sqlx::query(
        "insert into wallet_settings (org_id, payment_customer_id, payment_method_id,
                                      payment_method_created_at, updated_at)
         values ($1, $2, $3, $4, $5)
         on conflict (org_id) do update set
             payment_customer_id = excluded.payment_customer_id,
             payment_method_id = excluded.payment_method_id,
             payment_method_created_at = excluded.payment_method_created_at,
             auto_recharge_failures = 0,
             updated_at = excluded.updated_at
         where wallet_settings.payment_method_created_at is null
            or wallet_settings.payment_method_created_at <= excluded.payment_method_created_at",
    )
    .bind(org_id)
    .bind(customer_id)
    .bind(payment_method_id)
    .bind(setup_created_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(saved.rows_affected() == 1)
}

/// Remembers which organization a payment intent credited, and under which
/// ledger key: refunds and disputes name only the charge and its payment
/// intent. Recording it again changes nothing.
pub async fn record_credited_payment(
    conn: &mut AnyConnection,
    payment_intent_id: &str,
    org_id: &str,
    ledger_key: &str,
    amount: Money,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into credited_payment (payment_intent_id, org_id, ledger_key, amount, created_at)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(payment_intent_id)
    .bind(org_id)
    .bind(ledger_key)
    .bind(amount.micros())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The organization a payment intent credited, if we credited it.
pub async fn org_of_payment(
    conn: &mut AnyConnection,
    payment_intent_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("select org_id from credited_payment where payment_intent_id = $1")
            .bind(payment_intent_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(org_id,)| org_id))
}
