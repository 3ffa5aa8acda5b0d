//! What every request handler and server function can reach.

use super::db::Db;
use crate::error::AppError;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
}

/// The state provided to server functions through Leptos context.
pub fn app_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal
    })
}
