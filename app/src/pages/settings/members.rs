//! The members section: who is in the organization and in what role, their
//! invitations and their status, inviting, and leaving. Buttons appear only
//! for what the viewer's role allows (`domain::team_rules`); the server checks
//! every change again. Every form is a plain post, so all of it works without
//! JavaScript; with it, the section reloads in place.

use crate::api::team::{
    load_team, ChangeRole, FreshLink, InvitationLine, InviteMember, LeaveOrg, RemoveMember,
    ResendInvitation, RevokeInvitation, TeamMember, TeamView, TransferOwnership,
};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use crate::components::layout::MeResource;
use crate::domain::InvitationStatus;
use crate::error::AppError;
use leptos::prelude::*;

/// Every action of the section, so each form can refresh the whole list.
#[derive(Clone, Copy)]
struct Actions {
    invite: ServerAction<InviteMember>,
    resend: ServerAction<ResendInvitation>,
    revoke: ServerAction<RevokeInvitation>,
    role: ServerAction<ChangeRole>,
    transfer: ServerAction<TransferOwnership>,
    remove: ServerAction<RemoveMember>,
    leave: ServerAction<LeaveOrg>,
}

impl Actions {
    fn version(&self) -> usize {
        self.invite.version().get()
            + self.resend.version().get()
            + self.revoke.version().get()
            + self.role.version().get()
            + self.transfer.version().get()
            + self.remove.version().get()
    }

    /// The latest error of any member or invitation change (not inviting or leaving,
    /// which show theirs beside their own form).
    fn list_error(&self) -> Signal<Option<AppError>> {
        let (resend, revoke, role, transfer, remove) = (
            action_error(self.resend),
            action_error(self.revoke),
            action_error(self.role),
            action_error(self.transfer),
            action_error(self.remove),
        );
        Signal::derive(move || {
            resend
                .get()
                .or_else(|| revoke.get())
                .or_else(|| role.get())
                .or_else(|| transfer.get())
                .or_else(|| remove.get())
        })
    }
}

/// The members section's actions and data. Made by `SettingsPage` before
/// anything suspends, so its Resource is created in the same order on the
/// server and in the browser (see the module doc of `settings`).
#[derive(Clone, Copy)]
pub(super) struct MembersData {
    actions: Actions,
    team: Resource<Result<Option<TeamView>, AppError>>,
}

impl MembersData {
    pub(super) fn new(me: Resource<Result<Option<crate::api::auth::Me>, AppError>>) -> Self {
        let actions = Actions {
            invite: ServerAction::new(),
            resend: ServerAction::new(),
            revoke: ServerAction::new(),
            role: ServerAction::new(),
            transfer: ServerAction::new(),
            remove: ServerAction::new(),
            leave: ServerAction::new(),
        };
        let team = Resource::new(
            move || (current_org_id(me), actions.version()),
            move |_| for_current_org(me, load_team),
        );
        Self { actions, team }
    }
}

