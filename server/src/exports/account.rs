//! `GET /account-data.json`: the signed-in person's own data (the account,
//! its memberships, every call it placed) as a JSON download
//! (`app::server::account::export`). 401 without a session user; there is
//! nothing to ask for, so nobody can read another person's data.

use crate::session_member::refusal;
use app::api::account::DATA_EXPORT_PATH;
use app::error::AppError;
use app::server::dates::{date_of, iso_date};
use app::server::guard::viewer_from_session;
use app::server::{account, clock, AppState};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_sessions::Session;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route(DATA_EXPORT_PATH, get(account_data))
        .with_state(state)
}

async fn account_data(State(state): State<AppState>, session: Session) -> Response {
    match export(&state, &session).await {
        Ok(json) => {
            let today = iso_date(date_of(clock::now()));
            let disposition = format!("attachment; filename=\"phonebooth-my-data-{today}.json\"");
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                json,
            )
                .into_response()
        }
        Err(error) => refusal(error),
    }
}

async fn export(state: &AppState, session: &Session) -> Result<Vec<u8>, AppError> {
    let viewer = viewer_from_session(session, &state.db)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let data = account::export(&state.db, &viewer.user, clock::now()).await?;
    tracing::info!(user_id = %viewer.user.user_id, calls = data.calls.len(), "account data exported");
    serde_json::to_vec_pretty(&data).map_err(|error| {
        tracing::error!(%error, "encoding an account's data failed");
        AppError::Internal
    })
}
