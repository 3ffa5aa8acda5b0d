//! The live call panel and the recent calls list.
//!
//! Calls arrive from the server push (`GET /calls/live`, server-sent events,
//! `server/src/call_events.rs`) in every open tab of the member, and from the
//! dial and end actions' own answers; `DialerState::upsert` keeps the newest
//! version of each. The timer, cost so far and time left tick in the browser
//! from the call's answer time and forced-hangup time, on the server's clock.
//! While the call is live the panel carries the in-call controls
//! (`controls.rs`); once it has ended, the rating.

use super::controls::InCallControls;
use super::phone::Phone;
use super::{clock_text, DialerState};
use crate::api::call_rating::CallRatingView;
use crate::api::calls::{CallView, EndCall};
use crate::components::call_rating::CallRatingForm;
use crate::domain::CallStatus;
use leptos::prelude::*;
use std::time::Duration;

/// Warnings are shown this close to the forced hangup.
const FIRST_WARNING_SECS: i64 = 60;
const LAST_WARNING_SECS: i64 = 10;

/// The browser's clock, unix ms (the server's own clock when rendering there).
pub fn browser_now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    {
        crate::server::clock::now_ms()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        0
    }
}

#[component]
pub fn LivePanel() -> impl IntoView {
    let state = expect_context::<DialerState>();
    let now_ms = RwSignal::new(browser_now_ms());
    // Effects run only in the browser: the ticking clock and the server push.
    Effect::new(move |_| {
        let ticker = set_interval_with_handle(
            move || now_ms.set(browser_now_ms() + state.clock_offset_ms.get_untracked()),
            Duration::from_millis(250),
        )
        .ok();
        on_cleanup(move || {
            if let Some(ticker) = ticker {
                ticker.clear();
            }
        });
    });
    Effect::new(move |_| subscribe(state));

    let focused = Memo::new(move |_| {
        let id = state.focus.get()?;
        state
            .calls
            .with(|calls| calls.iter().find(|c| c.call_id == id).cloned())
    });
    let phone = expect_context::<Phone>();
    // Each of these changes only when the focused call starts or stops being
    // live, so the controls and the rating keep their own state meanwhile.
    let live =
        Memo::new(move |_| focused.with(|call| call.as_ref().is_some_and(CallView::is_live)));
    let ended_call = Memo::new(move |_| {
        focused.with(|call| {
            call.as_ref()
                .filter(|c| !c.is_live())
                .map(|c| c.call_id.clone())
        })
    });
    view! {
        <section class="card live-call" aria-labelledby="live-heading" aria-live="polite"
            data-line=move || phone.line.get()>
            <h2 id="live-heading">"Call"</h2>
            {move || match focused.get() {
                None => view! { <p class="muted">"No call in progress. Dial a number to start one."</p> }.into_any(),
                Some(call) => view! { <CallPanel call now_ms/> }.into_any(),
            }}
            <Show when=move || live.get() && phone.ready.get()>
                <InCallControls/>
            </Show>
            {move || phone.error.get().map(|message| view! {
                <p class="form-error" role="alert" data-testid="phone-error">{message}</p>
            })}
            {move || ended_call.get().map(|call_id| view! {
                <div class="after-call">
                    <CallRatingForm org_id=state.org_id.get_value() call_id
                        rating=CallRatingView { rating: None, may_rate: true, ended: true }/>
                </div>
            })}
        </section>
    }
}

#[component]
fn CallPanel(call: CallView, now_ms: RwSignal<i64>) -> impl IntoView {
    let state = expect_context::<DialerState>();
    let phone = expect_context::<Phone>();
    let status = call.status;
    let heading = view! {
        <p class="live-number"><strong>{call.number.clone()}</strong></p>
        <p class="muted">{call.destination.clone()}</p>
    };
    let body = match status {
        CallStatus::Queued | CallStatus::Initiated => {
            view! { <p class="live-status" data-status="connecting">"Connecting…"</p> }.into_any()
        }
        CallStatus::Ringing => {
            view! { <p class="live-status" data-status="ringing">"Ringing…"</p> }.into_any()
        }
        CallStatus::InProgress => view! { <InProgress call=call.clone() now_ms/> }.into_any(),
        _ => view! { <Ended call=call.clone()/> }.into_any(),
    };
    let end = ServerAction::<EndCall>::new();
    Effect::watch(
        move || end.version().get(),
        move |_, _, _| {
            if let Some(Ok(call)) = end.value().get_untracked() {
                state.upsert(call);
            }
        },
        false,
    );
    let end_error = move || {
        end.value()
            .get()
            .and_then(Result::err)
            .map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })
    };
    let end_label = if status.is_connecting() {
        "Cancel call"
    } else {
        "End call"
    };
    view! {
        {heading}
        {body}
        {(!status.is_terminal()).then(|| view! {
            <ActionForm action=end attr:class="end-call">
                <input type="hidden" name="org_id" value=state.org_id.get_value()/>
                <input type="hidden" name="call_id" value=call.call_id.clone()/>
                // The audio stops at once; the server ends the call itself.
                <button type="submit" class="danger" disabled=move || end.pending().get()
                    on:click=move |_| phone.hangup()>
                    {move || if end.pending().get() { "Ending…" } else { end_label }}
                </button>
            </ActionForm>
        })}
        {end_error}
    }
}

