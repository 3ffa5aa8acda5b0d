//! The wallet ledger: the only code that moves money.
//!
//! Rules (docs/architecture.md, "Ledger"):
//! - every change to a balance is one append-only `ledger_entry`, written in
//!   the same transaction that moves `wallet.balance`, so the balance always
//!   equals the sum of the entries;
//! - every entry has an idempotency key derived from its cause; posting the
//!   same key again is a no-op that returns the original entry;
//! - holds reserve money for live calls: available = balance − open holds, and
//!   nothing (a debit or a new hold) may take available below zero, except
//!   money taken back after the fact (a refund or dispute of a payment,
//!   `post_clawback_in`), which always posts and, if available falls below
//!   zero, marks the wallet in debt (`wallet.in_debt_since`) until a credit
//!   brings available back to zero or more: never a silent negative;
//! - each operation first locks the organization's wallet row (an upsert that
//!   PostgreSQL row-locks and SQLite write-locks), so concurrent operations on
//!   one wallet run one after another and always see each other's effects.
//!
//! Functions named `*_in` take the caller's transaction; the others own one.

use super::Db;
use crate::domain::Money;
use crate::server::ids::new_id;
use sqlx::{AnyConnection, FromRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Purchase,
    CallCharge,
    Refund,
    Grant,
    Adjustment,
    AutoRecharge,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Purchase => "purchase",
            EntryKind::CallCharge => "call_charge",
            EntryKind::Refund => "refund",
            EntryKind::Grant => "grant",
            EntryKind::Adjustment => "adjustment",
            EntryKind::AutoRecharge => "auto_recharge",
        }
    }
}

/// Ledger key prefixes of the causes that buy credits (receipts read them back).
pub const CHECKOUT_KEY_PREFIX: &str = "stripe:checkout:";
pub const PAYMENT_INTENT_KEY_PREFIX: &str = "stripe:payment_intent:";

/// The key of a credit purchase: its checkout session, whichever event reports it.
pub fn checkout_key(checkout_id: &str) -> String {
    format!("{CHECKOUT_KEY_PREFIX}{checkout_id}")
}

/// The key of an auto-recharge charge: its payment intent, whether the job or
/// the webhook records it.
pub fn payment_intent_key(payment_intent_id: &str) -> String {
    format!("{PAYMENT_INTENT_KEY_PREFIX}{payment_intent_id}")
}

/// Key prefix of money taken back for refunds of one charge (`refund_key`).
pub const REFUND_KEY_PREFIX: &str = "stripe:refund:";

/// The key of a refund: the charge and the total Stripe says was refunded
/// from it so far (`amount_refunded` is cumulative), so each new total takes
/// back once, and only what the totals before it did not.
pub fn refund_key(charge_id: &str, refunded_total_cents: i64) -> String {
    format!("{}{refunded_total_cents}", refund_charge_prefix(charge_id))
}

/// The prefix every refund key of one charge starts with.
pub fn refund_charge_prefix(charge_id: &str) -> String {
    format!("{REFUND_KEY_PREFIX}{charge_id}:")
}

/// The key of a dispute (chargeback): the dispute, whichever event reports it.
pub fn dispute_key(dispute_id: &str) -> String {
    format!("stripe:dispute:{dispute_id}")
}

/// What to post: the cause is named by `idempotency_key`.
#[derive(Clone, Debug)]
pub struct NewEntry<'a> {
    pub org_id: &'a str,
    pub kind: EntryKind,
    pub amount: Money,
    pub actor: &'a str,
    pub description: &'a str,
    pub idempotency_key: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Entry {
    pub ledger_entry_id: String,
    pub org_id: String,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub actor: String,
    pub description: String,
    pub idempotency_key: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub entry: Entry,
    /// True when the key had been posted before and nothing moved now.
    pub replayed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Hold {
    pub hold_id: String,
    pub org_id: String,
    pub amount: i64,
    pub status: String,
    pub idempotency_key: String,
    pub expires_at: i64,
    pub ledger_entry_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    pub balance: Money,
    pub held: Money,
}

impl Balance {
    pub fn available(self) -> Money {
        Money::from_micros(self.balance.micros() - self.held.micros())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("not enough available credit ({available} available)")]
    InsufficientFunds { available: Money },
    #[error("idempotency key {0} was already used for a different cause")]
    KeyReused(String),
    #[error("hold {0} is not open")]
    HoldClosed(String),
    #[error("a settlement is a charge (zero or negative) for the hold's own organization")]
    InvalidSettlement,
    #[error("no such hold")]
    HoldNotFound,
    #[error("amount out of range")]
    Overflow,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<LedgerError> for crate::error::AppError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::InsufficientFunds { .. } => crate::error::AppError::InsufficientCredits,
            LedgerError::Db(error) => error.into(),
            other => {
                tracing::error!(error = %other, "ledger refused an operation");
                crate::error::AppError::Internal
            }
        }
    }
}

