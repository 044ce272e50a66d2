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

mod exact;

pub use exact::{Epoch, ExactCache};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

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