#[component]
fn InProgress(call: CallView, now_ms: RwSignal<i64>) -> impl IntoView {
    let answered_ms = call.answered_at.unwrap_or(call.created_at) * 1000;
    let hangup_at_ms = call.hangup_at_ms;
    let elapsed = move || ((now_ms.get() - answered_ms) / 1000).max(0);
    let left = move || hangup_at_ms.map(|at| ((at - now_ms.get()) / 1000).max(0));
    let cost_call = call.clone();
    let cost_so_far = move || cost_call.cost_after(u64::try_from(elapsed()).unwrap_or(0));
    let warning = move || match left() {
        Some(secs) if secs <= LAST_WARNING_SECS => Some(format!(
            "{secs} seconds left: the call ends when your credit runs out."
        )),
        Some(secs) if secs <= FIRST_WARNING_SECS => {
            Some("Less than a minute left: the call ends when your credit runs out.".to_owned())
        }
        _ => None,
    };
    view! {
        <p class="live-status" data-status="in-progress">"In progress"</p>
        <dl class="live-facts">
            <dt>"Talking"</dt><dd class="timer">{move || clock_text(elapsed())}</dd>
            <dt>"Cost so far"</dt><dd>{move || cost_so_far().to_string()}</dd>
            <dt>"Time left"</dt><dd>{move || left().map(clock_text).unwrap_or_else(|| "—".into())}</dd>
        </dl>
        {move || warning().map(|text| view! { <p class="warning" role="alert">{text}</p> })}
    }
}

#[component]
fn Ended(call: CallView) -> impl IntoView {
    let reason = call
        .end_reason
        .map(|r| r.label())
        .unwrap_or(call.status.label());
    let duration = call.duration_secs.unwrap_or(0);
    let cost = call.cost.unwrap_or_default();
    view! {
        <p class="live-status" data-status="ended">{format!("Call ended: {reason}")}</p>
        <dl class="live-facts">
            <dt>"Duration"</dt><dd>{clock_text(duration)}</dd>
            <dt>"Cost"</dt><dd class="call-cost">{cost.to_string()}</dd>
        </dl>
    }
}

#[component]
pub fn RecentCalls() -> impl IntoView {
    let state = expect_context::<DialerState>();
    let rows = move || {
        state
            .calls
            .get()
            .into_iter()
            .map(|call| {
                let redial_number = call.e164.clone();
                let href = format!("/dialer?number={}", call.e164.replace('+', "%2B"));
                let outcome = match (call.status.is_terminal(), call.end_reason) {
                    (false, _) => call.status.label().to_owned(),
                    (true, Some(reason)) => reason.label().to_owned(),
                    (true, None) => call.status.label().to_owned(),
                };
                view! {
                    <tr>
                        <td>{call.number.clone()}</td>
                        <td>{call.destination.clone()}</td>
                        <td>{outcome}</td>
                        <td>{call.duration_secs.map(clock_text).unwrap_or_default()}</td>
                        <td class="amount">{call.cost.map(|c| c.to_string()).unwrap_or_default()}</td>
                        <td>
                            <a href=href class="redial" aria-label=format!("Redial {}", call.number)
                                on:click=move |ev| {
                                    ev.prevent_default();
                                    state.number.set(redial_number.clone());
                                }>"Redial"</a>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card recent-calls" aria-labelledby="recent-heading">
            <h2 id="recent-heading">"Recent calls"</h2>
            <Show when=move || !state.calls.with(Vec::is_empty)
                fallback=|| view! { <p class="muted">"Your calls will appear here."</p> }>
                <table>
                    <thead><tr>
                        <th scope="col">"Number"</th><th scope="col">"Destination"</th>
                        <th scope="col">"Outcome"</th><th scope="col">"Duration"</th>
                        <th scope="col">"Cost"</th><th scope="col"><span class="visually-hidden">"Redial"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
            <p><a href="/calls">"All calls"</a></p>
        </section>
    }
}

/// Follows the member's calls over server-sent events until the page goes away.
#[cfg(feature = "hydrate")]
fn subscribe(state: DialerState) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let url = format!("/calls/live?org_id={}", state.org_id.get_value());
    let Ok(source) = web_sys::EventSource::new(&url) else {
        return;
    };
    let on_call =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Ok(call) = serde_json::from_str::<CallView>(&text) {
                state.upsert(call);
            }
        });
    let _ = source.add_event_listener_with_callback("call", on_call.as_ref().unchecked_ref());
    let held = StoredValue::new_local(Some((source, on_call)));
    on_cleanup(move || {
        if let Some((source, _listener)) = held.try_update_value(Option::take).flatten() {
            source.close();
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn subscribe(_state: DialerState) {}
