//! The sandbox checkout page's server functions. The sandbox stands in for
//! Stripe's hosted checkout, so, like Stripe, it needs no Phonebooth login:
//! the unguessable session id is the capability. It exists only while no
//! Stripe key is configured.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSessionView {
    pub session_id: String,
    /// "payment" (buying credits) or "setup" (saving a card)
    pub mode: String,
    pub amount: String,
    pub credits: i64,
    pub paid: bool,
    pub return_url: String,
    pub cancel_url: String,
}

#[server(endpoint = "sandbox/session")]
pub async fn sandbox_session(session_id: String) -> Result<SandboxSessionView, AppError> {
    ssr::sandbox_session(session_id).await
}

/// Pays with a test card and returns to the app; a declined card changes nothing.
#[server(endpoint = "sandbox/pay")]
pub async fn sandbox_pay(session_id: String, card_number: String) -> Result<(), AppError> {
    ssr::sandbox_pay(session_id, card_number).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::Money;
    use crate::server::providers::sandbox::{self, CardError};
    use crate::server::state::app_state;

    fn sandbox_only() -> Result<crate::server::AppState, AppError> {
        let state = app_state()?;
        if state.payments.name() != "sandbox" {
            return Err(AppError::NotFound);
        }
        Ok(state)
    }

    pub async fn sandbox_session(session_id: String) -> Result<SandboxSessionView, AppError> {
        let state = sandbox_only()?;
        let session = sandbox::session(&state.db, &session_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let amount = Money::from_cents(session.amount_cents).unwrap_or(Money::ZERO);
        Ok(SandboxSessionView {
            return_url: session
                .success_url
                .replace("{CHECKOUT_SESSION_ID}", &session.session_id),
            session_id: session.session_id,
            mode: session.mode,
            amount: amount.to_string(),
            credits: amount.credits(),
            paid: session.status == "complete",
            cancel_url: session.cancel_url,
        })
    }

    pub async fn sandbox_pay(session_id: String, card_number: String) -> Result<(), AppError> {
        let state = sandbox_only()?;
        match sandbox::pay(&state.db, &session_id, &card_number).await {
            Ok(next) => {
                leptos_axum::redirect(&next);
                Ok(())
            }
            Err(CardError::UnknownSession) => Err(AppError::NotFound),
            Err(CardError::Unavailable) => Err(AppError::Unavailable),
            Err(error) => Err(AppError::validation("card_number", error.to_string())),
        }
    }
}
