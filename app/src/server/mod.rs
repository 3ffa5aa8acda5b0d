//! Server-only code, compiled only with the `ssr` feature, so none of it (nor
//! any secret) reaches the WASM build.
//!
//! - `state.rs` (what every server function can reach) and `guard.rs` (who
//!   is calling, and in which organization).
//! - The services, where the rules live and which server functions and
//!   webhooks both call: `calls.rs` (a call's life and its money) and
//!   `purchases/` (money coming in: checkouts, credits, saved cards,
//!   auto-recharge).
//! - `providers/`: the contracts for the outside world (payments, carrier)
//!   and the payment sandbox; the real adapters are in `server/src/providers/`.
//! - `db/`: all SQL, one module per aggregate; `db/ledger.rs` is the only
//!   code that moves money.
//! - Helpers: `call_views.rs`, `dates.rs`, `paging.rs`, `phone.rs`, `ids.rs`,
//!   `clock.rs`, `html.rs` (escaping for HTML written by hand),
//!   `page_reads.rs` (reads shared by one page render), the session store, the login throttle and the client address
//!   it counts (`client_addr.rs`), password hashing.
//! - Mail: `mail.rs` writes messages (queued in `db/outbox.rs`, sent by the
//!   server's job runner); `password_reset.rs` is the reset-by-email flow.
//! - Teams: `team.rs` (invitations, roles, removal; the rules themselves are
//!   `domain::team_rules`) and `seats.rs` (the one seat check).
//! - Subscriptions: `subscriptions.rs` (the provider's subscription objects
//!   and invoices applied, the access state read) and `billing.rs` (what
//!   owners and admins change: seats, cancel, pause, portal, retry).

pub mod account;
pub mod billing;
pub mod call_views;
pub mod calls;
pub mod client_addr;
pub mod clock;
pub mod dates;
pub mod db;
pub mod guard;
pub mod html;
pub mod ids;
pub mod mail;
pub mod page_reads;
pub mod paging;
pub mod password_hash;
pub mod password_reset;
pub mod phone;
pub mod providers;
pub mod purchases;
pub mod seats;
pub mod session_store;
pub mod spending;
pub mod state;
pub mod subscriptions;
pub mod team;
pub mod throttle;

pub use state::AppState;
