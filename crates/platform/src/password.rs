//! Password hashing with argon2id at the OWASP parameters (19 MiB, 2 passes, 1 lane).
//!
//! Hashing is deliberately slow and memory-hungry, so it runs on the blocking pool behind a
//! semaphore the size of the core count: a login flood queues here instead of starving the async
//! runtime or using unbounded memory (19 MiB per hash in flight).
//!
//! The 19 MiB of each hash are handed back to the operating system when it ends (see
//! [`Scratch`]); letting the allocator keep them would make one sign-up cost the process 19 MiB
//! for good.

use crate::error::Internal;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Working memory for one hash, allocated so that freeing it returns it to the kernel.
///
/// glibc serves allocations above its mmap threshold with a private mapping and unmaps it on
/// free, but after such a free it raises the threshold to that size (up to 32 MiB on 64-bit), so
/// every later 19 MiB block comes from an arena that never shrinks. Reserving more than 32 MiB
/// keeps every hash on its own mapping, and only the 19 MiB actually written become resident.
/// Other allocators are unaffected: the untouched reserve costs address space, not memory.
struct Scratch(Vec<Block>);

/// Above glibc's largest dynamic mmap threshold (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB).
const SCRATCH_RESERVE: usize = 33 * 1024 * 1024 / Block::SIZE;

impl Scratch {
    fn for_params(params: &Params) -> Self {
        let blocks = params.block_count();
        let mut memory = Vec::with_capacity(SCRATCH_RESERVE.max(blocks));
        memory.resize(blocks, Block::default());
        Self(memory)
    }
}

/// The raw argon2 output of `password` with `salt` under `argon`'s parameters, `len` bytes.
fn derive(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> Result<Output, argon2::password_hash::Error> {
    let mut scratch = Scratch::for_params(argon.params());
    Output::init_with(len, |out| Ok(argon.hash_password_into_with_memory(password, salt, out, &mut scratch.0)?))
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    hash_with_salt(password, &SaltString::generate(&mut OsRng))
}

fn hash_with_salt(password: &str, salt: &SaltString) -> Result<String, argon2::password_hash::Error> {
    let argon = argon();
    let mut raw = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut raw)?;
    let output = derive(&argon, password.as_bytes(), salt_bytes, Params::DEFAULT_OUTPUT_LEN)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// The most a stored hash may ask of a verification: 256 MiB, 16 passes, 8 lanes. A row edited
/// to ask for more (or an imported hash of another algorithm) answers "no match", as a wrong
/// password does, instead of taking the process's memory or a core for minutes.
fn affordable(params: &Params) -> bool {
    params.m_cost() <= 256 * 1024 && params.t_cost() <= 16 && params.p_cost() <= 8
}

/// Whether `password` matches the PHC string `phc`, under the parameters stored in it. Only a
/// string that is not PHC at all is an error; any other hash we cannot use does not match.
fn verify_now(password: &str, phc: &str) -> Result<bool, argon2::password_hash::Error> {
    let parsed = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let usable = || -> Result<_, argon2::password_hash::Error> {
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
        Ok((algorithm, version, Params::try_from(&parsed)?))
    };
    let Ok((algorithm, version, params)) = usable() else {
        return Ok(false);
    };
    if !affordable(&params) {
        return Ok(false);
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut raw = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut raw) else {
        return Ok(false);
    };
    // `Output` compares in constant time.
    Ok(derive(&argon, password.as_bytes(), salt_bytes, expected.len())? == expected)
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
        let matched = tokio::task::spawn_blocking(move || verify_now(&password, &hash))
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

    /// Hashes stored before the scratch memory change were made by the crate's own
    /// `PasswordHasher`: ours must be the same string for the same salt, and every hash the
    /// crate makes, with any parameters, must verify under the parameters it carries.
    #[test]
    fn agrees_with_the_argon2_crate() {
        use argon2::password_hash::PasswordHasher as _;
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon().hash_password(b"tr0ub4dor&3", &salt).unwrap().to_string();
        assert_eq!(hash_with_salt("tr0ub4dor&3", &salt).unwrap(), theirs);
        let others = [
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 2, Some(16)).unwrap()),
            Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::new(4096, 3, 1, Some(64)).unwrap()),
        ];
        for other in others {
            let hash = other.hash_password(b"tr0ub4dor&3", &salt).unwrap().to_string();
            assert!(verify_now("tr0ub4dor&3", &hash).unwrap(), "{hash}");
            assert!(!verify_now("tr0ub4dor&4", &hash).unwrap(), "{hash}");
        }
    }

    #[test]
    fn unusable_or_too_costly_stored_hashes_do_not_match() {
        let salt = SaltString::generate(&mut OsRng);
        let good = hash_with_salt("pw", &salt).unwrap();
        let costly = good.replace("m=19456", "m=4194304");
        assert!(!verify_now("pw", &costly).unwrap());
        let other_algorithm = good.replace("$argon2id$", "$scrypt$");
        assert!(!verify_now("pw", &other_algorithm).unwrap());
        assert!(verify_now("not a phc string", "plain text").is_err());
    }
}
