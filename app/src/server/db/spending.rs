//! Spending controls (migration 0014): an organization's policy (default
//! cap, per-call maximum, country rule), its members' own caps, and what
//! counts against a cap: the charges of a member's calls that ended in a
//! period and the open holds of their live calls. The rules are
//! `crate::domain::spending`; the reads under the wallet lock are
//! `crate::server::spending`.

use crate::domain::spending::{CountryMode, CountryRule, DEFAULT_MAX_CALL_MINUTES};
use crate::domain::{Money, Role};
use sqlx::{AnyConnection, FromRow};
use std::collections::HashMap;

/// An organization's controls; the defaults when it never changed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub default_cap: Option<Money>,
    pub max_call_minutes: u32,
    pub rule: CountryRule,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_cap: None,
            max_call_minutes: DEFAULT_MAX_CALL_MINUTES,
            rule: CountryRule::default(),
        }
    }
}

#[derive(FromRow)]
struct PolicyRow {
    default_cap: Option<i64>,
    max_call_minutes: i64,
    country_mode: String,
}

#[tracing::instrument(skip_all)]
pub async fn policy(conn: &mut AnyConnection, org_id: &str) -> Result<Policy, sqlx::Error> {
    let row: Option<PolicyRow> = sqlx::query_as(
        "select default_cap, max_call_minutes, country_mode from spending_policy where org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Policy::default());
    };
    let countries: Vec<String> = sqlx::query_scalar(
        "select country_code from spending_country where org_id = $1 order by country_code",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?;
    // The table's checks keep both in range; a drifted row is a decode error.
    let mode = CountryMode::parse(&row.country_mode)
        .ok_or_else(|| sqlx::Error::Decode("unknown country_mode".into()))?;
    let max_call_minutes = u32::try_from(row.max_call_minutes)
        .map_err(|_| sqlx::Error::Decode("max_call_minutes out of range".into()))?;
    Ok(Policy {
        default_cap: row.default_cap.map(Money::from_micros),
        max_call_minutes,
        rule: CountryRule { mode, countries },
    })
}

/// Makes sure the organization has a policy row to update (the defaults).
async fn ensure_policy(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into spending_policy (org_id, updated_at) values ($1, $2)
         on conflict (org_id) do nothing",
    )
    .bind(org_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the default cap for people who join from now on. Every current
/// member without a cap of their own is first given the old default, so
/// existing memberships keep theirs.
#[tracing::instrument(skip_all)]
pub async fn set_default_cap(
    conn: &mut AnyConnection,
    org_id: &str,
    old: Option<Money>,
    new: Option<Money>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into member_cap (org_id, user_id, cap, updated_at)
         select membership.org_id, membership.user_id, $2, $3 from membership
          where membership.org_id = $1
            and not exists (select 1 from member_cap
                             where member_cap.org_id = membership.org_id
                               and member_cap.user_id = membership.user_id)",
    )
    .bind(org_id)
    .bind(old.map(Money::micros))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    ensure_policy(conn, org_id, now).await?;
    sqlx::query("update spending_policy set default_cap = $2, updated_at = $3 where org_id = $1")
        .bind(org_id)
        .bind(new.map(Money::micros))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn set_max_call_minutes(
    conn: &mut AnyConnection,
    org_id: &str,
    minutes: u32,
    now: i64,
) -> Result<(), sqlx::Error> {
    ensure_policy(conn, org_id, now).await?;
    sqlx::query(
        "update spending_policy set max_call_minutes = $2, updated_at = $3 where org_id = $1",
    )
    .bind(org_id)
    .bind(i64::from(minutes))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the country rule: its mode and its whole list.
#[tracing::instrument(skip_all)]
pub async fn set_country_rule(
    conn: &mut AnyConnection,
    org_id: &str,
    rule: &CountryRule,
    now: i64,
) -> Result<(), sqlx::Error> {
    ensure_policy(conn, org_id, now).await?;
    sqlx::query("update spending_policy set country_mode = $2, updated_at = $3 where org_id = $1")
        .bind(org_id)
        .bind(rule.mode.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from spending_country where org_id = $1")
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    for code in &rule.countries {
        sqlx::query("insert into spending_country (org_id, country_code) values ($1, $2)")
            .bind(org_id)
            .bind(code)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A member's cap: their own (which may be "no cap"), or the organization's
/// current default when they have none of their own.
#[tracing::instrument(skip_all)]
pub async fn cap_of(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
    policy: &Policy,
) -> Result<Option<Money>, sqlx::Error> {
    let own: Option<(Option<i64>,)> =
        sqlx::query_as("select cap from member_cap where org_id = $1 and user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(match own {
        Some((cap,)) => cap.map(Money::from_micros),
        None => policy.default_cap,
    })
}

#[tracing::instrument(skip_all)]
pub async fn set_member_cap(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
    cap: Option<Money>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into member_cap (org_id, user_id, cap, updated_at) values ($1, $2, $3, $4)
         on conflict (org_id, user_id) do update set cap = excluded.cap, updated_at = excluded.updated_at",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(cap.map(Money::micros))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a member's calls used in `[from, to)`: the charges of calls that
/// ended then, and their talk time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Used {
    pub spent: Money,
    pub talk_secs: i64,
    /// The open holds of their live calls (now, whatever the period).
    pub held: Money,
}

/// One member's use: `Used` for `user_id` alone.
#[tracing::instrument(skip_all)]
pub async fn used_by(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
    from: i64,
    to: i64,
) -> Result<Used, sqlx::Error> {
    let (spent, talk_secs): (i64, i64) = sqlx::query_as(
        "select cast(coalesce(sum(cost), 0) as bigint), cast(coalesce(sum(duration_secs), 0) as bigint)
           from call where org_id = $1 and user_id = $2 and ended_at >= $3 and ended_at < $4",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?;
    let held: i64 = sqlx::query_scalar(
        "select cast(coalesce(sum(hold.amount), 0) as bigint)
           from call join hold on hold.hold_id = call.hold_id
          where call.org_id = $1 and call.user_id = $2 and call.ended_at is null
            and hold.status = 'open'",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(Used {
        spent: Money::from_micros(spent),
        talk_secs,
        held: Money::from_micros(held),
    })
}

/// A member with their cap and what they used, for the usage view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberUse {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Their own cap row: `Some(cap)` (cap may be "no cap"), or None for
    /// "the organization's default".
    pub own_cap: Option<Option<Money>>,
    pub used: Used,
}

#[derive(FromRow)]
struct MemberCapRow {
    user_id: String,
    name: String,
    email: String,
    role: String,
    cap: Option<i64>,
    cap_set_at: Option<i64>,
}

/// Every member of the organization with their own cap and their use in
/// `[from, to)`, in the order they joined.
#[tracing::instrument(skip_all)]
pub async fn usage(
    conn: &mut AnyConnection,
    org_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<MemberUse>, sqlx::Error> {
    let members: Vec<MemberCapRow> = sqlx::query_as(
        "select membership.user_id, app_user.name, app_user.email, membership.role,
                member_cap.cap, member_cap.updated_at as cap_set_at
           from membership
           join app_user on app_user.user_id = membership.user_id
           left join member_cap on member_cap.org_id = membership.org_id
                               and member_cap.user_id = membership.user_id
          where membership.org_id = $1
          order by membership.created_at, app_user.name, membership.user_id",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?;
    let spent: Vec<(String, i64, i64)> = sqlx::query_as(
        "select user_id, cast(coalesce(sum(cost), 0) as bigint), cast(coalesce(sum(duration_secs), 0) as bigint)
           from call where org_id = $1 and ended_at >= $2 and ended_at < $3
          group by user_id",
    )
    .bind(org_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let held: Vec<(String, i64)> = sqlx::query_as(
        "select call.user_id, cast(coalesce(sum(hold.amount), 0) as bigint)
           from call join hold on hold.hold_id = call.hold_id
          where call.org_id = $1 and call.ended_at is null and hold.status = 'open'
          group by call.user_id",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?;
    let spent: HashMap<String, (i64, i64)> = spent
        .into_iter()
        .map(|(user, cost, secs)| (user, (cost, secs)))
        .collect();
    let held: HashMap<String, i64> = held.into_iter().collect();
    members
        .into_iter()
        .map(|row| {
            let (cost, talk_secs) = spent.get(&row.user_id).copied().unwrap_or((0, 0));
            let held = held.get(&row.user_id).copied().unwrap_or(0);
            Ok(MemberUse {
                role: Role::parse(&row.role).map_err(|e| sqlx::Error::Decode(e.into()))?,
                own_cap: row.cap_set_at.map(|_| row.cap.map(Money::from_micros)),
                used: Used {
                    spent: Money::from_micros(cost),
                    talk_secs,
                    held: Money::from_micros(held),
                },
                user_id: row.user_id,
                name: row.name,
                email: row.email,
            })
        })
        .collect()
}
