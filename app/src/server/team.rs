//! Teams: inviting people by email, accepting, changing roles, transferring
//! ownership, removing members and leaving. Who may do what is
//! `domain::team_rules`; this module applies it inside one write transaction
//! per change, after locking the organization's team (`db::orgs::lock_team`),
//! with the change's audit entry in that same transaction.
//!
//! An invitation link is `PUBLIC_URL/invite/<token>`: 32 random bytes of
//! which only the SHA-256 is stored (`password_reset::token_hash`), used
//! once, for 7 days. Resending makes a new token (the old link stops
//! working). The mail goes through the outbox in the inviting transaction.

use super::calls as call_service;
use super::db::{self, invitations::Invitation, Db};
use super::guard::{OrgAdmin, OrgMember};
use super::password_reset::{new_token, token_hash};
use super::providers::carrier::Carrier;
use super::{mail, seats};
use crate::domain::team_rules::{self, Refusal};
use crate::domain::{AuditAction, EmailAddress, EndReason, Role};
use crate::error::AppError;
use sqlx::AnyConnection;

pub const VALID_FOR_SECS: i64 = 7 * 24 * 3600;

/// The page an invitation link opens; the token follows it.
pub const INVITE_PATH: &str = "/invite/";

/// The link for `token` on this deployment.
pub fn invite_link(public_url: &str, token: &str) -> String {
    mail::link(public_url, &format!("{INVITE_PATH}{token}"))
}

/// A request path fit for the logs: an invitation link's token is dropped.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix(INVITE_PATH) {
        Some(token) if !token.is_empty() => format!("{INVITE_PATH}…").into(),
        _ => path.into(),
    }
}

fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::NotAManager => AppError::Forbidden,
        other => AppError::conflict(other.code(), other.message()),
    }
}

/// A link just made (on invite or resend), for the admin to copy.
#[derive(Clone, Debug)]
pub struct FreshLink {
    pub invitation_id: String,
    pub email: String,
    pub link: String,
}

