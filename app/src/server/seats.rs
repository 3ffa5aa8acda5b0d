//! Seats: how many people an organization may hold. Members plus open
//! invitations count; an invitation that would go over the limit is refused.
//!
//! This is the one place the limit is decided and checked. Today the limit
//! is the operator-set `org.seat_limit` (null: unlimited, the default). The
//! subscriptions work will feed `seat_limit` from the plan's paid seats
//! (e.g. Stripe subscription quantity) without touching any caller.

use super::db;
use crate::error::AppError;
use sqlx::AnyConnection;

/// The organization's seat limit; None means unlimited.
pub async fn seat_limit(conn: &mut AnyConnection, org_id: &str) -> Result<Option<u32>, AppError> {
    let limit = db::orgs::seat_limit_override(&mut *conn, org_id).await?;
    Ok(limit.map(|limit| u32::try_from(limit.max(0)).unwrap_or(u32::MAX)))
}

/// Refuses one more seat (an invitation) when members plus open invitations
/// already fill the limit. Run inside the inviting transaction, after
/// `db::orgs::lock_team`, so two invitations cannot take the last seat.
pub async fn check_seat_available(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let Some(limit) = seat_limit(conn, org_id).await? else {
        return Ok(());
    };
    let members = db::orgs::count_members(&mut *conn, org_id).await?;
    let invited = db::invitations::count_open(&mut *conn, org_id, now).await?;
    if members + invited >= i64::from(limit) {
        return Err(AppError::conflict(
            "seat_limit",
            format!(
                "all {limit} seats are taken ({members} members, {invited} open invitations); \
                 revoke an invitation or remove a member first"
            ),
        ));
    }
    Ok(())
}
