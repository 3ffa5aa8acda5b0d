//! Types compiled for both the server and the browser that parse instead of
//! validate: once you hold an `EmailAddress` or a `Password`, it is valid.
//! Each has one fallible constructor and its tests beside it.

pub mod access_state;
mod audit_action;
pub mod call_status;
mod carrier_mode;
pub mod cost_breakdown;
pub mod deleted_account;
mod email;
mod form_key;
pub mod invitation_status;
mod money;
mod names;
mod next_path;
mod password;
pub mod plan;
pub mod rating;
mod role;
pub mod spending;
pub mod team_rules;

pub use audit_action::AuditAction;
pub use call_status::{CallStatus, EndReason};
pub use carrier_mode::CarrierMode;
pub use email::EmailAddress;
pub use form_key::FormKey;
pub use invitation_status::InvitationStatus;
pub use money::{Money, MICROS_PER_CREDIT, MICROS_PER_DOLLAR};
pub use names::{OrgName, PersonName};
pub use next_path::NextPath;
pub use password::Password;
pub use plan::PlanInterval;
pub use role::Role;

/// How many recent calls the dialer lists (the live stream keeps a few more,
/// so a list that just lost one to a new call can still be filled).
pub const RECENT_CALLS: i64 = 8;
