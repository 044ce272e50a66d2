//! [`ExactCache`]: a small in-process cache that never serves what a committed change has
//! made stale, and [`Coherence`], which keeps the caches of many instances exact.
//!
//! Writers announce a change after they commit ([`Coherence::changed`]): the owning service's
//! handler drops what the change made stale, here and, through the realtime backplane, on every
//! other instance. A reader that misses takes the epoch *before* it reads the database and
//! stores its result only if nothing dropped that key since (a writer's update of the key is
//! done to the result instead), so a read that raced with a change cannot put the old value
//! back.
//!
//! With one process (SQLite) the caches are always on. With many instances (PostgreSQL) they
//! are on only while this instance's backplane subscription is up: an announcement from another
//! instance can only be missed while it is down, so then every cache answers nothing (requests
//! go to the database), and what was cached before the gap is never served again.

use std::collections::{HashMap, VecDeque};
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

/// How long a reader that took on reading an entry again has before another may.
const REFRESH_CLAIM: Duration = Duration::from_secs(1);

/// Changes remembered for the reads still under way when they were made (see
/// [`ExactCache::put`]): at hundreds of changes a second, enough for a read of a few tens of
/// milliseconds; a read that took longer than this many changes is simply not stored.
const CHANGES_KEPT: usize = 64;

/// A change, as remembered for the reads that began before it.
enum Change<K, V> {
    /// Any entry may be stale (an invalidation by a rule).
    Any,
    /// This key's value is stale.
    Key(K),
    /// This key's value changed as the function says (see [`ExactCache::update`]).
    Update(K, Replay<V>),
}

/// What an update did to a value, to be done again to a value read before it was known.
type Replay<V> = Arc<dyn Fn(&V) -> Option<V> + Send + Sync>;

/// A value with the time and coherence generation it was stored at.
struct Entry<V> {
    value: V,
    at: Instant,
    generation: u64,
    /// When a reader of [`ExactCache::get_or_load`] took it on itself to read the value again.
    refreshing: Option<Instant>,
}

/// The entries and what changed lately.
struct Entries<K, V> {
    /// Counts the changes: every invalidation and update adds one.
    epoch: u64,
    map: HashMap<K, Entry<V>>,
    /// The size at which expired entries are swept out next.
    sweep_at: usize,
    /// The last [`CHANGES_KEPT`] changes, oldest first; the last one made `epoch` what it is.
    changes: VecDeque<Change<K, V>>,
}

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
    /// Per key being read by [`ExactCache::get_or_load`], the turn to read it.
    loads: Loads<K, V>,
    /// Numbers the arrivals and reads of [`ExactCache::get_or_load`], to tell which read
    /// began after a reader came.
    load_seq: AtomicU64,
}

/// The keys being read, each with the turn its readers take one after the other.
type Loads<K, V> = Arc<Mutex<HashMap<K, Turn<V>>>>;
/// The last read made in a turn: the sequence number taken when it began, and what it found
/// (`None`: it failed).
type Turn<V> = Arc<tokio::sync::Mutex<Option<(u64, Option<V>)>>>;

/// A reader's place in a key's queue; the last one to leave removes the key's turn.
struct LoadTurn<K: Eq + Hash, V> {
    loads: Loads<K, V>,
    key: K,
    turn: Turn<V>,
}

impl<K: Eq + Hash, V> Drop for LoadTurn<K, V> {
    fn drop(&mut self) {
        let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
        // This reader's hold goes first, under the lock that every new hold is taken under:
        // a turn held by the map alone has no one waiting.
        drop(std::mem::take(&mut self.turn));
        if loads.get(&self.key).is_some_and(|t| Arc::strong_count(t) == 1) {
            loads.remove(&self.key);
        }
    }
}

