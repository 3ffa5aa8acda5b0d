//! Reusable pieces: the signed-in layout and form helpers, loading the current
//! organization's data, and what several pages share (the history filters
//! and page links, the one-record page frame, money as text). Pages import
//! shared pieces from here, never from another page.

pub mod call_rating;
pub mod current_org;
pub mod filters;
pub mod form;
pub mod layout;
pub mod money;
pub mod pagination;
pub mod record;
