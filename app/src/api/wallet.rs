//! The wallet, read side: balance and holds, the low-balance alert, the
//! transaction history, receipts and daily call spend. Buying credits lives in
//! `purchases.rs`; the CSV export of the history is a plain GET route in
//! `server/src/exports/wallet.rs` reading the same queries (`server::db::wallet`).
//!
//! Every function takes the organization id explicitly and checks the caller's
//! membership of exactly that organization first.

use crate::domain::Money;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Entries per history page.
pub const HISTORY_PAGE_SIZE: u32 = 25;
/// Days the spend chart covers, today (UTC) included.
pub const SPEND_CHART_DAYS: u16 = 30;
/// The highest low-balance alert anyone could mean: a typo guard, not a policy.
pub const MAX_LOW_BALANCE_THRESHOLD_DOLLARS: i64 = 1_000_000;

/// Ledger entry kinds as stored, with the words people see, in filter order.
pub const ENTRY_KINDS: [(&str, &str); 6] = [
    ("purchase", "Purchase"),
    ("call_charge", "Call charge"),
    ("refund", "Refund"),
    ("grant", "Grant"),
    ("adjustment", "Adjustment"),
    ("auto_recharge", "Auto-recharge"),
];

pub fn kind_label(kind: &str) -> &str {
    ENTRY_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, label)| *label)
        .unwrap_or(kind)
}

/// Purchases (bought or auto-recharged) have receipts.
pub fn has_receipt(kind: &str) -> bool {
    kind == "purchase" || kind == "auto_recharge"
}

