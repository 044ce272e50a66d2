//! A cache of live sessions for the embedded (SQLite, single-process) mode, so an authenticated
//! request does not pay a database round trip just to learn that its session is still live.
//!
//! It stays exact: every change that can end a session (logout, revocation, password change or
//! reset, role change, disabling, deletion, refresh-token reuse) invalidates after its commit,
//! and an epoch counter keeps a lookup that raced with such a change from re-inserting what it
//! read before the change. With PostgreSQL, where other instances change sessions too, the
//! cache is off and every request asks the database.

use platform::db::Ts;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a verified session is trusted without asking the database again (a backstop; the
/// invalidations are what make revocation immediate).
const TTL: Duration = Duration::from_secs(60);
/// Entries kept at most; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone)]
struct Entry {
    user: Uuid,
    role: String,
    expires_at: Ts,
    cached_at: Instant,
}

/// The cache; disabled caches answer nothing and store nothing.
#[derive(Debug, Default)]
pub struct SessionCache {
    enabled: bool,
    epoch: AtomicU64,
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl SessionCache {
    /// A cache that works when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled, ..Self::default() }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The role of a cached live session of `user`.
    pub fn get(&self, user: Uuid, session: Uuid) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries();
        let e = entries.get(&session)?;
        (e.user == user && e.cached_at.elapsed() < TTL && e.expires_at > Ts::now()).then(|| e.role.clone())
    }

    /// The epoch to pass to [`SessionCache::put`]; read it before asking the database.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Remembers a live session read from the database at `epoch`; ignored if anything was
    /// invalidated since.
    pub fn put(&self, epoch: u64, user: Uuid, session: Uuid, role: String, expires_at: Ts) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(session, Entry { user, role, expires_at, cached_at: Instant::now() });
    }

    /// Forgets one session.
    pub fn forget_session(&self, session: Uuid) {
        let mut entries = self.entries();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.remove(&session);
    }

    /// Forgets every session of `user`.
    pub fn forget_user(&self, user: Uuid) {
        let mut entries = self.entries();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| e.user != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> Ts {
        Ts::now().plus(chrono::Duration::days(1))
    }

    #[test]
    fn expired_sessions_are_not_answered() {
        let c = SessionCache::new(true);
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        c.put(c.epoch(), u, s, "user".into(), Ts::now().minus(chrono::Duration::seconds(1)));
        assert_eq!(c.get(u, s), None);
    }

    #[test]
    fn caches_and_forgets() {
        let c = SessionCache::new(true);
        let (u, s, s2) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        c.put(c.epoch(), u, s, "user".into(), later());
        c.put(c.epoch(), u, s2, "user".into(), later());
        assert_eq!(c.get(u, s).as_deref(), Some("user"));
        assert_eq!(c.get(Uuid::now_v7(), s), None, "another user's token never matches");
        c.forget_session(s);
        assert_eq!(c.get(u, s), None);
        assert!(c.get(u, s2).is_some());
        c.forget_user(u);
        assert_eq!(c.get(u, s2), None);
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_stored() {
        let c = SessionCache::new(true);
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let epoch = c.epoch();
        // ... the database said "live", then a revocation committed and invalidated ...
        c.forget_session(s);
        c.put(epoch, u, s, "user".into(), later());
        assert_eq!(c.get(u, s), None);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let c = SessionCache::new(false);
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        c.put(c.epoch(), u, s, "user".into(), later());
        assert_eq!(c.get(u, s), None);
    }
}
