//! The signed-in person's own account: changing the password, the list of
//! their sessions and signing out the others, deleting the account, and the
//! export of their data.
//!
//! - Changing the password needs the current one, checked under the login
//!   throttle (a wrong one counts as a failed login for the account's email),
//!   and ends every other session of the account in the same transaction;
//!   the session asking stays signed in. Outstanding reset links die too.
//! - Sessions are listed from the session table: when each signed in, where
//!   from and in which browser (noted in the session's own record at sign-in,
//!   `note_sign_in`, so no request pays an extra write), and when it was last
//!   active (its idle expiry, renewed at most hourly, minus the idle timeout).
//! - Deleting is refused while the person is the only owner of an
//!   organization that has other members. Otherwise their live calls are
//!   ended first (charged as any ended call), then in one transaction every
//!   membership ends (with an entry in each organization's audit trail),
//!   every session ends and the account is erased (`db::users::erase`). An
//!   organization left with no members (usually the personal one) stays,
//!   with its wallet and ledger, as a financial record nobody can open.

use super::calls::{self as call_service, Ender};
use super::client_addr::{self, ClientAddress};
use super::db::{self, users::User, Db};
use super::guard::{AUTHENTICATED_AT, IDLE_TIMEOUT_SECS};
use super::providers::carrier::Carrier;
use super::state::app_state;
use super::{dates, password_hash, throttle};
use crate::domain::{deleted_account, AuditAction, Money, Password};
use crate::error::AppError;
use serde::Serialize;
use tower_sessions::session::Record;
use tower_sessions::Session;

/// Session keys written at sign-in, for the sessions list.
pub const USER_AGENT: &str = "user_agent";
pub const SIGNED_IN_FROM: &str = "signed_in_from";
/// A user agent is kept to this many characters.
const MAX_USER_AGENT_CHARS: usize = 300;

/// Notes the browser and address a session signs in from (called by the
/// sign-in paths after the new session id is made).
pub async fn note_sign_in(session: &Session) -> Result<(), AppError> {
    let client = client_addr::of_this_request(&app_state()?.trusted_proxies).await;
    let headers = leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .unwrap_or_default();
    let user_agent: String = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    session.insert(USER_AGENT, user_agent).await?;
    session.insert(SIGNED_IN_FROM, &client.ip).await?;
    Ok(())
}

/// One session of the account, as its list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub signed_in_at: Option<i64>,
    pub last_active_at: i64,
    /// "Firefox on Linux"; empty when the browser did not say.
    pub browser: String,
    pub ip: Option<String>,
    pub is_current: bool,
}

/// The account's unexpired sessions, this one marked.
pub async fn sessions(
    db: &Db,
    user_id: &str,
    current_session_id: Option<&str>,
    now: i64,
) -> Result<Vec<SessionSummary>, AppError> {
    let stored = db::sessions::of_user(&db.pool, user_id, now).await?;
    Ok(stored
        .into_iter()
        .map(|stored| {
            let record = serde_json::from_slice::<Record>(&stored.data).ok();
            let value = |key: &str| record.as_ref().and_then(|r| r.data.get(key).cloned());
            SessionSummary {
                signed_in_at: value(AUTHENTICATED_AT).and_then(|v| v.as_i64()),
                last_active_at: (stored.expiry_date - IDLE_TIMEOUT_SECS).min(now),
                browser: value(USER_AGENT)
                    .and_then(|v| v.as_str().map(browser_summary))
                    .unwrap_or_default(),
                ip: value(SIGNED_IN_FROM).and_then(|v| v.as_str().map(str::to_owned)),
                is_current: current_session_id == Some(stored.session_id.as_str()),
            }
        })
        .collect())
}

/// Ends every session of the account except `current_session_id`; returns how many.
pub async fn sign_out_others(
    db: &Db,
    user_id: &str,
    current_session_id: &str,
) -> Result<u64, AppError> {
    let ended = db::sessions::delete_others_of_user(&db.pool, user_id, current_session_id).await?;
    tracing::info!(%user_id, sessions_ended = ended, "other sessions signed out");
    Ok(ended)
}

