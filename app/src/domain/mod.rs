//! Types compiled for both the server and the browser that parse instead of
//! validate: once you hold an `EmailAddress` or a `Password`, it is valid.
//! Each has one fallible constructor and its tests beside it.

pub mod call_status;
mod carrier_mode;
pub mod cost_breakdown;
mod email;
mod form_key;
mod money;
mod names;
mod next_path;
mod password;
pub mod rating;
mod role;

pub use call_status::{CallStatus, EndReason};
pub use carrier_mode::CarrierMode;
pub use email::EmailAddress;
pub use form_key::FormKey;
pub use money::{Money, MICROS_PER_CREDIT, MICROS_PER_DOLLAR};
pub use names::{OrgName, PersonName};
pub use next_path::NextPath;
pub use password::Password;
pub use role::Role;
