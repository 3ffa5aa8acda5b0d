//! /wallet: the balance (available and held), buying credits, the low-balance
//! alert, the last 30 days of call spend, and the transaction history with its
//! CSV export; /wallet/receipts/:entry_id: one purchase's receipt.
//!
//! Every section is a Resource whose fetcher awaits the current account
//! (`MeResource`) and asks for that organization's data, so the server renders
//! the whole page before sending it (`SsrMode::Async`) and it works without
//! JavaScript. The history's filters and pages are query parameters.

mod auto_recharge;
mod buy;
mod history;
mod receipt;
mod spend_chart;

pub(crate) use history::{
    DateRangeFields, FilterActions, FilterErrorNotice, HistorySummary, Pagination,
};
pub use receipt::ReceiptPage;
pub(crate) use receipt::{record_page, RecordTexts};

use crate::api::auth::Me;
use crate::api::wallet::{wallet_overview, SetLowBalanceThreshold, WalletStatus};
use crate::components::form::{action_error, FieldError, FormError};
use crate::components::layout::{MeResource, WalletStatusResource};
use crate::domain::Money;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use std::future::Future;

#[component]
pub fn WalletPage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let set_threshold = ServerAction::<SetLowBalanceThreshold>::new();
    // Bumped when credits land (buying, auto-recharge) so the balance reloads.
    let wallet_version = RwSignal::new(0u32);
    provide_context(buy::WalletVersion(wallet_version));
    let returning = buy::watch_returning_purchase(me, buy::WalletVersion(wallet_version));
    provide_context(returning);
    let overview = Resource::new(
        move || {
            (
                current_org_id(me),
                set_threshold.version().get(),
                wallet_version.get(),
            )
        },
        move |_| async move {
            // After the returning purchase's status: if that says credited, so does the balance.
            let _ = returning.0.await;
            for_current_org(me, wallet_overview).await
        },
    );
    // The layout's low-balance banner reads its own copy of the status.
    let banner = use_context::<WalletStatusResource>();
    Effect::watch(
        move || (set_threshold.version().get(), wallet_version.get()),
        move |_, _, _| {
            if let Some(WalletStatusResource(status)) = banner {
                status.refetch();
            }
        },
        false,
    );

    view! {
        <Title text="Wallet"/>
        <h1>"Wallet"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading your wallet…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(Some(status)) => view! { <BalanceCard status/> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => Some(view! { <PurchaseSections org_id=me.current_org.org_id/> }),
                    _ => None,
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(Some(status)) => Some(view! { <LowBalanceAlert status set_threshold/> }),
                    _ => None,
                }
            })}
        </Transition>
        <spend_chart::SpendSection version=wallet_version.into()/>
        <history::HistorySection version=wallet_version.into()/>
    }
    .into_any()
}

/// Buying credits and auto-recharge (`buy.rs`, `auto_recharge.rs`).
#[component]
fn PurchaseSections(org_id: String) -> impl IntoView {
    view! {
        <buy::BuyCredits org_id=org_id.clone()/>
        <auto_recharge::AutoRechargeSettings org_id/>
    }
    .into_any()
}

#[component]
fn BalanceCard(status: WalletStatus) -> impl IntoView {
    view! {
        <section class="card wallet-balance" aria-labelledby="balance-heading">
            <h2 id="balance-heading">"Balance"</h2>
            <p class="balance-amount" data-testid="balance">{status.balance.to_string()}</p>
            <p class="balance-credits">{credits_text(status.balance)}</p>
            <dl class="balance-breakdown">
                <div>
                    <dt>"Available"</dt>
                    <dd data-testid="available">{status.available.to_string()}</dd>
                </div>
                <div>
                    <dt>"Held by live calls"</dt>
                    <dd data-testid="held">{status.held.to_string()}</dd>
                </div>
            </dl>
            {status.is_low.then(|| view! {
                <p class="balance-low">
                    {format!("Available credit is below your low-balance alert of {}.", status.low_balance_threshold)}
                </p>
            })}
        </section>
    }
    .into_any()
}