#[component]
pub(super) fn MembersSection(data: MembersData) -> impl IntoView {
    let MembersData { actions, team } = data;
    // Leaving, or a change to one's own role, changes the header's account.
    let MeResource(me) = expect_context::<MeResource>();
    Effect::new(move || {
        let succeeded = |v: Option<Result<(), AppError>>| v.is_some_and(|r| r.is_ok());
        if succeeded(actions.leave.value().get())
            || succeeded(actions.transfer.value().get())
            || succeeded(actions.role.value().get())
        {
            me.refetch();
        }
    });
    view! {
        <section class="card" id="members">
            <h2>"Members"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading members…"</p> }>
                {move || Suspend::new(async move {
                    match team.await {
                        Ok(Some(team)) => view! { <TeamLists team actions/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TeamLists(team: TeamView, actions: Actions) -> impl IntoView {
    let org_id = team.org_id.clone();
    let list_error = actions.list_error();
    let manages = !team.invite_roles.is_empty();
    view! {
        <FormError error=list_error fields=&[]/>
        <table class="table" data-testid="members">
            <thead><tr>
                <th scope="col">"Name"</th>
                <th scope="col">"Email"</th>
                <th scope="col">"Role"</th>
                {manages.then(|| view! { <th scope="col">"Actions"</th> })}
            </tr></thead>
            <tbody>
                {team.members.into_iter().map(|m| view! {
                    <MemberRow member=m org_id=org_id.clone() actions manages/>
                }).collect_view()}
            </tbody>
        </table>
        {team.seats.map(|seats| view! {
            <p class="hint" data-testid="seats">
                {format!("Seats: {} of {} taken (members and pending invitations).", seats.used, seats.limit)}
            </p>
        })}
        {manages.then(|| view! {
            <InviteForm org_id=org_id.clone() roles=team.invite_roles.clone() actions fresh=team.fresh_link.clone()/>
            <Invitations org_id=org_id.clone() lines=team.invitations.clone() actions/>
        })}
        <LeaveForm org_id=org_id.clone() leave=actions.leave/>
    }
}

#[component]
fn MemberRow(member: TeamMember, org_id: String, actions: Actions, manages: bool) -> impl IntoView {
    let you = if member.is_me { " (you)" } else { "" };
    // Each form gets its own copies: a form's children are built once, by move.
    let hidden = |org_id: &str, user_id: &str| {
        let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
        view! {
            <input type="hidden" name="org_id" value=org_id/>
            <input type="hidden" name="user_id" value=user_id/>
        }
    };
    let role_cell = if member.role_choices.is_empty() {
        view! { <span data-testid="role">{member.role.to_string()}</span> }.into_any()
    } else {
        let select_id = format!("role-{}", member.user_id);
        let label = format!("Role of {}", member.name);
        let current = member.role;
        let options = member
            .role_choices
            .iter()
            .map(|role| {
                let selected = *role == current;
                view! { <option value=role.as_str() selected=selected>{role.as_str()}</option> }
            })
            .collect_view();
        let ids = hidden(&org_id, &member.user_id);
        view! {
            <ActionForm action=actions.role attr:class="inline-form">
                {ids}
                <label for=select_id.clone() class="visually-hidden">{label}</label>
                <select id=select_id name="role" data-testid="role-select">{options}</select>
                <button type="submit" class="secondary">"Change role"</button>
            </ActionForm>
        }
        .into_any()
    };
    let transfer = (manages && member.can_transfer).then(|| {
        let ids = hidden(&org_id, &member.user_id);
        view! {
            <ActionForm action=actions.transfer attr:class="inline-form">
                {ids}
                <button type="submit" class="secondary" title="They become an owner and you become an admin">
                    "Transfer ownership"
                </button>
            </ActionForm>
        }
    });
    let remove = (manages && member.can_remove).then(|| {
        let ids = hidden(&org_id, &member.user_id);
        view! {
            <ActionForm action=actions.remove attr:class="inline-form">
                {ids}
                <button type="submit" class="danger" title="Their live calls here end at once">"Remove"</button>
            </ActionForm>
        }
    });
    view! {
        <tr data-email=member.email.clone()>
            <td>{member.name.clone()}{you}</td>
            <td>{member.email.clone()}</td>
            <td>{role_cell}</td>
            {manages.then(|| view! { <td>{transfer}{remove}</td> })}
        </tr>
    }
}

#[component]
fn InviteForm(
    org_id: String,
    roles: Vec<crate::domain::Role>,
    actions: Actions,
    fresh: Option<FreshLink>,
) -> impl IntoView {
    let invite = actions.invite;
    let error = action_error(invite);
    view! {
        <h3>"Invite someone"</h3>
        <ActionForm action=invite>
            <FormError error fields=&["email", "role"]/>
            <input type="hidden" name="org_id" value=org_id/>
            <label for="invite-email">"Email"</label>
            <input id="invite-email" name="email" type="email" autocomplete="off" required/>
            <FieldError error field="email"/>
            <label for="invite-role">"Role"</label>
            <select id="invite-role" name="role">
                {roles.into_iter().map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> }).collect_view()}
            </select>
            <FieldError error field="role"/>
            <button type="submit" disabled=move || invite.pending().get()>
                {move || if invite.pending().get() { "Inviting…" } else { "Send invitation" }}
            </button>
        </ActionForm>
        {fresh.map(|fresh| view! {
            <div class="notice" role="status" data-testid="fresh-link">
                <p>{format!("Invitation link for {} (also mailed, when mail is set up):", fresh.email)}</p>
                <label for="invite-link" class="visually-hidden">"Invitation link"</label>
                <input id="invite-link" type="text" readonly value=fresh.link data-testid="invite-link"/>
                <p class="hint">
                    "Copy it now: only a fingerprint of it is kept, so it is shown here for a few minutes only. "
                    "Resending makes a new link and the old one stops working."
                </p>
            </div>
        })}
    }
}

fn status_label(status: InvitationStatus) -> &'static str {
    match status {
        InvitationStatus::Pending => "pending (mail queued)",
        InvitationStatus::Sent => "sent",
        InvitationStatus::Failed => "mail failed",
        InvitationStatus::Accepted => "accepted",
        InvitationStatus::Expired => "expired",
        InvitationStatus::Revoked => "revoked",
    }
}

#[component]
fn Invitations(org_id: String, lines: Vec<InvitationLine>, actions: Actions) -> impl IntoView {
    if lines.is_empty() {
        return view! { <p class="muted">"No invitations yet."</p> }.into_any();
    }
    view! {
        <h3>"Invitations"</h3>
        <table class="table" data-testid="invitations">
            <thead><tr>
                <th scope="col">"Email"</th>
                <th scope="col">"Role"</th>
                <th scope="col">"Status"</th>
                <th scope="col">"Sent"</th>
                <th scope="col">"Expires"</th>
                <th scope="col">"Actions"</th>
            </tr></thead>
            <tbody>
                {lines.into_iter().map(|line| {
                    let manage = line.can_manage.then(|| {
                        let (resend_org, resend_id) = (org_id.clone(), line.invitation_id.clone());
                        let (revoke_org, revoke_id) = (org_id.clone(), line.invitation_id.clone());
                        view! {
                            <ActionForm action=actions.resend attr:class="inline-form">
                                <input type="hidden" name="org_id" value=resend_org/>
                                <input type="hidden" name="invitation_id" value=resend_id/>
                                <button type="submit" class="secondary" title="Mails a new link and shows it here; the old link stops working">
                                    "Resend (new link)"
                                </button>
                            </ActionForm>
                            <ActionForm action=actions.revoke attr:class="inline-form">
                                <input type="hidden" name="org_id" value=revoke_org/>
                                <input type="hidden" name="invitation_id" value=revoke_id/>
                                <button type="submit" class="danger">"Revoke"</button>
                            </ActionForm>
                        }
                    });
                    let email_key = line.email.clone();
                    view! {
                        <tr data-email=email_key>
                            <td>{line.email}</td>
                            <td>{line.role.to_string()}</td>
                            <td data-testid="invitation-status" data-status=line.status.as_str()>{status_label(line.status)}</td>
                            <td>{line.sent_at}</td>
                            <td>{line.expires_at}</td>
                            <td>{manage}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <p class="hint">"To copy a link again, resend: a new link is made and shown above, and the old one stops working."</p>
    }.into_any()
}

#[component]
fn LeaveForm(org_id: String, leave: ServerAction<LeaveOrg>) -> impl IntoView {
    let error = action_error(leave);
    view! {
        <h3>"Leave"</h3>
        <ActionForm action=leave>
            <FormError error fields=&[]/>
            <input type="hidden" name="org_id" value=org_id/>
            <p class="hint">"You lose access to this organization at once, and any call you have going in it ends. The last owner cannot leave."</p>
            <button type="submit" class="danger" data-testid="leave-org">"Leave organization"</button>
        </ActionForm>
    }
}
