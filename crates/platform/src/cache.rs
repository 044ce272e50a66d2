//! [`ExactCache`]: a small in-process cache that never serves what a committed change has
//! made stale, and [`Coherence`], which keeps the caches of many instances exact.
//!
//! Writers announce a change after they commit ([`Coherence::changed`]): the owning service's
//! handler drops what the change made stale, here and, through the realtime backplane, on every
//! other instance. A reader that misses takes the epoch *before* it reads the database and
//! stores its result only if no invalidation happened since, so a read that raced with a change
//! cannot put the old value back.
//!
//! With one process (SQLite) the caches are always on. With many instances (PostgreSQL) they
//! are on only while this instance's backplane subscription is up: an announcement from another
//! instance can only be missed while it is down, so then every cache answers nothing (requests
//! go to the database), and what was cached before the gap is never served again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Entries at most; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

/// Expired entries are swept out when the map has grown to twice what was left after the last
/// sweep, and never below this: a cache keyed by something that keeps changing (sessions)
/// holds about twice its live entries, not every key it ever saw until [`CAPACITY`].
const SWEEP_FLOOR: usize = 1024;

/// Drops what a change named by a key made stale.
type Handler = Arc<dyn Fn(&str) + Send + Sync>;
/// Sends an announcement (`kind\nkey`) to the other instances.
type Publisher = Box<dyn Fn(String) + Send + Sync>;

/// Whether this instance hears about every change, and how it tells the others.
/// Cheap to clone (one reference count).
#[derive(Clone)]
pub struct Coherence(Arc<CoherenceState>);

struct CoherenceState {
    /// Other instances write the same data.
    shared: bool,
    /// Announcements from other instances reach this one (always true when not shared).
    live: AtomicBool,
    /// Bumped whenever announcements may have been missed; entries of an older generation are
    /// never served.
    generation: AtomicU64,
    handlers: RwLock<HashMap<&'static str, Vec<Handler>>>,
    publisher: OnceLock<Publisher>,
}

impl std::fmt::Debug for Coherence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coherence").field("shared", &self.0.shared).field("live", &self.is_live()).finish()
    }
}

impl Coherence {
    fn build(shared: bool) -> Self {
        Self(Arc::new(CoherenceState {
            shared,
            live: AtomicBool::new(!shared),
            generation: AtomicU64::new(0),
            handlers: RwLock::new(HashMap::new()),
            publisher: OnceLock::new(),
        }))
    }

    /// For a process that is the only writer of its data: caches are always on.
    pub fn single_process() -> Self {
        Self::build(false)
    }

    /// For one of many instances: caches are off until [`Coherence::connected`].
    pub fn shared() -> Self {
        Self::build(true)
    }

    /// Whether caches may answer now.
    pub fn is_live(&self) -> bool {
        self.0.live.load(Ordering::Acquire)
    }

    fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// Registers what to drop when a change of `kind` is announced (here or elsewhere).
    /// Services register their kinds when they are built; a service built twice on one
    /// platform registers twice, and both copies' caches are kept exact.
    pub fn on(&self, kind: &'static str, handler: impl Fn(&str) + Send + Sync + 'static) {
        self.0.handlers.write().unwrap_or_else(|p| p.into_inner()).entry(kind).or_default().push(Arc::new(handler));
    }

    /// Announces a committed change of `kind` at `key` (no newline in `kind`): dropped here
    /// now, and on every other instance as soon as the backplane carries it.
    pub fn changed(&self, kind: &'static str, key: &str) {
        self.run(kind, key);
        self.tell_others(kind, key);
    }

    /// Announces a committed change to the other instances only, for a writer that brings its
    /// own caches up to date itself (with [`ExactCache::update`]) instead of dropping them.
    /// Handlers here are not run: another copy of the same service on this platform would
    /// not hear of the change (none is built twice today).
    pub fn tell_others(&self, kind: &'static str, key: &str) {
        if self.0.shared
            && let Some(publish) = self.0.publisher.get()
        {
            publish(format!("{kind}\n{key}"));
        }
    }

    fn run(&self, kind: &str, key: &str) {
        let handlers = self.0.handlers.read().unwrap_or_else(|p| p.into_inner()).get(kind).cloned();
        match handlers {
            Some(handlers) => handlers.iter().for_each(|handler| handler(key)),
            None => tracing::warn!(kind, "a cache change of an unknown kind"),
        }
    }

    /// An announcement from another instance (as published by [`Coherence::changed`]).
    pub fn received(&self, payload: &str) {
        match payload.split_once('\n') {
            Some((kind, key)) => self.run(kind, key),
            None => tracing::warn!("malformed cache announcement"),
        }
    }