impl<K, V> std::fmt::Debug for ExactCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactCache").field("coherence", &self.coherence).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> ExactCache<K, V> {
    /// A cache that answers while `coherence` is live.
    pub fn new(coherence: &Coherence, ttl: Duration) -> Self {
        let entries = Entries { epoch: 0, map: HashMap::new(), sweep_at: SWEEP_FLOOR, changes: VecDeque::new() };
        Self {
            coherence: coherence.clone(),
            ttl,
            inner: Mutex::new(entries),
            loads: Arc::default(),
            load_seq: AtomicU64::new(0),
        }
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
        inner.map.get(key).filter(|e| e.generation == generation && e.at.elapsed() < self.ttl).map(|e| e.value.clone())
    }

    /// The epoch to pass to [`ExactCache::put`]; take it before reading the database.
    pub fn epoch(&self) -> Epoch {
        // The generation first: a gap that begins after it was read changes it.
        let generation = self.coherence.generation();
        Epoch { local: self.lock().epoch, generation }
    }

    /// Stores a value read at `epoch`, unless a change since made it stale: an invalidation of
    /// `key` or of entries by a rule, or one older than the changes remembered. The updates of
    /// `key` made since are done to it first. Changes to other keys do not matter: a busy key
    /// changing hundreds of times a second no longer keeps every other key from being stored,
    /// and its own reads, which always overlap a change, are brought up to date instead of
    /// thrown away (docs/benchmarks.md, the soak on PostgreSQL).
    pub fn put(&self, epoch: Epoch, key: K, value: V) {
        let _ = self.store(epoch, key, value);
    }

    /// [`ExactCache::put`], answering the value stored, or the one given if it was not.
    fn store(&self, epoch: Epoch, key: K, read: V) -> Result<V, V> {
        let mut inner = self.lock();
        if !self.coherence.is_live() || self.coherence.generation() != epoch.generation {
            return Err(read);
        }
        let Some(since) = inner.epoch.checked_sub(epoch.local) else { return Err(read) };
        let Some(first) = inner.changes.len().checked_sub(usize::try_from(since).unwrap_or(usize::MAX)) else {
            return Err(read);
        };
        let mut value = None;
        for change in inner.changes.range(first..) {
            match change {
                Change::Any => return Err(read),
                Change::Key(k) if *k == key => return Err(read),
                Change::Update(k, replay) if *k == key => match replay(value.as_ref().unwrap_or(&read)) {
                    Some(changed) => value = Some(changed),
                    None => return Err(read),
                },
                Change::Key(_) | Change::Update(..) => {}
            }
        }
        let value = value.unwrap_or(read);
        if inner.map.len() >= inner.sweep_at {
            let ttl = self.ttl;
            inner.map.retain(|_, e| e.generation == epoch.generation && e.at.elapsed() < ttl);
            // Past half the capacity, sweeps would come ever more often: start over instead.
            if inner.map.len() * 2 >= CAPACITY {
                inner.map.clear();
            }
            inner.sweep_at = (inner.map.len() * 2).clamp(SWEEP_FLOOR, CAPACITY);
        }
        let entry = Entry { value: value.clone(), at: Instant::now(), generation: epoch.generation, refreshing: None };
        inner.map.insert(key, entry);
        Ok(value)
    }

    /// The cached value of `key`, or else what `load` reads, stored as by [`ExactCache::put`].
    ///
    /// For a key that many ask for at once (a busy room's newest messages):
    /// - Of the requests that miss it together, one reads, and the others wait their turn and
    ///   take what a read that began after they came found (stored or not: it is as fresh as
    ///   their own would have been). A busy key that expired sent every request under way to
    ///   the database at the same moment, and on PostgreSQL they took every pooled connection
    ///   while the writes waited behind them; and when reads were not stored (changes kept
    ///   coming while a slow read ran), the waiters read one after another, each behind the
    ///   last (docs/benchmarks.md, soak).
    /// - An entry in the last quarter of its life is read again by one request, while the
    ///   others are still answered from it: a key kept up to date by [`ExactCache::update`]
    ///   then never expires under load, only once it goes quiet.
    pub async fn get_or_load<E, F>(&self, key: K, load: impl FnOnce() -> F) -> Result<V, E>
    where
        F: std::future::Future<Output = Result<V, E>>,
    {
        match self.get_or_claim_refresh(&key) {
            Some((value, false)) => return Ok(value),
            Some((cached, true)) => {
                let epoch = self.epoch();
                // A failed read leaves the entry for the rest of its life; another reader
                // tries again a second later.
                return Ok(match load().await {
                    Ok(read) => self.store(epoch, key, read).unwrap_or_else(|read| read),
                    Err(_) => cached,
                });
            }
            None => {}
        }
        let arrived = self.load_seq.fetch_add(1, Ordering::AcqRel);
        let turn = {
            let mut loads = self.loads.lock().unwrap_or_else(|p| p.into_inner());
            loads.entry(key.clone()).or_default().clone()
        };
        let place = LoadTurn { loads: self.loads.clone(), key: key.clone(), turn };
        let mut last = place.turn.lock().await;
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        match last.as_ref() {
            Some((began, Some(value))) if *began > arrived => return Ok(value.clone()),
            // A read that began after this reader came failed (the database is slow or gone):
            // the rest read at once, each on its own, rather than one failure after another.
            Some((began, None)) if *began > arrived => {
                drop(last);
                drop(place);
                let epoch = self.epoch();
                let read = load().await?;
                return Ok(self.store(epoch, key, read).unwrap_or_else(|read| read));
            }
            _ => {}
        }
        let epoch = self.epoch();
        let began = self.load_seq.fetch_add(1, Ordering::AcqRel);
        let read = match load().await {
            Ok(read) => read,
            Err(e) => {
                *last = Some((began, None));
                return Err(e);
            }
        };
        let value = self.store(epoch, key, read).unwrap_or_else(|read| read);
        *last = Some((began, Some(value.clone())));
        Ok(value)
    }

    /// The fresh value of `key`, and whether the caller is to read it again (it is in the last
    /// quarter of its life and no one else took that on in the last second).
    fn get_or_claim_refresh(&self, key: &K) -> Option<(V, bool)> {
        if !self.coherence.is_live() {
            return None;
        }
        let generation = self.coherence.generation();
        let mut inner = self.lock();
        let entry = inner.map.get_mut(key).filter(|e| e.generation == generation && e.at.elapsed() < self.ttl)?;
        let old = entry.at.elapsed() >= self.ttl.mul_f32(0.75);
        let claimed = entry.refreshing.is_some_and(|at| at.elapsed() < REFRESH_CLAIM);
        let refresh = old && !claimed;
        if refresh {
            entry.refreshing = Some(Instant::now());
        }
        Some((entry.value.clone(), refresh))
    }

    /// Forgets `key` (call after the change commits).
    pub fn invalidate(&self, key: &K) {
        let mut inner = self.lock();
        inner.map.remove(key);
        inner.remember(Change::Key(key.clone()));
    }

    /// For the writer of a committed change that knows what it did to `key`'s value: replaces
    /// a fresh entry with `change(value)`, or forgets it when that is `None`. A read of `key`
    /// that began before the change gets `change` done to what it read before it is stored, so
    /// `change` must also give the right value for a value read after the commit, that already
    /// has the change in it. The entry keeps the time it was first stored, so a value kept up
    /// to date this way is still read again from the database every TTL.
    pub fn update(&self, key: &K, change: impl Fn(&V) -> Option<V> + Send + Sync + 'static) {
        let generation = self.coherence.generation();
        let change: Replay<V> = Arc::new(change);
        let mut inner = self.lock();
        if let Some(entry) = inner.map.get_mut(key) {
            match (entry.generation == generation && entry.at.elapsed() < self.ttl)
                .then(|| change(&entry.value))
                .flatten()
            {
                Some(new) => entry.value = new,
                None => {
                    inner.map.remove(key);
                }
            }
        }
        inner.remember(Change::Update(key.clone(), change));
    }

    /// Forgets every entry for which `stale` is true.
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool) {
        let mut inner = self.lock();
        inner.map.retain(|k, e| !stale(k, &e.value));
        inner.remember(Change::Any);
    }
}

