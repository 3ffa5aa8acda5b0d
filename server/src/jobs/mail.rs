//! `mail.send`: delivers one outbox message over SMTP. A refusal the server
//! calls temporary (4xx, a dropped connection) is retried with the queue's
//! backoff (1 s, 2 s, 4 s …) up to `MAX_ATTEMPTS`; a permanent one (5xx, a
//! bad address) or the last attempt marks the message `failed` with the
//! error. Without `SMTP_URL` the message stays `queued` in the outbox.
//! Idempotent: a message no longer queued is not sent again.

use super::{JobContext, JobError};
use app::server::clock;
use app::server::db::outbox::{self, status};

/// Attempts per message (each resend starts over).
pub const MAX_ATTEMPTS: i64 = 4;

fn email_id(payload: &serde_json::Value) -> Result<&str, JobError> {
    payload["email_id"]
        .as_str()
        .ok_or_else(|| JobError::Permanent("mail job without an email_id".to_owned()))
}

pub async fn send(context: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let email_id = email_id(payload)?;
    let db = &context.app.db.pool;
    let Some(mail) = outbox::by_id(db, email_id).await? else {
        return Err(JobError::Permanent(format!("no outbox message {email_id}")));
    };
    if mail.status != status::QUEUED {
        return Ok(());
    }
    let Some(mailer) = &context.mailer else {
        // No SMTP_URL: the message stays queued, readable in the outbox.
        return Ok(());
    };
    match mailer.send(&mail).await {
        Ok(()) => {
            outbox::mark_sent(db, email_id, clock::now()).await?;
            tracing::info!(%email_id, attempt = mail.attempts + 1, "mail sent");
            Ok(())
        }
        Err(error) => {
            let attempts = mail.attempts + 1;
            let give_up = error.permanent || attempts >= MAX_ATTEMPTS;
            outbox::attempt_failed(db, email_id, &error.message, give_up).await?;
            if give_up {
                Err(JobError::Permanent(format!(
                    "mail {email_id} failed after {attempts} attempt(s): {}",
                    error.message
                )))
            } else {
                Err(JobError::Retry(format!(
                    "mail {email_id} attempt {attempts} failed: {}",
                    error.message
                )))
            }
        }
    }
}

/// The runner gave the job up (it kept panicking, or the database kept
/// failing): the message is marked failed rather than left queued.
pub async fn given_up(
    context: &JobContext,
    payload: &serde_json::Value,
    why: &str,
) -> Result<(), sqlx::Error> {
    let Ok(email_id) = email_id(payload) else {
        return Ok(());
    };
    outbox::give_up(&context.app.db.pool, email_id, why).await
}
