//! The outside world as the rest of the app sees it: the contracts every
//! provider implements, and the payment sandbox that pages use.
//!
//! - `payments.rs` — `PaymentProvider`: create a checkout for credits or for
//!   saving a card, charge a saved card off-session.
//! - `carrier.rs` — `Carrier`: place a call with a time limit, end it, fetch
//!   its real state.
//! - `sandbox.rs` — the built-in payment provider used when Stripe is not
//!   configured; it lives here because its checkout page (`api/sandbox.rs`,
//!   `pages/sandbox_checkout.rs`) needs it.
//! - `sandbox_billing/` — the sandbox's subscriptions (Stripe Billing's part:
//!   subscriptions, invoices, the Billing Portal page and the test clock).
//!
//! The adapters that talk to the real world live in the `server` crate, one
//! folder per provider with its wire format and signature check:
//! `server/src/providers/stripe/` and `server/src/providers/twilio/` (which
//! also holds the simulated carrier, since it imitates Twilio's wire format
//! and nothing in `app` uses it). Money never moves in a provider: credits and
//! charges are posted by the services (`purchases.rs`, `calls.rs`) when the
//! provider's signed event arrives.

pub mod carrier;
pub mod payments;
pub mod sandbox;
pub mod sandbox_billing;