/// Locks the team and reads the actor's role again inside the transaction
/// (it may have changed since the guard read it).
async fn lock_and_role_of(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
) -> Result<Role, AppError> {
    if !db::orgs::lock_team(&mut *conn, org_id).await? {
        return Err(AppError::NotFound);
    }
    db::orgs::role_of(&mut *conn, org_id, user_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `lock_and_role_of` for an actor acting on a member: both roles, read
/// inside the transaction; a target who is not a member is `NotFound`.
async fn lock_and_roles_of(
    conn: &mut AnyConnection,
    org_id: &str,
    actor_id: &str,
    target_user_id: &str,
) -> Result<(Role, Role), AppError> {
    let actor = lock_and_role_of(&mut *conn, org_id, actor_id).await?;
    let target = db::orgs::role_of(&mut *conn, org_id, target_user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((actor, target))
}

/// Invites `email` as `role`: refused when they are already a member, already
/// have an open invitation, or every seat is taken.
pub async fn invite(
    db: &Db,
    public_url: &str,
    admin: &OrgAdmin,
    email: &EmailAddress,
    role: Role,
    grace_secs: i64,
    now: i64,
) -> Result<FreshLink, AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let inviter = &member.viewer.user;
    let token = new_token();
    let link = invite_link(public_url, &token);
    let invitation_id = super::ids::new_id("inv");
    let mut tx = db.begin_write().await?;
    let actor = lock_and_role_of(&mut tx, org_id, &inviter.user_id).await?;
    team_rules::may_invite(actor, role).map_err(refused)?;
    if db::orgs::has_member_email(&mut *tx, org_id, email.as_str()).await? {
        return Err(AppError::validation(
            "email",
            format!(
                "{} is already a member of this organization",
                email.as_str()
            ),
        ));
    }
    if db::invitations::has_open_for(&mut *tx, org_id, email.as_str(), now).await? {
        return Err(AppError::validation(
            "email",
            format!(
                "{} already has a pending invitation; resend or revoke it below",
                email.as_str()
            ),
        ));
    }
    seats::check_seat_available(&mut tx, org_id, now, grace_secs).await?;
    let org_name = db::orgs::name_of(&mut *tx, org_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let message = mail::invitation(
        &inviter.name,
        &org_name,
        role.as_str(),
        &link,
        VALID_FOR_SECS / 86_400,
    );
    let email_id = db::outbox::queue(&mut tx, &message.to(email.as_str()), now).await?;
    db::invitations::insert(
        &mut *tx,
        &db::invitations::NewInvitation {
            invitation_id: &invitation_id,
            org_id,
            email: email.as_str(),
            role,
            token_hash: &token_hash(&token),
            invited_by: &inviter.user_id,
            email_id: &email_id,
            expires_at: now + VALID_FOR_SECS,
        },
        now,
    )
    .await?;
    db::org_audit::record(
        &mut tx,
        org_id,
        Some(&inviter.user_id),
        AuditAction::MemberInvited,
        &format!("Invited {} as {role}", email.as_str()),
    )
    .await?;
    tx.commit().await?;
    // Never the token or the link.
    tracing::info!(%org_id, %invitation_id, %email_id, "invitation queued");
    Ok(FreshLink {
        invitation_id,
        email: email.as_str().to_owned(),
        link,
    })
}

/// An invitation of the admin's organization they may manage (admins do not
/// manage invitations of owners), still open to changes.
async fn manageable(
    conn: &mut AnyConnection,
    admin: &OrgAdmin,
    invitation_id: &str,
) -> Result<Invitation, AppError> {
    let member = admin.member();
    let actor = lock_and_role_of(conn, &member.org_id, &member.viewer.user.user_id).await?;
    let invitation = db::invitations::by_id(&mut *conn, &member.org_id, invitation_id)
        .await?
        .ok_or(AppError::NotFound)?;
    team_rules::may_manage_invitation(actor, invitation.role).map_err(refused)?;
    if invitation.accepted_at.is_some() || invitation.revoked_at.is_some() {
        return Err(AppError::conflict(
            "invitation_closed",
            "this invitation was already accepted or revoked",
        ));
    }
    Ok(invitation)
}

/// Sends the invitation again with a NEW link (only the old one's hash was
/// kept, and it stops working), valid for another 7 days.
pub async fn resend(
    db: &Db,
    public_url: &str,
    admin: &OrgAdmin,
    invitation_id: &str,
    grace_secs: i64,
    now: i64,
) -> Result<FreshLink, AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let token = new_token();
    let link = invite_link(public_url, &token);
    let mut tx = db.begin_write().await?;
    let invitation = manageable(&mut tx, admin, invitation_id).await?;
    if !invitation.is_open(now) {
        // An expired invitation takes a seat again once resent.
        seats::check_seat_available(&mut tx, org_id, now, grace_secs).await?;
    }
    let org_name = db::orgs::name_of(&mut *tx, org_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let message = mail::invitation(
        &member.viewer.user.name,
        &org_name,
        invitation.role.as_str(),
        &link,
        VALID_FOR_SECS / 86_400,
    );
    let email_id = db::outbox::queue(&mut tx, &message.to(&invitation.email), now).await?;
    db::invitations::replace_token(
        &mut *tx,
        invitation_id,
        &token_hash(&token),
        now + VALID_FOR_SECS,
        &email_id,
    )
    .await?;
    db::org_audit::record(
        &mut tx,
        org_id,
        Some(&member.viewer.user.user_id),
        AuditAction::InvitationResent,
        &format!("Resent the invitation of {} (new link)", invitation.email),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%org_id, %invitation_id, %email_id, "invitation resent");
    Ok(FreshLink {
        invitation_id: invitation_id.to_owned(),
        email: invitation.email,
        link,
    })
}

pub async fn revoke(
    db: &Db,
    admin: &OrgAdmin,
    invitation_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let member = admin.member();
    let mut tx = db.begin_write().await?;
    let invitation = manageable(&mut tx, admin, invitation_id).await?;
    db::invitations::revoke(&mut *tx, invitation_id, now).await?;
    db::org_audit::record(
        &mut tx,
        &member.org_id,
        Some(&member.viewer.user.user_id),
        AuditAction::InvitationRevoked,
        &format!("Revoked the invitation of {}", invitation.email),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(org_id = %member.org_id, %invitation_id, "invitation revoked");
    Ok(())
}

/// What a link leads to, for its page.
#[derive(Clone, Debug)]
pub struct Found {
    pub invitation: Invitation,
    pub org_name: String,
    pub inviter_name: Option<String>,
}

/// The invitation behind a link's token, in whatever state, or None for a
/// token that was never issued (or was replaced by a resend).
pub async fn find(db: &Db, token: &str) -> Result<Option<Found>, AppError> {
    if !plausible(token) {
        return Ok(None);
    }
    let Some(invitation) = db::invitations::by_token_hash(&db.pool, &token_hash(token)).await?
    else {
        return Ok(None);
    };
    let org_name = db::orgs::name_of(&db.pool, &invitation.org_id)
        .await?
        .unwrap_or_default();
    let inviter_name = match &invitation.invited_by {
        Some(user_id) => db::users::by_id(&db.pool, user_id).await?.map(|u| u.name),
        None => None,
    };
    Ok(Some(Found {
        invitation,
        org_name,
        inviter_name,
    }))
}

fn plausible(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a link cannot be used (also what its page says).
pub fn unusable_reason(invitation: Option<&Invitation>, now: i64) -> Option<&'static str> {
    match invitation {
        None => Some("this invitation link is not valid: it may have been replaced by a newer one; ask for the invitation to be resent"),
        Some(i) if i.revoked_at.is_some() => Some("this invitation was revoked; ask an admin of the organization for a new one"),
        Some(i) if i.accepted_at.is_some() => Some("this invitation was already used"),
        Some(i) if i.expires_at <= now => Some("this invitation has expired; ask an admin of the organization to resend it"),
        Some(_) => None,
    }
}

/// The person accepting: an account whose email must be the invitation's.
pub struct Joiner<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
}

/// Accepts the invitation of `token` for `joiner` on `conn` (the caller's
/// write transaction: joining an existing account, or registering from the
/// link). Returns the organization joined. Changes nothing when refused.
pub async fn accept_in(
    conn: &mut AnyConnection,
    token: &str,
    joiner: &Joiner<'_>,
    now: i64,
) -> Result<String, AppError> {
    let unusable = |reason: &str| AppError::conflict("invitation_unusable", reason);
    let found = if plausible(token) {
        db::invitations::by_token_hash(&mut *conn, &token_hash(token)).await?
    } else {
        None
    };
    if let Some(reason) = unusable_reason(found.as_ref(), now) {
        return Err(unusable(reason));
    }
    let invitation = found.expect("usable means found");
    let org_id = invitation.org_id.clone();
    if !db::orgs::lock_team(&mut *conn, &org_id).await? {
        return Err(AppError::NotFound);
    }
    if joiner.email != invitation.email {
        return Err(AppError::conflict(
            "wrong_account",
            format!(
                "this invitation is for {}, but you are signed in as {}; log out and open the link again",
                invitation.email, joiner.email
            ),
        ));
    }
    if db::orgs::role_of(&mut *conn, &org_id, joiner.user_id)
        .await?
        .is_some()
    {
        return Err(AppError::conflict(
            "already_member",
            "you are already a member of this organization",
        ));
    }
    // Used once: of two acceptances racing with one link, one finds it used.
    if !db::invitations::accept(&mut *conn, &invitation.invitation_id, joiner.user_id, now).await? {
        return Err(unusable("this invitation was already used"));
    }
    db::orgs::add_member(&mut *conn, &org_id, joiner.user_id, invitation.role, now).await?;
    db::org_audit::record(
        conn,
        &org_id,
        Some(joiner.user_id),
        AuditAction::InvitationAccepted,
        &format!(
            "{} ({}) joined as {}",
            joiner.name, joiner.email, invitation.role
        ),
    )
    .await?;
    Ok(org_id)
}

/// A signed-in person accepts: joins at once.
pub async fn accept(
    db: &Db,
    token: &str,
    joiner: &Joiner<'_>,
    now: i64,
) -> Result<String, AppError> {
    let mut tx = db.begin_write().await?;
    let org_id = accept_in(&mut tx, token, joiner, now).await?;
    tx.commit().await?;
    tracing::info!(%org_id, user_id = %joiner.user_id, "invitation accepted");
    Ok(org_id)
}

/// The name and email of a member, for audit sentences.
async fn who(conn: &mut AnyConnection, user_id: &str) -> Result<String, AppError> {
    Ok(match db::users::by_id(&mut *conn, user_id).await? {
        Some(user) => format!("{} ({})", user.name, user.email),
        None => "a deleted user".to_owned(),
    })
}

/// Gives `target_user_id` the role `to`.
pub async fn change_role(
    db: &Db,
    admin: &OrgAdmin,
    target_user_id: &str,
    to: Role,
) -> Result<(), AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let actor_id = &member.viewer.user.user_id;
    let mut tx = db.begin_write().await?;
    let (actor, from) = lock_and_roles_of(&mut tx, org_id, actor_id, target_user_id).await?;
    let owners = u32::try_from(db::orgs::count_owners(&mut *tx, org_id).await?).unwrap_or(u32::MAX);
    team_rules::may_change_role(actor, from, to, owners).map_err(refused)?;
    if from == to {
        return Ok(());
    }
    db::orgs::set_role(&mut *tx, org_id, target_user_id, to).await?;
    let target = who(&mut tx, target_user_id).await?;
    db::org_audit::record(
        &mut tx,
        org_id,
        Some(actor_id),
        AuditAction::RoleChanged,
        &format!("Changed the role of {target} from {from} to {to}"),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%org_id, %target_user_id, %from, %to, "role changed");
    Ok(())
}

/// The owner makes `target_user_id` an owner and becomes an admin, at once.
pub async fn transfer_ownership(
    db: &Db,
    admin: &OrgAdmin,
    target_user_id: &str,
) -> Result<(), AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let actor_id = &member.viewer.user.user_id;
    let mut tx = db.begin_write().await?;
    let (actor, target_role) = lock_and_roles_of(&mut tx, org_id, actor_id, target_user_id).await?;
    team_rules::may_transfer_ownership(actor, target_role, target_user_id == actor_id.as_str())
        .map_err(refused)?;
    db::orgs::set_role(&mut *tx, org_id, target_user_id, Role::Owner).await?;
    db::orgs::set_role(&mut *tx, org_id, actor_id, Role::Admin).await?;
    let target = who(&mut tx, target_user_id).await?;
    db::org_audit::record(
        &mut tx,
        org_id,
        Some(actor_id),
        AuditAction::OwnershipTransferred,
        &format!("Transferred ownership to {target} and became an admin"),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%org_id, %target_user_id, "ownership transferred");
    Ok(())
}

/// Removes `target_user_id` from the organization; their live calls there
/// end at once ("removed from the organization"), charged for the time used.
pub async fn remove_member(
    db: &Db,
    carrier: &dyn Carrier,
    admin: &OrgAdmin,
    target_user_id: &str,
) -> Result<(), AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let actor_id = &member.viewer.user.user_id;
    let mut tx = db.begin_write().await?;
    let (actor, target_role) = lock_and_roles_of(&mut tx, org_id, actor_id, target_user_id).await?;
    let owners = u32::try_from(db::orgs::count_owners(&mut *tx, org_id).await?).unwrap_or(u32::MAX);
    team_rules::may_remove(
        actor,
        target_role,
        target_user_id == actor_id.as_str(),
        owners,
    )
    .map_err(refused)?;
    let departure = Departure {
        org_id,
        user_id: target_user_id,
        actor_id,
        action: AuditAction::MemberRemoved,
        reason: EndReason::RemovedFromOrg,
    };
    complete_departure(db, carrier, tx, departure, |target| {
        format!("Removed {target} ({target_role})")
    })
    .await
}

