//! Buying credits: pack buttons and a custom amount, each a form that creates
//! a checkout session and sends the browser to it; and, back from checkout,
//! "payment received, adding credits…" until the webhook has credited it.

use crate::api::auth::Me;
use crate::api::purchases::{
    check_purchase, load_purchase_options, BuyCredits, PurchaseOptions, PurchaseStatus,
};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::components::layout::MeResource;
use crate::components::money::credits_text;
use crate::domain::Money;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::time::Duration;

/// Bumped when credits land, so the wallet's balance and history reload.
#[derive(Clone, Copy)]
pub struct WalletVersion(pub RwSignal<u32>);

#[component]
pub fn BuyCredits() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    // Keyed and loaded like every section (`current_org`), outside any
    // Suspend: a Resource made inside one that awaits the account is made
    // again when the account loads, and fetches twice.
    let options = Resource::new(
        move || current_org_id(me),
        move |_| {
            for_current_org(me, |org_id| async move {
                load_purchase_options(org_id.clone())
                    .await
                    .map(|options| (org_id, options))
            })
        },
    );
    view! {
        <section class="card buy-credits" aria-labelledby="buy-heading">
            <h2 id="buy-heading">"Buy credits"</h2>
            <PurchaseProgress/>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(Some((org_id, options))) => view! { <BuyForms options org_id/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn BuyForms(options: PurchaseOptions, org_id: String) -> impl IntoView {
    let buy = ServerAction::<BuyCredits>::new();
    let error = action_error(buy);
    let org_id = StoredValue::new(org_id);
    let form_key = options.form_key.clone();
    let packs = options
        .packs_usd
        .clone()
        .into_iter()
        .map(|dollars| {
            let form_key = form_key.clone();
            let credits = Money::from_dollars(dollars)
                .map(credits_text)
                .unwrap_or_default();
            view! {
                <ActionForm action=buy attr:class="pack">
                    <input type="hidden" name="org_id" value=org_id.get_value()/>
                    <input type="hidden" name="form_key" value=form_key/>
                    <input type="hidden" name="amount" value=dollars.to_string()/>
                    <button
                        type="submit"
                        aria-label=format!("Buy ${dollars} ({credits})")
                        disabled=move || buy.pending().get()
                    >
                        {format!("${dollars}")}
                        <small>{credits.clone()}</small>
                    </button>
                </ActionForm>
            }
        })
        .collect_view();
    view! {
        <FormError error fields=&["amount"]/>
        <div class="packs">{packs}</div>
        <ActionForm action=buy attr:class="custom-amount">
            <input type="hidden" name="org_id" value=org_id.get_value()/>
            <input type="hidden" name="form_key" value=options.form_key.clone()/>
            <label for="custom-amount">{format!("Another amount (${} to ${})", options.min_usd, options.max_usd)}</label>
            <div class="row">
                <input id="custom-amount" name="amount" type="text" inputmode="decimal" placeholder="20.00"
                    required aria-describedby="amount-error"/>
                <button type="submit" disabled=move || buy.pending().get()>
                    {move || if buy.pending().get() { "Opening checkout…" } else { "Buy" }}
                </button>
            </div>
            <FieldError error field="amount"/>
        </ActionForm>
        {(options.provider == "sandbox").then(|| view! {
            <p class="muted">"Payments run in the sandbox: no real card is charged."</p>
        })}
    }
}

/// The purchase the browser came back from (`?checkout=<session id>`), if any.
/// The wallet page reads its balance only after this has answered, so a page
/// that says "Payment complete" never shows the balance from before it.
#[derive(Clone, Copy)]
pub struct ReturningPurchase(pub Resource<Result<Option<PurchaseStatus>, AppError>>);

/// Watches the returning purchase: asks again every second while it is
/// pending, and bumps `WalletVersion` once it has been credited.
pub fn watch_returning_purchase(
    me: Resource<Result<Option<Me>, AppError>>,
    version: WalletVersion,
) -> ReturningPurchase {
    let query = use_query_map();
    let poll = RwSignal::new(0u32);
    let status = Resource::new(
        move || (current_org_id(me), query.read().get("checkout"), poll.get()),
        move |(_, checkout, _)| async move {
            match checkout {
                Some(checkout) if checkout != "canceled" => {
                    let status = for_current_org(me, |org_id| check_purchase(org_id, checkout));
                    status.await
                }
                _ => Ok(None),
            }
        },
    );
    Effect::new(move |_| match status.get() {
        Some(Ok(Some(PurchaseStatus::Pending))) => {
            set_timeout(move || poll.update(|p| *p += 1), Duration::from_secs(1));
        }
        Some(Ok(Some(PurchaseStatus::Credited { .. }))) => version.0.update(|v| *v += 1),
        _ => {}
    });
    ReturningPurchase(status)
}

/// Shown after returning from checkout (`?checkout=<session id>` or `canceled`).
#[component]
fn PurchaseProgress() -> impl IntoView {
    let query = use_query_map();
    let ReturningPurchase(status) = expect_context::<ReturningPurchase>();
    let canceled = move || query.read().get("checkout").as_deref() == Some("canceled");
    view! {
        {move || canceled().then(|| view! {
            <p class="notice" role="status">"Checkout canceled: nothing was charged."</p>
        })}
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(Some(PurchaseStatus::Pending)) => view! {
                        <p class="notice pending" role="status">"Payment received, adding credits…"</p>
                        // Without JavaScript the page reloads itself until the credits are in.
                        <noscript inner_html=r#"<meta http-equiv="refresh" content="2">"#></noscript>
                    }.into_any(),
                    Ok(Some(PurchaseStatus::Credited { credits, amount })) => view! {
                        <p class="notice success" role="status">
                            {format!(
                                "Payment complete: {} ({amount}) added.",
                                credits_text(Money::from_cents(credits).unwrap_or(Money::ZERO))
                            )}
                        </p>
                    }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