const ENTRY_COLUMNS: &str =
    "ledger_entry_id, org_id, kind, amount, balance_after, actor, description, idempotency_key, created_at";
const HOLD_COLUMNS: &str =
    "hold_id, org_id, amount, status, idempotency_key, expires_at, ledger_entry_id";

/// Locks the wallet row (creating an empty wallet on first use) and returns its state.
async fn lock_wallet(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
) -> Result<Balance, sqlx::Error> {
    let (balance, held): (i64, i64) = sqlx::query_as(
        "insert into wallet (org_id, balance, held, updated_at) values ($1, 0, 0, $2)
         on conflict (org_id) do update set updated_at = excluded.updated_at
         returning balance, held",
    )
    .bind(org_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Balance {
        balance: Money::from_micros(balance),
        held: Money::from_micros(held),
    })
}

async fn store_wallet(
    conn: &mut AnyConnection,
    org_id: &str,
    state: Balance,
) -> Result<(), sqlx::Error> {
    sqlx::query("update wallet set balance = $1, held = $2 where org_id = $3")
        .bind(state.balance.micros())
        .bind(state.held.micros())
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One entry by a unique column: its idempotency key or its id.
async fn entry_where(
    conn: &mut AnyConnection,
    column: EntryLookup,
    value: &str,
) -> Result<Option<Entry>, sqlx::Error> {
    let column = match column {
        EntryLookup::Key => "idempotency_key",
        EntryLookup::Id => "ledger_entry_id",
    };
    sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from ledger_entry where {column} = $1"
    ))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await
}

/// The entry a cause posted, if it has been posted yet.
pub async fn entry_for_key(
    conn: &mut AnyConnection,
    idempotency_key: &str,
) -> Result<Option<Entry>, sqlx::Error> {
    entry_where(conn, EntryLookup::Key, idempotency_key).await
}

#[derive(Clone, Copy)]
enum EntryLookup {
    Key,
    Id,
}

