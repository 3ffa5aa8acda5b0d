//! Password reset by email. Asking sends a link with a random 32-byte token
//! to the address, if it has an account; the answer is the same either way.
//! Only the token's SHA-256 is stored; the link works once, for 30 minutes.
//! Setting the new password (same rules as registration) ends every session
//! of the account and every other outstanding link. Requests are throttled
//! per email and per address (`throttle::begin_password_reset`).

use super::client_addr::ClientAddress;
use super::db::{self, Db};
use super::{mail, password_hash, throttle};
use crate::domain::{EmailAddress, Password};
use crate::error::AppError;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const VALID_FOR_SECS: i64 = 30 * 60;

/// The page a reset link opens; the token is its `token` query parameter.
pub const RESET_PATH: &str = "/reset-password";

/// A new token: 32 random bytes, hex (also an invitation link's).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What is stored for a token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Mails a reset link to `email` if it has an account; does nothing more
/// otherwise. The token and its mail are written in one transaction.
pub async fn request(
    db: &Db,
    public_url: &str,
    email: &EmailAddress,
    client: &ClientAddress,
    now: i64,
) -> Result<(), AppError> {
    throttle::begin_password_reset(db, email.as_str(), client, now).await?;
    let Some(credentials) = db::users::credentials_by_email(&db.pool, email.as_str()).await? else {
        tracing::info!(ip = %client.ip, "password reset asked for an address without an account");
        return Ok(());
    };
    let user_id = credentials.user_id;
    let Some(user) = db::users::by_id(&db.pool, &user_id).await? else {
        return Ok(());
    };
    let token = new_token();
    let link = mail::link(public_url, &format!("{RESET_PATH}?token={token}"));
    let message = mail::password_reset(&user.name, &link, VALID_FOR_SECS / 60);
    let mut tx = db.begin_write().await?;
    db::password_resets::insert(
        &mut *tx,
        &token_hash(&token),
        &user_id,
        now,
        now + VALID_FOR_SECS,
    )
    .await?;
    let email_id = db::outbox::queue(&mut tx, &message.to(&user.email), now).await?;
    tx.commit().await?;
    // Never the token or the link: only which message carries it.
    tracing::info!(%user_id, %email_id, "password reset mail queued");
    Ok(())
}

/// A reset link for `email` made by someone who runs the server (the
/// command line, `phonebooth admin reset-link`), for a deployment that sends
/// no mail: the same single-use, 30-minute link as the mailed one, returned
/// instead of mailed. None when the address has no account.
pub async fn issue_link(
    db: &Db,
    public_url: &str,
    email: &EmailAddress,
    now: i64,
) -> Result<Option<String>, AppError> {
    let Some(credentials) = db::users::credentials_by_email(&db.pool, email.as_str()).await? else {
        return Ok(None);
    };
    let token = new_token();
    db::password_resets::insert(
        &db.pool,
        &token_hash(&token),
        &credentials.user_id,
        now,
        now + VALID_FOR_SECS,
    )
    .await?;
    tracing::info!(user_id = %credentials.user_id, "password reset link issued from the command line");
    Ok(Some(mail::link(
        public_url,
        &format!("{RESET_PATH}?token={token}"),
    )))
}

/// Whether `token` can still reset a password (the page checks before
/// showing its form).
pub async fn is_usable(db: &Db, token: &str, now: i64) -> Result<bool, AppError> {
    Ok(
        db::password_resets::usable_user(&db.pool, &token_hash(token), now)
            .await?
            .is_some(),
    )
}

/// Sets the new password if `token` is usable, ending every session of the
/// account and every other link.
pub async fn complete(db: &Db, token: &str, password: Password, now: i64) -> Result<(), AppError> {
    let hash = token_hash(token);
    if db::password_resets::usable_user(&db.pool, &hash, now)
        .await?
        .is_none()
    {
        return Err(unusable());
    }
    // The slow hash runs outside the transaction; the token is used inside
    // it, so two submissions of one link cannot both succeed.
    let password_hash = password_hash::hash(password).await?;
    let mut tx = db.begin_write().await?;
    let Some(user_id) = db::password_resets::usable_user(&mut *tx, &hash, now).await? else {
        return Err(unusable());
    };
    if !db::password_resets::use_token(&mut *tx, &hash, now).await? {
        return Err(unusable());
    }
    db::users::set_password_hash(&mut *tx, &user_id, &password_hash).await?;
    db::password_resets::use_all_of(&mut *tx, &user_id, now).await?;
    let ended = db::sessions::delete_for_user(&mut *tx, &user_id).await?;
    tx.commit().await?;
    tracing::info!(%user_id, sessions_ended = ended, "password reset");
    Ok(())
}

fn unusable() -> AppError {
    AppError::validation(
        "token",
        "this reset link has expired or was already used; ask for a new one",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_stored_only_as_their_sha256() {
        let a = super::new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, super::new_token());
        let hash = super::token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, a);
        assert_eq!(
            super::token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
