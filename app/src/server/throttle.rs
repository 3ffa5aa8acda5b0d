//! Login and registration throttling, counted from the `login_failure` audit
//! table so it holds across restarts and across instances:
//! - 5 wrong passwords for one email within 15 minutes lock that email until
//!   the oldest of them is 15 minutes old;
//! - 30 wrong passwords from one client address within 15 minutes (spraying
//!   across many emails) lock that address likewise;
//! - 10 registration attempts from one client address within 15 minutes lock
//!   registration from that address likewise;
//! - 3 password reset requests for one email, or 10 from one client address,
//!   within 15 minutes refuse further requests likewise (whether or not the
//!   email has an account, so the refusal tells nothing either).
//!
//! The check and the count are one step: a transaction serialized per email
//! and per address (`db::login_failures::lock_key`) checks the limits and
//! writes the attempt's row *before* the slow password hash runs, so parallel
//! guesses cannot all pass the check before any is counted. A login whose
//! password turns out right (or that gets no verdict) removes its row again.
//!
//! Addresses that may be shared by everyone behind a proxy are not counted
//! per address (`client_addr`). A refusal is audited once per lock (not once
//! per refused request) and does not extend the lock. Rows older than
//! `AUDIT_RETENTION_SECS` are pruned by a periodic loop (`prune`).

use super::client_addr::ClientAddress;
use super::db::{self, Db};
use crate::error::AppError;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 30;
pub const MAX_REGISTRATIONS_PER_IP: i64 = 10;
pub const MAX_RESET_REQUESTS_PER_EMAIL: i64 = 3;
pub const MAX_RESET_REQUESTS_PER_IP: i64 = 10;
/// How long audit rows are kept: long enough to investigate an incident
/// reported weeks later, short enough that the table stays small.
pub const AUDIT_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The audit reasons written to `login_failure.reason`.
pub mod reason {
    pub const BAD_CREDENTIALS: &str = "bad_credentials";
    pub const EMAIL_LOCKED: &str = "email_locked";
    pub const IP_LOCKED: &str = "ip_locked";
    pub const REGISTRATION: &str = "registration";
    pub const REGISTRATION_LOCKED: &str = "registration_ip_locked";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const PASSWORD_RESET_LOCKED: &str = "password_reset_locked";
    pub const PASSWORD_RESET_IP_LOCKED: &str = "password_reset_ip_locked";
}

/// A login attempt counted ahead of its verdict; `forget` it unless it failed.
#[derive(Debug)]
#[must_use = "a counted attempt is a failure unless forgotten"]
pub struct CountedAttempt {
    login_failure_id: String,
}

struct Refusal {
    reason: &'static str,
    /// Which column the one-row-per-lock rule looks at.
    by_email: bool,
    message: &'static str,
}

const EMAIL_LOCKED: Refusal = Refusal {
    reason: reason::EMAIL_LOCKED,
    by_email: true,
    message: "too many failed attempts for this email; try again in 15 minutes",
};
const IP_LOCKED: Refusal = Refusal {
    reason: reason::IP_LOCKED,
    by_email: false,
    message: "too many failed attempts from your network; try again in 15 minutes",
};
const REGISTRATION_LOCKED: Refusal = Refusal {
    reason: reason::REGISTRATION_LOCKED,
    by_email: false,
    message: "too many sign-ups from your network; try again in 15 minutes",
};

