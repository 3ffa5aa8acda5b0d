//! The sandbox checkout page: what Stripe's hosted checkout would show, marked
//! as a sandbox, with Stripe's test cards. Paying here makes the sandbox send a
//! signed Stripe event to our own webhook; the credits come from that event.

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
    let heading = if buying {
        format!(
            "Pay {} for {}",
            session.amount,
            credits_text(Money::from_cents(session.credits).unwrap_or(Money::ZERO))
        )
    } else {
        "Save a card for auto-recharge".to_owned()
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
            <p class="muted">"Phonebooth · prepaid calling credits"</p>
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
                    {move || match (pay.pending().get(), buying) {
                        (true, _) => "Processing…".to_owned(),
                        (false, true) => format!("Pay {}", session.amount),
                        (false, false) => "Save card".to_owned(),
                    }}
                </button>
            </ActionForm>
            <a href=session.cancel_url.clone()>"Cancel and return to Phonebooth"</a>
        </section>
        <section class="card" id="test-cards">
            <h2>"Test cards"</h2>
            <table>
                <tbody>
                    <tr><td><code>"4242 4242 4242 4242"</code></td><td>"Pays (and a saved card keeps paying)"</td></tr>
                    <tr><td><code>"4000 0000 0000 0002"</code></td><td>"Declined"</td></tr>
                    <tr><td><code>"4000 0000 0000 0341"</code></td><td>"Can be saved, but later charges are declined"</td></tr>
                </tbody>
            </table>
            <p class="muted">"Any expiry in the future and any CVC."</p>
        </section>
    }
    .into_any()
}