/// The organization's money as its members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletStatus {
    pub org_id: String,
    pub balance: Money,
    /// Reserved by live calls.
    pub held: Money,
    /// Balance − held: what new calls can spend.
    pub available: Money,
    /// Zero when the alert is off.
    pub low_balance_threshold: Money,
    /// The alert is on and available credit is below it.
    pub is_low: bool,
    /// Owners and admins may change the threshold.
    pub can_manage: bool,
    /// The subscription needs attention (paused, payment overdue): shown on every page.
    pub access_banner: Option<crate::api::billing::AccessBanner>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub entry_id: String,
    pub created_at: i64,
    /// `2024-05-03 14:07 UTC`
    pub time: String,
    pub kind: String,
    pub description: String,
    /// Signed: credits positive, charges negative.
    pub amount: Money,
    pub balance_after: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub rows: Vec<HistoryRow>,
    /// 1-based, clamped to the last page.
    pub page: u32,
    /// At least 1, even when nothing matches.
    pub pages: u32,
    pub total: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub entry_id: String,
    pub org_name: String,
    pub kind: String,
    /// `2024-05-03 14:07 UTC`
    pub time: String,
    pub amount: Money,
    pub credits: i64,
    pub balance_after: Money,
    pub description: String,
    /// What the reference is ("Checkout session", "Payment intent").
    pub reference_label: String,
    /// The payment provider's id for the payment.
    pub reference: String,
    /// Who bought it, when a person did (auto-recharges have no buyer).
    pub buyer: Option<Buyer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendDay {
    /// `2024-05-03`
    pub date: String,
    /// `May 3`
    pub label: String,
    pub spend: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendChart {
    /// Oldest first; the last is today (UTC).
    pub days: Vec<SpendDay>,
    pub total: Money,
    pub max: Money,
}

#[server(endpoint = "wallet/overview")]
pub async fn wallet_overview(org_id: String) -> Result<WalletStatus, AppError> {
    ssr::wallet_overview(org_id).await
}

/// Owners and admins only. `threshold` is in dollars as typed; 0 turns the alert off.
#[server(endpoint = "wallet/low-balance-threshold")]
pub async fn set_low_balance_threshold(org_id: String, threshold: String) -> Result<(), AppError> {
    ssr::set_low_balance_threshold(org_id, threshold).await
}

/// Newest first. `kind`, `from` and `to` (YYYY-MM-DD, UTC, inclusive) are
/// optional filters; empty means any.
#[server(endpoint = "wallet/history")]
pub async fn wallet_history(
    org_id: String,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<u32>,
) -> Result<HistoryPage, AppError> {
    ssr::wallet_history(org_id, kind, from, to, page).await
}

/// The receipt of one purchase or auto-recharge; anything else is `NotFound`.
#[server(endpoint = "wallet/receipt")]
pub async fn wallet_receipt(org_id: String, entry_id: String) -> Result<Receipt, AppError> {
    ssr::wallet_receipt(org_id, entry_id).await
}

/// Call spend per UTC day over the last `SPEND_CHART_DAYS` days.
#[server(endpoint = "wallet/spend")]
pub async fn wallet_spend(org_id: String) -> Result<SpendChart, AppError> {
    ssr::wallet_spend(org_id).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::server::dates;
    use crate::server::db;
    use crate::server::db::ledger::{self, Entry};
    use crate::server::db::wallet::{self as queries, HistoryFilter};
    use crate::server::guard::{self, OrgAdmin};
    use crate::server::page_reads::PageReads;
    use crate::server::paging::PageWindow;
    use crate::server::{clock, AppState};

    pub async fn wallet_overview(org_id: String) -> Result<WalletStatus, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        // The wallet page and the layout's banner both show it: one read per page render.
        let wallet = PageReads::wallet_for_this_request(&member.org_id, || {
            queries::status(&state.db.pool, &member.org_id)
        })
        .await?;
        let balance = Money::from_micros(wallet.balance);
        let held = Money::from_micros(wallet.held);
        let threshold = Money::from_micros(wallet.low_balance_threshold);
        let available = Money::from_micros(wallet.balance - wallet.held);
        let can_manage = member.role.can_manage_org();
        // The countdown runs on the organization's billing clock, as its dates
        // do. The wallet page and the banner both show it: one read per render.
        let access = PageReads::access_for_this_request(&member.org_id, || {
            crate::server::billing::load(&state, &member.org_id)
        })
        .await?;
        let access_banner =
            crate::api::billing::ssr::banner(&access.state, can_manage, access.billing_now);
        Ok(WalletStatus {
            org_id: member.org_id,
            balance,
            held,
            available,
            low_balance_threshold: threshold,
            is_low: threshold > Money::ZERO && available < threshold,
            can_manage,
            access_banner,
        })
    }

    pub async fn set_low_balance_threshold(
        org_id: String,
        threshold: String,
    ) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let threshold =
            parse_threshold(&threshold).map_err(|m| AppError::validation("threshold", m))?;
        save_threshold(&admin, &state, threshold).await
    }

    fn parse_threshold(raw: &str) -> Result<Money, &'static str> {
        let threshold = Money::parse_dollars(raw)?;
        let most =
            Money::from_dollars(MAX_LOW_BALANCE_THRESHOLD_DOLLARS).expect("a small constant");
        if threshold > most {
            return Err("the alert threshold can be at most $1,000,000");
        }
        Ok(threshold)
    }

    /// Only an `OrgAdmin` can reach this, so a forgotten role check does not compile.
    async fn save_threshold(
        admin: &OrgAdmin,
        state: &AppState,
        threshold: Money,
    ) -> Result<(), AppError> {
        let org_id = &admin.member().org_id;
        queries::set_low_balance_threshold(&state.db.pool, org_id, threshold, clock::now()).await?;
        tracing::info!(%org_id, threshold = threshold.micros(), "low-balance threshold set");
        Ok(())
    }

    pub async fn wallet_history(
        org_id: String,
        kind: Option<String>,
        from: Option<String>,
        to: Option<String>,
        page: Option<u32>,
    ) -> Result<HistoryPage, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let filter = HistoryFilter::parse(kind.as_deref(), from.as_deref(), to.as_deref())
            .map_err(|e| AppError::validation(e.field, e.message))?;
        let total = queries::count_entries(&state.db.pool, &member.org_id, &filter).await?;
        let window = PageWindow::of(total, HISTORY_PAGE_SIZE, page);
        let size = i64::from(HISTORY_PAGE_SIZE);
        let rows =
            queries::entries_page(&state.db.pool, &member.org_id, &filter, size, window.offset)
                .await?
                .into_iter()
                .map(history_row)
                .collect();
        Ok(HistoryPage {
            rows,
            page: window.page,
            pages: window.pages,
            total,
        })
    }

    fn history_row(entry: Entry) -> HistoryRow {
        HistoryRow {
            time: dates::display_time(entry.created_at),
            entry_id: entry.ledger_entry_id,
            created_at: entry.created_at,
            kind: entry.kind,
            description: entry.description,
            amount: Money::from_micros(entry.amount),
            balance_after: Money::from_micros(entry.balance_after),
        }
    }

    pub async fn wallet_receipt(org_id: String, entry_id: String) -> Result<Receipt, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let pool = &state.db.pool;
        let entry = queries::purchase_entry(pool, &member.org_id, &entry_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let org_name = db::orgs::name_of(pool, &member.org_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let key = entry.idempotency_key.as_str();
        let (reference_label, reference, buyer) =
            if let Some(checkout_id) = key.strip_prefix(ledger::CHECKOUT_KEY_PREFIX) {
                let buyer = queries::checkout_buyer(pool, &member.org_id, checkout_id)
                    .await?
                    .map(|(name, email)| Buyer { name, email });
                ("Checkout session", checkout_id, buyer)
            } else if let Some(intent) = key.strip_prefix(ledger::PAYMENT_INTENT_KEY_PREFIX) {
                ("Payment intent", intent, None)
            } else {
                // Credited some other way: the ledger key is the most precise reference there is.
                ("Reference", key, None)
            };
        let amount = Money::from_micros(entry.amount);
        Ok(Receipt {
            time: dates::display_time(entry.created_at),
            reference_label: reference_label.to_owned(),
            reference: reference.to_owned(),
            entry_id: entry.ledger_entry_id,
            org_name,
            kind: entry.kind,
            amount,
            credits: amount.credits(),
            balance_after: Money::from_micros(entry.balance_after),
            description: entry.description,
            buyer,
        })
    }

    pub async fn wallet_spend(org_id: String) -> Result<SpendChart, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let today = dates::date_of(clock::now());
        let days =
            queries::daily_call_spend(&state.db.pool, &member.org_id, today, SPEND_CHART_DAYS)
                .await?;
        let total = days
            .iter()
            .try_fold(Money::ZERO, |sum, (_, spend)| sum.checked_add(*spend))
            .ok_or_else(|| {
                tracing::error!(org_id = %member.org_id, "daily spend overflowed");
                AppError::Internal
            })?;
        let max = days
            .iter()
            .map(|(_, spend)| *spend)
            .max()
            .unwrap_or(Money::ZERO);
        Ok(SpendChart {
            days: days
                .into_iter()
                .map(|(date, spend)| SpendDay {
                    date: dates::iso_date(date),
                    label: dates::short_date(date),
                    spend,
                })
                .collect(),
            total,
            max,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::parse_threshold;

        #[test]
        fn thresholds_are_whole_cents_between_zero_and_a_million_dollars() {
            assert_eq!(parse_threshold("0").unwrap().micros(), 0);
            assert_eq!(parse_threshold("12.5").unwrap().micros(), 12_500_000);
            for bad in ["", "-1", "abc", "1.001", "1000000.01"] {
                assert!(parse_threshold(bad).is_err(), "{bad:?}");
            }
        }
    }
}
