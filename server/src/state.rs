//! The one state the server's routes and jobs share, and the parts each
//! handler extracts from it (axum's `FromRef`):
//!
//! - `AppState` (from the `app` crate): the database, the payment provider,
//!   the carrier and the settings pages and server functions see; it reaches
//!   them through Leptos context, and the plain routes (exports, the live
//!   stream, health) through `State<AppState>`.
//! - `WebhookSecrets`: what only the webhooks (which verify) and the jobs
//!   (which sign the sandbox's and the simulated carrier's deliveries) need.
//! - `Db`, for handlers that need nothing else.

use crate::config::Secret;
use app::server::db::Db;
use app::server::AppState;
use axum::extract::FromRef;

#[derive(Clone, Debug, FromRef)]
pub struct ServerState {
    pub app: AppState,
    pub secrets: WebhookSecrets,
}

/// The shared secrets provider requests are signed with: configured, or
/// generated once into the data folder for the sandbox and simulated carrier.
#[derive(Clone, Debug)]
pub struct WebhookSecrets {
    /// `Stripe-Signature` (`STRIPE_WEBHOOK_SECRET`).
    pub stripe: Secret,
    /// `X-Twilio-Signature` (`TWILIO_AUTH_TOKEN`).
    pub twilio_auth_token: Secret,
}

impl FromRef<ServerState> for Db {
    fn from_ref(state: &ServerState) -> Db {
        state.app.db.clone()
    }
}
