//! The payment provider as the rest of the app sees it: create a checkout
//! session for credits, one that saves a card for auto-recharge, and charge a
//! saved card off-session. Two implementations: Stripe through async-stripe
//! (`server/src/providers/stripe/client.rs`) and the built-in sandbox
//! (`sandbox.rs` beside this file), which renders its own checkout page and
//! sends Stripe-format signed events to `/webhooks/stripe`.
//!
//! Money never moves here: credits are granted by the webhook handler (and,
//! for an off-session charge Stripe confirms synchronously, by the same keyed
//! ledger post), so the provider only talks to the outside world.

use crate::domain::Money;
use async_trait::async_trait;

/// Metadata key/values every session carries, read back by the webhook.
pub const META_ORG_ID: &str = "org_id";
pub const META_PURPOSE: &str = "purpose";
pub const PURPOSE_CREDITS: &str = "credits";
pub const PURPOSE_SAVE_CARD: &str = "save_card";
pub const PURPOSE_AUTO_RECHARGE: &str = "auto_recharge";
pub const META_ATTEMPT_ID: &str = "attempt_id";

/// A Checkout Session in payment mode for `amount` of credits.
#[derive(Clone, Debug)]
pub struct CreditCheckout {
    pub org_id: String,
    pub amount: Money,
    pub customer_email: String,
    /// Sent as the API call's `Idempotency-Key`.
    pub idempotency_key: String,
    /// May contain Stripe's `{CHECKOUT_SESSION_ID}` template.
    pub success_url: String,
    pub cancel_url: String,
}

/// A Checkout Session in setup mode that saves a card for auto-recharge.
#[derive(Clone, Debug)]
pub struct CardSetup {
    pub org_id: String,
    /// The organization's customer at the provider, if one exists already.
    pub customer_id: Option<String>,
    pub customer_email: String,
    pub idempotency_key: String,
    pub success_url: String,
    pub cancel_url: String,
}

/// Where to send the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutRedirect {
    pub session_id: String,
    pub url: String,
    /// The customer the session belongs to (setup sessions create one if needed).
    pub customer_id: Option<String>,
}

/// An off-session charge of the saved card (auto-recharge).
#[derive(Clone, Debug)]
pub struct SavedCardCharge {
    pub org_id: String,
    pub attempt_id: String,
    pub customer_id: String,
    pub payment_method_id: String,
    pub amount: Money,
    /// One per attempt: a retried request cannot charge twice.
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money is in; `payment_ref` is the payment intent id.
    Succeeded { payment_ref: String },
    /// The provider accepted the charge but has not settled it (`processing`):
    /// not a failure. The attempt stays pending until the provider's
    /// `payment_intent.succeeded` or `payment_intent.payment_failed` event.
    Processing { payment_ref: String },
    /// The card was declined or needs the customer (3-D Secure): a failed attempt.
    Declined {
        payment_ref: Option<String>,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused the request itself (bad parameters, bad key).
    #[error("payment provider refused the request: {0}")]
    Refused(String),
    /// The provider could not be reached or answered 5xx: worth retrying.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentProvider: SubscriptionProvider + Send + Sync + std::fmt::Debug {
    /// "stripe" or "sandbox": stored on each checkout.
    fn name(&self) -> &'static str;
    async fn create_credit_checkout(
        &self,
        request: &CreditCheckout,
    ) -> Result<CheckoutRedirect, PaymentError>;
    async fn create_card_setup(
        &self,
        request: &CardSetup,
    ) -> Result<CheckoutRedirect, PaymentError>;
    async fn charge_saved_card(
        &self,
        request: &SavedCardCharge,
    ) -> Result<ChargeOutcome, PaymentError>;
}

// ---------------------------------------------------------------------------
// Subscriptions (the Team plan, billed per seat).
//
// Every call that changes or reads a subscription answers with the
// subscription object exactly as Stripe's API returns it (JSON), so the one
// parser in `server::subscriptions` reads API answers and webhook events alike.
// ---------------------------------------------------------------------------

pub const PURPOSE_SUBSCRIPTION: &str = "subscription";

/// A Checkout Session in subscription mode: `quantity` seats of `price_id`.
#[derive(Clone, Debug)]
pub struct SubscriptionCheckout {
    pub org_id: String,
    /// The organization's customer at the provider, if one exists already.
    pub customer_id: Option<String>,
    pub customer_email: String,
    /// From configuration (`PlanPrices`); never chosen by the browser.
    pub price_id: String,
    pub quantity: u32,
    pub idempotency_key: String,
    /// May contain Stripe's `{CHECKOUT_SESSION_ID}` template.
    pub success_url: String,
    pub cancel_url: String,
}

/// One change to a live subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// New seat count, prorated on the next invoice
    /// (`proration_behavior=create_prorations`, no invoice per change).
    Quantity(u32),
    /// `cancel_at_period_end`: true cancels at the period's end, false resumes.
    CancelAtPeriodEnd(bool),
    /// `pause_collection[behavior]=void` with `pause_collection[resumes_at]`.
    Pause { resumes_at: i64 },
    /// Clears `pause_collection` (an empty value: a raw form request).
    Unpause,
}

/// The answer to paying an open invoice now ("Retry payment").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvoicePayment {
    Paid,
    Declined { reason: String },
}

/// The Team plan's price ids, from configuration. In Stripe mode a missing or
/// malformed one stops startup; nothing ever falls back to another price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanPrices {
    pub team_monthly: String,
    pub team_annual: String,
}

/// The sandbox's Team plan prices: `PlanPrices` without Stripe (the sandbox
/// provider knows them; `STRIPE_PRICE_TEAM_*` are Stripe-mode only).
pub const SANDBOX_PRICE_TEAM_MONTHLY: &str = "price_sandbox_team_monthly";
pub const SANDBOX_PRICE_TEAM_ANNUAL: &str = "price_sandbox_team_annual";

/// The subscription settings the server functions read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSettings {
    pub prices: PlanPrices,
    /// The most seats one organization may buy (`SEATS_MAX`, 50 by default).
    pub max_seats: u32,
    /// How long calls stay allowed after a failed payment
    /// (`PAYMENT_GRACE_DAYS`, 3 by default), in seconds.
    pub grace_secs: i64,
}

#[async_trait]
pub trait SubscriptionProvider: Send + Sync + std::fmt::Debug {
    async fn create_subscription_checkout(
        &self,
        request: &SubscriptionCheckout,
    ) -> Result<CheckoutRedirect, PaymentError>;
    /// Applies `change` and answers with the updated subscription object.
    async fn update_subscription(
        &self,
        subscription_id: &str,
        change: &SubscriptionChange,
        idempotency_key: &str,
    ) -> Result<serde_json::Value, PaymentError>;
    /// The subscription object as the provider has it now.
    async fn retrieve_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<serde_json::Value, PaymentError>;
    /// A Billing Portal session (payment method, invoices): its URL.
    async fn billing_portal(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, PaymentError>;
    /// Pays an open invoice now with the customer's default payment method.
    async fn pay_invoice(
        &self,
        invoice_id: &str,
        idempotency_key: &str,
    ) -> Result<InvoicePayment, PaymentError>;
}
