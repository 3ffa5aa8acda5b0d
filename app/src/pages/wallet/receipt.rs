//! /wallet/receipts/:entry_id: the receipt of one purchase or auto-recharge of
//! the current organization, laid out to print (style/main.css hides the
//! navigation when printing). Any other entry answers 404.

use super::{credits_text, current_org_id, for_current_org};
use crate::api::wallet::{kind_label, wallet_receipt, Receipt};
use crate::components::layout::MeResource;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ReceiptPage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let params = use_params_map();
    let entry_id = move || params.read().get("entry_id").unwrap_or_default();
    let receipt = Resource::new(
        move || (current_org_id(me), entry_id()),
        move |(_, entry_id)| for_current_org(me, move |org_id| wallet_receipt(org_id, entry_id)),
    );
    #[cfg(feature = "ssr")]
    let response = use_context::<leptos_axum::ResponseOptions>();
    view! {
        <Title text="Receipt"/>
        <Transition fallback=|| view! { <p class="muted">"Loading the receipt…"</p> }>
            {move || {
                #[cfg(feature = "ssr")]
                let response = response.clone();
                Suspend::new(async move {
                    match receipt.await {
                        Ok(Some(receipt)) => view! { <ReceiptView receipt/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(AppError::NotFound) => {
                            #[cfg(feature = "ssr")]
                            if let Some(response) = response {
                                response.set_status(http::StatusCode::NOT_FOUND);
                            }
                            view! {
                                <h1>"Receipt not found"</h1>
                                <section class="card">
                                    <p>"There is no purchase with this reference in your current organization."</p>
                                    <p><a href="/wallet">"Back to the wallet"</a></p>
                                </section>
                            }
                            .into_any()
                        }
                        Err(error) => view! {
                            <h1>"Receipt"</h1>
                            <p class="form-error" role="alert">{error.to_string()}</p>
                        }
                        .into_any(),
                    }
                })
            }}
        </Transition>
    }
    .into_any()
}

#[component]
fn ReceiptView(receipt: Receipt) -> impl IntoView {
    let buyer = receipt.buyer.map(|buyer| {
        view! {
            <dt>"Bought by"</dt>
            <dd data-testid="receipt-buyer">{format!("{} <{}>", buyer.name, buyer.email)}</dd>
        }
    });
    view! {
        <article class="card receipt" aria-labelledby="receipt-heading">
            <header class="receipt-header">
                <p class="receipt-brand">"☎ Phonebooth"</p>
                <h1 id="receipt-heading">"Receipt"</h1>
            </header>
            <dl class="receipt-details">
                <dt>"Organization"</dt>
                <dd data-testid="receipt-org">{receipt.org_name}</dd>
                <dt>"Date"</dt>
                <dd>{receipt.time}</dd>
                <dt>"Type"</dt>
                <dd>{kind_label(&receipt.kind).to_owned()}</dd>
                <dt>"Amount paid"</dt>
                <dd class="receipt-amount" data-testid="receipt-amount">{receipt.amount.to_string()}</dd>
                <dt>"Credits"</dt>
                <dd>{credits_text(receipt.amount)}</dd>
                <dt>{receipt.reference_label}</dt>
                <dd><code data-testid="receipt-reference">{receipt.reference}</code></dd>
                {buyer}
                <dt>"Ledger entry"</dt>
                <dd><code>{receipt.entry_id}</code></dd>
                <dt>"Balance after"</dt>
                <dd>{receipt.balance_after.to_string()}</dd>
                <dt>"Description"</dt>
                <dd>{receipt.description}</dd>
            </dl>
            <p class="muted receipt-note">"Prepaid calling credits: 1 credit = $0.01 (US dollars)."</p>
        </article>
        <p class="no-print"><a href="/wallet">"← Back to the wallet"</a></p>
    }
    .into_any()
}