/// Checks the account's current password under the login throttle; a wrong
/// one is a validation error on `field` and counts as a failed login.
async fn check_password(
    db: &Db,
    user: &User,
    client: &ClientAddress,
    field: &str,
    password: String,
    now: i64,
) -> Result<(), AppError> {
    if password.is_empty() {
        return Err(AppError::validation(field, "enter your current password"));
    }
    let attempt = throttle::begin_login(db, &user.email, client, now).await?;
    let stored = db::users::password_hash_of(&db.pool, &user.user_id).await?;
    match password_hash::verify(password, stored).await {
        Ok(true) => throttle::forget(db, attempt).await,
        Ok(false) => {
            throttle::failed(attempt, &user.email, client);
            Err(AppError::validation(
                field,
                "that is not your current password",
            ))
        }
        Err(no_verdict) => {
            throttle::forget(db, attempt).await?;
            Err(no_verdict)
        }
    }
}

/// Sets a new password after checking the current one, and ends every
/// other session of the account; returns how many sessions ended.
pub async fn change_password(
    db: &Db,
    user: &User,
    current_session_id: &str,
    client: &ClientAddress,
    current_password: String,
    new_password: Password,
    now: i64,
) -> Result<u64, AppError> {
    check_password(db, user, client, "current_password", current_password, now).await?;
    let hash = password_hash::hash(new_password).await?;
    let user_id = &user.user_id;
    let mut tx = db.begin_write().await?;
    db::users::set_password_hash(&mut *tx, user_id, &hash).await?;
    db::password_resets::use_all_of(&mut *tx, user_id, now).await?;
    let ended = db::sessions::delete_others_of_user(&mut *tx, user_id, current_session_id).await?;
    tx.commit().await?;
    tracing::info!(%user_id, sessions_ended = ended, "password changed");
    Ok(ended)
}

/// Deletes (erases) the account; see the module comment for what stays.
pub async fn delete(
    db: &Db,
    carrier: &dyn Carrier,
    user: &User,
    client: &ClientAddress,
    password: String,
    now: i64,
) -> Result<(), AppError> {
    let user_id = &user.user_id;
    // The refusal comes first: it needs no password and changes nothing.
    refuse_if_sole_owner(db::accounts::orgs_it_alone_owns_with_others(&db.pool, user_id).await?)?;
    check_password(db, user, client, "password", password, now).await?;

    for call in db::calls::live_of_user(&db.pool, user_id).await? {
        if call.end_requested_at.is_some() {
            continue;
        }
        let ender = Ender {
            org_id: &call.org_id,
            user_id,
            manages_org: false,
        };
        if let Err(error) = call_service::end_call(db, carrier, &ender, &call.call_id).await {
            tracing::warn!(%user_id, call_id = %call.call_id, %error, "ending a call before deleting its account failed");
            return Err(AppError::conflict(
                "call_not_ended",
                "your call could not be ended just now; end it from the dialer, then try again",
            ));
        }
    }

    let mut tx = db.begin_write().await?;
    // Checked again inside the transaction, with the organizations locked:
    // someone may have joined or been demoted meanwhile, or a call started.
    db::accounts::lock_orgs_of(&mut *tx, user_id).await?;
    refuse_if_sole_owner(db::accounts::orgs_it_alone_owns_with_others(&mut *tx, user_id).await?)?;
    // And their wallets: `start_call` checks membership under the wallet
    // lock, so a call is either committed now (and seen just below) or,
    // once this commits, refused.
    let memberships = db::orgs::memberships_of(&mut *tx, user_id).await?;
    for membership in &memberships {
        db::ledger::lock_in(&mut tx, &membership.org_id, now).await?;
    }
    let starting = db::calls::live_of_user(&mut *tx, user_id)
        .await?
        .into_iter()
        .any(|call| call.end_requested_at.is_none());
    if starting {
        return Err(AppError::conflict(
            "call_in_progress",
            "a call of yours is starting; try again once it is over",
        ));
    }
    for membership in &memberships {
        db::org_audit::record(
            &mut tx,
            &membership.org_id,
            Some(user_id),
            AuditAction::MemberLeft,
            "Deleted their account and left the organization",
        )
        .await?;
    }
    db::accounts::leave_every_org(&mut *tx, user_id).await?;
    let sessions_ended = db::sessions::delete_for_user(&mut *tx, user_id).await?;
    db::password_resets::use_all_of(&mut *tx, user_id, now).await?;
    db::users::erase(&mut *tx, user_id, &deleted_account::erased_email(user_id)).await?;
    tx.commit().await?;
    tracing::info!(
        %user_id,
        orgs_left = memberships.len(),
        sessions_ended,
        "account deleted and erased"
    );
    Ok(())
}

