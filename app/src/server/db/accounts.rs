//! What deleting an account or exporting its data reads and writes across
//! memberships: the organizations it would leave ownerless, and leaving them all.

use sqlx::{Any, Executor, FromRow};

/// The names of organizations where `user_id` is the only owner and someone
/// else is still a member: deleting the account would leave them ownerless.
#[tracing::instrument(skip_all)]
pub async fn orgs_it_alone_owns_with_others<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select org.name from membership mine join org on org.org_id = mine.org_id
          where mine.user_id = $1 and mine.role = 'owner'
            and not exists (select 1 from membership other
                             where other.org_id = mine.org_id and other.user_id <> $1
                               and other.role = 'owner')
            and exists (select 1 from membership other
                         where other.org_id = mine.org_id and other.user_id <> $1)
          order by org.name, org.org_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One membership as the data export shows it.
#[derive(Debug, FromRow)]
pub struct MembershipRecord {
    pub org_id: String,
    pub org_name: String,
    pub role: String,
    pub joined_at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn memberships<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<MembershipRecord>, sqlx::Error> {
    sqlx::query_as(
        "select org.org_id, org.name as org_name, membership.role,
                membership.created_at as joined_at
           from membership join org on org.org_id = membership.org_id
          where membership.user_id = $1
          order by membership.created_at, org.org_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Ends every membership of `user_id`; returns how many.
#[tracing::instrument(skip_all)]
pub async fn leave_every_org<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from membership where user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Locks the row of every organization `user_id` belongs to, so the owner
/// count checked before leaving them cannot change until the transaction
/// ends on PostgreSQL either (SQLite's write transactions are serial
/// already). The same row the team changes of an organization lock.
#[tracing::instrument(skip_all)]
pub async fn lock_orgs_of<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update org set name = name
          where org_id in (select org_id from membership where user_id = $1)",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}
