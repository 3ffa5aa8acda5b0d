//! The sandbox checkout page: what Stripe's hosted checkout would show, marked
//! as a sandbox, with Stripe's test cards. Paying here makes the sandbox send a
//! signed Stripe event to our own webhook; the credits (or the subscription)
//! come from that event.

use crate::api::sandbox::{sandbox_session, SandboxPay, SandboxSessionView};
use crate::components::form::{action_error, FieldError, FormError};
use crate::components::money::credits_text;
use crate::domain::Money;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn SandboxCheckoutPage() -> impl IntoView {
    let params = use_params_map();
    let session = Resource::new(
        move || params.read().get("session_id").unwrap_or_default(),
        sandbox_session,
    );
    view! {
        <Title text="Sandbox checkout"/>
        <main class="sandbox-checkout">
            <p class="sandbox-banner" role="note">
                <strong>"SANDBOX"</strong>
                " — no real card is charged. This page stands in for Stripe Checkout."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading checkout…"</p> }>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(session) => view! { <Checkout session/> }.into_any(),
                        Err(_) => view! {
                            <section class="card">
                                <h1>"Checkout not found"</h1>
                                <p>"This checkout session does not exist. Start again from your wallet."</p>
                                <a href="/wallet">"Back to the wallet"</a>
                            </section>
                        }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Checkout(session: SandboxSessionView) -> impl IntoView {
    let pay = ServerAction::<SandboxPay>::new();
    let error = action_error(pay);
    let buying = session.mode == "payment";
    let (heading, subtitle, pay_text) = match (&session.plan, buying) {
        (Some(plan), _) => (
            format!(
                "Subscribe to the Team plan: {} {} at {} per {}",
                plan.seats,
                if plan.seats == 1 { "seat" } else { "seats" },
                plan.unit_price,
                plan.interval
            ),
            "Phonebooth · Team plan, billed per seat",
            format!("Subscribe: {} per {}", session.amount, plan.interval),
        ),
        (None, true) => (
            format!(
                "Pay {} for {}",
                session.amount,
                credits_text(Money::from_cents(session.credits).unwrap_or(Money::ZERO))
            ),
            "Phonebooth · prepaid calling credits",
            format!("Pay {}", session.amount),
        ),
        (None, false) => (
            "Save a card for auto-recharge".to_owned(),
            "Phonebooth · prepaid calling credits",
            "Save card".to_owned(),
        ),
    };
    if session.paid {
        return view! {
            <section class="card">
                <h1>"Already paid"</h1>
                <p>"This checkout is complete."</p>
                <a class="button" href=session.return_url>"Return to Phonebooth"</a>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <h1>{heading}</h1>
            <p class="muted">{subtitle}</p>
            <ActionForm action=pay>
                <FormError error fields=&["card_number"]/>
                <input type="hidden" name="session_id" value=session.session_id.clone()/>
                <label for="card-number">"Card number"</label>
                <input id="card-number" name="card_number" type="text" inputmode="numeric"
                    autocomplete="cc-number" placeholder="4242 4242 4242 4242" required
                    aria-describedby="card_number-error test-cards"/>
                <FieldError error field="card_number"/>
                <div class="row">
                    <div>
                        <label for="card-expiry">"Expiry"</label>
                        <input id="card-expiry" type="text" value="12 / 34" autocomplete="cc-exp"/>
                    </div>
                    <div>
                        <label for="card-cvc">"CVC"</label>
                        <input id="card-cvc" type="text" value="123" autocomplete="cc-csc"/>
                    </div>
                </div>
                <button type="submit" disabled=move || pay.pending().get()>
                    {move || if pay.pending().get() { "Processing…".to_owned() } else { pay_text.clone() }}
                </button>
            </ActionForm>
            <a href=session.cancel_url.clone()>"Cancel and return to Phonebooth"</a>
        </section>
        <TestCards/>
    }
    .into_any()
}

/// Stripe's test cards and what each does here (the portal lists them too).
#[component]
pub(crate) fn TestCards() -> impl IntoView {
    view! {
        <section class="card" id="test-cards">
            <h2>"Test cards"</h2>
            <table>
                <tbody>
                    <tr><td><code>"4242 4242 4242 4242"</code></td><td>"Pays (and a saved card keeps paying)"</td></tr>
                    <tr><td><code>"4000 0000 0000 0002"</code></td><td>"Declined"</td></tr>
                    <tr><td><code>"4000 0000 0000 0341"</code></td><td>"Can be saved (and pays a subscription's first invoice), but later charges are declined"</td></tr>
                </tbody>
            </table>
            <p class="muted">"Any expiry in the future and any CVC."</p>
        </section>
    }
}
