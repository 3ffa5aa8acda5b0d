//! The plan and billing section: the organization's plan and access state
//! for everyone; for owners and admins, subscribing (seats, monthly or
//! annual), changing seats, cancelling at the period's end and undoing it,
//! pausing and resuming, the Billing Portal and paying an overdue invoice;
//! in sandbox mode, the test clock. Every form is an `ActionForm`, so it
//! works without JavaScript; the server checks every role again.

use crate::api::billing::{
    load_billing, BillingView, CancelSubscription, ChangeSeats, OpenBillingPortal,
    PauseSubscription, PlanSummary, ResumeSubscription, RetryPayment, Subscribe,
    UnpauseSubscription,
};
use crate::api::sandbox::{ClockStep, SandboxAdvanceClock};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::components::layout::WalletStatusResource;
use crate::domain::PlanInterval;
use crate::error::AppError;
use leptos::prelude::*;

/// Every action of the section, so any of them reloads what it shows.
#[derive(Clone, Copy)]
struct Actions {
    subscribe: ServerAction<Subscribe>,
    seats: ServerAction<ChangeSeats>,
    cancel: ServerAction<CancelSubscription>,
    resume: ServerAction<ResumeSubscription>,
    pause: ServerAction<PauseSubscription>,
    unpause: ServerAction<UnpauseSubscription>,
    portal: ServerAction<OpenBillingPortal>,
    retry: ServerAction<RetryPayment>,
    clock: ServerAction<SandboxAdvanceClock>,
}

impl Actions {
    /// Bumps whenever any of them finishes.
    fn versions(&self) -> [usize; 7] {
        [
            self.seats.version().get(),
            self.cancel.version().get(),
            self.resume.version().get(),
            self.pause.version().get(),
            self.unpause.version().get(),
            self.retry.version().get(),
            self.clock.version().get(),
        ]
    }
}

/// The section's actions and data, made by `SettingsPage` before anything
/// suspends (see `MembersData`).
#[derive(Clone, Copy)]
pub(super) struct BillingData {
    actions: Actions,
    view_data: Resource<Result<Option<BillingView>, AppError>>,
}

impl BillingData {
    pub(super) fn new(me: Resource<Result<Option<crate::api::auth::Me>, AppError>>) -> Self {
        let actions = Actions {
            subscribe: ServerAction::new(),
            seats: ServerAction::new(),
            cancel: ServerAction::new(),
            resume: ServerAction::new(),
            pause: ServerAction::new(),
            unpause: ServerAction::new(),
            portal: ServerAction::new(),
            retry: ServerAction::new(),
            clock: ServerAction::new(),
        };
        let view_data = Resource::new(
            move || (current_org_id(me), actions.versions()),
            move |_| for_current_org(me, load_billing),
        );
        Self { actions, view_data }
    }
}

