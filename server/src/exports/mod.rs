//! The CSV downloads: `GET /wallet/history.csv` (`wallet.rs`, the ledger
//! history) and `GET /calls.csv` (`calls.rs`, the call history). Each reads
//! every row its page's filters match, through the same queries as the page,
//! and answers alike (`csv.rs`): 401 without a session user, 404 for an
//! organization the user does not belong to (`session_member`), 422 naming
//! the field for a bad filter, otherwise an RFC 4180 file whose text cells
//! are defused against spreadsheet formulas.
//!
//! Plain routes rather than server functions because the browser must get a
//! file with a `Content-Disposition`.

pub mod calls;
pub mod csv;
pub mod wallet;
