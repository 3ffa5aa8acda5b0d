//! Organizations: switching between them, reading and changing their settings.
//! Every function takes the organization id explicitly and checks the caller's
//! membership of exactly that organization on the server.

use super::OrgSummary;
use crate::domain::Role;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub org: OrgSummary,
    pub members: Vec<MemberInfo>,
    /// The number the people called see: the platform's caller ID (one per
    /// deployment; a number of the organization's own would first have to
    /// be verified with the carrier, which is not offered).
    pub caller_id: String,
}

/// One line of the organization's audit trail, ready to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLine {
    pub audit_id: String,
    pub at: String,
    /// The person who made the change, "Phonebooth" for the system, or
    /// "deleted user" for an account that was erased.
    pub actor: String,
    pub what: String,
    pub detail: String,
}

/// How many audit entries the settings page shows.
pub const AUDIT_LINES: i64 = 50;

/// Makes `org_id` the organization the caller works in, then reloads the page they were on.
#[server(endpoint = "org/switch")]
pub async fn switch_org(org_id: String, next: Option<String>) -> Result<(), AppError> {
    ssr::switch_org(org_id, next).await
}

#[server(endpoint = "org/settings")]
pub async fn load_org_settings(org_id: String) -> Result<OrgSettings, AppError> {
    ssr::load_org_settings(org_id).await
}

/// Owners and admins only.
#[server(endpoint = "org/rename")]
pub async fn rename_org(org_id: String, name: String) -> Result<(), AppError> {
    ssr::rename_org(org_id, name).await
}

/// Owners and admins: the organization's newest audit entries, newest first.
#[server(endpoint = "org/audit")]
pub async fn load_audit_trail(org_id: String) -> Result<Vec<AuditLine>, AppError> {
    ssr::load_audit_trail(org_id).await
}

/// Creates a new organization owned by the caller and switches to it.
#[server(endpoint = "org/create")]
pub async fn create_org(name: String) -> Result<(), AppError> {
    ssr::create_org(name).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::{AuditAction, NextPath, OrgName};
    use crate::server::guard::{self, CURRENT_ORG_ID};
    use crate::server::{clock, dates, db, ids};

    pub async fn switch_org(org_id: String, next: Option<String>) -> Result<(), AppError> {
        let (member, _) = guard::require_member(&org_id).await?;
        let session = guard::session().await?;
        session.insert(CURRENT_ORG_ID, &member.org_id).await?;
        leptos_axum::redirect(NextPath::parse(next.as_deref()).as_str());
        Ok(())
    }

    pub async fn load_org_settings(org_id: String) -> Result<OrgSettings, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let name = db::orgs::name_of(&state.db.pool, &member.org_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let members = db::orgs::members(&state.db.pool, &member.org_id)
            .await?
            .into_iter()
            .map(|m| MemberInfo {
                name: m.name,
                email: m.email,
                role: m.role,
            })
            .collect();
        Ok(OrgSettings {
            org: OrgSummary {
                org_id: member.org_id,
                name,
                role: member.role,
            },
            members,
            caller_id: state.calling.caller_id.clone(),
        })
    }

    pub async fn rename_org(org_id: String, name: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let name = OrgName::parse(&name).map_err(|m| AppError::validation("name", m))?;
        let org_id = &admin.member().org_id;
        let mut tx = state.db.begin_write().await?;
        db::orgs::rename(&mut *tx, org_id, name.as_str()).await?;
        db::org_audit::record(
            &mut tx,
            org_id,
            Some(&admin.member().viewer.user.user_id),
            AuditAction::OrgRenamed,
            &format!("Renamed the organization to \"{}\"", name.as_str()),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(org_id = %admin.member().org_id, "organization renamed");
        Ok(())
    }

    pub async fn load_audit_trail(org_id: String) -> Result<Vec<AuditLine>, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let entries =
            db::org_audit::recent(&state.db.pool, &admin.member().org_id, AUDIT_LINES).await?;
        Ok(entries
            .into_iter()
            .map(|entry| AuditLine {
                audit_id: entry.audit_id,
                at: dates::display_time(entry.created_at_ms / 1000),
                actor: entry.actor.unwrap_or_else(|| "Phonebooth".to_owned()),
                what: entry.action.label().to_owned(),
                detail: entry.detail,
            })
            .collect())
    }

    pub async fn create_org(name: String) -> Result<(), AppError> {
        let (viewer, session, state) = guard::require_viewer().await?;
        let name = OrgName::parse(&name).map_err(|m| AppError::validation("name", m))?;
        let org_id = ids::new_id("org");
        let now = clock::now();
        let mut tx = state.db.begin_write().await?;
        db::orgs::insert(&mut *tx, &org_id, name.as_str(), false, now).await?;
        db::orgs::add_member(&mut *tx, &org_id, &viewer.user.user_id, Role::Owner, now).await?;
        tx.commit().await?;
        session.insert(CURRENT_ORG_ID, &org_id).await?;
        tracing::info!(%org_id, "organization created");
        leptos_axum::redirect("/settings");
        Ok(())
    }
}
