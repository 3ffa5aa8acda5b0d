//! Spending controls: what a member's calls may spend this month, how long
//! one call may last, and which countries may be called (README, "Spending
//! controls"). Owners and admins read everyone's use and change the
//! controls; a plain member reads only their own cap and use. Admins cannot
//! touch owners: they may set the cap of an admin or a member (their own
//! too), never an owner's. Every change writes its audit entry in its own
//! transaction. The controls are enforced in `server::calls` (`authorize`).

use crate::domain::spending::CountryMode;
use crate::domain::{Money, Role};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One member's cap and use this month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUsage {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Their cap now; None: no cap.
    pub cap: Option<Money>,
    /// The cap is the organization's default (they have none of their own).
    pub cap_is_default: bool,
    /// Charges of their calls that ended this month.
    pub spent: Money,
    /// Open holds of their live calls.
    pub held: Money,
    /// Talk time of those calls, whole minutes.
    pub minutes: i64,
    /// The viewer may change this member's cap.
    pub editable: bool,
    pub is_you: bool,
}

/// A country the rule can name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCountry {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendingView {
    /// The viewer is an owner or admin: everyone's use and the forms.
    pub manages: bool,
    /// "December 2026" (UTC).
    pub month: String,
    pub default_cap: Option<Money>,
    pub max_call_minutes: u32,
    pub country_mode: CountryMode,
    /// The rule's list, as codes.
    pub countries: Vec<String>,
    /// The countries the rate deck serves, by name.
    pub known_countries: Vec<RuleCountry>,
    /// Everyone for owners and admins; only the viewer for a plain member.
    pub members: Vec<MemberUsage>,
}

#[server(endpoint = "spending/load")]
pub async fn load_spending(org_id: String) -> Result<SpendingView, AppError> {
    ssr::load_spending(org_id).await
}

/// Owners and admins: one member's monthly cap ("" or "none" for no cap).
#[server(endpoint = "spending/member-cap")]
pub async fn set_member_cap(org_id: String, user_id: String, cap: String) -> Result<(), AppError> {
    ssr::set_member_cap(org_id, user_id, cap).await
}

/// Owners and admins: the cap people get when they join from now on.
#[server(endpoint = "spending/default-cap")]
pub async fn set_default_cap(org_id: String, cap: String) -> Result<(), AppError> {
    ssr::set_default_cap(org_id, cap).await
}

/// Owners and admins: the longest one call may last, in minutes (1–240).
#[server(endpoint = "spending/call-limit")]
pub async fn set_call_limit(org_id: String, minutes: String) -> Result<(), AppError> {
    ssr::set_call_limit(org_id, minutes).await
}

