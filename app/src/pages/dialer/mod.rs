//! /dialer: type a number (or tap the keypad), see where it goes, what it
//! costs per minute and how long the balance lasts, and call. Below, the live
//! call panel and the member's recent calls (`live.rs`).
//!
//! The quote is asked for while typing, 300 ms after the last keystroke. The
//! number is parsed and priced on the server (`api::calls::quote_number`);
//! the browser only shows what it says. The dial form is an `ActionForm`, so
//! it also works without JavaScript; its `client_key` changes only after an
//! answer, so a double click places one call.
//!
//! With JavaScript the call is also heard (`phone.rs`, public/phone.js): the
//! Call button first checks the microphone, the server's answer starts the
//! browser's side of the call (Twilio's SDK with the attempt id, or the
//! simulated audio engine, which then follows the call's status from the live
//! stream), and `controls.rs` adds mute, tones and device pickers. In Twilio
//! mode calling needs JavaScript; in the simulated mode plain forms still
//! place and end calls.

mod controls;
mod live;
mod phone;

use crate::api::calls::{load_dialer, quote_number, CallView, DialerSetup, QuoteView, StartCall};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::domain::CarrierMode;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use std::time::Duration;

const QUOTE_DEBOUNCE: Duration = Duration::from_millis(300);
const KEYPAD: [&str; 13] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "0", "#", "*",
];

