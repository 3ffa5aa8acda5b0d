//! Organizations and who belongs to them. Every read here is scoped by an
//! organization id that a guard has already checked the caller belongs to.

use crate::domain::Role;
use sqlx::{Any, Executor, FromRow};

#[derive(Debug, FromRow)]
struct MembershipRow {
    org_id: String,
    name: String,
    role: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub org_id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, FromRow)]
struct MemberRow {
    user_id: String,
    name: String,
    email: String,
    role: String,
    created_at: i64,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: i64,
}

fn role_from_db(raw: &str) -> Result<Role, sqlx::Error> {
    // The column has a check constraint, so this only fails if the schema drifted.
    Role::parse(raw).map_err(|e| sqlx::Error::Decode(e.into()))
}

#[tracing::instrument(skip_all)]
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    name: &str,
    is_personal: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into org (org_id, name, is_personal, created_at) values ($1, $2, $3, $4)")
        .bind(org_id)
        .bind(name)
        .bind(i64::from(is_personal))
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn add_member<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    user_id: &str,
    role: Role,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into membership (org_id, user_id, role, created_at) values ($1, $2, $3, $4)",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The organizations a user belongs to: the personal one first, then by name.
#[tracing::instrument(skip_all)]
pub async fn memberships_of<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<Membership>, sqlx::Error> {
    let rows: Vec<MembershipRow> = sqlx::query_as(
        "select org.org_id, org.name, membership.role
           from membership join org on org.org_id = membership.org_id
          where membership.user_id = $1
          order by org.is_personal desc, org.name, org.org_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Membership {
                role: role_from_db(&row.role)?,
                org_id: row.org_id,
                name: row.name,
            })
        })
        .collect()
}

/// The caller's role in an organization, or None when they are not a member
/// (or the organization does not exist: the two are indistinguishable on purpose).
#[tracing::instrument(skip_all)]
pub async fn role_of<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<(String,)> =
        sqlx::query_as("select role from membership where org_id = $1 and user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    role.map(|(role,)| role_from_db(&role)).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn name_of<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let name: Option<(String,)> = sqlx::query_as("select name from org where org_id = $1")
        .bind(org_id)
        .fetch_optional(db)
        .await?;
    Ok(name.map(|(name,)| name))
}

#[tracing::instrument(skip_all)]
pub async fn rename<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update org set name = $1 where org_id = $2")
        .bind(name)
        .bind(org_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The organization's country (ISO 3166-1 alpha-2): the dialer's default for national numbers.
#[tracing::instrument(skip_all)]
pub async fn country_of<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select country from org where org_id = $1")
        .bind(org_id)
        .fetch_one(db)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn set_country<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    country: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update org set country = $1 where org_id = $2")
        .bind(country)
        .bind(org_id)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn members<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "select app_user.user_id, app_user.name, app_user.email, membership.role, membership.created_at
           from membership join app_user on app_user.user_id = membership.user_id
          where membership.org_id = $1
          order by membership.created_at, app_user.name",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Member {
                role: role_from_db(&row.role)?,
                user_id: row.user_id,
                name: row.name,
                email: row.email,
                joined_at: row.created_at,
            })
        })
        .collect()
}

/// Serializes changes to one organization's team and plan: every change to
/// who is in it (and in what role) and to its subscription takes this row
/// lock first, so counting owners or seats and acting on the count, or
/// comparing an event with the stored subscription and replacing it, happen
/// as one step on PostgreSQL too (SQLite's write transactions are serial
/// already). False when there is no such organization.
#[tracing::instrument(skip_all)]
pub async fn lock_team<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update org set seat_limit = seat_limit where org_id = $1")
        .bind(org_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The operator-set limit on members plus open invitations; None: unlimited.
#[tracing::instrument(skip_all)]
pub async fn seat_limit_override<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let limit: Option<(Option<i64>,)> =
        sqlx::query_as("select seat_limit from org where org_id = $1")
            .bind(org_id)
            .fetch_optional(db)
            .await?;
    Ok(limit.and_then(|(limit,)| limit))
}

#[tracing::instrument(skip_all)]
pub async fn count_members<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from membership where org_id = $1")
        .bind(org_id)
        .fetch_one(db)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn count_owners<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from membership where org_id = $1 and role = 'owner'")
        .bind(org_id)
        .fetch_one(db)
        .await
}

/// Whether the account with `email` is a member of `org_id`.
#[tracing::instrument(skip_all)]
pub async fn has_member_email<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    email: &str,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "select count(*) from membership join app_user on app_user.user_id = membership.user_id
          where membership.org_id = $1 and app_user.email = $2",
    )
    .bind(org_id)
    .bind(email)
    .fetch_one(db)
    .await?;
    Ok(count > 0)
}

#[tracing::instrument(skip_all)]
pub async fn set_role<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    user_id: &str,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update membership set role = $3 where org_id = $1 and user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn remove_member<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from membership where org_id = $1 and user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
