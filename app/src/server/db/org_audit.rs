//! The organization audit trail: one row per change to who is in an
//! organization or what they may spend, written in the same transaction as
//! the change, never updated or deleted.

use crate::domain::{deleted_account, AuditAction};
use crate::server::clock;
use crate::server::ids::new_id;
use sqlx::{Any, AnyConnection, Executor, FromRow};

/// One entry as the settings page shows it. `actor` is the person's name
/// now, or `None` for a change the system made (no person behind it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub audit_id: String,
    pub actor: Option<String>,
    pub action: AuditAction,
    pub detail: String,
    pub created_at_ms: i64,
}

#[derive(FromRow)]
struct AuditRow {
    audit_id: String,
    actor: Option<String>,
    action: String,
    detail: String,
    created_at_ms: i64,
}

/// Records `action` by `actor_user_id` in `org_id` on `conn`, the
/// transaction of the change itself, so a change and its entry commit together.
#[tracing::instrument(skip_all, fields(action = action.as_str()))]
pub async fn record(
    conn: &mut AnyConnection,
    org_id: &str,
    actor_user_id: Option<&str>,
    action: AuditAction,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into org_audit (audit_id, org_id, actor_user_id, action, detail, created_at_ms)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id("aud"))
    .bind(org_id)
    .bind(actor_user_id)
    .bind(action.as_str())
    .bind(detail)
    .bind(clock::now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// The organization's newest `limit` entries, newest first. The actor's
/// name is read now, not copied, so an erased account shows as erased.
#[tracing::instrument(skip_all)]
pub async fn recent<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "select org_audit.audit_id, app_user.name as actor, org_audit.action,
                org_audit.detail, org_audit.created_at_ms
           from org_audit left join app_user on app_user.user_id = org_audit.actor_user_id
          where org_audit.org_id = $1
          order by org_audit.created_at_ms desc, org_audit.audit_id desc
          limit $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let action = AuditAction::parse(&row.action).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown audit action {:?}", row.action).into())
            })?;
            Ok(AuditEntry {
                audit_id: row.audit_id,
                actor: row.actor.map(deleted_account::shown_name),
                action,
                detail: row.detail,
                created_at_ms: row.created_at_ms,
            })
        })
        .collect()
}