#[component]
pub fn DialerPage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    // The fetcher awaits `me` itself (`for_current_org`): reading it
    // synchronously could see it not yet loaded during server rendering and
    // render an empty page that hydration never fills in.
    let setup = Resource::new(
        move || current_org_id(me),
        move |_| {
            for_current_org(me, |org_id| async move {
                load_dialer(org_id.clone())
                    .await
                    .map(|setup| (org_id, setup))
            })
        },
    );
    view! {
        <Title text="Dialer"/>
        <h1>"Dialer"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading the dialer…"</p> }>
            {move || Suspend::new(async move {
                match setup.await {
                    Ok(Some((org_id, setup))) => view! { <Dialer setup org_id/> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Shared by the dial form, the live panel and the recent list.
#[derive(Clone, Copy)]
pub(crate) struct DialerState {
    pub org_id: StoredValue<String>,
    pub number: RwSignal<String>,
    pub calls: RwSignal<Vec<CallView>>,
    /// The call the live panel follows.
    pub focus: RwSignal<Option<String>>,
    /// Bumped when a call ends, so the quote re-reads the balance.
    pub balance_version: RwSignal<u32>,
    /// Server clock minus browser clock, in ms (timers use the server's).
    pub clock_offset_ms: RwSignal<i64>,
}

impl DialerState {
    /// Adds or replaces a call, keeping the newest version; newest call first.
    pub fn upsert(&self, call: CallView) {
        let ended_now = !call.is_live();
        let mut was_live = false;
        self.calls.update(|calls| {
            match calls.iter_mut().find(|c| c.call_id == call.call_id) {
                Some(known) if known.updated_at_ms > call.updated_at_ms => return,
                Some(known) => {
                    was_live = known.is_live();
                    *known = call.clone();
                }
                None => calls.push(call.clone()),
            }
            calls.sort_by(|a, b| {
                b.created_at
                    .cmp(&a.created_at)
                    .then(b.call_id.cmp(&a.call_id))
            });
            calls.truncate(crate::domain::RECENT_CALLS as usize + 4);
        });
        if call.is_live() && self.focus.get_untracked().is_none() {
            self.focus.set(Some(call.call_id.clone()));
        }
        if ended_now && was_live {
            self.balance_version.update(|v| *v += 1);
        }
    }
}

#[component]
fn Dialer(setup: DialerSetup, org_id: String) -> impl IntoView {
    let query = use_query_map();
    let initial_number = query.read_untracked().get("number").unwrap_or_default();
    let live_call = setup
        .recent
        .iter()
        .find(|c| c.is_live())
        .map(|c| c.call_id.clone());
    let state = DialerState {
        org_id: StoredValue::new(org_id),
        number: RwSignal::new(initial_number.clone()),
        calls: RwSignal::new(setup.recent.clone()),
        focus: RwSignal::new(live_call),
        balance_version: RwSignal::new(0),
        clock_offset_ms: RwSignal::new(0),
    };
    let server_now_ms = setup.server_now_ms;
    Effect::new(move |_| {
        state
            .clock_offset_ms
            .set(server_now_ms - live::browser_now_ms())
    });
    provide_context(state);
    let twilio = setup.carrier_mode == CarrierMode::Twilio;
    let phone = phone::Phone::new(twilio);
    provide_context(phone);
    // Effects run only in the browser: load the phone once the page is live.
    Effect::new(move |_| phone.attach(state.org_id.get_value()));
    // The simulated engine plays what the focused call's status calls for.
    Effect::new(move |_| {
        let Some(id) = state.focus.get() else {
            return;
        };
        let status = state.calls.with(|calls| {
            calls
                .iter()
                .find(|c| c.call_id == id)
                .map(|c| c.status.as_str())
        });
        if let Some(status) = status {
            phone.follow(&id, status);
        }
    });
    let country = RwSignal::new(setup.default_country.clone());

    // The number as last typed, settled for QUOTE_DEBOUNCE.
    let settled = RwSignal::new(initial_number.clone());
    let pending_timer = StoredValue::new(None::<TimeoutHandle>);
    Effect::watch(
        move || state.number.get(),
        move |number, _, _| {
            if let Some(handle) = pending_timer.get_value() {
                handle.clear();
            }
            let number = number.clone();
            let handle = set_timeout_with_handle(move || settled.set(number), QUOTE_DEBOUNCE).ok();
            pending_timer.set_value(handle);
        },
        false,
    );
    let quote = Resource::new(
        move || (settled.get(), country.get(), state.balance_version.get()),
        move |(number, country, _)| async move {
            if number.trim().is_empty() {
                return Ok(None);
            }
            quote_number(state.org_id.get_value(), number, country)
                .await
                .map(Some)
        },
    );

    let start = ServerAction::<StartCall>::new();
    // One key per dial attempt: a new one only once the last attempt has answered.
    let attempt = RwSignal::new(0u32);
    let form_nonce = setup.form_nonce.clone();
    let client_key = move || format!("{form_nonce}-{}", attempt.get());
    Effect::watch(
        move || start.version().get(),
        move |_, _, _| {
            if let Some(Ok(started)) = start.value().get_untracked() {
                let call = started.call;
                // Before the first status arrives, so the engine knows the call it follows.
                phone.dial(&call.call_id, started.attempt);
                state.focus.set(Some(call.call_id.clone()));
                state.upsert(call);
                state.number.set(String::new());
            }
            attempt.update(|a| *a += 1);
        },
        false,
    );
    let start_error = Signal::derive(move || start.value().get().and_then(Result::err));
    let confirmed = RwSignal::new(false);
    // Effects run only in the browser: until then (and without JavaScript)
    // there is no quote, the Call button stays enabled and the server decides.
    let hydrated = RwSignal::new(false);
    let confirm_above = setup.confirm_above_per_minute;
    Effect::new(move |_| hydrated.set(true));
    // Call pressed before the microphone was allowed: place it once it is.
    let dial_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if phone.microphone.with(|m| m.ok()) && phone.submit_when_allowed.get() {
            phone.submit_when_allowed.set(false);
            if let Some(form) = dial_form.get_untracked() {
                let _ = form.request_submit();
            }
        }
    });

    let keys = KEYPAD
        .into_iter()
        .map(|key| {
            view! {
                <button type="button" class="key" aria-label=format!("Key {key}")
                    on:click=move |_| state.number.update(|n| n.push_str(key))>
                    {key}
                </button>
            }
        })
        .collect_view();

    // Type-erased pieces: the dialer's whole view type is too deep for the WASM build otherwise.
    let dial_card = view! {
            <section class="card dialer" aria-labelledby="dial-heading">
                <h2 id="dial-heading">"Call a number"</h2>
                <p class="muted">{format!("Available: {}", setup.available)}</p>
                <ActionForm action=start node_ref=dial_form attr:class="dial-form">
                    <input type="hidden" name="org_id" value=state.org_id.get_value()/>
                    <input type="hidden" name="client_key" value=client_key/>
                    <label for="dial-country">"Country for national numbers"</label>
                    // Options written by the server (`DialerSetup::country_options`):
                    // hydration keeps them as they are; a client-side visit sets them.
                    <select id="dial-country" name="country" inner_html=setup.country_options
                        on:change=move |ev| country.set(event_target_value(&ev))>
                    </select>
                    <label for="dial-number">"Number"</label>
                    <div class="row">
                        <input id="dial-number" name="number" type="tel" autocomplete="tel"
                            inputmode="tel" placeholder="+44 20 7183 8750 or a national number"
                            required aria-describedby="quote number-error"
                            value=initial_number prop:value=move || state.number.get()
                            on:input=move |ev| state.number.set(event_target_value(&ev))/>
                        <button type="button" class="secondary" aria-label="Delete last digit"
                            on:click=move |_| state.number.update(|n| { n.pop(); })>"⌫"</button>
                    </div>
                    <div class="keypad" role="group" aria-label="Keypad">{keys}</div>
                    <div id="quote" class="quote" aria-live="polite">
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                match quote.await {
                                    Ok(Some(quote)) => view! { <QuoteCard quote confirmed/> }.into_any(),
                                    Ok(None) => view! { <p class="muted">"Type a number to see its price."</p> }.into_any(),
                                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                                }
                            })}
                        </Transition>
                    </div>
                    {move || (!hydrated.get()).then(|| view! {
                        // Without JavaScript there is no quote to ask with: offer the tick up front.
                        <label class="confirm">
                            <input type="checkbox" name="confirmed" value="yes"/>
                            {format!(" I accept destinations above {confirm_above} per minute")}
                        </label>
                    })}
                    {move || start_error.get().map(|error| view! { <DialError error/> })}
                    {call_notes(phone, hydrated)}
                    <button type="submit" class="call-button"
                        disabled=move || (twilio && !phone.ready.get())
                            || (hydrated.get() && (start.pending().get() || phone.in_call_tracked() || !quote_allows_call(quote, confirmed)))
                        on:click=move |ev| {
                            phone.prepare();
                            if !phone.microphone.get_untracked().ok() {
                                // Placed by the effect above once the microphone is allowed.
                                ev.prevent_default();
                                phone.submit_when_allowed.set(true);
                            }
                        }>
                        {move || call_button_text(start.pending().get(), phone)}
                    </button>
                    {view! { <controls::AudioSettings hydrated/> }.into_any()}
                </ActionForm>
            </section>
    }
    .into_any();
    view! {
        <div class="dialer-layout">
            {dial_card}
            {view! { <live::LivePanel/> }.into_any()}
        </div>
        {view! { <live::RecentCalls/> }.into_any()}
    }
    .into_any()
}

/// Above the Call button: a microphone problem to fix, or (Twilio mode, no
/// JavaScript) why calling cannot work here.
fn call_notes(phone: phone::Phone, hydrated: RwSignal<bool>) -> AnyView {
    view! {
        {move || phone.microphone.get().problem().map(|message| view! {
            <p class="form-error" role="alert" data-testid="microphone-problem">{message}</p>
        })}
        {move || (phone.twilio && !hydrated.get()).then(|| view! {
            <p class="needs-js" role="note">
                "Calling needs JavaScript and a microphone: this page places calls from your browser. Turn JavaScript on and reload."
            </p>
        })}
    }
    .into_any()
}

/// What the Call button says while the microphone is checked and the call placed.
fn call_button_text(pending: bool, phone: phone::Phone) -> &'static str {
    if pending {
        "Calling…"
    } else if phone.submit_when_allowed.get() {
        "Allow the microphone…"
    } else if phone.twilio && !phone.ready.get() {
        "Getting ready…"
    } else {
        "Call"
    }
}

