//! Twilio, and the simulated carrier that imitates it: browser access tokens
//! (`access_token.rs`), the REST client (`client.rs`), the wire format of
//! status callbacks, TwiML and Twilio's requests (`wire.rs`, with a sample
//! for the check against Twilio's own library in `wire_sample.rs`), the
//! request signature (`signature.rs`) and the simulated carrier
//! (`simulated.rs`), which speaks the same wire format to our own webhooks.

pub mod access_token;
pub mod client;
pub mod signature;
pub mod simulated;
pub mod wire;
mod wire_sample;

pub use client::TwilioCarrier;
pub use simulated::{SimTiming, SimulatedCarrier};
