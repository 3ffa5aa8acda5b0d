//! Reading the wallet: the ledger history (filtered, paginated, exported), the
//! receipt of one purchase, daily call spend, and the low-balance alert
//! threshold. Nothing here moves money (that is `ledger.rs`); every query
//! takes the organization id a guard checked and reads only that organization.
//!
//! The history filter lives here too, because the server functions
//! (`api/wallet.rs`) and the CSV export (`server/src/exports/wallet.rs`) must
//! read exactly the same rows. Its days and pages are every history's
//! (`server::dates`, `server::paging`).

use super::ledger::{Entry, EntryKind};
use crate::domain::{deleted_account, Money};
use crate::server::dates::{day_start, SECONDS_PER_DAY};
use crate::server::paging::{present, DayRange, FilterError};
use sqlx::{Any, Executor};
use time::{Date, Duration};

/// Every kind of ledger entry, in the order the filter lists them.
pub const KINDS: [EntryKind; 6] = [
    EntryKind::Purchase,
    EntryKind::CallCharge,
    EntryKind::Refund,
    EntryKind::Grant,
    EntryKind::Adjustment,
    EntryKind::AutoRecharge,
];

pub fn kind_from_str(raw: &str) -> Option<EntryKind> {
    KINDS.into_iter().find(|kind| kind.as_str() == raw)
}

// ---------------------------------------------------------------------------
// The history filter.

/// Which entries a history view (page or CSV) shows. Dates are whole UTC days,
/// both ends included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub kind: Option<EntryKind>,
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl HistoryFilter {
    /// Parses the filter as the query string carries it; empty means "any".
    pub fn parse(
        kind: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Self, FilterError> {
        let kind = match present(kind) {
            None => None,
            Some(raw) => Some(kind_from_str(raw).ok_or(FilterError {
                field: "kind",
                message: "choose a transaction kind from the list",
            })?),
        };
        let DayRange { from, to } = DayRange::parse(from, to)?;
        Ok(Self { kind, from, to })
    }

    fn bounds(&self) -> (i64, i64) {
        DayRange {
            from: self.from,
            to: self.to,
        }
        .bounds()
    }

    fn kind_str(&self) -> &'static str {
        self.kind.map(EntryKind::as_str).unwrap_or("")
    }
}

// `$3 = ''` keeps one statement for "any kind" and "this kind" (the kind is
// always bound as text, so both backends know its type).
const FILTERED: &str = "from ledger_entry
    where org_id = $1 and created_at >= $2 and created_at < $4 and ($3 = '' or kind = $3)";

const ENTRY_COLUMNS: &str =
    "ledger_entry_id, org_id, kind, amount, balance_after, actor, description, idempotency_key, created_at";

/// How many entries the filter matches.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn count_entries<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &HistoryFilter,
) -> Result<i64, sqlx::Error> {
    let (start, end) = filter.bounds();
    let (n,): (i64,) = sqlx::query_as(&format!("select count(*) {FILTERED}"))
        .bind(org_id)
        .bind(start)
        .bind(filter.kind_str())
        .bind(end)
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// One page of matching entries, newest first; entries of the same second are
/// ordered by id so pages never overlap or skip.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn entries_page<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &HistoryFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let (start, end) = filter.bounds();
    sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} {FILTERED}
         order by created_at desc, ledger_entry_id desc
         limit $5 offset $6"
    ))
    .bind(org_id)
    .bind(start)
    .bind(filter.kind_str())
    .bind(end)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// The next page of matching entries in history order (newest first) after
/// `after` (the `(created_at, ledger_entry_id)` of the last row of the
/// previous page; None for the first page): what the CSV export streams.
/// Pages by key, so a page never overlaps or skips another, however long the
/// download takes.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn entries_after<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &HistoryFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let (start, end) = filter.bounds();
    let (after_time, after_id) = after.unwrap_or((i64::MAX, String::new()));
    sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} {FILTERED}
           and (created_at < $5 or (created_at = $5 and ledger_entry_id < $6))
         order by created_at desc, ledger_entry_id desc
         limit $7"
    ))
    .bind(org_id)
    .bind(start)
    .bind(filter.kind_str())
    .bind(end)
    .bind(after_time)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Receipts.

/// A purchase or auto-recharge entry of this organization; None for any other
/// entry, including another organization's.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn purchase_entry<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    ledger_entry_id: &str,
) -> Result<Option<Entry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from ledger_entry
         where org_id = $1 and ledger_entry_id = $2 and kind in ('purchase', 'auto_recharge')"
    ))
    .bind(org_id)
    .bind(ledger_entry_id)
    .fetch_optional(db)
    .await
}