/// In the browser, the Call button is enabled by a callable quote (confirmed
/// if it must be).
fn quote_allows_call(
    quote: Resource<Result<Option<QuoteView>, AppError>>,
    confirmed: RwSignal<bool>,
) -> bool {
    match quote.get() {
        Some(Ok(Some(QuoteView::Callable {
            needs_confirmation, ..
        }))) => !needs_confirmation || confirmed.get(),
        _ => false,
    }
}

#[component]
fn QuoteCard(quote: QuoteView, confirmed: RwSignal<bool>) -> impl IntoView {
    match quote {
        QuoteView::Callable {
            number,
            destination,
            price_per_minute,
            connection_fee,
            increments,
            max_duration_secs,
            needs_confirmation,
            limit_note,
        } => view! {
            <dl class="quote-facts">
                <dt>"Number"</dt><dd>{number}</dd>
                <dt>"Destination"</dt><dd>{destination}</dd>
                <dt>"Price"</dt><dd>{format!("{price_per_minute} per minute")}</dd>
                <dt>"Connection fee"</dt><dd>{connection_fee.to_string()}</dd>
                <dt>"Billing"</dt><dd>{format!("{increments} s increments")}</dd>
            </dl>
            <p class="talk-time">{talk_time(max_duration_secs)}</p>
            {limit_note.map(|note| view! { <p class="hint" data-testid="limit-note">{note}</p> })}
            {needs_confirmation.then(|| view! {
                <label class="confirm">
                    <input type="checkbox" name="confirmed" value="yes"
                        on:change=move |ev| confirmed.set(event_target_checked(&ev))/>
                    {format!(" I understand this destination costs {price_per_minute} per minute")}
                </label>
            })}
        }
        .into_any(),
        QuoteView::Unaffordable {
            number,
            destination,
            price_per_minute,
            needed,
            available,
            ..
        } => view! {
            <dl class="quote-facts">
                <dt>"Number"</dt><dd>{number}</dd>
                <dt>"Destination"</dt><dd>{destination}</dd>
                <dt>"Price"</dt><dd>{format!("{price_per_minute} per minute")}</dd>
            </dl>
            <p class="form-error" role="alert">
                {format!("Not enough credit: the first increment and connection fee cost {needed}, and {available} is available. ")}
                <a href="/wallet">"Buy credits"</a>
            </p>
        }
        .into_any(),
        QuoteView::Refused { reason } => {
            view! { <p class="form-error" id="number-error" role="alert">{reason}</p> }.into_any()
        }
    }
}

/// "You can talk about 12 minutes."
pub(crate) fn talk_time(max_duration_secs: u64) -> String {
    match max_duration_secs {
        0..=59 => format!("You can talk about {max_duration_secs} seconds."),
        60..=119 => "You can talk about 1 minute.".to_owned(),
        secs => format!("You can talk about {} minutes.", secs / 60),
    }
}

#[component]
fn DialError(error: AppError) -> impl IntoView {
    let unaffordable = matches!(&error, AppError::Conflict { code, .. } if code == "unaffordable");
    view! {
        <p class="form-error" role="alert">
            {error.to_string()}
            {unaffordable.then(|| view! { " " <a href="/wallet">"Buy credits"</a> })}
        </p>
    }
}

/// "1:05" for 65 seconds.
pub(crate) fn clock_text(secs: i64) -> String {
    let secs = secs.max(0);
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}
