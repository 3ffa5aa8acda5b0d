//! Stripe: the payment provider's API client (`client.rs`) and the webhook
//! signature scheme (`signature.rs`). The events themselves are read and
//! applied by `webhooks/stripe.rs`.

pub mod client;
pub mod signature;

pub use client::StripeProvider;
