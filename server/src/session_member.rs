//! Authorization for the plain routes a logged-in browser reads outside the
//! server functions (the CSV exports, the live call stream): like
//! `guard::require_member`, the session's user (401 otherwise; the page gate
//! already sends logged-out browsers to the login page) and their membership
//! of exactly the organization asked for (404 otherwise, like an organization
//! that does not exist).

use app::error::AppError;
use app::server::db;
use app::server::guard::viewer_from_session;
use app::server::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

/// A member of one organization, as the session says.
pub struct SessionMember {
    pub user_id: String,
    pub org_id: String,
}

pub async fn require(
    state: &AppState,
    session: &Session,
    org_id: Option<String>,
) -> Result<SessionMember, AppError> {
    let viewer = viewer_from_session(session, &state.db)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let org_id = org_id.unwrap_or_default();
    db::orgs::role_of(&state.db.pool, &org_id, &viewer.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(SessionMember {
        user_id: viewer.user.user_id,
        org_id,
    })
}

/// The error's status with its text: these routes answer scripts and
/// downloads, not pages (internal errors say only that, see `AppError`).
pub fn refusal(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, format!("{error}\n")).into_response()
}
