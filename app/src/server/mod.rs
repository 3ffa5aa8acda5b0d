//! Server-only code: the database, password hashing, the login throttle, the
//! session store and the guards server functions authorize with. Compiled only
//! with the `ssr` feature, so none of it (nor any secret) reaches the WASM build.
//!
//! Start with `state.rs` (what every request can reach) and `guard.rs` (who is
//! calling); `db/` holds the SQL, one module per aggregate.

pub mod auto_recharge;
pub mod calls;
pub mod carrier;
pub mod clock;
pub mod db;
pub mod guard;
pub mod ids;
pub mod password_hash;
pub mod payments;
pub mod phone;
pub mod sandbox;
pub mod session_store;
pub mod simulated_carrier;
pub mod state;
pub mod throttle;

pub use state::AppState;
