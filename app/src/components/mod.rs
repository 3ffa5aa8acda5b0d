//! Reusable pieces: the signed-in layout and form helpers.

pub mod form;
pub mod layout;
