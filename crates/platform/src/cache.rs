//! [`ExactCache`]: a small in-process cache that never serves what a committed change has
//! made stale, for data that only this process writes (the embedded SQLite mode).
//!
//! Writers invalidate after they commit. A reader that misses takes the epoch *before* it reads
//! the database and stores its result only if no invalidation happened since, so a read that
//! raced with a change cannot put the old value back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries at most; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

/// The epoch and the entries with the time each was stored.
type Entries<K, V> = (u64, HashMap<K, (V, Instant)>);

/// A cache of `K → V` with epoch-checked inserts and a time-to-live backstop.
#[derive(Debug)]
pub struct ExactCache<K, V> {
    enabled: bool,
    ttl: Duration,
    inner: Mutex<Entries<K, V>>,
}

impl<K: Eq + Hash, V: Clone> ExactCache<K, V> {
    /// A cache that works when `enabled` (a disabled one stores and answers nothing).
    pub fn new(enabled: bool, ttl: Duration) -> Self {
        Self { enabled, ttl, inner: Mutex::new((0, HashMap::new())) }
    }

    /// Whether this cache stores anything.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached value, if fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.enabled {
            return None;
        }
        let inner = self.lock();
        inner.1.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(v, _)| v.clone())
    }

    /// The epoch to pass to [`ExactCache::put`]; take it before reading the database.
    pub fn epoch(&self) -> u64 {
        self.lock().0
    }

    /// Stores a value read at `epoch`, unless something was invalidated since.
    pub fn put(&self, epoch: u64, key: K, value: V) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        if inner.0 != epoch {
            return;
        }
        if inner.1.len() >= CAPACITY {
            inner.1.clear();
        }
        inner.1.insert(key, (value, Instant::now()));
    }

    /// Forgets `key` (call after the change commits).
    pub fn invalidate(&self, key: &K) {
        let mut inner = self.lock();
        inner.0 += 1;
        inner.1.remove(key);
    }

    /// Forgets every entry for which `stale` is true.
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool) {
        let mut inner = self.lock();
        inner.0 += 1;
        inner.1.retain(|k, (v, _)| !stale(k, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_answers_and_forgets() {
        let c = ExactCache::new(true, Duration::from_secs(60));
        c.put(c.epoch(), 1, "a");
        c.put(c.epoch(), 2, "b");
        assert_eq!(c.get(&1), Some("a"));
        c.invalidate(&1);
        assert_eq!(c.get(&1), None);
        c.invalidate_where(|_, v| *v == "b");
        assert_eq!(c.get(&2), None);
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_stored() {
        let c = ExactCache::new(true, Duration::from_secs(60));
        let epoch = c.epoch();
        c.invalidate(&1);
        c.put(epoch, 1, "stale");
        assert_eq!(c.get(&1), None);
    }

    #[test]
    fn entries_expire_and_disabled_caches_store_nothing() {
        let c = ExactCache::new(true, Duration::from_millis(0));
        c.put(c.epoch(), 1, "a");
        assert_eq!(c.get(&1), None);
        let off = ExactCache::new(false, Duration::from_secs(60));
        off.put(off.epoch(), 1, "a");
        assert_eq!(off.get(&1), None);
    }
}
