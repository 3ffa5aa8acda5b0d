//! Registration, login, logout, "who am I", and password reset by email.

use super::OrgSummary;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The logged-in person and the organizations they can switch between.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub email: String,
    pub is_operator: bool,
    pub current_org: OrgSummary,
    pub orgs: Vec<OrgSummary>,
    /// Said once: the organization this session worked in is no longer
    /// theirs (removed or left), so they were moved to `current_org`.
    pub org_notice: Option<String>,
}

/// Creates an account and its personal organization, then logs in.
#[server(endpoint = "auth/register")]
pub async fn register(
    name: String,
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    ssr::register(name, email, password, next).await
}

#[server(endpoint = "auth/login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    ssr::login(email, password, next).await
}

/// Ends the session on the server (not just the cookie) and goes to the login page.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    ssr::logout().await
}

/// The logged-in person, or None.
#[server(endpoint = "auth/account")]
pub async fn current_account() -> Result<Option<Me>, AppError> {
    ssr::current_account().await
}

/// Mails a reset link if the address has an account; the answer (a redirect
/// to the "check your mail" page) is the same either way.
#[server(endpoint = "auth/forgot-password")]
pub async fn forgot_password(email: String) -> Result<(), AppError> {
    ssr::forgot_password(email).await
}

/// Sets a new password with the token from a reset mail, signs out every
/// session of the account, and goes to the login page.
#[server(endpoint = "auth/reset-password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    ssr::reset_password(token, password).await
}

