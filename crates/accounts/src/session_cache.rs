//! A cache of live sessions, so an authenticated request does not pay a database round trip
//! just to learn that its session is still live.
//!
//! It stays exact: every change that can end a session (logout, revocation, password change or
//! reset, role change, disabling, deletion, refresh-token reuse) is announced after its commit
//! and drops the session here and on every other instance ([`Coherence`]), and an epoch counter
//! keeps a lookup that raced with such a change from re-inserting what it read before the
//! change. With PostgreSQL the cache is on only while the backplane is up; otherwise every
//! request asks the database.

use platform::cache::{Coherence, Epoch, ExactCache};
use platform::db::Ts;
use std::time::Duration;
use uuid::Uuid;

/// How long a verified session is trusted without asking the database again: a backstop (the
/// announcements are what make revocation immediate) for an announcement that is lost, as when
/// an instance is killed between a revocation's commit and its announcement, or a command-line
/// process changes sessions under a running server.
const TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Entry {
    user: Uuid,
    role: String,
    expires_at: Ts,
}

/// Live sessions by id; disabled caches answer nothing and store nothing.
#[derive(Debug)]
pub struct SessionCache {
    entries: ExactCache<Uuid, Entry>,
}

impl SessionCache {
    /// A cache that answers while `coherence` is live.
    pub fn new(coherence: &Coherence) -> Self {
        Self { entries: ExactCache::new(coherence, TTL) }
    }

    /// The role of a cached live session of `user`.
    pub fn get(&self, user: Uuid, session: Uuid) -> Option<String> {
        self.entries.get(&session).filter(|e| e.user == user && e.expires_at > Ts::now()).map(|e| e.role)
    }

    /// The epoch to pass to [`SessionCache::put`]; read it before asking the database.
    pub fn epoch(&self) -> Epoch {
        self.entries.epoch()
    }

    /// Remembers a live session read from the database at `epoch`; ignored if this session was
    /// invalidated since, or any user's sessions all at once.
    pub fn put(&self, epoch: Epoch, user: Uuid, session: Uuid, role: String, expires_at: Ts) {
        self.entries.put(epoch, session, Entry { user, role, expires_at });
    }

    /// Forgets one session.
    pub fn forget_session(&self, session: Uuid) {
        self.entries.invalidate(&session);
    }

    /// Forgets every session of `user`.
    pub fn forget_user(&self, user: Uuid) {
        self.entries.invalidate_where(|_, e| e.user == user);
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
        let c = SessionCache::new(&Coherence::single_process());
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        c.put(c.epoch(), u, s, "user".into(), Ts::now().minus(chrono::Duration::seconds(1)));
        assert_eq!(c.get(u, s), None);
    }

    #[test]
    fn caches_and_forgets() {
        let c = SessionCache::new(&Coherence::single_process());
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
        let c = SessionCache::new(&Coherence::single_process());
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let epoch = c.epoch();
        // ... the database said "live", then a revocation committed and invalidated ...
        c.forget_session(s);
        c.put(epoch, u, s, "user".into(), later());
        assert_eq!(c.get(u, s), None);
    }

    #[test]
    fn a_cache_of_an_instance_without_backplane_stores_nothing() {
        let c = SessionCache::new(&Coherence::shared());
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        c.put(c.epoch(), u, s, "user".into(), later());
        assert_eq!(c.get(u, s), None);
    }
}
