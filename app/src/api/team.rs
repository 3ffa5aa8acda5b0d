//! Members and invitations: the members section of /settings and the
//! `/invite/<token>` page. Every function checks on the server who is calling
//! and what their role allows (`domain::team_rules`, applied in `server::team`).

use crate::domain::{InvitationStatus, Role};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A member as the members section lists them, with what the viewer may do to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub is_me: bool,
    /// The roles the viewer may give this member (their current one included
    /// when any change is allowed); empty: no role change allowed.
    pub role_choices: Vec<Role>,
    pub can_remove: bool,
    pub can_transfer: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationLine {
    pub invitation_id: String,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    pub sent_at: String,
    pub expires_at: String,
    /// The viewer may resend or revoke it (admins do not manage owners' invitations).
    pub can_manage: bool,
}

/// A link just made by an invitation or a resend, shown for a while to whoever made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshLink {
    pub made_at: i64,
    pub invitation_id: String,
    pub email: String,
    pub link: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatUse {
    pub used: i64,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamView {
    pub org_id: String,
    pub my_role: Role,
    pub members: Vec<TeamMember>,
    /// Owners and admins only (empty for members).
    pub invitations: Vec<InvitationLine>,
    /// The roles the viewer may invite as; empty for plain members.
    pub invite_roles: Vec<Role>,
    /// None: unlimited seats.
    pub seats: Option<SeatUse>,
    pub fresh_link: Option<FreshLink>,
}

/// Who opened an invitation link, relative to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Invitee {
    /// Not signed in; whether an account exists for the invited email.
    SignedOut { has_account: bool },
    /// Signed in with the invited email.
    Invited { already_member: bool },
    /// Signed in with another email.
    SomeoneElse { signed_in_as: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationPage {
    pub org_name: String,
    pub inviter: Option<String>,
    pub email: String,
    pub role: Role,
    /// Why the link cannot be used; None when it can.
    pub problem: Option<String>,
    pub invitee: Invitee,
}

/// How many invitations the members section lists.
pub const INVITATION_LINES: i64 = 100;

#[server(endpoint = "team/load")]
pub async fn load_team(org_id: String) -> Result<TeamView, AppError> {
    ssr::load_team(org_id).await
}

/// Owners and admins: invites `email` as `role`; the link is shown once on the page.
#[server(endpoint = "team/invite")]
pub async fn invite_member(org_id: String, email: String, role: String) -> Result<(), AppError> {
    ssr::invite_member(org_id, email, role).await
}

/// Sends a new link (the previous one stops working).
#[server(endpoint = "team/resend")]
pub async fn resend_invitation(org_id: String, invitation_id: String) -> Result<(), AppError> {
    ssr::resend_invitation(org_id, invitation_id).await
}

#[server(endpoint = "team/revoke")]
pub async fn revoke_invitation(org_id: String, invitation_id: String) -> Result<(), AppError> {
    ssr::revoke_invitation(org_id, invitation_id).await
}

#[server(endpoint = "team/role")]
pub async fn change_role(org_id: String, user_id: String, role: String) -> Result<(), AppError> {
    ssr::change_role(org_id, user_id, role).await
}

/// An owner makes `user_id` an owner and becomes an admin.
#[server(endpoint = "team/transfer")]
pub async fn transfer_ownership(org_id: String, user_id: String) -> Result<(), AppError> {
    ssr::transfer_ownership(org_id, user_id).await
}

/// Removes a member; their live calls in the organization end at once.
#[server(endpoint = "team/remove")]
pub async fn remove_member(org_id: String, user_id: String) -> Result<(), AppError> {
    ssr::remove_member(org_id, user_id).await
}

/// The caller leaves the organization (not its last owner).
#[server(endpoint = "team/leave")]
pub async fn leave_org(org_id: String) -> Result<(), AppError> {
    ssr::leave_org(org_id).await
}

/// What an invitation link leads to, for its page.
#[server(endpoint = "invite/load")]
pub async fn load_invitation(token: String) -> Result<InvitationPage, AppError> {
    ssr::load_invitation(token).await
}

/// The signed-in invitee joins, and the organization becomes their current one.
#[server(endpoint = "invite/accept")]
pub async fn accept_invitation(token: String) -> Result<(), AppError> {
    ssr::accept_invitation(token).await
}

/// Someone without an account registers from the link (the email is the
/// invitation's) and joins.
#[server(endpoint = "invite/register")]
pub async fn register_from_invitation(
    token: String,
    name: String,
    password: String,
) -> Result<(), AppError> {
    ssr::register_from_invitation(token, name, password).await
}

/// Where joining goes.
pub const JOINED_PATH: &str = "/dialer";

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::api::auth::ssr as auth;
    use crate::domain::team_rules;
    use crate::domain::EmailAddress;
    use crate::server::guard::{self, OrgAdmin, CURRENT_ORG_ID};
    use crate::server::team::{self, Joiner};
    use crate::server::{clock, dates, db, seats, state::app_state};

    /// The session key of the link shown once after an invitation or a resend.
    const FRESH_LINK: &str = "fresh_invite_link";
    /// How long the link stays on the page after inviting or resending.
    const FRESH_LINK_SECS: i64 = 15 * 60;

    fn parse_role(raw: &str) -> Result<Role, AppError> {
        Role::parse(raw).map_err(|m| AppError::validation("role", m))
    }

    async fn admin_of(org_id: &str) -> Result<(OrgAdmin, crate::server::AppState), AppError> {
        let (member, state) = guard::require_member(org_id).await?;
        Ok((member.require_admin()?, state))
    }

    async fn remember_link(link: team::FreshLink) -> Result<(), AppError> {
        let session = guard::session().await?;
        session
            .insert(
                FRESH_LINK,
                FreshLink {
                    made_at: clock::now(),
                    invitation_id: link.invitation_id,
                    email: link.email,
                    link: link.link,
                },
            )
            .await?;
        Ok(())
    }

    pub async fn load_team(org_id: String) -> Result<TeamView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let pool = &state.db.pool;
        let org_id = member.org_id.clone();
        let me = member.viewer.user.user_id.clone();
        let my_role = member.role;
        let now = clock::now();
        let rows = db::orgs::members(pool, &org_id).await?;
        let owners = rows.iter().filter(|m| m.role == Role::Owner).count() as u32;
        let members = rows
            .into_iter()
            .map(|m| {
                let is_me = m.user_id == me;
                let mut role_choices: Vec<Role> = [Role::Owner, Role::Admin, Role::Member]
                    .into_iter()
                    .filter(|to| {
                        *to == m.role
                            || team_rules::may_change_role(my_role, m.role, *to, owners).is_ok()
                    })
                    .collect();
                if role_choices.len() < 2 {
                    role_choices.clear();
                }
                TeamMember {
                    can_remove: team_rules::may_remove(my_role, m.role, is_me, owners).is_ok(),
                    can_transfer: team_rules::may_transfer_ownership(my_role, m.role, is_me)
                        .is_ok(),
                    role_choices,
                    is_me,
                    user_id: m.user_id,
                    name: m.name,
                    email: m.email,
                    role: m.role,
                }
            })
            .collect::<Vec<_>>();
        let manages = my_role.can_manage_org();
        let invitations = if manages {
            db::invitations::list(pool, &org_id, now, INVITATION_LINES)
                .await?
                .into_iter()
                .map(|listed| {
                    let i = listed.invitation;
                    InvitationLine {
                        can_manage: listed.status.can_resend()
                            && team_rules::may_manage_invitation(my_role, i.role).is_ok(),
                        invitation_id: i.invitation_id,
                        email: i.email,
                        role: i.role,
                        status: listed.status,
                        sent_at: dates::display_time(i.created_at),
                        expires_at: dates::display_time(i.expires_at),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let invite_roles = [Role::Member, Role::Admin, Role::Owner]
            .into_iter()
            .filter(|role| team_rules::may_invite(my_role, *role).is_ok())
            .collect();
        let seats = if manages {
            let mut conn = pool.acquire().await?;
            let grace_secs = app_state()?.subscriptions.grace_secs;
            Some(SeatUse {
                used: members.len() as i64
                    + db::invitations::count_open(&mut *conn, &org_id, now).await?,
                limit: seats::seat_limit(&mut conn, &org_id, now, grace_secs).await?,
            })
        } else {
            None
        };
        // Shown to whoever made it, in the organization it was made for, while
        // the invitation is open and for FRESH_LINK_SECS (a page may render its
        // sections more than once, so reading it does not remove it).
        let session = guard::session().await?;
        let fresh_link = session
            .get::<FreshLink>(FRESH_LINK)
            .await?
            .filter(|link| manages && now - link.made_at < FRESH_LINK_SECS)
            .filter(|link| {
                invitations.iter().any(|i: &InvitationLine| {
                    i.invitation_id == link.invitation_id && i.status.is_open()
                })
            });
        Ok(TeamView {
            org_id,
            my_role,
            members,
            invitations,
            invite_roles,
            seats,
            fresh_link,
        })
    }

    pub async fn invite_member(
        org_id: String,
        email: String,
        role: String,
    ) -> Result<(), AppError> {
        let (admin, state) = admin_of(&org_id).await?;
        let email = EmailAddress::parse(&email).map_err(|m| AppError::validation("email", m))?;
        let role = parse_role(&role)?;
        let link = team::invite(
            &state.db,
            &state.public_url,
            &admin,
            &email,
            role,
            state.subscriptions.grace_secs,
            clock::now(),
        )
        .await?;
        remember_link(link).await
    }

    pub async fn resend_invitation(org_id: String, invitation_id: String) -> Result<(), AppError> {
        let (admin, state) = admin_of(&org_id).await?;
        let link = team::resend(
            &state.db,
            &state.public_url,
            &admin,
            &invitation_id,
            state.subscriptions.grace_secs,
            clock::now(),
        )
        .await?;
        remember_link(link).await
    }

    pub async fn revoke_invitation(org_id: String, invitation_id: String) -> Result<(), AppError> {
        let (admin, state) = admin_of(&org_id).await?;
        team::revoke(&state.db, &admin, &invitation_id, clock::now()).await
    }

    pub async fn change_role(
        org_id: String,
        user_id: String,
        role: String,
    ) -> Result<(), AppError> {
        let (admin, state) = admin_of(&org_id).await?;
        let role = parse_role(&role)?;
        team::change_role(&state.db, &admin, &user_id, role).await
    }

    pub async fn transfer_ownership(org_id: String, user_id: String) -> Result<(), AppError> {
        let (admin, state) = admin_of(&org_id).await?;
        team::transfer_ownership(&state.db, &admin, &user_id).await
    }

    pub async fn remove_member(org_id: String, user_id: String) -> Result<(), AppError> {
        let (admin, state) = admin_of(&org_id).await?;
        team::remove_member(&state.db, state.carrier.as_ref(), &admin, &user_id).await
    }

    pub async fn leave_org(org_id: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        team::leave(&state.db, state.carrier.as_ref(), &member).await?;
        leptos_axum::redirect(JOINED_PATH);
        Ok(())
    }

    pub async fn load_invitation(token: String) -> Result<InvitationPage, AppError> {
        let state = app_state()?;
        let session = guard::session().await?;
        let now = clock::now();
        let found = team::find(&state.db, token.trim()).await?;
        let problem = team::unusable_reason(found.as_ref().map(|f| &f.invitation), now);
        let Some(found) = found else {
            return Ok(InvitationPage {
                org_name: String::new(),
                inviter: None,
                email: String::new(),
                role: Role::Member,
                problem: problem.map(str::to_owned),
                invitee: Invitee::SignedOut { has_account: false },
            });
        };
        let invitation = &found.invitation;
        let invitee = match guard::viewer_from_session(&session, &state.db).await? {
            Some(viewer) if viewer.user.email == invitation.email => Invitee::Invited {
                already_member: db::orgs::role_of(
                    &state.db.pool,
                    &invitation.org_id,
                    &viewer.user.user_id,
                )
                .await?
                .is_some(),
            },
            Some(viewer) => Invitee::SomeoneElse {
                signed_in_as: viewer.user.email,
            },
            None => Invitee::SignedOut {
                has_account: db::users::credentials_by_email(&state.db.pool, &invitation.email)
                    .await?
                    .is_some(),
            },
        };
        Ok(InvitationPage {
            org_name: found.org_name,
            inviter: found.inviter_name,
            email: invitation.email.clone(),
            role: invitation.role,
            problem: problem.map(str::to_owned),
            invitee,
        })
    }

    pub async fn accept_invitation(token: String) -> Result<(), AppError> {
        let (viewer, session, state) = guard::require_viewer().await?;
        let user = &viewer.user;
        let joiner = Joiner {
            user_id: &user.user_id,
            name: &user.name,
            email: &user.email,
        };
        let org_id = team::accept(&state.db, token.trim(), &joiner, clock::now()).await?;
        session.insert(CURRENT_ORG_ID, &org_id).await?;
        leptos_axum::redirect(JOINED_PATH);
        Ok(())
    }

    pub async fn register_from_invitation(
        token: String,
        name: String,
        password: String,
    ) -> Result<(), AppError> {
        let state = app_state()?;
        let session = guard::session().await?;
        let token = token.trim();
        let found = team::find(&state.db, token).await?;
        if let Some(problem) =
            team::unusable_reason(found.as_ref().map(|f| &f.invitation), clock::now())
        {
            return Err(AppError::conflict("invitation_unusable", problem));
        }
        let email = found.expect("usable means found").invitation.email;
        // Registration's own rules and code; the email is the invitation's.
        let account = auth::prepare_account(&state, &name, &email, &password).await?;
        let mut tx = state.db.begin_write().await?;
        auth::insert_account(&mut tx, &account).await?;
        let joiner = Joiner {
            user_id: &account.user_id,
            name: account.name.as_str(),
            email: account.email.as_str(),
        };
        let org_id = team::accept_in(&mut tx, token, &joiner, clock::now()).await?;
        tx.commit().await?;
        tracing::info!(user_id = %account.user_id, %org_id, "registered from an invitation");
        auth::start_session(&session, &account.user_id, &org_id).await?;
        leptos_axum::redirect(JOINED_PATH);
        Ok(())
    }
}
