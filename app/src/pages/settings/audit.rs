//! The audit trail section (owners and admins): who changed what, and when.

use crate::api::org::{load_audit_trail, AUDIT_LINES};
use crate::components::form::ErrorNotice;
use leptos::prelude::*;

#[component]
pub(super) fn AuditTrail(org_id: String) -> impl IntoView {
    let trail = Resource::new(move || org_id.clone(), load_audit_trail);
    view! {
        <section class="card" id="audit">
            <h2>"Audit trail"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match trail.await {
                        Ok(lines) if lines.is_empty() => view! {
                            <p class="muted">"Nothing has changed yet. Invitations, removals, role changes, caps and country rules will be listed here."</p>
                        }.into_any(),
                        Ok(lines) => view! {
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
