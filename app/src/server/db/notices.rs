//! In-app notices for an organization's members and the outgoing mail outbox.
//! Mail is only queued here, inside the transaction that caused it; sending
//! (or, without `SMTP_URL`, leaving it for operators to read) happens after commit.

use crate::server::ids::new_id;
use sqlx::{Any, AnyConnection, Executor, FromRow};

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Notice {
    pub notice_id: String,
    pub kind: String,
    pub message: String,
    pub created_at: i64,
}

pub async fn add_notice(
    conn: &mut AnyConnection,
    org_id: &str,
    kind: &str,
    message: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into notice (notice_id, org_id, kind, message, created_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(new_id("ntc"))
    .bind(org_id)
    .bind(kind)
    .bind(message)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The organization's notices not yet dismissed, newest first.
pub async fn open_notices<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Vec<Notice>, sqlx::Error> {
    sqlx::query_as(
        "select notice_id, kind, message, created_at from notice
         where org_id = $1 and dismissed_at is null order by created_at desc, notice_id desc limit 20",
    )
    .bind(org_id)
    .fetch_all(db)
    .await
}

/// False when the notice is not the organization's or already dismissed.
pub async fn dismiss<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    notice_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update notice set dismissed_at = $3
         where org_id = $1 and notice_id = $2 and dismissed_at is null",
    )
    .bind(org_id)
    .bind(notice_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A plain-text message to `to_address`, queued with its send job
/// (`outbox::queue`) on `conn`, the cause's transaction.
pub async fn queue_email(
    conn: &mut AnyConnection,
    to_address: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mail = super::outbox::NewMail {
        to_address,
        subject,
        text_body: body,
        html_body: None,
    };
    super::outbox::queue(conn, &mail, now).await?;
    Ok(())
}
