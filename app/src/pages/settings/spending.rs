//! The spending section: this month's use against each member's cap, and
//! for owners and admins the forms that set a member's cap, the default cap
//! for people who join, the per-call maximum and the country rule. A plain
//! member sees only their own cap and use. Every form is an `ActionForm`, so
//! it works without JavaScript; the server checks every role again.

use crate::api::spending::{
    load_spending, MemberUsage, SetCallLimit, SetCountryRule, SetDefaultCap, SetMemberCap,
    SpendingView,
};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::domain::spending::{cap_text, CountryMode, Minutes, MAX_CALL_MINUTES, MIN_CALL_MINUTES};
use crate::domain::Money;
use crate::error::AppError;
use leptos::prelude::*;

/// Every action of the section, so any of them reloads what it shows.
#[derive(Clone, Copy)]
struct Actions {
    member_cap: ServerAction<SetMemberCap>,
    default_cap: ServerAction<SetDefaultCap>,
    call_limit: ServerAction<SetCallLimit>,
    country_rule: ServerAction<SetCountryRule>,
}

/// The spending section's actions and data, made by `SettingsPage` before
/// anything suspends (see `MembersData`).
#[derive(Clone, Copy)]
pub(super) struct SpendingData {
    actions: Actions,
    view_data: Resource<Result<Option<SpendingView>, AppError>>,
}

impl SpendingData {
    pub(super) fn new(me: Resource<Result<Option<crate::api::auth::Me>, AppError>>) -> Self {
        let actions = Actions {
            member_cap: ServerAction::new(),
            default_cap: ServerAction::new(),
            call_limit: ServerAction::new(),
            country_rule: ServerAction::new(),
        };
        let view_data = Resource::new(
            move || {
                (
                    current_org_id(me),
                    actions.member_cap.version().get(),
                    actions.default_cap.version().get(),
                    actions.call_limit.version().get(),
                    actions.country_rule.version().get(),
                )
            },
            move |_| for_current_org(me, load_spending),
        );
        Self { actions, view_data }
    }
}

