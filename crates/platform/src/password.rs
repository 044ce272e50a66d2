//! Password hashing with argon2id at the OWASP parameters (19 MiB, 2 passes, 1 lane).
//!
//! Hashing is deliberately slow and memory-hungry, so it runs on the blocking pool behind a
//! semaphore the size of the core count: a login flood queues here instead of starving the async
//! runtime or using unbounded memory (19 MiB per hash in flight).

use crate::error::Internal;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the account does not exist so
    /// that "no such user" costs the same time as "wrong password".
    dummy: Arc<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

fn argon() -> Argon2<'static> {
    // 19 MiB, t = 2, p = 1: the OWASP recommendation for argon2id. The values are constants
    // that Params accepts, so the fallback is unreachable.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon().hash_password(password.as_bytes(), &salt)?.to_string())
}

impl PasswordHasher {
    /// A hasher allowing `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Result<Self, Internal> {
        let dummy = hash_now(&uuid::Uuid::new_v4().to_string()).map_err(Internal::new)?;
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy: Arc::new(dummy) })
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, Internal> {
        let _permit = self.permits.acquire().await.map_err(Internal::new)?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_now(&password)).await.map_err(Internal::new)?.map_err(Internal::new)
    }

    /// True when `password` matches `hash`; with `None` it checks against a dummy hash and
    /// answers false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, Internal> {
        let _permit = self.permits.acquire().await.map_err(Internal::new)?;
        let known = hash.is_some();
        let hash = hash.map(str::to_string).unwrap_or_else(|| self.dummy.to_string());
        let password = password.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).map(|parsed| argon().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(Internal::new)?
        .map_err(Internal::new)?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_owasp_params() {
        let h = PasswordHasher::new(2).unwrap();
        let hash = h.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(h.verify("correct horse battery", Some(&hash)).await.unwrap());
        assert!(!h.verify("wrong horse battery", Some(&hash)).await.unwrap());
        assert!(!h.verify("correct horse battery", None).await.unwrap());
    }
}
