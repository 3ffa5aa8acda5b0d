//! /wallet: the balance (available and held), buying credits, the low-balance
//! alert, the last 30 days of call spend, and the transaction history with its
//! CSV export; /wallet/receipts/:entry_id: one purchase's receipt.
//!
//! Every section is a Resource whose fetcher awaits the current account
//! (`MeResource`) and asks for that organization's data
//! (`components::current_org`), so the server renders the whole page before
//! sending it (`SsrMode::Async`) and it works without JavaScript. The
//! history's filters and pages are query parameters.

mod auto_recharge;
mod buy;
mod history;
mod receipt;
mod spend_chart;

pub use receipt::ReceiptPage;

use crate::api::wallet::{wallet_overview, SetLowBalanceThreshold, WalletStatus};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::components::layout::{MeResource, WalletStatusResource};
use crate::components::money::credits_text;
use crate::domain::Money;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

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
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
        <buy::BuyCredits/>
        <auto_recharge::AutoRechargeSettings/>
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
