//! `AppError`: the one error type shared by server functions, pages and the
//! server's own handlers. Every variant's text is safe to show a person;
//! internal causes are logged where they happen and never carried in here.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please log in to continue")]
    Unauthorized,
    #[error("you do not have permission to do that")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// Bad input: which field, and what is wrong with it.
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("not enough credits")]
    InsufficientCredits,
    /// The request conflicts with existing state; `code` is stable for programs.
    #[error("{message}")]
    Conflict { code: String, message: String },
    #[error("{0}")]
    RateLimited(String),
    #[error("the service is temporarily unavailable; please try again in a moment")]
    Unavailable,
    #[error("something went wrong on our side; please try again")]
    Internal,
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The field a validation error is about, for showing it beside its input.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Validation { .. } => 422,
            AppError::InsufficientCredits => 402,
            AppError::Conflict { .. } => 409,
            AppError::RateLimited(_) => 429,
            AppError::Unavailable => 503,
            AppError::Internal => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(error: ServerFnErrorErr) -> Self {
        match error {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => AppError::validation(
                "",
                "the form was incomplete or malformed; please check it and try again",
            ),
            ServerFnErrorErr::Request(_) => AppError::Unavailable,
            _ => AppError::Internal,
        }
    }
}

/// Database errors become `Unavailable` when the database cannot be reached and
/// `Internal` otherwise; either way the cause is logged here, once, and the
/// text never reaches a browser.
#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        if crate::server::db::is_unreachable(&error) {
            tracing::error!(error = %error, "database unreachable");
            AppError::Unavailable
        } else {
            tracing::error!(error = ?error, "database error");
            AppError::Internal
        }
    }
}

#[cfg(feature = "ssr")]
impl From<tower_sessions::session::Error> for AppError {
    fn from(error: tower_sessions::session::Error) -> Self {
        tracing::error!(error = ?error, "session store error");
        AppError::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing_about_their_cause() {
        assert_eq!(
            AppError::Internal.to_string(),
            "something went wrong on our side; please try again"
        );
        assert_eq!(AppError::Unavailable.status(), 503);
    }

    #[test]
    fn malformed_arguments_become_a_validation_error() {
        let error = AppError::from_server_fn_error(ServerFnErrorErr::Args("bad".into()));
        assert_eq!(error.status(), 422);
    }
}
