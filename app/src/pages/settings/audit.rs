//! The audit trail section (owners and admins): who changed what, and when.

use crate::api::org::{load_audit_trail, AuditLine, AUDIT_LINES};
use crate::components::current_org::current_org_id;
use crate::components::form::ErrorNotice;
use crate::error::AppError;
use leptos::prelude::*;

/// The trail, loaded by `SettingsPage` before anything suspends (see
/// `members::MembersData`); only owners and admins may read it.
pub(super) type AuditData = Resource<Result<Option<Vec<AuditLine>>, AppError>>;

pub(super) fn audit_data(
    me: Resource<Result<Option<crate::api::auth::Me>, AppError>>,
) -> AuditData {
    Resource::new(
        move || current_org_id(me),
        move |_| async move {
            match me.await {
                // Members are not shown the trail: ask only for those who may read it.
                Ok(Some(me)) if me.current_org.role.can_manage_org() => {
                    load_audit_trail(me.current_org.org_id).await.map(Some)
                }
                Ok(_) => Ok(None),
                Err(error) => Err(error),
            }
        },
    )
}

#[component]
pub(super) fn AuditTrail(trail: AuditData) -> impl IntoView {
    view! {
        <section class="card" id="audit">
            <h2>"Audit trail"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match trail.await {
                        Ok(None) => ().into_any(),
                        Ok(Some(lines)) if lines.is_empty() => view! {
                            <p class="muted">"Nothing has changed yet. Invitations, removals, role changes, caps and country rules will be listed here."</p>
                        }.into_any(),
                        Ok(Some(lines)) => view! {
                            <table class="table" data-testid="audit-trail">
                                <thead><tr>
                                    <th scope="col">"When"</th>
                                    <th scope="col">"Who"</th>
                                    <th scope="col">"What"</th>
                                </tr></thead>
                                <tbody>
                                    {lines.into_iter().map(|line| view! {
                                        <tr data-audit-id=line.audit_id>
                                            <td>{line.at}</td>
                                            <td>{line.actor}</td>
                                            <td><strong>{line.what}</strong>": "{line.detail}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <p class="hint">{format!("The newest {AUDIT_LINES} changes are shown.")}</p>
                        }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
