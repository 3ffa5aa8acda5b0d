//! Auto-recharge settings on the wallet page: the saved card, the rule
//! (threshold, target, monthly cap), recent attempts and the notice shown when
//! repeated failures switched it off. Owners and admins edit; members read.

use crate::api::purchases::{
    load_auto_recharge, AutoRechargeView, DismissNotice, SaveAutoRecharge, SaveCard,
};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::components::layout::MeResource;
use leptos::prelude::*;

const FIELDS: &[&str] = &["enabled", "threshold", "target", "monthly_cap"];

#[component]
pub fn AutoRechargeSettings() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let save = ServerAction::<SaveAutoRecharge>::new();
    let dismiss = ServerAction::<DismissNotice>::new();
    // Loaded like every section (`current_org`), outside any Suspend, so it is fetched once.
    let view_data = Resource::new(
        move || {
            (
                current_org_id(me),
                save.version().get(),
                dismiss.version().get(),
            )
        },
        move |_| {
            for_current_org(me, |org_id| async move {
                load_auto_recharge(org_id.clone())
                    .await
                    .map(|data| (org_id, data))
            })
        },
    );
    view! {
        <section class="card auto-recharge" aria-labelledby="auto-recharge-heading">
            <h2 id="auto-recharge-heading">"Auto-recharge"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(Some((org_id, data))) => view! { <AutoRechargeForm data org_id save dismiss/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AutoRechargeForm(
    data: AutoRechargeView,
    org_id: String,
    save: ServerAction<SaveAutoRecharge>,
    dismiss: ServerAction<DismissNotice>,
) -> impl IntoView {
    let error = action_error(save);
    let save_card = ServerAction::<SaveCard>::new();
    let card_error = action_error(save_card);
    let saved = move || save.value().get().is_some_and(|r| r.is_ok());
    // Owners and admins dismiss notices; members only read them.
    let can_dismiss = data.can_manage;
    let notices = data
        .notices
        .clone()
        .into_iter()
        .map(|notice| {
            let org_id = org_id.clone();
            let dismiss_form = can_dismiss.then(|| {
                view! {
                    <ActionForm action=dismiss>
                        <input type="hidden" name="org_id" value=org_id.clone()/>
                        <input type="hidden" name="notice_id" value=notice.notice_id.clone()/>
                        <button type="submit" class="link">"Dismiss"</button>
                    </ActionForm>
                }
            });
            view! {
                <div class="banner warning" role="alert">
                    <p>{notice.message}</p>
                    {dismiss_form}
                </div>
            }
        })
        .collect_view();
    let status = if data.enabled {
        format!(
            "On: when available credit falls below ${}, your card is charged to bring it back to ${} (at most ${} a month; {} used this month).",
            data.threshold, data.target, data.monthly_cap, data.used_this_month
        )
    } else {
        "Off.".to_owned()
    };
    let card = if data.has_card {
        "A card is saved for auto-recharge."
    } else {
        "No card saved yet."
    };
    let recent = (!data.recent.is_empty()).then(|| {
        let rows = data
            .recent
            .iter()
            .map(|a| {
                view! {
                    <li>
                        {format!("{} — {}", a.amount, a.status)}
                        {a.failure.clone().map(|f| format!(": {f}"))}
                    </li>
                }
            })
            .collect_view();
        view! { <h3>"Recent charges"</h3><ul class="attempts">{rows}</ul> }
    });
    let manage = data.can_manage.then(|| {
        let card_org = org_id.clone();
        view! {
            <ActionForm action=save_card attr:class="save-card">
                <FormError error=card_error fields=&[]/>
                <input type="hidden" name="org_id" value=card_org/>
                <input type="hidden" name="form_key" value=data.form_key.clone()/>
                <button type="submit" class="secondary" disabled=move || save_card.pending().get()>
                    {if data.has_card { "Replace the saved card" } else { "Save a card" }}
                </button>
            </ActionForm>
            <ActionForm action=save attr:class="auto-recharge-form">
                <FormError error fields=FIELDS/>
                <input type="hidden" name="org_id" value=org_id/>
                <label class="checkbox">
                    <input type="checkbox" name="enabled" value="on" checked=data.enabled/>
                    " Recharge automatically"
                </label>
                <FieldError error field="enabled"/>
                <label for="ar-threshold">"When available credit falls below ($)"</label>
                <input id="ar-threshold" name="threshold" type="text" inputmode="decimal" value=data.threshold.clone()/>
                <FieldError error field="threshold"/>
                <label for="ar-target">"Bring it back to ($)"</label>
                <input id="ar-target" name="target" type="text" inputmode="decimal" value=data.target.clone()/>
                <FieldError error field="target"/>
                <label for="ar-cap">"At most per month ($)"</label>
                <input id="ar-cap" name="monthly_cap" type="text" inputmode="decimal" value=data.monthly_cap.clone()/>
                <FieldError error field="monthly_cap"/>
                <button type="submit" disabled=move || save.pending().get()>"Save auto-recharge"</button>
                {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
            </ActionForm>
        }
    });
    view! {
        {notices}
        <p class="auto-recharge-status">{status}</p>
        <p>{card}</p>
        {(data.failures > 0 && data.enabled).then(|| view! {
            <p class="form-error">{format!("The last {} charge(s) failed. After 3 in a row auto-recharge switches itself off.", data.failures)}</p>
        })}
        {manage}
        {recent}
    }
}
