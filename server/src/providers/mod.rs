//! The real outside world behind the contracts the app defines
//! (`app::server::providers::{payments, carrier}`): one folder per provider,
//! each holding its API client, its wire format and its signature check, so
//! "everything about Twilio" (or Stripe) is in one place.
//!
//! - `stripe/` — `client.rs` (Checkout and PaymentIntents through
//!   async-stripe), `subscriptions.rs` (the Team plan's subscription calls)
//!   and `signature.rs` (`Stripe-Signature`, checked by the
//!   webhook and written by the sandbox's deliveries).
//! - `twilio/` — `client.rs` (the REST Calls API), `wire.rs` (status
//!   callbacks and TwiML), `signature.rs` (`X-Twilio-Signature`) and
//!   `simulated.rs` (the simulated carrier, which imitates Twilio).
//!
//! The payment sandbox is in `app::server::providers::sandbox`, beside its
//! checkout page. `webhooks/` and `jobs/` import from here, never from each
//! other.

pub mod stripe;
pub mod twilio;
