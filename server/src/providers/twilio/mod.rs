//! Twilio, and the simulated carrier that imitates it: browser access tokens
//! (`access_token.rs`), the REST client (`client.rs`), the wire format of status callbacks and TwiML (`wire.rs`),
//! the request signature (`signature.rs`) and the simulated carrier
//! (`simulated.rs`), which speaks the same wire format to our own webhook.

pub mod access_token;
pub mod client;
pub mod signature;
pub mod simulated;
pub mod wire;

pub use client::TwilioCarrier;
pub use simulated::{SimTiming, SimulatedCarrier};
