//! `/settings`: one page in sections. Organization (name, calling country),
//! members and invitations (`members.rs`), plan and billing (`billing.rs`), spending (everyone's use and the
//! controls for owners and admins, a member's own cap and use otherwise), and
//! for owners and admins the audit trail; then creating another
//! organization, and the platform card for operators. Each section is its own
//! module and loads its own data; the server checks every role again.

mod audit;
mod billing;
mod members;
mod organization;
mod spending;

use crate::api::org::{load_org_settings, CreateOrg, RenameOrg};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::error::AppError;
use audit::AuditTrail;
use billing::{BillingData, BillingSection};
use leptos::prelude::*;
use leptos_meta::Title;
use members::{MembersData, MembersSection};
use organization::{CallingData, CallingSettings, CreateOrgForm, OrgSettingsView, PlatformCard};
use spending::{SpendingData, SpendingSection};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let rename = ServerAction::<RenameOrg>::new();
    let create = ServerAction::<CreateOrg>::new();
    // The fetcher awaits `me` itself: reading it synchronously could see it not
    // yet loaded during server rendering and render no organization at all.
    let settings = Resource::new(
        move || {
            let current = me.get().and_then(|r| r.ok()).flatten();
            (
                rename.version().get(),
                current.map(|m| m.current_org.org_id),
            )
        },
        move |_| async move {
            match me.await {
                Ok(Some(me)) => load_org_settings(me.current_org.org_id).await.map(Some),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            }
        },
    );
    // Every section's data is a Resource made here, before anything suspends:
    // made inside the Suspend below, after the organization loads, the
    // server would create them whenever that load finished, interleaved with
    // other Resources, and their serialized ids could differ from the order
    // the browser creates them in (a hydration panic, seen on PostgreSQL).
    let members = MembersData::new(me);
    let calling = CallingData::new(me);
    let spending = SpendingData::new(me);
    let audit = audit::audit_data(me);
    let billing = BillingData::new(me);
    // Renaming or creating an organization changes what the header's switcher shows.
    Effect::new(move || {
        let succeeded = |v: Option<Result<(), AppError>>| v.is_some_and(|r| r.is_ok());
        if succeeded(rename.value().get()) || succeeded(create.value().get()) {
            me.refetch();
        }
    });
    view! {
        <Title text="Settings"/>
        <h1>"Settings"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading settings…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(Some(settings)) => {
                        let org_id = settings.org.org_id.clone();
                        let can_manage = settings.org.role.can_manage_org();
                        view! {
                            <OrgSettingsView settings rename/>
                            <MembersSection data=members/>
                            <BillingSection data=billing/>
                            {can_manage.then(|| view! { <CallingSettings org_id=org_id.clone() data=calling/> })}
                            // Members see their own cap and use; owners and admins everyone's, and the controls.
                            <SpendingSection org_id=org_id.clone() data=spending/>
                            {can_manage.then(|| view! { <AuditTrail trail=audit/> })}
                        }.into_any()
                    }
                    Ok(None) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
        <CreateOrgForm create/>
        // Operators only; the server function checks the flag again.
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) if me.is_operator => view! { <PlatformCard/> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}
