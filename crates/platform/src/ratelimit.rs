//! Fixed-window rate limits, in process or shared through Redis.
//!
//! Callers name a key (`login-fail:alice@example.com`), a limit and a window. Without Redis the
//! counters live in this process; with Redis they live there, so every instance enforces one
//! limit. If Redis is unreachable the in-process counters take over (REST keeps working; limits
//! become per instance until Redis returns). See docs/decisions.md for why not `governor`.

use redis::aio::ConnectionManager;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A rule: at most `limit` hits per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// Hits allowed per window.
    pub limit: u64,
    /// The window.
    pub window: Duration,
}

impl Quota {
    /// `limit` per `window`.
    pub const fn new(limit: u64, window: Duration) -> Self {
        Self { limit, window }
    }
}

/// A key went over its quota; `retry_after` is when its window ends.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    /// The quota that was exceeded.
    pub quota: Quota,
    /// Time until the window resets.
    pub retry_after: Duration,
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Too many requests; retry in {} s.", self.retry_after.as_secs().max(1))
    }
}

impl std::error::Error for Limited {}

// INCR the window counter, start its expiry on the first hit, return the count and the time left.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

/// Most counters kept in process (all shards together; each key is stored twice, so some tens
/// of megabytes with long keys). Past it, the counters whose windows end soonest make room,
/// except those that reached their limit.
const MAX_LOCAL_KEYS: usize = 200_000;
/// Shards of the in-process counters, so that unrelated keys do not wait on one lock.
const SHARDS: usize = 16;

/// One window of one key.
struct Window {
    ends: Instant,
    count: u64,
    limit: u64,
}

/// A shard: the counters, and their window ends in a min-heap so that expired counters are
/// removed as time passes (O(log n) per hit), never by scanning the map.
#[derive(Default)]
struct Shard {
    windows: HashMap<String, Window>,
    ends: BinaryHeap<Reverse<(Instant, String)>>,
}

impl Shard {
    /// Removes the counter the heap's top names if its window ends at that time (a counter
    /// whose window was renewed has a later entry of its own).
    fn pop(&mut self) {
        if let Some(Reverse((ends, key))) = self.ends.pop()
            && self.windows.get(&key).is_some_and(|w| w.ends == ends)
        {
            self.windows.remove(&key);
        }
    }

    fn apply(&mut self, key: &str, quota: Quota, add: u64, now: Instant, cap: usize) -> (u64, Duration) {
        while self.ends.peek().is_some_and(|Reverse((ends, _))| *ends <= now) {
            self.pop();
        }
        if let Some(w) = self.windows.get_mut(key) {
            w.count += add;
            return (w.count, w.ends.saturating_duration_since(now));
        }
        if add == 0 {
            return (0, quota.window);
        }
        // Full: the counters whose windows end soonest make room, but never one that has reached
        // its limit (evicting it would lift the limit for whoever filled the map).
        let mut kept = Vec::new();
        while self.windows.len() >= cap && kept.len() < 64 {
            let Some(Reverse((ends, key))) = self.ends.pop() else { break };
            match self.windows.get(&key) {
                Some(w) if w.ends == ends && w.count >= w.limit => kept.push(Reverse((ends, key))),
                Some(w) if w.ends == ends => {
                    self.windows.remove(&key);
                }
                _ => {}
            }
        }
        self.ends.extend(kept);
        let ends = now + quota.window;
        self.windows.insert(key.to_string(), Window { ends, count: add, limit: quota.limit });
        self.ends.push(Reverse((ends, key.to_string())));
        (add, quota.window)
    }
}

struct Local {
    shards: Vec<Mutex<Shard>>,
    cap_per_shard: usize,
}

impl Default for Local {
    fn default() -> Self {
        Self::with_capacity(MAX_LOCAL_KEYS)
    }
}

impl Local {
    fn with_capacity(keys: usize) -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), cap_per_shard: (keys / SHARDS).max(1) }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key);
        self.shards[(hash as usize) % SHARDS].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn apply(&self, key: &str, quota: Quota, add: u64) -> (u64, Duration) {
        self.shard(key).apply(key, quota, add, Instant::now(), self.cap_per_shard)
    }

    fn clear(&self, key: &str) {
        // Its heap entry stays until its time and is then skipped.
        self.shard(key).windows.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().windows.len()).sum()
    }
}

/// Counts hits per key.
#[derive(Clone)]
pub struct RateLimiter {
    local: Arc<Local>,
    redis: Option<(ConnectionManager, Arc<str>)>,
    /// Until when Redis is left alone after a failure, in milliseconds since `epoch` (0: no
    /// failure). An atomic, as every limited request reads it.
    redis_down_until: Arc<AtomicU64>,
    epoch: Instant,
}

/// The longest a limiter call waits for Redis before counting in process instead.
const REDIS_WAIT: Duration = Duration::from_millis(500);
/// After Redis failed, counters stay in process this long before Redis is asked again, so an
/// outage costs one slow call per interval, not one per request.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("shared", &self.redis.is_some()).finish()
    }
}

impl RateLimiter {
    /// Counters in this process only.
    pub fn local() -> Self {
        Self { local: Arc::default(), redis: None, redis_down_until: Arc::default(), epoch: Instant::now() }
    }

