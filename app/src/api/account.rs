//! The signed-in person's own account (`/account`): who they are, their
//! password, their sessions, deleting the account. Every function acts on
//! the caller's own account only, so there is nothing to pass but the form;
//! the rules live in `server::account`. The data download is a plain route
//! (`DATA_EXPORT_PATH`), served by the server crate, for its file headers.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Where the "Download my data" link points (a JSON attachment).
pub const DATA_EXPORT_PATH: &str = "/account-data.json";
/// Where a changed password lands (the page shows that it worked).
pub const PASSWORD_CHANGED_PATH: &str = "/account?changed=password";
/// Where signing out the other sessions lands.
pub const SIGNED_OUT_OTHERS_PATH: &str = "/account?changed=sessions";
/// Where a deleted account lands.
pub const DELETED_PATH: &str = "/login";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    pub name: String,
    pub email: String,
    pub sessions: Vec<SessionLine>,
}

/// One signed-in session of the account, ready to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLine {
    pub signed_in: String,
    pub last_active: String,
    pub browser: String,
    pub ip: String,
    pub is_current: bool,
}

#[server(endpoint = "account/overview")]
pub async fn load_account() -> Result<AccountOverview, AppError> {
    ssr::load_account().await
}

/// Needs the current password; ends every other session of the account.
#[server(endpoint = "account/change-password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    ssr::change_password(current_password, new_password).await
}

/// Ends every session of the account but this one.
#[server(endpoint = "account/sign-out-others")]
pub async fn sign_out_other_sessions() -> Result<(), AppError> {
    ssr::sign_out_other_sessions().await
}

/// Erases the account (see `server::account`); needs the password.
#[server(endpoint = "account/delete")]
pub async fn delete_account(password: String) -> Result<(), AppError> {
    ssr::delete_account(password).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::Password;
    use crate::server::dates::display_time;
    use crate::server::{account, client_addr, clock, guard};
    use tower_sessions::Session;

    /// The id of the caller's session (a signed-in one always has one).
    fn session_id(session: &Session) -> Result<String, AppError> {
        session
            .id()
            .map(|id| id.to_string())
            .ok_or(AppError::Unauthorized)
    }

    pub async fn load_account() -> Result<AccountOverview, AppError> {
        let (viewer, session, state) = guard::require_viewer().await?;
        let current = session.id().map(|id| id.to_string());
        let sessions = account::sessions(
            &state.db,
            &viewer.user.user_id,
            current.as_deref(),
            clock::now(),
        )
        .await?;
        Ok(AccountOverview {
            name: viewer.user.name,
            email: viewer.user.email,
            sessions: sessions
                .into_iter()
                .map(|s| SessionLine {
                    signed_in: s.signed_in_at.map(display_time).unwrap_or_default(),
                    last_active: display_time(s.last_active_at),
                    browser: s.browser,
                    ip: s.ip.unwrap_or_default(),
                    is_current: s.is_current,
                })
                .collect(),
        })
    }

    pub async fn change_password(
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        let (viewer, session, state) = guard::require_viewer().await?;
        let new_password =
            Password::parse(&new_password).map_err(|m| AppError::validation("new_password", m))?;
        let current_id = session_id(&session)?;
        let client = client_addr::of_this_request(&state.trusted_proxies).await;
        account::change_password(
            &state.db,
            &viewer.user,
            &current_id,
            &client,
            current_password,
            new_password,
            clock::now(),
        )
        .await?;
        leptos_axum::redirect(PASSWORD_CHANGED_PATH);
        Ok(())
    }

    pub async fn sign_out_other_sessions() -> Result<(), AppError> {
        let (viewer, session, state) = guard::require_viewer().await?;
        let current_id = session_id(&session)?;
        account::sign_out_others(&state.db, &viewer.user.user_id, &current_id).await?;
        leptos_axum::redirect(SIGNED_OUT_OTHERS_PATH);
        Ok(())
    }

    pub async fn delete_account(password: String) -> Result<(), AppError> {
        let (viewer, session, state) = guard::require_viewer().await?;
        let client = client_addr::of_this_request(&state.trusted_proxies).await;
        account::delete(
            &state.db,
            state.carrier.as_ref(),
            &viewer.user,
            &client,
            password,
            clock::now(),
        )
        .await?;
        // Its row is gone already; this clears what the request still holds.
        session.flush().await?;
        leptos_axum::redirect(DELETED_PATH);
        Ok(())
    }
}
