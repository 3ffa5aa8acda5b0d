//! The sandbox Billing Portal: what Stripe's hosted customer portal would
//! show, marked as a sandbox: the plan, its invoices and the card on file,
//! which can be replaced with another test card (so a renewal can be made to
//! decline, or to pay again). Works without JavaScript: the card form posts,
//! and the server sends the browser back here.

use crate::api::sandbox::{
    sandbox_portal, SandboxPortalCard, SandboxPortalInvoice, SandboxPortalPlan, SandboxPortalView,
};
use crate::components::form::{action_error, FieldError, FormError};
use crate::pages::sandbox_checkout::TestCards;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn SandboxPortalPage() -> impl IntoView {
    let params = use_params_map();
    // Made before anything suspends, so server and browser agree on its id;
    // a changed card reloads the portal.
    let change_card = ServerAction::<SandboxPortalCard>::new();
    let portal = Resource::new(
        move || {
            (
                params.read().get("portal_session_id").unwrap_or_default(),
                change_card.version().get(),
            )
        },
        |(portal_session_id, _)| sandbox_portal(portal_session_id),
    );
    view! {
        <Title text="Sandbox billing portal"/>
        <main class="sandbox-checkout">
            <p class="sandbox-banner" role="note">
                <strong>"SANDBOX"</strong>
                " — no real card is charged. This page stands in for Stripe's customer portal."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading the billing portal…"</p> }>
                {move || Suspend::new(async move {
                    match portal.await {
                        Ok(portal) => view! { <Portal portal change_card/> }.into_any(),
                        Err(_) => view! {
                            <section class="card">
                                <h1>"Billing portal not found"</h1>
                                <p>"This portal session does not exist. Open the billing portal again from your settings."</p>
                                <a href="/settings">"Back to the settings"</a>
                            </section>
                        }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Portal(
    portal: SandboxPortalView,
    change_card: ServerAction<SandboxPortalCard>,
) -> impl IntoView {
    let return_url = portal.return_url.clone();
    view! {
        <section class="card">
            <h1>"Billing"</h1>
            <p class="muted">"Phonebooth · Team plan, billed per seat"</p>
            {if portal.plans.is_empty() {
                view! { <p data-testid="portal-no-plan">"No subscription yet."</p> }.into_any()
            } else {
                portal.plans.into_iter().map(|plan| view! { <Plan plan/> }).collect_view().into_any()
            }}
            <a class="button" href=return_url data-testid="portal-return">"Return to Phonebooth"</a>
        </section>
        <Invoices invoices=portal.invoices/>
        <CardOnFile
            portal_session_id=portal.portal_session_id
            last4=portal.card_last4
            declines=portal.card_declines
            change_card
        />
        <TestCards/>
    }
}

fn status_text(plan: &SandboxPortalPlan) -> String {
    let status = match plan.status.as_str() {
        "active" => "Active",
        "past_due" => "Past due: the last payment failed",
        "canceled" => "Canceled",
        other => other,
    };
    match &plan.paused_until {
        Some(until) => format!("{status} (payments paused until {until})"),
        None => status.to_owned(),
    }
}

#[component]
fn Plan(plan: SandboxPortalPlan) -> impl IntoView {
    let seats = if plan.seats == 1 { "seat" } else { "seats" };
    view! {
        <dl data-testid="portal-plan">
            <dt>"Plan"</dt>
            <dd>{format!("Team, {} {seats} at {} per seat per {}", plan.seats, plan.unit_price, plan.interval)}</dd>
            <dt>"Price"</dt>
            <dd data-testid="portal-total">{format!("{} per {}", plan.total, plan.interval)}</dd>
            <dt>"Status"</dt>
            <dd data-testid="portal-status">{status_text(&plan)}</dd>
            <dt>"Period"</dt>
            <dd data-testid="portal-period">{plan.period_text.clone()}</dd>
        </dl>
    }
}

#[component]
fn Invoices(invoices: Vec<SandboxPortalInvoice>) -> impl IntoView {
    if invoices.is_empty() {
        return view! {
            <section class="card"><h2>"Invoices"</h2><p class="muted">"No invoices yet."</p></section>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <h2>"Invoices"</h2>
            <table>
                <thead>
                    <tr><th scope="col">"Date"</th><th scope="col">"Amount"</th><th scope="col">"Status"</th></tr>
                </thead>
                <tbody>
                    {invoices.into_iter().map(|invoice| view! {
                        <tr data-testid="portal-invoice">
                            <td>{invoice.date}</td>
                            <td>{invoice.amount}</td>
                            <td>{if invoice.paid { "Paid" } else { "Open: payment failed" }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn CardOnFile(
    portal_session_id: String,
    last4: String,
    declines: bool,
    change_card: ServerAction<SandboxPortalCard>,
) -> impl IntoView {
    let error = action_error(change_card);
    let changed = move || change_card.value().get().is_some_and(|r| r.is_ok());
    view! {
        <section class="card">
            <h2>"Payment method"</h2>
            <p data-testid="portal-card">{format!("Card ending in {last4}")}</p>
            {declines.then(|| view! {
                <p class="muted">"This test card's charges are declined: renewals and retried payments will fail."</p>
            })}
            <ActionForm action=change_card>
                <FormError error fields=&["card_number"]/>
                <input type="hidden" name="portal_session_id" value=portal_session_id/>
                <label for="portal-card-number">"New card number"</label>
                <input id="portal-card-number" name="card_number" type="text" inputmode="numeric"
                    autocomplete="cc-number" placeholder="4242 4242 4242 4242" required
                    aria-describedby="card_number-error test-cards"/>
                <FieldError error field="card_number"/>
                <button type="submit" disabled=move || change_card.pending().get()>
                    {move || if change_card.pending().get() { "Saving…" } else { "Update card" }}
                </button>
                {move || changed().then(|| view! { <p class="notice" role="status">"Card updated."</p> })}
            </ActionForm>
        </section>
    }
}