#[component]
pub(super) fn SpendingSection(org_id: String, data: SpendingData) -> impl IntoView {
    let SpendingData { actions, view_data } = data;
    let org = StoredValue::new(org_id);
    view! {
        <section class="card" id="spending">
            <h2>"Spending"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(Some(data)) if data.manages => view! { <Controls data org actions/> }.into_any(),
                        Ok(Some(data)) => view! { <OwnUse data/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn used_text(m: &MemberUsage) -> String {
    if m.held > Money::ZERO {
        format!("{} spent, {} held by live calls", m.spent, m.held)
    } else {
        format!("{} spent", m.spent)
    }
}

fn cap_cell(m: &MemberUsage) -> String {
    let cap = cap_text(m.cap);
    if m.cap_is_default {
        format!("{cap} (default)")
    } else {
        cap
    }
}

/// A plain member: their own cap and use, and the rules that apply to them.
#[component]
fn OwnUse(data: SpendingView) -> impl IntoView {
    let own = data.members.into_iter().find(|m| m.is_you);
    view! {
        {own.map(|m| view! {
            <p data-testid="own-usage">
                {format!("Your monthly limit: {}. In {}: {} ({} min).", cap_text(m.cap), data.month, used_text(&m), m.minutes)}
            </p>
        })}
        <p class="muted">{format!("Each call lasts at most {}.", Minutes(data.max_call_minutes))}</p>
    }
}

#[component]
fn Controls(data: SpendingView, org: StoredValue<String>, actions: Actions) -> impl IntoView {
    let rows = data
        .members
        .iter()
        .cloned()
        .map(|m| view! { <MemberRow m org action=actions.member_cap/> })
        .collect_view();
    let member_error = action_error(actions.member_cap);
    let intro = format!(
        "Use in {} (UTC): what each member's calls were charged, plus what their live calls hold.",
        data.month
    );
    let (default_cap, minutes) = (data.default_cap, data.max_call_minutes);
    view! {
        <p class="muted">{intro}</p>
        <FormError error=member_error fields=&[]/>
        <table class="table" data-testid="spending-usage">
            <thead><tr>
                <th scope="col">"Member"</th>
                <th scope="col">"Used this month"</th>
                <th scope="col">"Minutes"</th>
                <th scope="col">"Monthly cap"</th>
                <th scope="col">"Change cap"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p class="hint">"Leave a cap empty for no cap. A call never runs past what its caller's cap has left."</p>
        <DefaultCapForm cap=default_cap org action=actions.default_cap/>
        <CallLimitForm minutes org action=actions.call_limit/>
        <CountryRuleForm data org action=actions.country_rule/>
    }
}

#[component]
fn MemberRow(
    m: MemberUsage,
    org: StoredValue<String>,
    action: ServerAction<SetMemberCap>,
) -> impl IntoView {
    let input_id = format!("cap-{}", m.user_id);
    let value = m.cap.map(|c| c.plain_dollars()).unwrap_or_default();
    let label = format!("Monthly cap for {}", m.name);
    view! {
        <tr data-member=m.email.clone()>
            <td>{m.name.clone()}<br/><span class="muted">{format!("{} · {}", m.email, m.role)}</span></td>
            <td data-testid="member-used">{used_text(&m)}</td>
            <td>{m.minutes}</td>
            <td data-testid="member-cap">{cap_cell(&m)}</td>
            <td>
                {if m.editable {
                    view! {
                        <ActionForm action>
                            <input type="hidden" name="org_id" value=org.get_value()/>
                            <input type="hidden" name="user_id" value=m.user_id.clone()/>
                            <label for=input_id.clone() class="visually-hidden">{label}</label>
                            <input id=input_id name="cap" type="text" inputmode="decimal" size="8" placeholder="no cap" value=value/>
                            <button type="submit" class="secondary" disabled=move || action.pending().get()>"Set cap"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <span class="muted">"Only owners change an owner's cap."</span> }.into_any()
                }}
            </td>
        </tr>
    }
}

#[component]
fn DefaultCapForm(
    cap: Option<Money>,
    org: StoredValue<String>,
    action: ServerAction<SetDefaultCap>,
) -> impl IntoView {
    let error = action_error(action);
    let saved = move || action.value().get().is_some_and(|r| r.is_ok());
    let value = cap.map(|c| c.plain_dollars()).unwrap_or_default();
    let now = format!("Now: {}. Current members keep their caps.", cap_text(cap));
    view! {
        <h3>"Default cap for new members"</h3>
        <ActionForm action>
            <FormError error fields=&["default_cap"]/>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <label for="default-cap">"Monthly cap for people who join (dollars; empty for no cap)"</label>
            <input id="default-cap" name="cap" type="text" inputmode="decimal" placeholder="no cap" value=value aria-describedby="default_cap-error"/>
            <FieldError error field="default_cap"/>
            <p class="hint">{now}</p>
            <button type="submit" disabled=move || action.pending().get()>"Save default cap"</button>
            {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        </ActionForm>
    }
}

#[component]
fn CallLimitForm(
    minutes: u32,
    org: StoredValue<String>,
    action: ServerAction<SetCallLimit>,
) -> impl IntoView {
    let error = action_error(action);
    let saved = move || action.value().get().is_some_and(|r| r.is_ok());
    view! {
        <h3>"Longest call"</h3>
        <ActionForm action>
            <FormError error fields=&["minutes"]/>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <label for="call-minutes">{format!("Minutes per call ({MIN_CALL_MINUTES}–{MAX_CALL_MINUTES})")}</label>
            <input id="call-minutes" name="minutes" type="number" min=MIN_CALL_MINUTES.to_string() max=MAX_CALL_MINUTES.to_string() required value=minutes.to_string() aria-describedby="minutes-error"/>
            <FieldError error field="minutes"/>
            <p class="hint">"So one call does not hold the whole balance and the team can call at the same time."</p>
            <button type="submit" disabled=move || action.pending().get()>"Save call length"</button>
            {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        </ActionForm>
    }
}

#[component]
fn CountryRuleForm(
    data: SpendingView,
    org: StoredValue<String>,
    action: ServerAction<SetCountryRule>,
) -> impl IntoView {
    let error = action_error(action);
    let saved = move || action.value().get().is_some_and(|r| r.is_ok());
    let current = data.country_mode;
    let modes = CountryMode::ALL
        .into_iter()
        .map(|mode| {
            let checked = mode == current;
            let id = format!("country-mode-{}", mode.as_str());
            let label_for = id.clone();
            view! {
                <label for=label_for class="radio">
                    <input id=id type="radio" name="mode" value=mode.as_str() checked=checked/>
                    {format!(" {}", mode.label())}
                </label>
            }
        })
        .collect_view();
    let listed = data.countries.join(", ");
    let known = data
        .known_countries
        .iter()
        .map(|c| format!("{} ({})", c.name, c.code))
        .collect::<Vec<_>>()
        .join(", ");
    let options = data
        .known_countries
        .into_iter()
        .map(|c| view! { <option value=c.code>{c.name}</option> })
        .collect_view();
    view! {
        <h3>"Destination countries"</h3>
        <ActionForm action>
            <FormError error fields=&["mode", "countries"]/>
            <input type="hidden" name="org_id" value=org.get_value()/>
            <fieldset>
                <legend>"Who may be called"</legend>
                {modes}
            </fieldset>
            <FieldError error field="mode"/>
            <label for="rule-countries">"Countries (codes or names, separated by commas)"</label>
            <input id="rule-countries" name="countries" type="text" list="rule-country-names" value=listed aria-describedby="countries-error"/>
            <datalist id="rule-country-names">{options}</datalist>
            <FieldError error field="countries"/>
            <p class="hint">{format!("Numbers the rate deck blocks stay blocked whatever this says. Countries: {known}.")}</p>
            <button type="submit" disabled=move || action.pending().get()>"Save country rule"</button>
            {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        </ActionForm>
    }
}
