//! What the platform runs on, for operators only (the operator flag,
//! `phonebooth admin grant`): real or simulated payments and carrier.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The mode the server runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformMode {
    /// `stripe` or `sandbox`.
    pub payments: String,
    /// `twilio` or `simulated`.
    pub carrier: String,
}

impl PlatformMode {
    /// Real calls paid with sandbox credits (a private test deployment's opt-in).
    pub fn free_real_calls(&self) -> bool {
        self.carrier != "simulated" && self.payments == "sandbox"
    }
}

/// The platform's mode; anyone but an operator gets `Forbidden` and nothing else.
#[server(endpoint = "platform/mode")]
pub async fn load_platform_mode() -> Result<PlatformMode, AppError> {
    use crate::server::guard;
    let (viewer, _, state) = guard::require_viewer().await?;
    if !viewer.user.is_operator {
        return Err(AppError::Forbidden);
    }
    Ok(PlatformMode {
        payments: state.payments.name().to_owned(),
        carrier: state.carrier.name().to_owned(),
    })
}
