//! Server functions, one file per resource. Each authorizes first (a guard from
//! `server::guard`), parses second (domain types), delegates third (`server::db`).

pub mod account;
pub mod auth;
pub mod billing;
pub mod call_history;
pub mod call_rating;
pub mod calls;
pub mod mail;
pub mod org;
pub mod platform;
pub mod purchases;
pub mod sandbox;
pub mod spending;
pub mod team;
pub mod wallet;

use crate::domain::Role;
use serde::{Deserialize, Serialize};

/// An organization as its members see it in the switcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    pub org_id: String,
    pub name: String,
    pub role: Role,
}