/// The member leaves (not the last owner); their live calls there end.
pub async fn leave(db: &Db, carrier: &dyn Carrier, member: &OrgMember) -> Result<(), AppError> {
    let org_id = &member.org_id;
    let user_id = &member.viewer.user.user_id;
    let mut tx = db.begin_write().await?;
    let role = lock_and_role_of(&mut tx, org_id, user_id).await?;
    let owners = u32::try_from(db::orgs::count_owners(&mut *tx, org_id).await?).unwrap_or(u32::MAX);
    team_rules::may_leave(role, owners).map_err(refused)?;
    let departure = Departure {
        org_id,
        user_id,
        actor_id: user_id,
        action: AuditAction::MemberLeft,
        reason: EndReason::LeftOrg,
    };
    complete_departure(db, carrier, tx, departure, |me| {
        format!("{me} left the organization ({role})")
    })
    .await
}

/// Someone leaving an organization: who, who made it happen, how the audit
/// trail names it, and the end reason their live calls get.
struct Departure<'a> {
    org_id: &'a str,
    user_id: &'a str,
    actor_id: &'a str,
    action: AuditAction,
    reason: EndReason,
}

/// The rest of a departure the rules allowed, in `tx`: the membership ends
/// (`depart`), the audit entry (`detail` gets the person's name) is
/// written, the transaction commits, and then the person's live calls end.
async fn complete_departure(
    db: &Db,
    carrier: &dyn Carrier,
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    departure: Departure<'_>,
    detail: impl FnOnce(&str) -> String,
) -> Result<(), AppError> {
    let Departure {
        org_id,
        user_id,
        actor_id,
        action,
        reason,
    } = departure;
    depart(&mut tx, org_id, user_id).await?;
    let name = who(&mut tx, user_id).await?;
    db::org_audit::record(&mut tx, org_id, Some(actor_id), action, &detail(&name)).await?;
    tx.commit().await?;
    tracing::info!(%org_id, %user_id, action = action.as_str(), "member departed");
    end_calls(db, carrier, org_id, user_id, reason).await;
    Ok(())
}

