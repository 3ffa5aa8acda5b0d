//! /calls/:call_id: one call of the current organization and exactly why it
//! cost what it did: the rate that matched, the increments, the billed
//! seconds, the arithmetic and the ledger entry that charged it, or why it
//! cost nothing, and how it was rated (changeable by the member who placed
//! it, or an owner or admin). Any other call (another organization's
//! included) answers 404.

use super::redial_href;
use crate::api::call_history::{call_detail, CallExplanation};
use crate::api::call_rating::call_rating;
use crate::components::call_rating::CallRatingForm;
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::components::record::{record_page, RecordTexts};
use leptos::prelude::*;

#[component]
pub fn CallDetailPage() -> impl IntoView {
    record_page(
        "call_id",
        call_detail,
        RecordTexts {
            title: "Call",
            loading: "Loading the call…",
            missing_heading: "Call not found",
            missing_text: "There is no call with this reference in your current organization.",
            back_href: "/calls",
            back_text: "Back to calls",
        },
        |call| view! { <CallView call/> },
    )
}

#[component]
fn CallView(call: CallExplanation) -> impl IntoView {
    let redial = redial_href(&call.number);
    let when = |label: &'static str, time: Option<String>| {
        time.map(|time| view! { <dt>{label}</dt> <dd>{time}</dd> })
    };
    let ended_by = call
        .end_reason_label
        .map(|reason| view! { <dt>"How it ended"</dt> <dd>{reason}</dd> });
    let talk_time = match call.duration_secs {
        Some(secs) => format!("{} ({secs} s)", call.duration),
        None => "Not ended yet".to_owned(),
    };
    view! {
        <h1>{format!("Call to {}", call.number_display)}</h1>
        <section class="card" aria-labelledby="call-heading">
            <h2 id="call-heading">"The call"</h2>
            <dl class="receipt-details">
                <dt>"Dialed"</dt>
                <dd>{call.time}</dd>
                {when("Answered", call.answered_at)}
                {when("Ended", call.ended_at)}
                <dt>"Number"</dt>
                <dd>{call.number_display}</dd>
                <dt>"Destination"</dt>
                <dd>{call.destination}</dd>
                <dt>"Member"</dt>
                <dd>{format!("{} <{}>", call.member, call.member_email)}</dd>
                <dt>"Status"</dt>
                <dd data-testid="call-status">{call.status_label}</dd>
                {ended_by}
                <dt>"Talk time"</dt>
                <dd>{talk_time}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="cost-heading">
            <h2 id="cost-heading">"What it cost"</h2>
            <dl class="receipt-details">
                <dt>"Rate"</dt>
                <dd data-testid="call-rate">
                    {format!("{} per minute (prefix {} matched)", call.price_per_minute, call.rate_prefix)}
                </dd>
                <dt>"Connection fee"</dt>
                <dd>{call.connection_fee.to_string()}</dd>
                <dt>"Billing increments"</dt>
                <dd data-testid="call-increments">
                    {format!(
                        "{} (the first {} s, then every {} s)",
                        call.increments, call.initial_increment, call.subsequent_increment,
                    )}
                </dd>
                <dt>"Billed"</dt>
                <dd data-testid="call-billed">
                    {format!(
                        "{} s ({} increment{})",
                        call.billed_seconds,
                        call.increment_count,
                        if call.increment_count == 1 { "" } else { "s" },
                    )}
                </dd>
                {call.arithmetic.map(|arithmetic| view! {
                    <dt>"Calculation"</dt>
                    <dd data-testid="call-arithmetic">
                        <code>{arithmetic}</code>
                        {call.rounded_up.then_some(" (the per-minute part rounded up to a whole micro-dollar)")}
                    </dd>
                })}
                <dt>"Total"</dt>
                <dd class="receipt-amount" data-testid="call-cost">
                    {call.cost.map(|cost| cost.to_string()).unwrap_or_else(|| "Not charged yet: calls are charged when they end".to_owned())}
                </dd>
            </dl>
            {call.free_reason.map(|reason| view! { <p data-testid="call-free-reason">{reason}</p> })}
        </section>
        <RatingSection call_id=call.call_id.clone()/>
        <section class="card" aria-labelledby="records-heading">
            <h2 id="records-heading">"References"</h2>
            <dl class="receipt-details">
                <dt>"Ledger entry"</dt>
                <dd data-testid="call-ledger">
                    {match (call.ledger_entry_id, call.ledger_amount) {
                        (Some(id), Some(amount)) => view! { <code>{id}</code> {format!(" ({amount})")} }.into_any(),
                        (Some(id), None) => view! { <code>{id}</code> }.into_any(),
                        (None, _) => "None: nothing was charged".into_any(),
                    }}
                </dd>
                <dt>"Carrier"</dt>
                <dd>{call.carrier}</dd>
                <dt>"Carrier call id"</dt>
                <dd>
                    {match call.carrier_sid {
                        Some(sid) => view! { <code data-testid="call-carrier-sid">{sid}</code> }.into_any(),
                        None => "None: the carrier never accepted the call".into_any(),
                    }}
                </dd>
                <dt>"Call id"</dt>
                <dd><code>{call.call_id}</code></dd>
            </dl>
        </section>
        <p><a href="/calls">"← Back to calls"</a> " · " <a href=redial>"Redial"</a></p>
    }
    .into_any()
}

/// The call's rating, loaded beside its explanation.
#[component]
fn RatingSection(call_id: String) -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let rating = Resource::new(
        move || current_org_id(me),
        move |_| {
            let call_id = call_id.clone();
            for_current_org(me, move |org_id| async move {
                call_rating(org_id.clone(), call_id.clone())
                    .await
                    .map(|rating| (org_id, call_id, rating))
            })
        },
    );
    view! {
        <section class="card" aria-labelledby="rating-heading">
            <h2 id="rating-heading">"Rating"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match rating.await {
                        Ok(Some((org_id, call_id, rating))) => {
                            view! { <CallRatingForm org_id call_id rating/> }.into_any()
                        }
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