impl<K, V> Entries<K, V> {
    fn remember(&mut self, change: Change<K, V>) {
        self.epoch += 1;
        if self.changes.len() == CHANGES_KEPT {
            self.changes.pop_front();
        }
        self.changes.push_back(change);
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
    fn an_update_changes_a_fresh_entry_and_the_reads_under_way() {
        let c = ExactCache::new(&on(), Duration::from_secs(60));
        c.put(c.epoch(), 1, 10);
        let before = c.epoch();
        c.update(&1, |v| Some(v + 1));
        assert_eq!(c.get(&1), Some(11));
        // A read that began before the update stores what it read with the update done to it.
        c.put(before, 1, 20);
        assert_eq!(c.get(&1), Some(21));
        // An update that cannot say the new value forgets the entry; a missing one stays missing.
        c.update(&1, |_| None);
        assert_eq!(c.get(&1), None);
        c.update(&2, |v| Some(v + 1));
        assert_eq!(c.get(&2), None);
    }

    #[test]
    fn a_read_that_raced_changes_of_other_keys_only_is_stored() {
        let c = ExactCache::new(&on(), Duration::from_secs(60));
        let epoch = c.epoch();
        c.invalidate(&2);
        c.update(&3, |v| Some(v + 1));
        c.put(epoch, 1, 10);
        assert_eq!(c.get(&1), Some(10));
        // An invalidation by a rule may have been about any key.
        let epoch = c.epoch();
        c.invalidate_where(|k, _| *k == 2);
        c.put(epoch, 4, 10);
        assert_eq!(c.get(&4), None);
        // Nor is a read stored whose key was updated to nothing meanwhile.
        let epoch = c.epoch();
        c.update(&5, |_| None);
        c.put(epoch, 5, 10);
        assert_eq!(c.get(&5), None);
    }

    #[test]
    fn a_read_older_than_the_changes_remembered_is_not_stored() {
        let c = ExactCache::new(&on(), Duration::from_secs(60));
        let epoch = c.epoch();
        for key in 0..CHANGES_KEPT {
            c.invalidate(&(key + 2));
        }
        c.put(epoch, 1, "read during the last changes remembered");
        assert!(c.get(&1).is_some());
        let epoch = c.epoch();
        for key in 0..=CHANGES_KEPT {
            c.invalidate(&(key + 2));
        }
        c.put(epoch, 0, "read during one change more");
        assert_eq!(c.get(&0), None);
        assert_eq!(c.lock().changes.len(), CHANGES_KEPT, "no more are kept");
    }

    /// A load that counts itself, answers `value` and takes `delay`.
    fn counted(
        loads: &Arc<std::sync::atomic::AtomicUsize>,
        value: u32,
        delay: Duration,
    ) -> impl std::future::Future<Output = Result<u32, ()>> + use<> {
        let loads = loads.clone();
        async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(value)
        }
    }

