//! Seats: how many people an organization may hold. Members plus open
//! invitations count; an invitation that would go over the limit is refused.
//!
//! This is the one place the limit is decided and checked. The limit is the
//! plan's (`AccessState::seat_limit`: the subscription's paid seats, or the
//! Free plan's one), unless an operator set `org.seat_limit` for the
//! organization, which then wins.

use super::db;
use super::subscriptions::{self, OrgAccess};
use crate::error::AppError;
use sqlx::AnyConnection;

/// The organization's seat limit now.
pub async fn seat_limit(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
    grace_secs: i64,
) -> Result<u32, AppError> {
    let access = subscriptions::access(conn, org_id, now, grace_secs).await?;
    limit_of(conn, org_id, &access).await
}

/// The operator's override, or the plan's seats.
async fn limit_of(
    conn: &mut AnyConnection,
    org_id: &str,
    access: &OrgAccess,
) -> Result<u32, AppError> {
    if let Some(limit) = db::orgs::seat_limit_override(&mut *conn, org_id).await? {
        return Ok(u32::try_from(limit.max(0)).unwrap_or(u32::MAX));
    }
    let seats = access.subscription.as_ref().map_or(0, |s| s.quantity);
    Ok(access.state.seat_limit(seats))
}

/// Refuses one more seat (an invitation) when members plus open invitations
/// already fill the limit, or when the access state refuses invitations (a
/// payment is overdue). Run inside the inviting transaction, after
/// `db::orgs::lock_team`, so two invitations cannot take the last seat.
pub async fn check_seat_available(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
    grace_secs: i64,
) -> Result<(), AppError> {
    let access = subscriptions::access(conn, org_id, now, grace_secs).await?;
    if let Some(reason) = access.state.invitation_refusal() {
        return Err(AppError::conflict("subscription", reason));
    }
    let limit = limit_of(conn, org_id, &access).await?;
    let members = db::orgs::count_members(&mut *conn, org_id).await?;
    let invited = db::invitations::count_open(&mut *conn, org_id, now).await?;
    if members + invited >= i64::from(limit) {
        let message = if limit <= 1 && !access.state.is_subscribed() {
            "the Free plan has one seat: subscribe to the Team plan (Settings, Billing) to \
             invite colleagues"
                .to_owned()
        } else {
            format!(
                "all {limit} seats are taken ({members} members, {invited} open invitations); \
                 add seats in Settings, Billing, or revoke an invitation or remove a member first"
            )
        };
        return Err(AppError::conflict("seat_limit", message));
    }
    Ok(())
}