/// Refuses when the email or the address is locked; otherwise counts this
/// attempt as a failure now, in the same step, before the password is checked.
pub async fn begin_login(
    db: &Db,
    email: &str,
    client: &ClientAddress,
    now: i64,
) -> Result<CountedAttempt, AppError> {
    let since = now - WINDOW_SECS;
    let mut tx = db.begin_write().await?;
    db::login_failures::lock_key(&mut tx, db.backend, &format!("email:{email}")).await?;
    if let Some(key) = &client.throttle_key {
        db::login_failures::lock_key(&mut tx, db.backend, &format!("ip:{key}")).await?;
    }
    let mut refusal = None;
    if db::login_failures::count_for_email(&mut *tx, email, reason::BAD_CREDENTIALS, since).await?
        >= MAX_FAILURES_PER_EMAIL
    {
        refusal = Some(EMAIL_LOCKED);
    } else if let Some(key) = &client.throttle_key {
        if db::login_failures::count_for_ip(&mut *tx, key, reason::BAD_CREDENTIALS, since).await?
            >= MAX_FAILURES_PER_IP
        {
            refusal = Some(IP_LOCKED);
        }
    }
    if let Some(refusal) = refusal {
        return refuse(tx, refusal, email, client, now).await;
    }
    let login_failure_id = db::login_failures::record(
        &mut *tx,
        email,
        client.audit_value(),
        reason::BAD_CREDENTIALS,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(CountedAttempt { login_failure_id })
}

/// Un-counts an attempt whose password was right, or that got no verdict.
pub async fn forget(db: &Db, attempt: CountedAttempt) -> Result<(), AppError> {
    db::login_failures::delete(&db.pool, &attempt.login_failure_id).await?;
    Ok(())
}

/// Logs a wrong email/password pair (already counted by `begin_login`).
pub fn failed(attempt: CountedAttempt, email: &str, client: &ClientAddress) {
    tracing::info!(email, ip = %client.ip, audit_id = %attempt.login_failure_id, "failed login");
}

/// Refuses when the address has registered too often; otherwise counts this attempt.
pub async fn begin_registration(
    db: &Db,
    email: &str,
    client: &ClientAddress,
    now: i64,
) -> Result<(), AppError> {
    // Without a countable address there is nothing to count per address;
    // the hashing limit still bounds what a burst costs.
    let Some(key) = &client.throttle_key else {
        return Ok(());
    };
    let since = now - WINDOW_SECS;
    let mut tx = db.begin_write().await?;
    db::login_failures::lock_key(&mut tx, db.backend, &format!("ip:{key}")).await?;
    if db::login_failures::count_for_ip(&mut *tx, key, reason::REGISTRATION, since).await?
        >= MAX_REGISTRATIONS_PER_IP
    {
        return refuse(tx, REGISTRATION_LOCKED, email, client, now).await;
    }
    db::login_failures::record(&mut *tx, email, key, reason::REGISTRATION, now).await?;
    tx.commit().await?;
    Ok(())
}

const PASSWORD_RESET_LOCKED: Refusal = Refusal {
    reason: reason::PASSWORD_RESET_LOCKED,
    by_email: true,
    message: "too many reset requests for this email; try again in 15 minutes",
};
const PASSWORD_RESET_IP_LOCKED: Refusal = Refusal {
    reason: reason::PASSWORD_RESET_IP_LOCKED,
    by_email: false,
    message: "too many reset requests from your network; try again in 15 minutes",
};

/// Refuses when the email or the address asked for too many reset links;
/// otherwise counts this request. The same for emails without an account.
pub async fn begin_password_reset(
    db: &Db,
    email: &str,
    client: &ClientAddress,
    now: i64,
) -> Result<(), AppError> {
    let since = now - WINDOW_SECS;
    let mut tx = db.begin_write().await?;
    db::login_failures::lock_key(&mut tx, db.backend, &format!("reset:{email}")).await?;
    if let Some(key) = &client.throttle_key {
        db::login_failures::lock_key(&mut tx, db.backend, &format!("reset-ip:{key}")).await?;
    }
    let mut refusal = None;
    if db::login_failures::count_for_email(&mut *tx, email, reason::PASSWORD_RESET, since).await?
        >= MAX_RESET_REQUESTS_PER_EMAIL
    {
        refusal = Some(PASSWORD_RESET_LOCKED);
    } else if let Some(key) = &client.throttle_key {
        if db::login_failures::count_for_ip(&mut *tx, key, reason::PASSWORD_RESET, since).await?
            >= MAX_RESET_REQUESTS_PER_IP
        {
            refusal = Some(PASSWORD_RESET_IP_LOCKED);
        }
    }
    if let Some(refusal) = refusal {
        return refuse(tx, refusal, email, client, now).await;
    }
    db::login_failures::record(
        &mut *tx,
        email,
        client.audit_value(),
        reason::PASSWORD_RESET,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Audits the refusal (once per lock: not when one is already recorded in
/// the window) and answers RateLimited.
async fn refuse<T>(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    refusal: Refusal,
    email: &str,
    client: &ClientAddress,
    now: i64,
) -> Result<T, AppError> {
    let since = now - WINDOW_SECS;
    let already = if refusal.by_email {
        db::login_failures::count_for_email(&mut *tx, email, refusal.reason, since).await?
    } else {
        db::login_failures::count_for_ip(&mut *tx, client.audit_value(), refusal.reason, since)
            .await?
    };
    if already == 0 {
        db::login_failures::record(&mut *tx, email, client.audit_value(), refusal.reason, now)
            .await?;
        tracing::warn!(email, ip = %client.ip, reason = refusal.reason, "locked by throttle");
    }
    tx.commit().await?;
    Err(AppError::RateLimited(refusal.message.to_owned()))
}

/// Removes audit rows older than `AUDIT_RETENTION_SECS`; returns how many.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    db::login_failures::delete_older_than(&db.pool, now - AUDIT_RETENTION_SECS).await
}