#[component]
fn LowBalanceAlert(
    status: WalletStatus,
    set_threshold: ServerAction<SetLowBalanceThreshold>,
) -> impl IntoView {
    let error: Signal<Option<AppError>> = action_error(set_threshold);
    let saved = move || set_threshold.value().get().is_some_and(|r| r.is_ok());
    let threshold = status.low_balance_threshold;
    let current = if threshold == Money::ZERO {
        "The alert is off.".to_owned()
    } else {
        format!("Everyone in the organization sees a banner when available credit falls below {threshold}.")
    };
    let form = status.can_manage.then(|| {
        // Thresholds are whole cents and never negative: "25.00", without the sign.
        let value = threshold.plain_dollars();
        view! {
            <ActionForm action=set_threshold>
                <FormError error fields=&["threshold"]/>
                <input type="hidden" name="org_id" value=status.org_id.clone()/>
                <label for="low-balance-threshold">"Alert when available credit falls below (US dollars)"</label>
                <input id="low-balance-threshold" name="threshold" type="text" inputmode="decimal"
                    autocomplete="off" value=value aria-describedby="threshold-hint"/>
                <p class="hint" id="threshold-hint">"For example 10 or 25.50. Enter 0 to turn the alert off."</p>
                <FieldError error field="threshold"/>
                <button type="submit" disabled=move || set_threshold.pending().get()>
                    {move || if set_threshold.pending().get() { "Saving…" } else { "Save alert" }}
                </button>
                {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
            </ActionForm>
        }
    });
    view! {
        <section class="card" aria-labelledby="low-balance-heading">
            <h2 id="low-balance-heading">"Low-balance alert"</h2>
            <p data-testid="low-balance-current">{current}</p>
            {if status.can_manage {
                form.into_any()
            } else {
                view! { <p class="muted">"Only owners and admins can change the alert."</p> }.into_any()
            }}
        </section>
    }
    .into_any()
}

/// `1,234 credits` (1 credit = $0.01, whole credits).
pub(crate) fn credits_text(amount: Money) -> String {
    let credits = amount.credits();
    let unit = if credits == 1 { "credit" } else { "credits" };
    format!("{} {unit}", group_thousands(credits))
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// The current organization's id once the account has loaded: a Resource key.
pub(crate) fn current_org_id(me: Resource<Result<Option<Me>, AppError>>) -> Option<String> {
    me.get()
        .and_then(Result::ok)
        .flatten()
        .map(|me| me.current_org.org_id)
}

/// Awaits the current account, then loads `load(org_id)` for its organization
/// (None when nobody is logged in: the layout is redirecting).
pub(crate) async fn for_current_org<T, F, Fut>(
    me: Resource<Result<Option<Me>, AppError>>,
    load: F,
) -> Result<Option<T>, AppError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    match me.await {
        Ok(Some(me)) => load(me.current_org.org_id).await.map(Some),
        Ok(None) => Ok(None),
        Err(error) => Err(error),
    }
}

/// `key=value&…` with values percent-encoded; empty values are left out.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_grouped_in_thousands() {
        assert_eq!(
            credits_text(Money::from_dollars(12_345).unwrap()),
            "1,234,500 credits"
        );
        assert_eq!(credits_text(Money::from_cents(1).unwrap()), "1 credit");
        assert_eq!(credits_text(Money::ZERO), "0 credits");
        assert_eq!(group_thousands(-1_000), "-1,000");
    }

    #[test]
    fn query_strings_encode_values_and_skip_empty_ones() {
        assert_eq!(
            query_string(&[("kind", "call_charge"), ("from", ""), ("to", "a&b=c d")]),
            "kind=call_charge&to=a%26b%3Dc%20d"
        );
    }
}