/// Inserts the entry and moves the balance; the wallet must be locked by the caller.
async fn append(
    conn: &mut AnyConnection,
    new: &NewEntry<'_>,
    mut wallet: Balance,
    now: i64,
) -> Result<Entry, LedgerError> {
    wallet.balance = wallet
        .balance
        .checked_add(new.amount)
        .ok_or(LedgerError::Overflow)?;
    let entry = Entry {
        ledger_entry_id: new_id("le"),
        org_id: new.org_id.to_owned(),
        kind: new.kind.as_str().to_owned(),
        amount: new.amount.micros(),
        balance_after: wallet.balance.micros(),
        actor: new.actor.to_owned(),
        description: new.description.to_owned(),
        idempotency_key: new.idempotency_key.to_owned(),
        created_at: now,
    };
    sqlx::query(&format!(
        "insert into ledger_entry ({ENTRY_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&entry.ledger_entry_id)
    .bind(&entry.org_id)
    .bind(&entry.kind)
    .bind(entry.amount)
    .bind(entry.balance_after)
    .bind(&entry.actor)
    .bind(&entry.description)
    .bind(&entry.idempotency_key)
    .bind(entry.created_at)
    .execute(&mut *conn)
    .await?;
    store_wallet(conn, new.org_id, wallet).await?;
    Ok(entry)
}

/// Posts one entry. A debit may not take the available balance below zero.
#[tracing::instrument(skip_all, fields(org_id = new.org_id, key = new.idempotency_key))]
pub async fn post_in(
    conn: &mut AnyConnection,
    new: &NewEntry<'_>,
    now: i64,
) -> Result<Posted, LedgerError> {
    if new.amount == Money::ZERO {
        return Err(LedgerError::Overflow);
    }
    post_checked(conn, new, now, true).await
}

/// Locks the organization's wallet for the rest of the transaction and
/// returns it: what a new call may spend is read under this lock, so
/// simultaneous calls cannot authorize against the same money.
pub async fn lock_in(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
) -> Result<Balance, sqlx::Error> {
    lock_wallet(conn, org_id, now).await
}

/// Posts a charge already incurred elsewhere (a carrier call whose hold was
/// released because placing it looked failed): it is recorded even if it
/// takes the balance below zero, because the money was spent. Same key rules
/// as `post_in`.
#[tracing::instrument(skip_all, fields(org_id = new.org_id, key = new.idempotency_key))]
pub async fn post_incurred_in(
    conn: &mut AnyConnection,
    new: &NewEntry<'_>,
    now: i64,
) -> Result<Posted, LedgerError> {
    if !new.amount.is_negative() {
        return Err(LedgerError::InvalidSettlement);
    }
    post_checked(conn, new, now, false).await
}

/// The body of both posts: lock, replay a known key, refuse an overdraft when asked, append.
async fn post_checked(
    conn: &mut AnyConnection,
    new: &NewEntry<'_>,
    now: i64,
    refuse_overdraft: bool,
) -> Result<Posted, LedgerError> {
    let wallet = lock_wallet(conn, new.org_id, now).await?;
    if let Some(existing) = entry_where(conn, EntryLookup::Key, new.idempotency_key).await? {
        if existing.org_id != new.org_id || existing.amount != new.amount.micros() {
            return Err(LedgerError::KeyReused(new.idempotency_key.to_owned()));
        }
        return Ok(Posted {
            entry: existing,
            replayed: true,
        });
    }
    if refuse_overdraft
        && new.amount.is_negative()
        && wallet.available().micros() + new.amount.micros() < 0
    {
        return Err(LedgerError::InsufficientFunds {
            available: wallet.available(),
        });
    }
    let entry = append(conn, new, wallet, now).await?;
    if new.amount.micros() > 0 {
        // A credit that brings available back to zero or more pays a debt back.
        sqlx::query(
            "update wallet set in_debt_since = null
             where org_id = $1 and in_debt_since is not null and balance - held >= 0",
        )
        .bind(new.org_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Posted {
        entry,
        replayed: false,
    })
}

/// Takes back money already credited (a refunded or disputed payment): the
/// entry always posts, even below what live calls hold, because the money is
/// gone. When that leaves available below zero, the wallet is marked in debt
/// (kept until a credit brings available back to zero or more), so the
/// shortfall is recorded, never a silent negative. Returns the post and
/// whether the organization is in debt after it. Same key rules as `post_in`.
#[tracing::instrument(skip_all, fields(org_id = new.org_id, key = new.idempotency_key))]
pub async fn post_clawback_in(
    conn: &mut AnyConnection,
    new: &NewEntry<'_>,
    now: i64,
) -> Result<(Posted, bool), LedgerError> {
    if !new.amount.is_negative() {
        return Err(LedgerError::InvalidSettlement);
    }
    let posted = post_checked(conn, new, now, false).await?;
    let in_debt = balance_in(conn, new.org_id)
        .await?
        .available()
        .is_negative();
    if in_debt {
        sqlx::query(
            "update wallet set in_debt_since = coalesce(in_debt_since, $2) where org_id = $1",
        )
        .bind(new.org_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok((posted, in_debt))
}

/// What entries whose key starts with `key_prefix` took from the organization
/// (a positive number): how much of a charge earlier refunds took back.
pub async fn taken_back_in(
    conn: &mut AnyConnection,
    org_id: &str,
    key_prefix: &str,
) -> Result<Money, sqlx::Error> {
    let pattern: String = key_prefix
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .chain(std::iter::once('%'))
        .collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select idempotency_key, amount from ledger_entry
         where org_id = $1 and idempotency_key like $2 escape '\\'",
    )
    .bind(org_id)
    .bind(pattern)
    .fetch_all(&mut *conn)
    .await?;
    // SQLite's `like` ignores case: keep exact prefixes only.
    let taken: i64 = rows
        .iter()
        .filter(|(key, _)| key.starts_with(key_prefix))
        .map(|(_, amount)| -amount)
        .sum();
    Ok(Money::from_micros(taken))
}

/// Since when the organization owes money (a refund or dispute took its
/// available balance below zero), and how much it owes now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debt {
    pub since: i64,
    /// What available lacks to reach zero (zero once live calls have ended).
    pub owed: Money,
}

/// The organization's debt, if it is marked in debt.
pub async fn debt_in(conn: &mut AnyConnection, org_id: &str) -> Result<Option<Debt>, sqlx::Error> {
    let row: Option<(Option<i64>, i64, i64)> =
        sqlx::query_as("select in_debt_since, balance, held from wallet where org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.and_then(|(since, balance, held)| {
        since.map(|since| Debt {
            since,
            owed: Money::from_micros((held - balance).max(0)),
        })
    }))
}

/// Reserves `amount` for a live call. Refused when it exceeds the available
/// balance. Placing the same key again returns the original hold.
#[tracing::instrument(skip_all, fields(org_id, key = idempotency_key))]
pub async fn place_hold_in(
    conn: &mut AnyConnection,
    org_id: &str,
    amount: Money,
    idempotency_key: &str,
    expires_at: i64,
    now: i64,
) -> Result<Hold, LedgerError> {
    if amount.micros() <= 0 {
        return Err(LedgerError::Overflow);
    }
    let mut wallet = lock_wallet(conn, org_id, now).await?;
    if let Some(existing) = hold_by_key(conn, idempotency_key).await? {
        return Ok(existing);
    }
    if wallet.available() < amount {
        return Err(LedgerError::InsufficientFunds {
            available: wallet.available(),
        });
    }
    let hold = Hold {
        hold_id: new_id("hold"),
        org_id: org_id.to_owned(),
        amount: amount.micros(),
        status: "open".to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        expires_at,
        ledger_entry_id: None,
    };
    sqlx::query(
        "insert into hold (hold_id, org_id, amount, status, idempotency_key, expires_at, created_at)
         values ($1, $2, $3, 'open', $4, $5, $6)",
    )
    .bind(&hold.hold_id)
    .bind(org_id)
    .bind(hold.amount)
    .bind(idempotency_key)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    wallet.held = wallet
        .held
        .checked_add(amount)
        .ok_or(LedgerError::Overflow)?;
    store_wallet(conn, org_id, wallet).await?;
    Ok(hold)
}

async fn hold_by_key(conn: &mut AnyConnection, key: &str) -> Result<Option<Hold>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {HOLD_COLUMNS} from hold where idempotency_key = $1"
    ))
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
}