    /// Counters in Redis under `prefix`.
    pub fn redis(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            local: Arc::default(),
            redis: Some((conn, Arc::from(format!("{prefix}:rl:")))),
            redis_down_until: Arc::default(),
            epoch: Instant::now(),
        }
    }

    /// Redis, unless it failed less than [`REDIS_RETRY_AFTER`] ago.
    fn shared(&self) -> Option<&(ConnectionManager, Arc<str>)> {
        let redis = self.redis.as_ref()?;
        let until = self.redis_down_until.load(Ordering::Relaxed);
        (until == 0 || self.millis_now() >= until).then_some(redis)
    }

    fn millis_now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// The answer of a Redis call made within [`REDIS_WAIT`]; None (and Redis left alone for
    /// a while) when it failed or took longer.
    async fn within_wait<T>(&self, call: impl std::future::Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(REDIS_WAIT, call).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                self.redis_failed(&e);
                None
            }
            Err(_) => {
                self.redis_failed(&"no answer in time");
                None
            }
        }
    }

    /// Notes a failed (or too slow) Redis call: the next ones count in process for a while.
    fn redis_failed(&self, error: &dyn std::fmt::Display) {
        let until = self.millis_now() + u64::try_from(REDIS_RETRY_AFTER.as_millis()).unwrap_or(1000);
        if self.redis_down_until.swap(until, Ordering::Relaxed) < self.millis_now() {
            tracing::warn!(error = %error, "redis rate limiter unavailable; using local counters");
        }
    }

    async fn apply(&self, key: &str, quota: Quota, add: u64) -> (u64, Duration) {
        if let Some((conn, prefix)) = self.shared() {
            let mut conn = conn.clone();
            let full = format!("{prefix}{key}");
            let call = async {
                if add == 0 {
                    redis::pipe()
                        .get(&full)
                        .pttl(&full)
                        .query_async::<(Option<u64>, i64)>(&mut conn)
                        .await
                        .map(|(n, ttl)| (n.unwrap_or(0), ttl))
                } else {
                    let script = redis::Script::new(HIT);
                    script.key(&full).arg(quota.window.as_millis() as u64).invoke_async(&mut conn).await
                }
            };
            if let Some((n, ttl)) = self.within_wait(call).await {
                return (n, Duration::from_millis(ttl.max(0) as u64));
            }
        }
        self.local.apply(key, quota, add)
    }

    /// Counts one hit; `Err` once the key has more than `quota.limit` hits in its window.
    pub async fn hit(&self, key: &str, quota: Quota) -> Result<(), Limited> {
        let (count, left) = self.apply(key, quota, 1).await;
        if count > quota.limit { Err(Limited { quota, retry_after: left }) } else { Ok(()) }
    }

    /// Checks without counting; `Err` once the key has reached `quota.limit` hits in its window.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<(), Limited> {
        let (count, left) = self.apply(key, quota, 0).await;
        if count >= quota.limit { Err(Limited { quota, retry_after: left }) } else { Ok(()) }
    }

    /// Forgets a key (e.g. failed logins after a success).
    pub async fn clear(&self, key: &str) {
        if let Some((conn, prefix)) = self.shared() {
            let mut conn = conn.clone();
            let full = format!("{prefix}{key}");
            let mut del = redis::cmd("DEL");
            self.within_wait(del.arg(&full).query_async::<()>(&mut conn)).await;
        }
        self.local.clear(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_counts_and_resets() {
        let rl = RateLimiter::local();
        let q = Quota::new(2, Duration::from_secs(60));
        assert!(rl.hit("k", q).await.is_ok());
        assert!(rl.check("k", q).await.is_ok());
        assert!(rl.hit("k", q).await.is_ok());
        assert!(rl.check("k", q).await.is_err());
        let limited = rl.hit("k", q).await.unwrap_err();
        assert!(limited.retry_after <= Duration::from_secs(60));
        assert!(rl.hit("other", q).await.is_ok());
        rl.clear("k").await;
        assert!(rl.hit("k", q).await.is_ok());
    }

    #[test]
    fn local_counters_expire_without_scans_and_stay_bounded() {
        let local = Local::with_capacity(SHARDS * 100);
        let short = Quota::new(5, Duration::from_millis(30));
        for i in 0..500 {
            local.apply(&format!("short:{i}"), short, 1);
        }
        assert!(local.len() <= SHARDS * 100);
        std::thread::sleep(Duration::from_millis(50));
        // Touching a shard drops what expired in it; a hit on every shard leaves only new keys.
        let long = Quota::new(5, Duration::from_secs(60));
        for i in 0..5000 {
            local.apply(&format!("long:{i}"), long, 1);
        }
        assert!(local.len() <= SHARDS * 100, "bounded: {}", local.len());
        // A key over its limit keeps its count while the map is churned by other keys of a
        // shorter window (the soonest-ending windows go first), and even by keys whose windows
        // end later: a limit that was reached is never evicted.
        let local = Local::with_capacity(SHARDS * 100);
        for _ in 0..7 {
            local.apply("victim", long, 1);
        }
        for i in 0..5000 {
            local.apply(&format!("churn:{i}"), short, 1);
        }
        assert_eq!(local.apply("victim", long, 0).0, 7);
        let longer = Quota::new(5, Duration::from_secs(600));
        for i in 0..5000 {
            local.apply(&format!("later:{i}"), longer, 1);
        }
        assert_eq!(local.apply("victim", long, 0).0, 7, "a reached limit survives");
    }

    #[tokio::test]
    async fn windows_expire() {
        let rl = RateLimiter::local();
        let q = Quota::new(1, Duration::from_millis(50));
        assert!(rl.hit("k", q).await.is_ok());
        assert!(rl.hit("k", q).await.is_err());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(rl.hit("k", q).await.is_ok());
    }
}
