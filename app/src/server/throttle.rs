//! Login throttling, counted from the `login_failure` audit table so it holds
//! across restarts and across instances:
//! - 5 wrong passwords for one email within 15 minutes lock that email for
//!   15 minutes after the fifth;
//! - 30 wrong passwords from one IP within 15 minutes (spraying across many
//!   emails) lock that IP likewise.
//!
//! Refusals are audited too, but do not extend the lock.

use super::db::{self, Db};
use crate::error::AppError;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 30;

/// The audit reasons written to `login_failure.reason`.
pub mod reason {
    pub const BAD_CREDENTIALS: &str = "bad_credentials";
    pub const EMAIL_LOCKED: &str = "email_locked";
    pub const IP_LOCKED: &str = "ip_locked";
}

/// Refuses (and audits the refusal) when the email or the IP is locked.
pub async fn check(db: &Db, email: &str, ip: &str, now: i64) -> Result<(), AppError> {
    let since = now - WINDOW_SECS;
    let refusal = if db::login_failures::count_for_email(&db.pool, email, since).await?
        >= MAX_FAILURES_PER_EMAIL
    {
        Some((
            reason::EMAIL_LOCKED,
            "too many failed attempts for this email; try again in 15 minutes",
        ))
    } else if db::login_failures::count_for_ip(&db.pool, ip, since).await? >= MAX_FAILURES_PER_IP {
        Some((
            reason::IP_LOCKED,
            "too many failed attempts from your network; try again in 15 minutes",
        ))
    } else {
        None
    };
    match refusal {
        None => Ok(()),
        Some((why, message)) => {
            db::login_failures::record(&db.pool, email, ip, why, now).await?;
            tracing::warn!(email, ip, reason = why, "login refused by throttle");
            Err(AppError::RateLimited(message.to_owned()))
        }
    }
}

/// Audits a wrong email/password pair; the next `check` counts it.
pub async fn record_failure(db: &Db, email: &str, ip: &str, now: i64) -> Result<(), AppError> {
    db::login_failures::record(&db.pool, email, ip, reason::BAD_CREDENTIALS, now).await?;
    tracing::info!(email, ip, "failed login");
    Ok(())
}
