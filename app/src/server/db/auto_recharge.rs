//! Auto-recharge attempts (`auto_recharge_attempt`) and the failure count
//! kept beside the rule in `wallet_settings`. The rules they serve are in
//! `server::purchases::auto_recharge`.

use sqlx::{Any, AnyConnection, Executor, FromRow};

/// Where an attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Created with its charge job; at most one per organization.
    Pending,
    Succeeded,
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [
            AttemptStatus::Pending,
            AttemptStatus::Succeeded,
            AttemptStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == raw)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub attempt_id: String,
    pub org_id: String,
    /// Micro-dollars.
    pub amount: i64,
    pub status: AttemptStatus,
    pub payment_ref: Option<String>,
    pub failure: Option<String>,
    pub created_at: i64,
}

#[derive(FromRow)]
struct AttemptRow {
    attempt_id: String,
    org_id: String,
    amount: i64,
    status: String,
    payment_ref: Option<String>,
    failure: Option<String>,
    created_at: i64,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = sqlx::Error;

    fn try_from(row: AttemptRow) -> Result<Self, Self::Error> {
        let status = AttemptStatus::parse(&row.status).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown attempt status {:?}", row.status).into())
        })?;
        Ok(Attempt {
            attempt_id: row.attempt_id,
            org_id: row.org_id,
            amount: row.amount,
            status,
            payment_ref: row.payment_ref,
            failure: row.failure,
            created_at: row.created_at,
        })
    }
}

const ATTEMPT_COLUMNS: &str =
    "attempt_id, org_id, amount, status, payment_ref, failure, created_at";

/// What was charged (or is being charged) since `since`: what the monthly cap limits.
#[tracing::instrument(skip_all)]
pub async fn charged_since<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let (used,): (i64,) = sqlx::query_as(
        "select cast(coalesce(sum(amount), 0) as bigint) from auto_recharge_attempt
         where org_id = $1 and status in ('pending', 'succeeded') and created_at >= $2",
    )
    .bind(org_id)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(used)
}

/// Organizations whose rule is on, with a saved card, below their threshold
/// and with no attempt pending: the candidates of a scan.
#[tracing::instrument(skip_all)]
pub async fn orgs_due<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "select wallet_settings.org_id from wallet_settings
           join wallet on wallet.org_id = wallet_settings.org_id
          where wallet_settings.auto_recharge_enabled = 1
            and wallet_settings.payment_method_id is not null
            and wallet.balance - wallet.held < wallet_settings.auto_recharge_threshold
            and not exists (select 1 from auto_recharge_attempt a
                             where a.org_id = wallet_settings.org_id and a.status = 'pending')",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(org_id,)| org_id).collect())
}

/// Starts a pending attempt; false when the organization already has one
/// (the unique index on pending attempts decides between racing scanners).
#[tracing::instrument(skip_all, fields(attempt_id))]
pub async fn insert_attempt(
    conn: &mut AnyConnection,
    attempt_id: &str,
    org_id: &str,
    amount: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into auto_recharge_attempt (attempt_id, org_id, amount, status, created_at)
         values ($1, $2, $3, 'pending', $4) on conflict do nothing",
    )
    .bind(attempt_id)
    .bind(org_id)
    .bind(amount)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn attempt<'c>(
    db: impl Executor<'c, Database = Any>,
    attempt_id: &str,
) -> Result<Option<Attempt>, sqlx::Error> {
    let row: Option<AttemptRow> = sqlx::query_as(&format!(
        "select {ATTEMPT_COLUMNS} from auto_recharge_attempt where attempt_id = $1"
    ))
    .bind(attempt_id)
    .fetch_optional(db)
    .await?;
    row.map(Attempt::try_from).transpose()
}

/// The organization's latest attempts, newest first.
#[tracing::instrument(skip_all)]
pub async fn recent_attempts<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Vec<Attempt>, sqlx::Error> {
    let rows: Vec<AttemptRow> = sqlx::query_as(&format!(
        "select {ATTEMPT_COLUMNS} from auto_recharge_attempt
         where org_id = $1 order by created_at desc, attempt_id desc limit 5"
    ))
    .bind(org_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Attempt::try_from).collect()
}

/// Records the payment intent of a charge the provider is still processing;
/// the attempt stays pending (it still blocks a second attempt and counts
/// toward the monthly cap) until the provider reports how it ended.
#[tracing::instrument(skip_all)]
pub async fn mark_processing(
    conn: &mut AnyConnection,
    attempt_id: &str,
    payment_ref: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update auto_recharge_attempt set payment_ref = $2
         where attempt_id = $1 and status = 'pending'",
    )
    .bind(attempt_id)
    .bind(payment_ref)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pending attempts whose payment the provider has been processing since
/// they started before `started_before` (a pending attempt with a payment
/// intent is one the provider answered `processing`).
#[tracing::instrument(skip_all)]
pub async fn processing_started_before<'c>(
    db: impl Executor<'c, Database = Any>,
    started_before: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "select attempt_id from auto_recharge_attempt
         where status = 'pending' and payment_ref is not null and created_at < $1",
    )
    .bind(started_before)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Closes the attempt as paid (also one counted as failed before: the money
/// is in) and resets the organization's run of failures.
#[tracing::instrument(skip_all)]
pub async fn mark_succeeded(
    conn: &mut AnyConnection,
    attempt: &Attempt,
    payment_ref: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update auto_recharge_attempt set status = 'succeeded', payment_ref = $2, failure = null,
                finished_at = coalesce(finished_at, $3)
         where attempt_id = $1 and status <> 'succeeded'",
    )
    .bind(&attempt.attempt_id)
    .bind(payment_ref)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update wallet_settings set auto_recharge_failures = 0 where org_id = $1")
        .bind(&attempt.org_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Closes a pending attempt as failed; false when it was not pending (the
/// failure was already counted, or it succeeded).
#[tracing::instrument(skip_all)]
pub async fn mark_failed(
    conn: &mut AnyConnection,
    attempt_id: &str,
    payment_ref: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let closed = sqlx::query(
        "update auto_recharge_attempt set status = 'failed', failure = $2,
                payment_ref = coalesce($3, payment_ref), finished_at = $4
         where attempt_id = $1 and status = 'pending'",
    )
    .bind(attempt_id)
    .bind(reason)
    .bind(payment_ref)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(closed.rows_affected() == 1)
}

/// Counts one more failure in a row; returns the new count.
#[tracing::instrument(skip_all)]
pub async fn count_failure(conn: &mut AnyConnection, org_id: &str) -> Result<i64, sqlx::Error> {
    let (failures,): (i64,) = sqlx::query_as(
        "update wallet_settings set auto_recharge_failures = auto_recharge_failures + 1
         where org_id = $1 returning auto_recharge_failures",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await?;
    Ok(failures)
}

#[tracing::instrument(skip_all)]
pub async fn switch_off(conn: &mut AnyConnection, org_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update wallet_settings set auto_recharge_enabled = 0 where org_id = $1")
        .bind(org_id)
        .execute(conn)
        .await?;
    Ok(())
}