fn refuse_if_sole_owner(org_names: Vec<String>) -> Result<(), AppError> {
    if org_names.is_empty() {
        return Ok(());
    }
    let names = org_names
        .iter()
        .map(|name| format!("\u{201c}{name}\u{201d}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(AppError::conflict(
        "last_owner",
        format!(
            "you are the only owner of {names}, which still has other members: make another member an owner or remove the members first"
        ),
    ))
}

/// The downloadable copy of a person's data: the account, its memberships
/// and every call it placed. Never the password hash, a token or a session.
#[derive(Debug, Serialize)]
pub struct DataExport {
    pub exported_at: String,
    pub account: AccountData,
    pub memberships: Vec<MembershipData>,
    pub calls: Vec<CallData>,
}

#[derive(Debug, Serialize)]
pub struct AccountData {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub registered_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MembershipData {
    pub org_id: String,
    pub organization: String,
    pub role: String,
    pub joined_at: String,
}

#[derive(Debug, Serialize)]
pub struct CallData {
    pub call_id: String,
    pub org_id: String,
    pub number: String,
    pub destination: String,
    pub status: String,
    pub end_reason: Option<String>,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_secs: Option<i64>,
    pub billed_seconds: Option<i64>,
    /// Exact, in dollars (`0.04`, `0.0125`).
    pub cost_usd: Option<String>,
}

pub async fn export(db: &Db, user: &User, now: i64) -> Result<DataExport, AppError> {
    let user_id = &user.user_id;
    let registered_at = db::users::created_at_of(&db.pool, user_id).await?;
    let memberships = db::accounts::memberships(&db.pool, user_id).await?;
    let calls = db::calls::placed_by(&db.pool, user_id).await?;
    Ok(DataExport {
        exported_at: dates::rfc3339_time(now),
        account: AccountData {
            user_id: user_id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            registered_at: registered_at.map(dates::rfc3339_time),
        },
        memberships: memberships
            .into_iter()
            .map(|m| MembershipData {
                org_id: m.org_id,
                organization: m.org_name,
                role: m.role,
                joined_at: dates::rfc3339_time(m.joined_at),
            })
            .collect(),
        calls: calls
            .into_iter()
            .map(|call| CallData {
                destination: call.destination(),
                status: call.status.as_str().to_owned(),
                end_reason: call.end_reason.map(|r| r.as_str().to_owned()),
                started_at: dates::rfc3339_time(call.created_at),
                answered_at: call.answered_at.map(dates::rfc3339_time),
                ended_at: call.ended_at.map(dates::rfc3339_time),
                duration_secs: call.duration_secs,
                billed_seconds: call.billed_seconds,
                cost_usd: call.cost.map(|c| Money::from_micros(c).plain_dollars()),
                call_id: call.call_id,
                org_id: call.org_id,
                number: call.to_number,
            })
            .collect(),
    })
}

/// "Firefox on Linux" from a user agent: the browser family and the
/// operating system, enough to recognise one's own devices.
pub fn browser_summary(user_agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(token, _)| user_agent.contains(token))
    .map(|(_, name)| name);
    let system = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(token, _)| user_agent.contains(token))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        // Not a browser we know (a script, a test client): its own words, short.
        (None, None) => user_agent.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::browser_summary;

    #[test]
    fn a_user_agent_reads_as_browser_on_system() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(browser_summary(firefox), "Firefox on Linux");
        let chrome_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(browser_summary(chrome_mac), "Chrome on macOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(browser_summary(edge), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_summary(iphone), "Safari on iOS");
        assert_eq!(browser_summary("phonebooth-tests"), "phonebooth-tests");
        assert_eq!(browser_summary(""), "");
    }
}
