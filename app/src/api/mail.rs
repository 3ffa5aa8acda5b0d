//! The outbox, for platform operators only: every message with its status
//! (queued, sent, failed), attempts and last error, and a resend.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One message as operators see it: no bodies (a reset mail holds its link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMail {
    pub email_id: String,
    pub to_address: String,
    pub subject: String,
    /// `queued`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// The 100 newest messages; anyone but an operator gets `Forbidden`.
#[server(endpoint = "platform/outbox")]
pub async fn load_outbox() -> Result<Vec<OutboxMail>, AppError> {
    use crate::server::{db, guard};
    let (viewer, _, state) = guard::require_viewer().await?;
    if !viewer.user.is_operator {
        return Err(AppError::Forbidden);
    }
    let rows = db::outbox::recent(&state.db.pool, 100).await?;
    Ok(rows
        .into_iter()
        .map(|row| OutboxMail {
            email_id: row.email_id,
            to_address: row.to_address,
            subject: row.subject,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
            created_at: row.created_at,
            sent_at: row.sent_at,
        })
        .collect())
}

/// Queues a message again (sent, failed or still queued): its attempts start
/// over and the job queue sends it. Operators only; an unknown id is `NotFound`.
#[server(endpoint = "platform/resend-mail")]
pub async fn resend_mail(email_id: String) -> Result<(), AppError> {
    use crate::server::{clock, db, guard};
    let (viewer, _, state) = guard::require_viewer().await?;
    if !viewer.user.is_operator {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.db.begin_write().await?;
    if !db::outbox::resend(&mut tx, email_id.trim(), clock::now()).await? {
        return Err(AppError::NotFound);
    }
    tx.commit().await?;
    tracing::info!(email_id = %email_id.trim(), operator = %viewer.user.user_id, "mail queued again");
    Ok(())
}