/// Owners and admins: which destination countries may be called. `mode` is
/// all, allow or deny; `countries` is a comma-separated list of codes or
/// names from the rate deck.
#[server(endpoint = "spending/country-rule")]
pub async fn set_country_rule(
    org_id: String,
    mode: String,
    countries: Option<String>,
) -> Result<(), AppError> {
    ssr::set_country_rule(org_id, mode, countries.unwrap_or_default()).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::spending::{self, cap_text, CountryRule, Minutes};
    use crate::domain::AuditAction;
    use crate::server::guard::{self, OrgAdmin};
    use crate::server::{clock, dates, db, spending::month_of};
    use sqlx::AnyConnection;

    pub async fn load_spending(org_id: String) -> Result<SpendingView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let now = clock::now();
        let (from, to) = month_of(now);
        let mut conn = state.db.pool.acquire().await?;
        let policy = db::spending::policy(&mut conn, &member.org_id).await?;
        let usage = db::spending::usage(&mut conn, &member.org_id, from, to).await?;
        let known_countries = db::rates::countries(&mut *conn)
            .await?
            .into_iter()
            .map(|(code, name)| RuleCountry { code, name })
            .collect();
        let manages = member.role.can_manage_org();
        let you = &member.viewer.user.user_id;
        let members = usage
            .into_iter()
            .filter(|m| manages || &m.user_id == you)
            .map(|m| MemberUsage {
                cap: m.own_cap.unwrap_or(policy.default_cap),
                cap_is_default: m.own_cap.is_none(),
                spent: m.used.spent,
                held: m.used.held,
                minutes: m.used.talk_secs / 60,
                editable: may_set_cap(member.role, m.role),
                is_you: &m.user_id == you,
                user_id: m.user_id,
                name: m.name,
                email: m.email,
                role: m.role,
            })
            .collect();
        let month = dates::date_of(from);
        Ok(SpendingView {
            manages,
            month: format!("{} {}", month.month(), month.year()),
            default_cap: policy.default_cap,
            max_call_minutes: policy.max_call_minutes,
            country_mode: policy.rule.mode,
            countries: policy.rule.countries,
            known_countries,
            members,
        })
    }

    /// Owners set anyone's cap; admins anyone's but an owner's; members none.
    fn may_set_cap(actor: Role, target: Role) -> bool {
        match actor {
            Role::Owner => true,
            Role::Admin => target != Role::Owner,
            Role::Member => false,
        }
    }

    fn cap_field(field: &str, raw: &str) -> Result<Option<Money>, AppError> {
        spending::parse_cap(raw).map_err(|message| AppError::validation(field, message))
    }

    async fn audit(
        conn: &mut AnyConnection,
        admin: &OrgAdmin,
        action: AuditAction,
        detail: &str,
    ) -> Result<(), AppError> {
        let member = admin.member();
        db::org_audit::record(
            conn,
            &member.org_id,
            Some(&member.viewer.user.user_id),
            action,
            detail,
        )
        .await?;
        Ok(())
    }

    pub async fn set_member_cap(
        org_id: String,
        user_id: String,
        cap: String,
    ) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let cap = cap_field("cap", &cap)?;
        let org_id = &admin.member().org_id;
        let now = clock::now();
        let mut tx = state.db.begin_write().await?;
        let target = db::orgs::members(&mut *tx, org_id)
            .await?
            .into_iter()
            .find(|m| m.user_id == user_id)
            .ok_or(AppError::NotFound)?;
        if !may_set_cap(admin.member().role, target.role) {
            return Err(AppError::Forbidden);
        }
        let policy = db::spending::policy(&mut tx, org_id).await?;
        let before = db::spending::cap_of(&mut tx, org_id, &user_id, &policy).await?;
        db::spending::set_member_cap(&mut tx, org_id, &user_id, cap, now).await?;
        let detail = format!(
            "Monthly cap of {} ({}) changed from {} to {}",
            target.name,
            target.email,
            cap_text(before),
            cap_text(cap)
        );
        audit(&mut tx, &admin, AuditAction::CapChanged, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_default_cap(org_id: String, cap: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let cap = cap_field("default_cap", &cap)?;
        let org_id = &admin.member().org_id;
        let now = clock::now();
        let mut tx = state.db.begin_write().await?;
        let before = db::spending::policy(&mut tx, org_id).await?.default_cap;
        db::spending::set_default_cap(&mut tx, org_id, before, cap, now).await?;
        let detail = format!(
            "Default monthly cap for people who join changed from {} to {}; current members keep theirs",
            cap_text(before),
            cap_text(cap)
        );
        audit(&mut tx, &admin, AuditAction::DefaultCapChanged, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_call_limit(org_id: String, minutes: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let minutes = spending::parse_call_minutes(&minutes)
            .map_err(|message| AppError::validation("minutes", message))?;
        let org_id = &admin.member().org_id;
        let now = clock::now();
        let mut tx = state.db.begin_write().await?;
        let before = db::spending::policy(&mut tx, org_id)
            .await?
            .max_call_minutes;
        db::spending::set_max_call_minutes(&mut tx, org_id, minutes, now).await?;
        let detail = format!(
            "Each call is now limited to {} (was {})",
            Minutes(minutes),
            Minutes(before)
        );
        audit(&mut tx, &admin, AuditAction::CallLimitChanged, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_country_rule(
        org_id: String,
        mode: String,
        countries: String,
    ) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let mode = CountryMode::parse(&mode)
            .ok_or_else(|| AppError::validation("mode", "choose allow all, allow only, or deny"))?;
        let known = db::rates::countries(&state.db.pool).await?;
        let codes = parse_countries(&countries, &known)?;
        if mode != CountryMode::All && codes.is_empty() {
            return Err(AppError::validation(
                "countries",
                "list at least one country for this rule",
            ));
        }
        let rule = CountryRule {
            mode,
            countries: codes,
        };
        let org_id = &admin.member().org_id;
        let now = clock::now();
        let mut tx = state.db.begin_write().await?;
        let before = db::spending::policy(&mut tx, org_id).await?.rule;
        db::spending::set_country_rule(&mut tx, org_id, &rule, now).await?;
        let detail = format!(
            "Destination countries: {} (was: {})",
            describe(&rule, &known),
            describe(&before, &known)
        );
        audit(&mut tx, &admin, AuditAction::CountryRuleChanged, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// "DE, france" → ["DE", "FR"]: codes or names of the deck's countries,
    /// separated by commas, sorted, each once. An unknown one is refused.
    fn parse_countries(raw: &str, known: &[(String, String)]) -> Result<Vec<String>, AppError> {
        let mut codes = Vec::new();
        for token in raw.split([',', '\n', ';']).map(str::trim) {
            if token.is_empty() {
                continue;
            }
            let found = known.iter().find(|(code, name)| {
                code.eq_ignore_ascii_case(token) || name.eq_ignore_ascii_case(token)
            });
            match found {
                Some((code, _)) => codes.push(code.clone()),
                None => {
                    return Err(AppError::validation(
                        "countries",
                        format!("We do not call \"{token}\": use the countries listed."),
                    ))
                }
            }
        }
        codes.sort();
        codes.dedup();
        Ok(codes)
    }

    /// "allow only Germany, France" for the audit trail.
    fn describe(rule: &CountryRule, known: &[(String, String)]) -> String {
        let names = rule
            .countries
            .iter()
            .map(|code| {
                known
                    .iter()
                    .find(|(known, _)| known == code)
                    .map_or(code.as_str(), |(_, name)| name.as_str())
            })
            .collect::<Vec<_>>()
            .join(", ");
        match rule.mode {
            CountryMode::All => "allow every country".to_owned(),
            CountryMode::Allow => format!("allow only {names}"),
            CountryMode::Deny => format!("allow every country except {names}"),
        }
    }
}
