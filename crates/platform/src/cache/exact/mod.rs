//! [`ExactCache`]: the entries, what changed lately (for the reads under way), and the turns
//! of [`ExactCache::get_or_load`]'s readers.

use super::Coherence;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries at most; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

/// Expired entries are swept out when the map has grown to twice what was left after the last
/// sweep, and never below this: a cache keyed by something that keeps changing (sessions)
/// holds about twice its live entries, not every key it ever saw until [`CAPACITY`].
const SWEEP_FLOOR: usize = 1024;

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
            // A failed read leaves the entry for the rest of its life; another reader tries
            // again a second later.
            Some((cached, true)) => return Ok(self.read_and_store(key, load).await.unwrap_or(cached)),
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
                return self.read_and_store(key, load).await;
            }
            _ => {}
        }
        let began = self.load_seq.fetch_add(1, Ordering::AcqRel);
        let read = self.read_and_store(key, load).await;
        *last = Some((began, read.as_ref().ok().cloned()));
        read
    }

    /// Reads `key` with `load` and stores what it found as [`ExactCache::put`] would; answers
    /// the value stored (with the updates made meanwhile), or else what was read: a read that
    /// may not be stored (a change to its key, a gap in coherence, more changes than are
    /// remembered) is still what the database said after the caller asked.
    async fn read_and_store<E, F>(&self, key: K, load: impl FnOnce() -> F) -> Result<V, E>
    where
        F: std::future::Future<Output = Result<V, E>>,
    {
        let epoch = self.epoch();
        let read = load().await?;
        Ok(self.store(epoch, key, read).unwrap_or_else(|read| read))
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
mod tests;
