//! What every request handler and server function can reach.

use super::calls::CallSettings;
use super::db::Db;
use super::providers::carrier::Carrier;
use super::providers::payments::{PaymentProvider, SubscriptionSettings};
use crate::domain::Money;
use crate::error::AppError;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    /// Stripe, or the built-in sandbox when no Stripe key is configured.
    pub payments: Arc<dyn PaymentProvider>,
    /// `PUBLIC_URL` without a trailing slash: the base of links handed to providers.
    pub public_url: String,
    pub purchase_limits: PurchaseLimits,
    /// Twilio, or the built-in simulated carrier when Twilio is not configured.
    pub carrier: Arc<dyn Carrier>,
    pub calling: CallSettings,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: super::client_addr::TrustedProxies,
    /// The Team plan's prices, seat maximum and payment grace period.
    pub subscriptions: SubscriptionSettings,
}

/// The custom credit purchase amounts allowed (configured; packs lie within them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurchaseLimits {
    pub min: Money,
    pub max: Money,
}

/// The state provided to server functions through Leptos context.
pub fn app_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        if leptos::prelude::use_context::<http::request::Parts>().is_none() {
            // Not even the request is in reach: a page's data still loading
            // after its render was dropped (the browser went away mid-page,
            // which frees the render's root and with it every context).
            // Nobody will read this answer.
            tracing::debug!("a page's data load outlived its render");
        } else {
            tracing::error!("AppState missing from the Leptos context");
        }
        AppError::Internal
    })
}
