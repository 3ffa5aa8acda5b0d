//! Stripe: the payment provider's API client (`client.rs`, with the Team
//! plan's subscription calls in `subscriptions.rs`) and the webhook
//! signature scheme (`signature.rs`). The events themselves are read and
//! applied by `webhooks/stripe.rs`.

pub mod client;
pub mod signature;
mod subscriptions;

pub use client::StripeProvider;
