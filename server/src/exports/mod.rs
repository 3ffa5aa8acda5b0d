//! The CSV downloads: `GET /wallet/history.csv` (`wallet.rs`, the ledger
//! history) and `GET /calls.csv` (`calls.rs`, the call history). Each streams
//! every row its page's filters match, in the page's order, a page of rows
//! at a time (`csv::stream_rows`), and answers alike (`csv.rs`): 401 without
//! a session user, 404 for an organization the user does not belong to
//! (`session_member`), 422 naming the field for a bad filter or a range
//! beyond the export limits (366 days, 100,000 rows), otherwise an RFC 4180
//! file whose text cells are defused against spreadsheet formulas.
//!
//! `GET /account-data.json` (`account.rs`) is the signed-in person's own
//! data as JSON.
//!
//! Plain routes rather than server functions because the browser must get a
//! file with a `Content-Disposition`.

pub mod account;
pub mod calls;
pub mod csv;
pub mod wallet;
