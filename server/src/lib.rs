//! The Phonebooth server: configuration, startup, routing and web security
//! around the `app` crate. `main.rs` is the command line; start at `startup.rs`.

pub mod allocator;
pub mod cache_control;
pub mod call_events;
pub mod config;
pub mod exports;
pub mod health;
pub mod http_limits;
pub mod jobs;
pub mod mail;
pub mod page_gate;
pub mod providers;
pub mod rates_import;
pub mod reactive_isolation;
pub mod server_fn_status;
pub mod session_member;
pub mod session_slide;
pub mod startup;
pub mod state;
pub mod store_outage;
pub mod telemetry;
pub mod web_security;
pub mod webhooks;
