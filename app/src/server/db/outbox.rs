//! The outgoing mail outbox. A message is written here inside the transaction
//! that caused it, together with the job that sends it after commit
//! (`mail.send`, run by `server/src/jobs/mail.rs`). Without `SMTP_URL` the job
//! leaves the message queued, where operators can read it.

use super::jobs::{self, NewJob};
use crate::server::ids::new_id;
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Executor, FromRow};

/// The job that sends one message; its payload is `{"email_id": …}`.
pub const SEND_JOB: &str = "mail.send";

/// A message's state: waiting to be sent, sent, or given up.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
}

/// A message to queue: a plain-text body and, optionally, an HTML one.
#[derive(Clone, Debug)]
pub struct NewMail<'a> {
    pub to_address: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: Option<&'a str>,
}

/// A stored message, as the sender reads it.
#[derive(Clone, Debug, FromRow)]
pub struct Mail {
    pub email_id: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub status: String,
    pub attempts: i64,
}

/// A message as listed to operators: no bodies (a reset mail's body holds
/// its link).
#[derive(Clone, Debug, PartialEq, Eq, FromRow, Serialize, Deserialize)]
pub struct MailSummary {
    pub email_id: String,
    pub to_address: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Queues `mail` and its send job on `conn` (the cause's transaction).
/// Returns the message's id.
pub async fn queue(
    conn: &mut AnyConnection,
    mail: &NewMail<'_>,
    now: i64,
) -> Result<String, sqlx::Error> {
    let email_id = new_id("eml");
    sqlx::query(
        "insert into outbox_email (email_id, to_address, subject, body, html_body, created_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&email_id)
    .bind(mail.to_address)
    .bind(mail.subject)
    .bind(mail.text_body)
    .bind(mail.html_body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    enqueue_send(conn, &email_id, now).await?;
    Ok(email_id)
}

/// The send job for `email_id`; at most one is unfinished per message.
async fn enqueue_send<'c>(
    db: impl Executor<'c, Database = Any>,
    email_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let payload = serde_json::json!({ "email_id": email_id });
    let dedupe_key = format!("mail:{email_id}");
    jobs::enqueue(
        db,
        &NewJob {
            kind: SEND_JOB,
            payload: &payload,
            dedupe_key: Some(&dedupe_key),
            run_at_ms: now.saturating_mul(1000),
        },
        now,
    )
    .await
}

pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    email_id: &str,
) -> Result<Option<Mail>, sqlx::Error> {
    sqlx::query_as(
        "select email_id, to_address, subject, body, html_body, status, attempts
         from outbox_email where email_id = $1",
    )
    .bind(email_id)
    .fetch_optional(db)
    .await
}

/// Delivered: `sent`, with the attempt that delivered it counted.
pub async fn mark_sent<'c>(
    db: impl Executor<'c, Database = Any>,
    email_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update outbox_email set status = 'sent', sent_at = $2, attempts = attempts + 1,
                                 last_error = null
         where email_id = $1 and status = 'queued'",
    )
    .bind(email_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// An attempt failed with `error`: counted, and the message stays queued
/// (`give_up` false) or is marked `failed`.
pub async fn attempt_failed<'c>(
    db: impl Executor<'c, Database = Any>,
    email_id: &str,
    error: &str,
    give_up: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update outbox_email
         set attempts = attempts + 1, last_error = $2,
             status = case when $3 = 1 then 'failed' else status end
         where email_id = $1 and status = 'queued'",
    )
    .bind(email_id)
    .bind(error)
    .bind(i64::from(give_up))
    .execute(db)
    .await?;
    Ok(())
}

/// The job runner gave the send job up (it kept panicking or the database
/// kept failing): the message is `failed` with `why`, not queued forever.
pub async fn give_up<'c>(
    db: impl Executor<'c, Database = Any>,
    email_id: &str,
    why: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update outbox_email set status = 'failed', last_error = $2
         where email_id = $1 and status = 'queued'",
    )
    .bind(email_id)
    .bind(why)
    .execute(db)
    .await?;
    Ok(())
}

/// Queues a message again (an operator's resend): back to `queued` with its
/// attempts reset, and a new send job. False when no such message exists.
pub async fn resend(
    conn: &mut AnyConnection,
    email_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update outbox_email set status = 'queued', attempts = 0, last_error = null, sent_at = null
         where email_id = $1",
    )
    .bind(email_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    enqueue_send(conn, email_id, now).await?;
    Ok(true)
}

/// The newest messages first, at most `limit`.
pub async fn recent<'c>(
    db: impl Executor<'c, Database = Any>,
    limit: i64,
) -> Result<Vec<MailSummary>, sqlx::Error> {
    sqlx::query_as(
        "select email_id, to_address, subject, status, attempts, last_error, created_at, sent_at
         from outbox_email order by created_at desc, email_id desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}