    /// Sets how announcements reach the other instances (the backplane, once).
    pub fn set_publisher(&self, publish: impl Fn(String) + Send + Sync + 'static) {
        let _ = self.0.publisher.set(Box::new(publish));
    }

    /// The backplane subscription is up: announcements made from now on arrive. Nothing cached
    /// before is served (it may have missed some).
    pub fn connected(&self) {
        if self.0.shared {
            self.0.generation.fetch_add(1, Ordering::AcqRel);
            self.0.live.store(true, Ordering::Release);
        }
    }

    /// The backplane subscription is down: caches answer nothing until it is back.
    pub fn disconnected(&self) {
        if self.0.shared {
            self.0.live.store(false, Ordering::Release);
            self.0.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The epoch counter (bumped by every invalidation), the entries with the time and generation
/// each was stored at, and the size at which expired entries are swept next.
type Entries<K, V> = (u64, HashMap<K, (V, Instant, u64)>, usize);

/// When a read began: pass it to [`ExactCache::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    local: u64,
    generation: u64,
}

/// A cache of `K → V` with epoch-checked inserts and a time-to-live backstop.
pub struct ExactCache<K, V> {
    coherence: Coherence,
    ttl: Duration,
    inner: Mutex<Entries<K, V>>,
}

impl<K, V> std::fmt::Debug for ExactCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactCache").field("coherence", &self.coherence).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V: Clone> ExactCache<K, V> {
    /// A cache that answers while `coherence` is live.
    pub fn new(coherence: &Coherence, ttl: Duration) -> Self {
        Self { coherence: coherence.clone(), ttl, inner: Mutex::new((0, HashMap::new(), SWEEP_FLOOR)) }
    }

    /// Whether this cache may answer now.
    pub fn is_enabled(&self) -> bool {
        self.coherence.is_live()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached value, if fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.coherence.is_live() {
            return None;
        }
        let generation = self.coherence.generation();
        let inner = self.lock();
        inner.1.get(key).filter(|(_, at, g)| *g == generation && at.elapsed() < self.ttl).map(|(v, _, _)| v.clone())
    }

    /// The epoch to pass to [`ExactCache::put`]; take it before reading the database.
    pub fn epoch(&self) -> Epoch {
        // The generation first: a gap that begins after it was read changes it.
        let generation = self.coherence.generation();
        Epoch { local: self.lock().0, generation }
    }

    /// Stores a value read at `epoch`, unless something was invalidated since.
    pub fn put(&self, epoch: Epoch, key: K, value: V) {
        let mut inner = self.lock();
        if !self.coherence.is_live() || inner.0 != epoch.local || self.coherence.generation() != epoch.generation {
            return;
        }
        if inner.1.len() >= inner.2 {
            let ttl = self.ttl;
            inner.1.retain(|_, (_, at, g)| *g == epoch.generation && at.elapsed() < ttl);
            // Past half the capacity, sweeps would come ever more often: start over instead.
            if inner.1.len() * 2 >= CAPACITY {
                inner.1.clear();
            }
            inner.2 = (inner.1.len() * 2).clamp(SWEEP_FLOOR, CAPACITY);
        }
        inner.1.insert(key, (value, Instant::now(), epoch.generation));
    }

    /// Forgets `key` (call after the change commits).
    pub fn invalidate(&self, key: &K) {
        let mut inner = self.lock();
        inner.0 += 1;
        inner.1.remove(key);
    }

    /// For the writer of a committed change that knows what it did to `key`'s value: replaces
    /// a fresh entry with `change(value)`, or forgets it when that is `None`. Like an
    /// invalidation it ends the epoch, so a read that began before the change cannot store its
    /// older value afterwards. The entry keeps the time it was first stored, so a value kept up
    /// to date this way is still read again from the database every TTL.
    pub fn update(&self, key: &K, change: impl FnOnce(&V) -> Option<V>) {
        let generation = self.coherence.generation();
        let mut inner = self.lock();
        inner.0 += 1;
        let Some((value, at, g)) = inner.1.get_mut(key) else { return };
        let changed = (*g == generation && at.elapsed() < self.ttl).then(|| change(value)).flatten();
        match changed {
            Some(new) => *value = new,
            None => {
                inner.1.remove(key);
            }
        }
    }

    /// Forgets every entry for which `stale` is true.
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool) {
        let mut inner = self.lock();
        inner.0 += 1;
        inner.1.retain(|k, (v, _, _)| !stale(k, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> Coherence {
        Coherence::single_process()
    }

    #[test]
    fn stores_answers_and_forgets() {
        let c = ExactCache::new(&on(), Duration::from_secs(60));
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
        let c = ExactCache::new(&on(), Duration::from_secs(60));
        let epoch = c.epoch();
        c.invalidate(&1);
        c.put(epoch, 1, "stale");
        assert_eq!(c.get(&1), None);
    }

    #[test]
    fn an_update_changes_a_fresh_entry_and_ends_the_epoch() {
        let c = ExactCache::new(&on(), Duration::from_secs(60));
        c.put(c.epoch(), 1, 10);
        let before = c.epoch();
        c.update(&1, |v| Some(v + 1));
        assert_eq!(c.get(&1), Some(11));
        // A read that began before the update cannot store what it read.
        c.put(before, 1, 10);
        assert_eq!(c.get(&1), Some(11));
        // An update that cannot say the new value forgets the entry; a missing one stays missing.
        c.update(&1, |_| None);
        assert_eq!(c.get(&1), None);
        c.update(&2, |v| Some(v + 1));
        assert_eq!(c.get(&2), None);
    }

    #[test]
    fn an_update_does_not_revive_an_expired_entry() {
        let c = ExactCache::new(&on(), Duration::from_millis(0));
        c.put(c.epoch(), 1, 10);
        c.update(&1, |v| Some(v + 1));
        assert_eq!(c.get(&1), None);
        assert!(c.lock().1.is_empty(), "the expired entry is forgotten");
    }

    #[test]
    fn expired_entries_are_swept_out_as_new_keys_come() {
        let c = ExactCache::new(&on(), Duration::from_millis(0));
        for key in 0..10 * SWEEP_FLOOR {
            c.put(c.epoch(), key, ());
        }
        assert!(c.lock().1.len() <= SWEEP_FLOOR, "{} entries kept", c.lock().1.len());
        let fresh = ExactCache::new(&on(), Duration::from_secs(60));
        for key in 0..3 * SWEEP_FLOOR {
            fresh.put(fresh.epoch(), key, ());
        }
        assert_eq!(fresh.lock().1.len(), 3 * SWEEP_FLOOR, "live entries stay");
    }

    #[test]
    fn entries_expire() {
        let c = ExactCache::new(&on(), Duration::from_millis(0));
        c.put(c.epoch(), 1, "a");
        assert_eq!(c.get(&1), None);
    }

    #[test]
    fn shared_caches_answer_only_while_connected_and_never_serve_what_was_cached_before_a_gap() {
        let coherence = Coherence::shared();
        let c = ExactCache::new(&coherence, Duration::from_secs(60));
        c.put(c.epoch(), 1, "a");
        assert_eq!(c.get(&1), None, "off until the backplane is up");
        coherence.connected();
        c.put(c.epoch(), 1, "a");
        assert_eq!(c.get(&1), Some("a"));
        let before_gap = c.epoch();
        coherence.disconnected();
        assert_eq!(c.get(&1), None, "off while the backplane is down");
        coherence.connected();
        assert_eq!(c.get(&1), None, "announcements may have been missed during the gap");
        c.put(before_gap, 2, "read before the gap");
        assert_eq!(c.get(&2), None, "a read that spanned a gap is not stored");
    }

    #[test]
    fn announcements_run_here_and_travel_to_the_other_instances() {
        let here = Coherence::shared();
        let there = Coherence::shared();
        here.connected();
        there.connected();
        let (cache_here, cache_there) = (
            Arc::new(ExactCache::new(&here, Duration::from_secs(60))),
            Arc::new(ExactCache::new(&there, Duration::from_secs(60))),
        );
        for (coherence, cache) in [(&here, &cache_here), (&there, &cache_there)] {
            let held = cache.clone();
            coherence.on("test.key", move |key| held.invalidate(&key.parse::<u32>().unwrap_or_default()));
            cache.put(cache.epoch(), 7, "v");
            cache.put(cache.epoch(), 8, "v");
        }
        let wire = Arc::new(Mutex::new(Vec::new()));
        let sent = wire.clone();
        here.set_publisher(move |payload| sent.lock().unwrap().push(payload));
        here.changed("test.key", "7");
        assert_eq!(cache_here.get(&7), None, "dropped here at once");
        assert_eq!(cache_there.get(&7), Some("v"), "not yet there");
        for payload in wire.lock().unwrap().drain(..) {
            there.received(&payload);
        }
        assert_eq!(cache_there.get(&7), None, "dropped there once the announcement arrived");
        assert_eq!(cache_there.get(&8), Some("v"), "other keys stay");
    }
}