/// Where the forgot-password form goes once a request is taken.
pub const RESET_REQUESTED_PATH: &str = "/forgot-password?sent=1";
/// Where a successful reset goes.
pub const RESET_DONE_PATH: &str = "/login?reset=1";

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use super::*;
    use crate::domain::{EmailAddress, NextPath, OrgName, Password, PersonName, Role};
    use crate::server::client_addr::{self, ClientAddress};
    use crate::server::guard::{self, AUTHENTICATED_AT, CURRENT_ORG_ID, USER_ID};
    use crate::server::{
        clock, db, ids, password_hash, password_reset, state::app_state, throttle,
    };
    use tower_sessions::Session;

    pub async fn register(
        name: String,
        email: String,
        password: String,
        next: Option<String>,
    ) -> Result<(), AppError> {
        let next = NextPath::parse(next.as_deref());
        let state = app_state()?;
        let session = guard::session().await?;
        let account = prepare_account(&state, &name, &email, &password).await?;
        let mut tx = state.db.begin_write().await?;
        insert_account(&mut tx, &account).await?;
        tx.commit().await?;
        tracing::info!(user_id = %account.user_id, org_id = %account.org_id, "account registered");

        start_session(&session, &account.user_id, &account.org_id).await?;
        leptos_axum::redirect(next.as_str());
        Ok(())
    }

    /// An account checked and ready to insert: the registration rules
    /// (name, email, password, throttle, a free email) and the slow hash,
    /// done before any transaction. Also used by registering from an invitation.
    pub(crate) struct NewAccount {
        pub user_id: String,
        pub name: PersonName,
        pub email: EmailAddress,
        pub org_id: String,
        org_name: OrgName,
        password_hash: String,
        now: i64,
    }

    pub(crate) async fn prepare_account(
        state: &crate::server::AppState,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<NewAccount, AppError> {
        let name = PersonName::parse(name).map_err(|m| AppError::validation("name", m))?;
        let email = EmailAddress::parse(email).map_err(|m| AppError::validation("email", m))?;
        let password =
            Password::parse(password).map_err(|m| AppError::validation("password", m))?;
        let client = client_address(state).await;
        let now = clock::now();

        // Cheap refusals first: the per-address limit, then a taken email,
        // before the slow (and memory-hungry) hash.
        throttle::begin_registration(&state.db, email.as_str(), &client, now).await?;
        if db::users::credentials_by_email(&state.db.pool, email.as_str())
            .await?
            .is_some()
        {
            return Err(email_taken());
        }
        let password_hash = password_hash::hash(password).await?;
        let org_name = OrgName::parse(&format!("{}'s organization", name.as_str()))
            .unwrap_or_else(|_| OrgName::parse("My organization").expect("a valid constant"));
        Ok(NewAccount {
            user_id: ids::new_id("usr"),
            org_id: ids::new_id("org"),
            name,
            email,
            org_name,
            password_hash,
            now,
        })
    }

    /// Inserts the account and its personal organization (which it owns) on
    /// `conn`, the caller's write transaction.
    pub(crate) async fn insert_account(
        conn: &mut sqlx::AnyConnection,
        account: &NewAccount,
    ) -> Result<(), AppError> {
        if let Err(error) = db::users::insert(
            &mut *conn,
            &account.user_id,
            account.email.as_str(),
            account.name.as_str(),
            &account.password_hash,
            account.now,
        )
        .await
        {
            // Two sign-ups for one email at once: the check above passed for both.
            if db::is_unique_violation(&error, "app_user_email_key", "app_user.email") {
                return Err(email_taken());
            }
            return Err(error.into());
        }
        db::orgs::insert(
            &mut *conn,
            &account.org_id,
            account.org_name.as_str(),
            true,
            account.now,
        )
        .await?;
        db::orgs::add_member(
            &mut *conn,
            &account.org_id,
            &account.user_id,
            Role::Owner,
            account.now,
        )
        .await?;
        Ok(())
    }

    pub async fn login(
        email: String,
        password: String,
        next: Option<String>,
    ) -> Result<(), AppError> {
        // The email is audited as typed (normalized when it parses) so probing attempts show up too.
        let email = EmailAddress::parse(&email)
            .map(|e| e.as_str().to_owned())
            .unwrap_or_else(|_| email.trim().to_lowercase());
        if email.is_empty() {
            return Err(AppError::validation("email", "enter your email address"));
        }
        // No account has a longer one; refused without a row, so rows stay small.
        if email.chars().count() > db::login_failures::MAX_STORED_EMAIL_CHARS {
            return Err(AppError::validation(
                "email",
                "an email address has at most 254 characters",
            ));
        }
        if password.is_empty() {
            return Err(AppError::validation("password", "enter your password"));
        }
        let next = NextPath::parse(next.as_deref());
        let state = app_state()?;
        let session = guard::session().await?;
        let client = client_address(&state).await;
        let now = clock::now();

        let credentials = db::users::credentials_by_email(&state.db.pool, &email).await?;
        let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
        // Counted as a failure before the hash runs, so parallel guesses
        // cannot all pass the check; un-counted below unless it failed.
        let attempt = throttle::begin_login(&state.db, &email, &client, now).await?;
        // Unknown email and wrong password take the same path, time and answer.
        match password_hash::verify(password, stored_hash).await {
            Ok(true) => throttle::forget(&state.db, attempt).await?,
            Ok(false) => {
                throttle::failed(attempt, &email, &client);
                return Err(AppError::validation(
                    "password",
                    "the email or password is incorrect",
                ));
            }
            Err(no_verdict) => {
                throttle::forget(&state.db, attempt).await?;
                return Err(no_verdict);
            }
        }
        let user_id = credentials.expect("verified credentials exist").user_id;
        let memberships = db::orgs::memberships_of(&state.db.pool, &user_id).await?;
        let org_id = memberships
            .first()
            .map(|m| m.org_id.clone())
            .unwrap_or_default();
        start_session(&session, &user_id, &org_id).await?;
        tracing::info!(%user_id, "logged in");
        leptos_axum::redirect(next.as_str());
        Ok(())
    }

    pub async fn logout() -> Result<(), AppError> {
        let session = guard::session().await?;
        session.flush().await?;
        leptos_axum::redirect("/login");
        Ok(())
    }

    pub async fn forgot_password(email: String) -> Result<(), AppError> {
        let email = EmailAddress::parse(&email).map_err(|m| AppError::validation("email", m))?;
        let state = app_state()?;
        let client = client_address(&state).await;
        password_reset::request(&state.db, &state.public_url, &email, &client, clock::now())
            .await?;
        leptos_axum::redirect(RESET_REQUESTED_PATH);
        Ok(())
    }

    pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::validation(
                "token",
                "this reset link is incomplete; open the link from the mail again",
            ));
        }
        let password =
            Password::parse(&password).map_err(|m| AppError::validation("password", m))?;
        let state = app_state()?;
        password_reset::complete(&state.db, token, password, clock::now()).await?;
        leptos_axum::redirect(RESET_DONE_PATH);
        Ok(())
    }

    pub async fn current_account() -> Result<Option<Me>, AppError> {
        let state = app_state()?;
        let session = guard::session().await?;
        let Some(viewer) = guard::viewer_from_session(&session, &state.db).await? else {
            return Ok(None);
        };
        let (current, memberships) =
            guard::current_membership(&viewer, &session, &state.db).await?;
        let summary = |m: db::orgs::Membership| OrgSummary {
            org_id: m.org_id,
            name: m.name,
            role: m.role,
        };
        // Read first: removing an absent key would still write the session.
        let org_notice = session.get::<String>(guard::ORG_NOTICE).await?;
        if org_notice.is_some() {
            session.remove::<String>(guard::ORG_NOTICE).await?;
        }
        Ok(Some(Me {
            org_notice,
            name: viewer.user.name,
            email: viewer.user.email,
            is_operator: viewer.user.is_operator,
            current_org: summary(current),
            orgs: memberships.into_iter().map(summary).collect(),
        }))
    }

    /// A new session id (so a pre-login id planted by an attacker is useless),
    /// the user, the login time for the absolute timeout, and the working organization.
    pub(crate) async fn start_session(
        session: &Session,
        user_id: &str,
        org_id: &str,
    ) -> Result<(), AppError> {
        session.cycle_id().await?;
        session.insert(USER_ID, user_id).await?;
        session.insert(AUTHENTICATED_AT, clock::now()).await?;
        session.insert(CURRENT_ORG_ID, org_id).await?;
        crate::server::account::note_sign_in(session).await?;
        Ok(())
    }

    fn email_taken() -> AppError {
        AppError::conflict("email_taken", "an account with this email already exists")
    }

    /// The client's address: the peer, or what a trusted proxy says (`client_addr`).
    pub(crate) async fn client_address(state: &crate::server::AppState) -> ClientAddress {
        client_addr::of_this_request(&state.trusted_proxies).await
    }
}
