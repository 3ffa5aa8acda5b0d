//! Argon2id password hashing (m = 19456 KiB, t = 2, p = 1, the OWASP baseline),
//! always on the blocking pool so a login never stalls the async threads.

use crate::domain::Password;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

/// A hash of a throwaway password, so a login for an unknown email costs the
/// same time as one for a known email with a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("phonebooth-dummy-password-for-timing"))
}

/// Computes the dummy hash ahead of the first login (call at startup).
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(dummy_hash).await;
}

pub async fn hash(password: Password) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(password.expose()))
        .await
        .expect("the hashing task does not panic")
}

/// Checks `candidate` against `stored`, or against the dummy hash when there is
/// no account, so both answers take the same time. Returns false for no account.
pub async fn verify(candidate: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let account_exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let matches = PasswordHash::new(&stored)
            .map(|parsed| {
                argon2()
                    .verify_password(candidate.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        account_exists && matches
    })
    .await
    .expect("the verify task does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() {
        let stored = hash(Password::parse("correct horse battery").unwrap()).await;
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(stored)).await);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("phonebooth-dummy-password-for-timing".into(), None).await);
    }
}