/// Ends `user_id`'s membership on `conn`, under the organization's wallet
/// lock: `start_call` checks membership under that same lock, so a call is
/// either placed before this commits (and ended by `end_calls` after it) or
/// refused; none can start in between and outlive the departure.
pub(crate) async fn depart(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
) -> Result<(), AppError> {
    db::ledger::lock_in(&mut *conn, org_id, crate::server::clock::now()).await?;
    db::orgs::remove_member(&mut *conn, org_id, user_id).await?;
    Ok(())
}

/// Ends a departed member's live calls. The departure has committed either
/// way; a call the carrier could not be reached for is ended by its forced
/// hangup or the sweeper, and logged here.
async fn end_calls(db: &Db, carrier: &dyn Carrier, org_id: &str, user_id: &str, reason: EndReason) {
    match call_service::end_calls_of_departed(db, carrier, org_id, user_id, reason).await {
        Ok(0) => {}
        Ok(ended) => {
            tracing::info!(%org_id, %user_id, ended, "a departed member's live calls ended")
        }
        Err(error) => {
            tracing::error!(%org_id, %user_id, %error, "could not end a departed member's live calls");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_path_is_logged_without_its_token() {
        assert_eq!(loggable_path("/invite/abc123"), "/invite/…");
        assert_eq!(loggable_path("/invite/"), "/invite/");
        assert_eq!(loggable_path("/settings"), "/settings");
    }

    #[test]
    fn links_are_built_from_the_public_url() {
        assert_eq!(
            invite_link("https://calls.example.com/", "t0k"),
            "https://calls.example.com/invite/t0k"
        );
    }
}
