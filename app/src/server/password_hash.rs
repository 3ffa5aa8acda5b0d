//! Argon2id password hashing (m = 19456 KiB, t = 2, p = 1, the OWASP baseline),
//! always on the blocking pool so a login never stalls the async threads.
//!
//! Each hash takes 19 MiB while it runs, so hashes run under a small
//! concurrency limit (`HashGate`): at most 2 to 4 at once (the number of
//! CPUs, within those bounds), with a bounded queue behind them. A request
//! that finds the queue full is answered `AppError::Unavailable` (503) at
//! once, so no burst of logins or sign-ups can take the machine's memory.

use crate::domain::Password;
use crate::error::AppError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Arc, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hashes that may wait for a slot, beyond those running.
pub const MAX_QUEUED_HASHES: usize = 64;

/// At most `running` hashes at once and `running + queued` admitted.
#[derive(Debug)]
pub struct HashGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl HashGate {
    pub fn new(running: usize, queued: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(Semaphore::new(running + queued)),
        }
    }

    /// The process-wide gate: 2 to 4 hashes at once, as many as there are CPUs.
    pub fn global() -> &'static HashGate {
        static GATE: OnceLock<HashGate> = OnceLock::new();
        GATE.get_or_init(|| {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            HashGate::new(cpus.clamp(2, 4), MAX_QUEUED_HASHES)
        })
    }

    /// Waits for a slot, or refuses at once when the queue is full. The
    /// permits travel with the blocking task, so a request that goes away
    /// frees its slot only when its hash is really done.
    async fn enter(&self) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), AppError> {
        let ticket = self.admitted.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!("password hashing queue full; answering 503");
            AppError::Unavailable
        })?;
        let slot = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AppError::Internal)?;
        Ok((ticket, slot))
    }
}

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

pub async fn hash(password: Password) -> Result<String, AppError> {
    hash_in(HashGate::global(), password).await
}

pub async fn hash_in(gate: &HashGate, password: Password) -> Result<String, AppError> {
    let permits = gate.enter().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let hashed = hash_blocking(password.expose());
        drop(permits);
        hashed
    })
    .await
    .expect("the hashing task does not panic"))
}

/// Checks `candidate` against `stored`, or against the dummy hash when there is
/// no account, so both answers take the same time. Returns false for no account.
pub async fn verify(candidate: String, stored: Option<String>) -> Result<bool, AppError> {
    let permits = HashGate::global().enter().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let _permits = permits;
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
    .expect("the verify task does not panic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() {
        let stored = hash(Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse battery".into(), Some(stored))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("phonebooth-dummy-password-for-timing".into(), None)
            .await
            .unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_beyond_the_running_and_queued_limit_are_refused_as_unavailable() {
        let gate = Arc::new(HashGate::new(1, 2));
        let password = || Password::parse("correct horse battery").unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { hash_in(&gate, password()).await })
            })
            .collect();
        let mut hashed = 0;
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => hashed += 1,
                Err(AppError::Unavailable) => refused += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((hashed, refused), (3, 3));
        // Once the burst is over, the gate admits again.
        assert!(hash_in(&gate, password()).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_the_gate_allows() {
        let gate = HashGate::new(2, 100);
        let mut entered = Vec::new();
        for _ in 0..2 {
            entered.push(gate.enter().await.unwrap());
        }
        // A third waits (it is queued, not refused) until a slot frees.
        let third = tokio::time::timeout(std::time::Duration::from_millis(100), gate.enter()).await;
        assert!(third.is_err(), "a third hash ran while two were running");
        entered.pop();
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), gate.enter()).await;
        assert!(third.unwrap().is_ok());
    }
}