    /// A reader of key 1 on a task of its own, whose read (if it makes one) answers `value`
    /// after `delay`.
    fn reader(
        c: &Arc<ExactCache<u32, u32>>,
        loads: &Arc<std::sync::atomic::AtomicUsize>,
        value: u32,
        delay: Duration,
    ) -> tokio::task::JoinHandle<Result<u32, ()>> {
        let (c, loads) = (c.clone(), loads.clone());
        tokio::spawn(async move { c.get_or_load(1, || counted(&loads, value, delay)).await })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_that_miss_together_share_one_read() {
        let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let readers: Vec<_> = (0..20)
            .map(|_| {
                let (c, loads) = (c.clone(), loads.clone());
                tokio::spawn(async move { c.get_or_load(1, || counted(&loads, 7, Duration::from_millis(50))).await })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.await.unwrap(), Ok(7));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(c.loads.lock().unwrap().is_empty(), "the turn is gone with its last reader");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_not_stored_serves_those_who_came_before_it_began_and_no_one_else() {
        let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let slow = Duration::from_millis(400);
        let first = reader(&c, &loads, 1, slow);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Came while the first read ran: that read may predate what this reader has seen.
        let second = reader(&c, &loads, 2, slow);
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.invalidate(&1);
        assert_eq!(first.await.unwrap(), Ok(1), "its own read");
        // The third comes while the second reads; nothing changes meanwhile, so the second's
        // read is stored, and the third is answered with it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let third = reader(&c, &loads, 3, slow);
        assert_eq!(second.await.unwrap(), Ok(2), "read again: the first was not stored");
        assert_eq!(third.await.unwrap(), Ok(2));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert_eq!(c.get(&1), Some(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_take_a_read_that_began_after_them_even_when_it_was_not_stored() {
        let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let slow = Duration::from_millis(400);
        let first = reader(&c, &loads, 1, slow);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Two readers queue behind the first; the first's read is not stored.
        let queued: Vec<_> = (0..2)
            .map(|n| {
                let (c, loads) = (c.clone(), loads.clone());
                tokio::spawn(async move { c.get_or_load(1, || counted(&loads, 10 + n, slow)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.invalidate(&1);
        assert_eq!(first.await.unwrap(), Ok(1));
        // One of the two reads again (its read began after both came, and a change made while
        // it runs keeps it from being stored); the other takes that read instead of its own.
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.invalidate(&1);
        let answers: Vec<u32> =
            futures::future::join_all(queued).await.into_iter().map(|a| a.unwrap().unwrap()).collect();
        assert_eq!(answers[0], answers[1], "{answers:?}");
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert_eq!(c.get(&1), None, "neither read was stored");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_read_those_who_came_before_it_read_at_once_not_one_after_another() {
        use std::sync::atomic::AtomicUsize;
        let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let read = {
            let (running, most) = (running.clone(), most.clone());
            move |answer: Result<u32, ()>| {
                let (running, most) = (running.clone(), most.clone());
                async move {
                    most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    answer
                }
            }
        };
        // A first read that is not stored, so that the readers queued behind it read again.
        let first = tokio::spawn({
            let (c, read) = (c.clone(), read.clone());
            async move { c.get_or_load(1, || read(Ok(1))).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut queued = Vec::new();
        for answer in [Err(()), Ok(2), Ok(3)] {
            let (c, read) = (c.clone(), read.clone());
            queued.push(tokio::spawn(async move { c.get_or_load(1, || read(answer)).await }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c.invalidate(&1);
        assert_eq!(first.await.unwrap(), Ok(1));
        let answers: Vec<_> = futures::future::join_all(queued).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, [Err(()), Ok(2), Ok(3)], "each read for itself after the failure");
        assert_eq!(most.load(Ordering::SeqCst), 2, "the two after the failure read side by side");
        assert!(c.loads.lock().unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_late_in_its_life_is_read_again_by_one_reader_while_the_others_are_answered() {
        let c = Arc::new(ExactCache::new(&on(), Duration::from_millis(4000)));
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        c.put(c.epoch(), 1, 1);
        assert_eq!(c.get_or_load(1, || counted(&loads, 2, Duration::ZERO)).await, Ok(1));
        assert_eq!(loads.load(Ordering::SeqCst), 0, "young: answered from the cache");
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let refresher = tokio::spawn({
            let (c, loads) = (c.clone(), loads.clone());
            async move { c.get_or_load(1, || counted(&loads, 2, Duration::from_millis(300))).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(c.get_or_load(1, || counted(&loads, 3, Duration::ZERO)).await, Ok(1), "the others are answered");
        assert_eq!(refresher.await.unwrap(), Ok(2));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Stored with a new life: still there after the old one would have ended.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(c.get(&1), Some(2));
    }

    #[test]
    fn an_update_does_not_revive_an_expired_entry() {
        let c = ExactCache::new(&on(), Duration::from_millis(0));
        c.put(c.epoch(), 1, 10);
        c.update(&1, |v| Some(v + 1));
        assert_eq!(c.get(&1), None);
        assert!(c.lock().map.is_empty(), "the expired entry is forgotten");
    }

    #[test]
    fn expired_entries_are_swept_out_as_new_keys_come() {
        let c = ExactCache::new(&on(), Duration::from_millis(0));
        for key in 0..10 * SWEEP_FLOOR {
            c.put(c.epoch(), key, ());
        }
        assert!(c.lock().map.len() <= SWEEP_FLOOR, "{} entries kept", c.lock().map.len());
        let fresh = ExactCache::new(&on(), Duration::from_secs(60));
        for key in 0..3 * SWEEP_FLOOR {
            fresh.put(fresh.epoch(), key, ());
        }
        assert_eq!(fresh.lock().map.len(), 3 * SWEEP_FLOOR, "live entries stay");
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
