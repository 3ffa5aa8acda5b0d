//! One module per route area.

pub mod account;
pub mod auth;
pub mod calls;
pub mod dialer;
pub mod invite;
pub mod not_found;
pub mod sandbox_checkout;
pub mod sandbox_portal;
pub mod settings;
pub mod wallet;