/// Who started this organization's checkout session: (name, email).
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn checkout_buyer<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    checkout_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let buyer: Option<(String, String)> = sqlx::query_as(
        "select app_user.name, app_user.email
           from checkout join app_user on app_user.user_id = checkout.created_by
          where checkout.org_id = $1 and checkout.checkout_id = $2",
    )
    .bind(org_id)
    .bind(checkout_id)
    .fetch_optional(db)
    .await?;
    Ok(buyer.map(|(name, email)| {
        (
            deleted_account::shown_name(name),
            deleted_account::shown_email(email),
        )
    }))
}

// ---------------------------------------------------------------------------
// Daily call spend.

/// Money spent on calls on each of the `days` UTC days ending with `last_day`
/// (oldest first), as positive amounts: the sum of the call charges.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn daily_call_spend<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    last_day: Date,
    days: u16,
) -> Result<Vec<(Date, Money)>, sqlx::Error> {
    let first_day = last_day
        .checked_sub(Duration::days(i64::from(days.saturating_sub(1))))
        .unwrap_or(last_day);
    let start = day_start(first_day);
    let end = start + i64::from(days) * SECONDS_PER_DAY;
    // Integer division buckets each charge into its day (created_at >= start,
    // so truncation is the floor on both backends).
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "select cast((created_at - $2) / 86400 as bigint), cast(sum(amount) as bigint)
           from ledger_entry
          where org_id = $1 and kind = 'call_charge' and amount < 0
            and created_at >= $2 and created_at < $3
          group by 1",
    )
    .bind(org_id)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await?;
    let mut spend = vec![0i64; usize::from(days)];
    for (day, sum) in rows {
        if let Some(slot) = usize::try_from(day).ok().and_then(|d| spend.get_mut(d)) {
            *slot = sum.saturating_neg();
        }
    }
    Ok(spend
        .into_iter()
        .enumerate()
        .map(|(i, micros)| {
            let date = first_day
                .checked_add(Duration::days(i as i64))
                .unwrap_or(last_day);
            (date, Money::from_micros(micros))
        })
        .collect())
}

// ---------------------------------------------------------------------------
// The low-balance alert.

/// Balance, held and the alert threshold of one organization in one
/// statement (zeros before its wallet or settings row exists): what the
/// wallet card and the low-balance banner show.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn status<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<crate::server::page_reads::WalletRead, sqlx::Error> {
    let (balance, held, low_balance_threshold): (i64, i64, i64) = sqlx::query_as(
        "select cast(coalesce((select balance from wallet where org_id = $1), 0) as bigint),
                cast(coalesce((select held from wallet where org_id = $1), 0) as bigint),
                cast(coalesce((select low_balance_threshold from wallet_settings where org_id = $1), 0) as bigint)",
    )
    .bind(org_id)
    .fetch_one(db)
    .await?;
    Ok(crate::server::page_reads::WalletRead {
        balance,
        held,
        low_balance_threshold,
    })
}

/// Saves the threshold, leaving the other wallet settings as they are.
/// Callers hold an `OrgAdmin` for `org_id` (see `api::wallet`).
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn set_low_balance_threshold<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    threshold: Money,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into wallet_settings (org_id, low_balance_threshold, updated_at) values ($1, $2, $3)
         on conflict (org_id) do update set low_balance_threshold = excluded.low_balance_threshold,
                                            updated_at = excluded.updated_at",
    )
    .bind(org_id)
    .bind(threshold.micros())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_covers_whole_utc_days_with_both_ends_included() {
        let filter = HistoryFilter::parse(None, Some("2024-03-01"), Some("2024-03-01")).unwrap();
        assert_eq!(filter.bounds(), (1_709_251_200, 1_709_251_200 + 86_400));
        assert_eq!(
            HistoryFilter::parse(Some(""), Some(" "), None).unwrap(),
            HistoryFilter::default()
        );
    }

    #[test]
    fn bad_filters_name_their_field() {
        let field = |k, f, t| HistoryFilter::parse(k, f, t).unwrap_err().field;
        assert_eq!(field(Some("bogus"), None, None), "kind");
        assert_eq!(field(None, Some("2024-02-30"), None), "from");
        assert_eq!(field(None, None, Some("yesterday")), "to");
        assert_eq!(field(None, Some("2024-03-02"), Some("2024-03-01")), "to");
        assert_eq!(
            HistoryFilter::parse(Some("call_charge"), None, None)
                .unwrap()
                .kind,
            Some(EntryKind::CallCharge)
        );
    }
}