async fn hold_by_id(conn: &mut AnyConnection, hold_id: &str) -> Result<Hold, LedgerError> {
    sqlx::query_as(&format!(
        "select {HOLD_COLUMNS} from hold where hold_id = $1"
    ))
    .bind(hold_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(LedgerError::HoldNotFound)
}

/// Locks the hold's wallet, then re-reads the hold: after the lock no other
/// operation can change it until this transaction ends.
async fn lock_hold(
    conn: &mut AnyConnection,
    hold_id: &str,
    now: i64,
) -> Result<(Hold, Balance), LedgerError> {
    let org_id = hold_by_id(conn, hold_id).await?.org_id;
    let wallet = lock_wallet(conn, &org_id, now).await?;
    Ok((hold_by_id(conn, hold_id).await?, wallet))
}

async fn close_hold(
    conn: &mut AnyConnection,
    hold: &Hold,
    status: &str,
    ledger_entry_id: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update hold set status = $1, closed_at = $2, ledger_entry_id = $3 where hold_id = $4 and status = 'open'")
        .bind(status)
        .bind(now)
        .bind(ledger_entry_id)
        .bind(&hold.hold_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Posts the real charge for a held call and releases the hold, atomically.
/// The charge is the carrier's real cost even if it exceeds the hold (it was
/// incurred); a zero cost just releases. Settling twice changes nothing and
/// returns the first settlement's entry.
#[tracing::instrument(skip_all, fields(hold_id, key = charge.idempotency_key))]
pub async fn settle_hold_in(
    conn: &mut AnyConnection,
    hold_id: &str,
    charge: &NewEntry<'_>,
    now: i64,
) -> Result<Option<Entry>, LedgerError> {
    let (hold, mut wallet) = lock_hold(conn, hold_id, now).await?;
    match hold.status.as_str() {
        "settled" => {
            // The hold records which entry settled it; that, not the caller's key, is the answer.
            return match hold.ledger_entry_id {
                Some(id) => Ok(entry_where(conn, EntryLookup::Id, &id).await?),
                None => Ok(None),
            };
        }
        "released" => return Err(LedgerError::HoldClosed(hold.hold_id)),
        _ => {}
    }
    if charge.org_id != hold.org_id || charge.amount.micros() > 0 {
        return Err(LedgerError::InvalidSettlement);
    }
    wallet.held = wallet
        .held
        .checked_sub(Money::from_micros(hold.amount))
        .ok_or(LedgerError::Overflow)?;
    let entry = if charge.amount == Money::ZERO {
        store_wallet(conn, &hold.org_id, wallet).await?;
        None
    } else {
        if entry_where(conn, EntryLookup::Key, charge.idempotency_key)
            .await?
            .is_some()
        {
            return Err(LedgerError::KeyReused(charge.idempotency_key.to_owned()));
        }
        Some(append(conn, charge, wallet, now).await?)
    };
    close_hold(
        conn,
        &hold,
        "settled",
        entry.as_ref().map(|e| e.ledger_entry_id.as_str()),
        now,
    )
    .await?;
    Ok(entry)
}

/// Releases a hold without charging. Releasing twice changes nothing; a
/// settled hold cannot be released.
#[tracing::instrument(skip_all, fields(hold_id))]
pub async fn release_hold_in(
    conn: &mut AnyConnection,
    hold_id: &str,
    now: i64,
) -> Result<Hold, LedgerError> {
    let (hold, mut wallet) = lock_hold(conn, hold_id, now).await?;
    match hold.status.as_str() {
        "released" => return Ok(hold),
        "settled" => return Err(LedgerError::HoldClosed(hold.hold_id)),
        _ => {}
    }
    wallet.held = wallet
        .held
        .checked_sub(Money::from_micros(hold.amount))
        .ok_or(LedgerError::Overflow)?;
    store_wallet(conn, &hold.org_id, wallet).await?;
    close_hold(conn, &hold, "released", None, now).await?;
    Ok(Hold {
        status: "released".to_owned(),
        ..hold
    })
}

/// The wallet's balance and open holds (zero for an organization that never had money).
pub async fn balance_in(conn: &mut AnyConnection, org_id: &str) -> Result<Balance, sqlx::Error> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("select balance, held from wallet where org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (balance, held) = row.unwrap_or((0, 0));
    Ok(Balance {
        balance: Money::from_micros(balance),
        held: Money::from_micros(held),
    })
}

/// What the ledger and the holds say, computed from scratch: the oracle tests
/// compare with `balance_in` (they must always agree).
pub async fn recomputed_in(conn: &mut AnyConnection, org_id: &str) -> Result<Balance, sqlx::Error> {
    let (balance,): (i64,) = sqlx::query_as(
        "select cast(coalesce(sum(amount), 0) as bigint) from ledger_entry where org_id = $1",
    )
    .bind(org_id)
    .fetch_one(&mut *conn)
    .await?;
    let (held,): (i64,) =
        sqlx::query_as("select cast(coalesce(sum(amount), 0) as bigint) from hold where org_id = $1 and status = 'open'")
            .bind(org_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Balance {
        balance: Money::from_micros(balance),
        held: Money::from_micros(held),
    })
}

/// Open holds whose `expires_at` has passed, soonest expired first: each
/// should have been closed by its call's end. The sweeper reconciles them
/// (`crate::server::calls::sweep`).
pub async fn expired_open_holds<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    now: i64,
    limit: i64,
) -> Result<Vec<Hold>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {HOLD_COLUMNS} from hold
         where status = 'open' and expires_at < $1
         order by expires_at, hold_id limit $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Owning-transaction forms of the operations above.
impl Db {
    pub async fn post(&self, new: &NewEntry<'_>, now: i64) -> Result<Posted, LedgerError> {
        let mut tx = self.begin_write().await?;
        let posted = post_in(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(posted)
    }

    pub async fn place_hold(
        &self,
        org_id: &str,
        amount: Money,
        idempotency_key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Hold, LedgerError> {
        let mut tx = self.begin_write().await?;
        let hold = place_hold_in(&mut tx, org_id, amount, idempotency_key, expires_at, now).await?;
        tx.commit().await?;
        Ok(hold)
    }

    pub async fn settle_hold(
        &self,
        hold_id: &str,
        charge: &NewEntry<'_>,
        now: i64,
    ) -> Result<Option<Entry>, LedgerError> {
        let mut tx = self.begin_write().await?;
        let entry = settle_hold_in(&mut tx, hold_id, charge, now).await?;
        tx.commit().await?;
        Ok(entry)
    }

    pub async fn release_hold(&self, hold_id: &str, now: i64) -> Result<Hold, LedgerError> {
        let mut tx = self.begin_write().await?;
        let hold = release_hold_in(&mut tx, hold_id, now).await?;
        tx.commit().await?;
        Ok(hold)
    }

    pub async fn balance(&self, org_id: &str) -> Result<Balance, sqlx::Error> {
        balance_in(&mut *self.pool.acquire().await?, org_id).await
    }

    pub async fn recomputed_balance(&self, org_id: &str) -> Result<Balance, sqlx::Error> {
        recomputed_in(&mut *self.pool.acquire().await?, org_id).await
    }
}
