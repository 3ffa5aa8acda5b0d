//! People: accounts, their credentials and the operator flag.

use sqlx::{Any, Executor, FromRow};

#[derive(Clone, Debug)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub name: String,
    /// Runs the platform (sees every organization); set from the command line.
    pub is_operator: bool,
}

/// The stored row: the flag is 0 or 1 on both databases.
#[derive(FromRow)]
struct UserRow {
    user_id: String,
    email: String,
    name: String,
    is_operator: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            user_id: row.user_id,
            email: row.email,
            name: row.name,
            is_operator: row.is_operator != 0,
        }
    }
}

#[derive(Debug, FromRow)]
pub struct Credentials {
    pub user_id: String,
    pub password_hash: String,
}

#[tracing::instrument(skip_all)]
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    email: &str,
    name: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into app_user (user_id, email, name, password_hash, is_operator, created_at)
         values ($1, $2, $3, $4, 0, $5)",
    )
    .bind(user_id)
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn credentials_by_email<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("select user_id, password_hash from app_user where email = $1")
        .bind(email)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> =
        sqlx::query_as("select user_id, email, name, is_operator from app_user where user_id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(User::from))
}

/// A new password (a reset); false when no such user exists.
#[tracing::instrument(skip_all)]
pub async fn set_password_hash<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update app_user set password_hash = $2 where user_id = $1")
        .bind(user_id)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks (or unmarks) a platform operator; returns false when no such email exists.
#[tracing::instrument(skip_all)]
pub async fn set_operator<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
    is_operator: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update app_user set is_operator = $1 where email = $2")
        .bind(i64::from(is_operator))
        .bind(email)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The platform operators' (email, name): told about money taken back from an organization.
#[tracing::instrument(skip_all)]
pub async fn operators<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("select email, name from app_user where is_operator = 1 order by email")
        .fetch_all(db)
        .await
}

/// The stored password hash of `user_id` (empty for an erased account).
#[tracing::instrument(skip_all)]
pub async fn password_hash_of<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select password_hash from app_user where user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// When `user_id` registered.
#[tracing::instrument(skip_all)]
pub async fn created_at_of<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select created_at from app_user where user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Erases what identifies a person, keeping the row the ledger and the
/// calls point at (`domain::deleted_account`): empty name, placeholder
/// email, and an empty password hash, which no password verifies.
#[tracing::instrument(skip_all)]
pub async fn erase<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    placeholder_email: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update app_user set name = '', email = $2, password_hash = '', is_operator = 0
          where user_id = $1",
    )
    .bind(user_id)
    .bind(placeholder_email)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
