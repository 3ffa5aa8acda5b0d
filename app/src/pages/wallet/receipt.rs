//! /wallet/receipts/:entry_id: the receipt of one purchase or auto-recharge of
//! the current organization, laid out to print (style/main.css hides the
//! navigation when printing). Any other entry answers 404.
//!
//! `record_page` is the frame of every page of one organization record (the
//! calls' explanation uses it too): load by route parameter, 404 when missing.

use super::{credits_text, current_org_id, for_current_org};
use crate::api::wallet::{kind_label, wallet_receipt, Receipt};
use crate::components::layout::MeResource;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

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

/// What a page of one record says around the record itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordTexts {
    /// The document title, and the heading when loading fails.
    pub title: &'static str,
    pub loading: &'static str,
    /// Shown, with a 404 status, when the record is not the organization's.
    pub missing_heading: &'static str,
    pub missing_text: &'static str,
    /// Where to go instead.
    pub back_href: &'static str,
    pub back_text: &'static str,
}

/// A page that shows one record of the current organization (this receipt,
/// a call's explanation): the route parameter `param` names it, `load(org_id,
/// id)` reads it, `show` lays it out. `NotFound`, which is also what another
/// organization's ids get, answers 404 with `texts.missing_*`.
pub(crate) fn record_page<T, Fut, V>(
    param: &'static str,
    load: fn(String, String) -> Fut,
    texts: RecordTexts,
    show: fn(T) -> V,
) -> AnyView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
    V: IntoView + 'static,
{
    let MeResource(me) = expect_context::<MeResource>();
    let params = use_params_map();
    let id = move || params.read().get(param).unwrap_or_default();
    let record = Resource::new(
        move || (current_org_id(me), id()),
        move |(_, id)| for_current_org(me, move |org_id| load(org_id, id)),
    );
    #[cfg(feature = "ssr")]
    let response = use_context::<leptos_axum::ResponseOptions>();
    view! {
        <Title text=texts.title/>
        <Transition fallback=move || view! { <p class="muted">{texts.loading}</p> }>
            {move || {
                #[cfg(feature = "ssr")]
                let response = response.clone();
                Suspend::new(async move {
                    match record.await {
                        Ok(Some(record)) => show(record).into_any(),
                        Ok(None) => ().into_any(),
                        Err(AppError::NotFound) => {
                            #[cfg(feature = "ssr")]
                            if let Some(response) = response {
                                response.set_status(http::StatusCode::NOT_FOUND);
                            }
                            view! {
                                <h1>{texts.missing_heading}</h1>
                                <section class="card">
                                    <p>{texts.missing_text}</p>
                                    <p><a href=texts.back_href>{texts.back_text}</a></p>
                                </section>
                            }
                            .into_any()
                        }
                        Err(error) => view! {
                            <h1>{texts.title}</h1>
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