#[component]
pub(super) fn BillingSection(data: BillingData) -> impl IntoView {
    let BillingData { actions, view_data } = data;
    // The banner on every page reads the same state: follow any change.
    let banner = use_context::<WalletStatusResource>();
    Effect::new(move |seen: Option<[usize; 7]>| {
        let now = actions.versions();
        if seen.is_some_and(|seen| seen != now) {
            if let Some(WalletStatusResource(status)) = banner {
                status.refetch();
            }
        }
        now
    });
    view! {
        <section class="card" id="billing" data-testid="billing">
            <h2>"Plan and billing"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(Some(data)) => view! { <Billing data actions/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Billing(data: BillingView, actions: Actions) -> impl IntoView {
    let org = StoredValue::new(data.org_id.clone());
    let status = view! {
        <p class="plan-headline" data-testid="plan-state" data-kind=data.access.kind.clone()>
            <strong>{data.access.headline.clone()}</strong>
        </p>
        <p class="muted">{data.access.detail.clone()}</p>
    };
    let seats_line = data.plan.as_ref().map(|plan| {
        let billed = match plan.interval {
            PlanInterval::Monthly => "monthly",
            PlanInterval::Annual => "annually",
        };
        let price = plan
            .price
            .as_ref()
            .map(|price| format!(" at {price}"))
            .unwrap_or_default();
        format!(
            "{} seats, billed {billed}{price}; {} in use (members and open invitations).",
            plan.seats, data.seats_in_use
        )
    });
    let controls = if !data.can_manage {
        view! { <p class="hint">"Owners and admins manage the plan."</p> }.into_any()
    } else {
        match data.plan.clone() {
            None => {
                view! { <SubscribeForm data=data.clone() org action=actions.subscribe/> }.into_any()
            }
            Some(plan) => view! { <ManagePlan plan data=data.clone() org actions/> }.into_any(),
        }
    };
    let clock = (data.sandbox && data.can_manage && data.plan.is_some())
        .then(|| view! { <TestClock org action=actions.clock/> });
    view! {
        {status}
        {seats_line.map(|line| view! { <p data-testid="plan-seats">{line}</p> })}
        {controls}
        {clock}
    }
}

#[component]
fn SubscribeForm(
    data: BillingView,
    org: StoredValue<String>,
    action: ServerAction<Subscribe>,
) -> impl IntoView {
    let error = action_error(action);
    let fewest = data.seats_in_use.max(1);
    view! {
        <h3>"Subscribe to the Team plan"</h3>
        <ActionForm action>
            <FormError error fields=&["seats", "interval"]/>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <input type="hidden" name="form_key" value=data.form_key.clone()/>
            <fieldset>
                <legend>"Billing"</legend>
                <label><input type="radio" name="interval" value="monthly" checked/>" Monthly"</label>
                <label><input type="radio" name="interval" value="annual"/>" Annually"</label>
            </fieldset>
            <label for="subscribe-seats">{format!("Seats ({fewest}–{})", data.max_seats)}</label>
            <input id="subscribe-seats" name="seats" type="number" min=fewest.to_string() max=data.max_seats.to_string() required value=fewest.to_string() aria-describedby="seats-error"/>
            <FieldError error field="seats"/>
            <p class="hint">"Each seat is one member or open invitation. You pay for the seats on the checkout page; calls are still paid with credits."</p>
            <button type="submit" disabled=move || action.pending().get()>"Subscribe"</button>
        </ActionForm>
    }
}

#[component]
fn ManagePlan(
    plan: PlanSummary,
    data: BillingView,
    org: StoredValue<String>,
    actions: Actions,
) -> impl IntoView {
    let seats_error = action_error(actions.seats);
    let fewest = data.seats_in_use.max(1);
    let most = data.max_seats.max(plan.seats);
    let overdue = plan
        .payment_overdue
        .then(|| view! { <OverdueActions org actions/> });
    let ending = if plan.cancel_at_period_end {
        view! {
            <ActionForm action=actions.resume>
                <input type="hidden" name="org_id" value=org.get_value()/>
                <button type="submit" disabled=move || actions.resume.pending().get()>"Resume subscription"</button>
                <p class="hint">"Keeps the Team plan: it renews as before."</p>
            </ActionForm>
        }
        .into_any()
    } else {
        view! {
            <ActionForm action=actions.cancel>
                <input type="hidden" name="org_id" value=org.get_value()/>
                <button type="submit" class="danger" disabled=move || actions.cancel.pending().get()>"Cancel subscription"</button>
                <p class="hint">"The plan stays until the end of the period you paid for; you can resume until then."</p>
            </ActionForm>
        }
        .into_any()
    };
    let pause = if plan.paused {
        view! {
            <ActionForm action=actions.unpause>
                <input type="hidden" name="org_id" value=org.get_value()/>
                <button type="submit" disabled=move || actions.unpause.pending().get()>"Resume now"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        view! { <PauseForm data=data.clone() org action=actions.pause/> }.into_any()
    };
    let errors = [
        action_error(actions.cancel),
        action_error(actions.resume),
        action_error(actions.unpause),
        action_error(actions.portal),
    ];
    view! {
        {overdue}
        {errors.into_iter().map(|error| view! { <FormError error fields=&[]/> }).collect_view()}
        <h3>"Seats"</h3>
        <ActionForm action=actions.seats>
            <FormError error=seats_error fields=&["seats"]/>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <label for="plan-seats-input">{format!("Seats ({fewest}–{most})")}</label>
            <input id="plan-seats-input" name="seats" type="number" min=fewest.to_string() max=most.to_string() required value=plan.seats.to_string() aria-describedby="seats-error"/>
            <FieldError error=seats_error field="seats"/>
            <p class="hint">"Changes are prorated on the next invoice."</p>
            <button type="submit" disabled=move || actions.seats.pending().get()>"Change seats"</button>
        </ActionForm>
        <h3>"Payment method and invoices"</h3>
        <ActionForm action=actions.portal>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <button type="submit" class="secondary" disabled=move || actions.portal.pending().get()>"Manage payment method and invoices"</button>
        </ActionForm>
        <h3>"Pause or cancel"</h3>
        {pause}
        {ending}
    }
}

#[component]
fn OverdueActions(org: StoredValue<String>, actions: Actions) -> impl IntoView {
    let error = action_error(actions.retry);
    view! {
        <div class="notice warning" role="alert" data-testid="payment-overdue">
            <p>"The last payment failed. Update the payment method, then retry the payment."</p>
            <FormError error fields=&[]/>
            <ActionForm action=actions.portal>
                <input type="hidden" name="org_id" value=org.get_value()/>
                <button type="submit" disabled=move || actions.portal.pending().get()>"Update payment method"</button>
            </ActionForm>
            <ActionForm action=actions.retry>
                <input type="hidden" name="org_id" value=org.get_value()/>
                <button type="submit" class="secondary" disabled=move || actions.retry.pending().get()>"Retry payment"</button>
            </ActionForm>
        </div>
    }
}

#[component]
fn PauseForm(
    data: BillingView,
    org: StoredValue<String>,
    action: ServerAction<PauseSubscription>,
) -> impl IntoView {
    let error = action_error(action);
    view! {
        <ActionForm action>
            <FormError error fields=&["resumes_on"]/>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <label for="pause-until">"Pause until"</label>
            <input id="pause-until" name="resumes_on" type="date" required min=data.pause_from.clone() max=data.pause_to.clone() value=data.pause_from.clone() aria-describedby="resumes_on-error"/>
            <FieldError error field="resumes_on"/>
            <p class="hint">"Nothing is billed while paused, and nobody can start calls. It resumes by itself on that day."</p>
            <button type="submit" class="secondary" disabled=move || action.pending().get()>"Pause subscription"</button>
        </ActionForm>
    }
}

/// The sandbox's test clock, as Stripe's test clocks: move this
/// organization's billing time forward to see renewals and failed payments.
#[component]
fn TestClock(org: StoredValue<String>, action: ServerAction<SandboxAdvanceClock>) -> impl IntoView {
    let error = action_error(action);
    view! {
        <h3>"Sandbox test clock"</h3>
        <p class="hint">"Sandbox mode only: move this organization's billing time forward, as Stripe's test clocks do. Renewals charge the card on file; the 4000 0000 0000 0341 card declines them."</p>
        <FormError error fields=&["step"]/>
        <div class="button-row">
            {ClockStep::ALL.into_iter().map(|step| view! {
                <ActionForm action>
                    <input type="hidden" name="org_id" value=org.get_value()/>
                    <input type="hidden" name="step" value=step.as_str()/>
                    <button type="submit" class="secondary" disabled=move || action.pending().get()>{step.label()}</button>
                </ActionForm>
            }).collect_view()}
        </div>
    }
}
