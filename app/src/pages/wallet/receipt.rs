//! /wallet/receipts/:entry_id: the receipt of one purchase or auto-recharge of
//! the current organization, laid out to print (style/main.css hides the
//! navigation when printing). Any other entry answers 404
//! (`components::record::record_page`, the frame it shares with the calls'
//! explanation).

use crate::api::wallet::{kind_label, wallet_receipt, Receipt};
use crate::components::money::credits_text;
use crate::components::record::{record_page, RecordTexts};
use leptos::prelude::*;

#[component]
pub fn ReceiptPage() -> impl IntoView {
    record_page(
        "entry_id",
        wallet_receipt,
        RecordTexts {
            title: "Receipt",
            loading: "Loading the receipt…",
            missing_heading: "Receipt not found",
            missing_text: "There is no purchase with this reference in your current organization.",
            back_href: "/wallet",
            back_text: "Back to the wallet",
        },
        |receipt| view! { <ReceiptView receipt/> },
    )
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
