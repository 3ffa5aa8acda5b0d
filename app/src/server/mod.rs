//! Server-only code: the database, password hashing, the login throttle, the
//! session store and the guards server functions authorize with. Compiled only
//! with the `ssr` feature, so none of it (nor any secret) reaches the WASM build.
//!
//! Start with `state.rs` (what every request can reach) and `guard.rs` (who is
//! calling); `db/` holds the SQL, one module per aggregate.

pub mod call_views;
pub mod calls;
pub mod clock;
pub mod dates;
pub mod db;
pub mod guard;
pub mod ids;
pub mod paging;
pub mod password_hash;
pub mod phone;
pub mod providers;
pub mod purchases;
pub mod session_store;
pub mod state;
pub mod throttle;

pub use state::AppState;
