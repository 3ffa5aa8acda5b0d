//! Invitations to an organization (`server::team`). Only the SHA-256 of the
//! token in the link is stored. An invitation is open while it is neither
//! accepted nor revoked and not past `expires_at`.

use crate::domain::{InvitationStatus, Role};
use sqlx::{Any, Executor, FromRow};

/// The condition, on the `invitation` table, of an open invitation at `$now`
/// (the caller binds `now` at the placeholder named here).
macro_rules! open_at {
    ($now:literal) => {
        concat!(
            "accepted_at is null and revoked_at is null and expires_at > ",
            $now
        )
    };
}

const COLUMNS: &str = "invitation.invitation_id, invitation.org_id, invitation.email,
    invitation.role, invitation.invited_by, invitation.email_id, invitation.created_at,
    invitation.expires_at, invitation.accepted_at, invitation.revoked_at";

#[derive(FromRow)]
struct InvitationRow {
    invitation_id: String,
    org_id: String,
    email: String,
    role: String,
    invited_by: Option<String>,
    email_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Invitation {
    pub invitation_id: String,
    pub org_id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub email_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Invitation {
    /// Usable by its invitee at `now` (the mail's fate does not matter here).
    pub fn is_open(&self, now: i64) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = sqlx::Error;

    fn try_from(row: InvitationRow) -> Result<Self, sqlx::Error> {
        Ok(Invitation {
            role: Role::parse(&row.role).map_err(|e| sqlx::Error::Decode(e.into()))?,
            invitation_id: row.invitation_id,
            org_id: row.org_id,
            email: row.email,
            invited_by: row.invited_by,
            email_id: row.email_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A new invitation, its link's token already hashed.
pub struct NewInvitation<'a> {
    pub invitation_id: &'a str,
    pub org_id: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub invited_by: &'a str,
    pub email_id: &'a str,
    pub expires_at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewInvitation<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into invitation (invitation_id, org_id, email, role, token_hash, invited_by,
             email_id, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new.invitation_id)
    .bind(new.org_id)
    .bind(new.email)
    .bind(new.role.as_str())
    .bind(new.token_hash)
    .bind(new.invited_by)
    .bind(new.email_id)
    .bind(now)
    .bind(new.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The invitation a link's token belongs to, in whatever state.
#[tracing::instrument(skip_all)]
pub async fn by_token_hash<'c>(
    db: impl Executor<'c, Database = Any>,
    token_hash: &str,
) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from invitation where token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    row.map(Invitation::try_from).transpose()
}

/// One invitation of `org_id` (an id from another organization finds nothing).
#[tracing::instrument(skip_all)]
pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    invitation_id: &str,
) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from invitation where org_id = $1 and invitation_id = $2"
    ))
    .bind(org_id)
    .bind(invitation_id)
    .fetch_optional(db)
    .await?;
    row.map(Invitation::try_from).transpose()
}

/// Whether `email` has an open invitation to `org_id`.
#[tracing::instrument(skip_all)]
pub async fn has_open_for<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    email: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(concat!(
        "select count(*) from invitation where org_id = $1 and email = $2 and ",
        open_at!("$3")
    ))
    .bind(org_id)
    .bind(email)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(count > 0)
}

/// How many invitations to `org_id` are open: each holds a seat.
#[tracing::instrument(skip_all)]
pub async fn count_open<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select count(*) from invitation where org_id = $1 and ",
        open_at!("$2")
    ))
    .bind(org_id)
    .bind(now)
    .fetch_one(db)
    .await
}

/// An invitation as listed, with its status.
#[derive(Clone, Debug)]
pub struct Listed {
    pub invitation: Invitation,
    pub status: InvitationStatus,
}

#[derive(FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    invitation: InvitationRow,
    mail_status: Option<String>,
}

/// The organization's invitations, newest first, with their mail's status.
#[tracing::instrument(skip_all)]
pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let rows: Vec<ListedRow> = sqlx::query_as(&format!(
        "select {COLUMNS}, outbox_email.status as mail_status
           from invitation left join outbox_email on outbox_email.email_id = invitation.email_id
          where invitation.org_id = $1
          order by invitation.created_at desc, invitation.invitation_id desc
          limit $2"
    ))
    .bind(org_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let invitation = Invitation::try_from(row.invitation)?;
            let status = InvitationStatus::of(
                invitation.revoked_at.is_some(),
                invitation.accepted_at.is_some(),
                invitation.expires_at,
                now,
                row.mail_status.as_deref(),
            );
            Ok(Listed { invitation, status })
        })
        .collect()
}

/// A resend: a new token (the old link stops working), a new expiry and the
/// new mail. Only while neither accepted nor revoked.
#[tracing::instrument(skip_all)]
pub async fn replace_token<'c>(
    db: impl Executor<'c, Database = Any>,
    invitation_id: &str,
    token_hash: &str,
    expires_at: i64,
    email_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update invitation set token_hash = $2, expires_at = $3, email_id = $4
          where invitation_id = $1 and accepted_at is null and revoked_at is null",
    )
    .bind(invitation_id)
    .bind(token_hash)
    .bind(expires_at)
    .bind(email_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses the invitation: true for exactly one caller, while it is open.
#[tracing::instrument(skip_all)]
pub async fn accept<'c>(
    db: impl Executor<'c, Database = Any>,
    invitation_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(concat!(
        "update invitation set accepted_at = $3, accepted_by = $2
          where invitation_id = $1 and ",
        open_at!("$3")
    ))
    .bind(invitation_id)
    .bind(user_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes it: true when it was neither accepted nor revoked already.
#[tracing::instrument(skip_all)]
pub async fn revoke<'c>(
    db: impl Executor<'c, Database = Any>,
    invitation_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update invitation set revoked_at = $2
          where invitation_id = $1 and accepted_at is null and revoked_at is null",
    )
    .bind(invitation_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
