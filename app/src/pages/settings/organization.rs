//! The organization section: its name, its calling country (owners and
//! admins), creating another organization, and the platform
//! card operators see.

use crate::api::calls::{load_country_options, SetOrgCountry};
use crate::api::org::{CreateOrg, OrgSettings, RenameOrg};
use crate::api::platform::load_platform_mode;
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::error::AppError;
use leptos::prelude::*;

/// What the platform runs on: real or simulated payments and carrier.
#[component]
pub(super) fn PlatformCard() -> impl IntoView {
    let mode = Resource::new(|| (), |_| load_platform_mode());
    view! {
        <section class="card" id="platform">
            <h2>"Platform"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match mode.await {
                        Ok(mode) => {
                            let free_calls = mode.free_real_calls();
                            view! {
                                <dl>
                                    <dt>"Payments"</dt><dd data-testid="platform-payments">{mode.payments}</dd>
                                    <dt>"Carrier"</dt><dd data-testid="platform-carrier">{mode.carrier}</dd>
                                </dl>
                                {free_calls.then(|| view! {
                                    <p class="form-error" role="alert">
                                        "Real calls are paid with sandbox credits: this must be a private test deployment."
                                    </p>
                                })}
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub(super) fn OrgSettingsView(
    settings: OrgSettings,
    rename: ServerAction<RenameOrg>,
) -> impl IntoView {
    let error: Signal<Option<AppError>> = action_error(rename);
    let can_manage = settings.org.role.can_manage_org();
    let saved = move || rename.value().get().is_some_and(|r| r.is_ok());
    view! {
        <section class="card" id="organization">
            <h2>"Organization"</h2>
            {if can_manage {
                view! {
                    <ActionForm action=rename>
                        <FormError error fields=&["name"]/>
                        <input type="hidden" name="org_id" value=settings.org.org_id.clone()/>
                        <label for="org-name">"Name"</label>
                        <input id="org-name" name="name" type="text" maxlength="100" required value=settings.org.name.clone()/>
                        <FieldError error field="name"/>
                        <button type="submit" disabled=move || rename.pending().get()>
                            {move || if rename.pending().get() { "Saving…" } else { "Save name" }}
                        </button>
                        {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
                    </ActionForm>
                }.into_any()
            } else {
                view! {
                    <p><strong>{settings.org.name.clone()}</strong></p>
                    <p class="muted">"Only owners and admins can change the organization's settings."</p>
                }.into_any()
            }}
            <dl>
                <dt>"Caller ID"</dt>
                <dd data-testid="caller-id">{settings.caller_id.clone()}</dd>
            </dl>
            <p class="hint">"The number the people you call see: this service's own number, the same for every organization."</p>
        </section>
    }
}

#[component]
pub(super) fn CreateOrgForm(create: ServerAction<CreateOrg>) -> impl IntoView {
    let error = action_error(create);
    view! {
        <section class="card">
            <h2>"New organization"</h2>
            <p class="muted">"Create another organization (for a team or a client); you will be its owner."</p>
            <ActionForm action=create>
                <FormError error fields=&["name"]/>
                <label for="new-org-name">"Name"</label>
                <input id="new-org-name" name="name" type="text" maxlength="100" required/>
                <FieldError error field="name"/>
                <button type="submit" class="secondary" disabled=move || create.pending().get()>"Create organization"</button>
            </ActionForm>
        </section>
    }
}

/// The calling section's action and data, made by `SettingsPage` before
/// anything suspends (see `members::MembersData`).
#[derive(Clone, Copy)]
pub(super) struct CallingData {
    save: ServerAction<SetOrgCountry>,
    options: Resource<Result<Option<String>, AppError>>,
}

impl CallingData {
    pub(super) fn new(me: Resource<Result<Option<crate::api::auth::Me>, AppError>>) -> Self {
        let save = ServerAction::<SetOrgCountry>::new();
        let options = Resource::new(
            move || (current_org_id(me), save.version().get()),
            move |_| for_current_org(me, load_country_options),
        );
        Self { save, options }
    }
}

/// Owners and admins: the country national numbers are dialed in (the dialer's default).
#[component]
pub(super) fn CallingSettings(org_id: String, data: CallingData) -> impl IntoView {
    let CallingData { save, options } = data;
    let error = action_error(save);
    let org = StoredValue::new(org_id);
    let saved = move || save.value().get().is_some_and(|r| r.is_ok());
    view! {
        <section class="card">
            <h2>"Calling"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(None) => ().into_any(),
                        Ok(Some(options)) => {
                            view! {
                                <ActionForm action=save>
                                    <input type="hidden" name="org_id" value=org.get_value()/>
                                    <label for="org-country">"Country for national numbers"</label>
                                    // The dialer's options, the organization's country selected.
                                    <select id="org-country" name="country" aria-describedby="country-error"
                                        inner_html=options></select>
                                    <FieldError error field="country"/>
                                    <p class="hint">"Numbers typed without + and a country code are read as this country's; the dialer starts on it."</p>
                                    <button type="submit" disabled=move || save.pending().get()>"Save country"</button>
                                    {move || saved().then(|| view! { <p class="notice" role="status">"Saved."</p> })}
                                </ActionForm>
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
