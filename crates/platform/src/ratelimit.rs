//! Fixed-window rate limits, in process or shared through Redis.
//!
//! Callers name a key (`login-fail:alice@example.com`), a limit and a window. Without Redis the
//! counters live in this process; with Redis they live there, so every instance enforces one
//! limit. If Redis is unreachable the in-process counters take over (REST keeps working; limits
//! become per instance until Redis returns). See docs/decisions.md for why not `governor`.

use redis::aio::ConnectionManager;
use std::collections::HashMap;
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

#[derive(Default)]
struct Local {
    windows: Mutex<HashMap<String, (Instant, u64)>>,
}

impl Local {
    fn apply(&self, key: &str, quota: Quota, add: u64) -> (u64, Duration) {
        let now = Instant::now();
        let mut map = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(24 * 3600));
        }
        let entry = map.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= quota.window {
            *entry = (now, 0);
        }
        entry.1 += add;
        (entry.1, quota.window.saturating_sub(now.duration_since(entry.0)))
    }

    fn clear(&self, key: &str) {
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

/// Counts hits per key.
#[derive(Clone)]
pub struct RateLimiter {
    local: Arc<Local>,
    redis: Option<(ConnectionManager, Arc<str>)>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("shared", &self.redis.is_some()).finish()
    }
}

impl RateLimiter {
    /// Counters in this process only.
    pub fn local() -> Self {
        Self { local: Arc::default(), redis: None }
    }

    /// Counters in Redis under `prefix`.
    pub fn redis(conn: ConnectionManager, prefix: &str) -> Self {
        Self { local: Arc::default(), redis: Some((conn, Arc::from(format!("{prefix}:rl:")))) }
    }

    async fn apply(&self, key: &str, quota: Quota, add: u64) -> (u64, Duration) {
        if let Some((conn, prefix)) = &self.redis {
            let mut conn = conn.clone();
            let full = format!("{prefix}{key}");
            let result: Result<(u64, i64), redis::RedisError> = if add == 0 {
                redis::pipe()
                    .get(&full)
                    .pttl(&full)
                    .query_async::<(Option<u64>, i64)>(&mut conn)
                    .await
                    .map(|(n, ttl)| (n.unwrap_or(0), ttl))
            } else {
                redis::Script::new(HIT).key(&full).arg(quota.window.as_millis() as u64).invoke_async(&mut conn).await
            };
            match result {
                Ok((n, ttl)) => return (n, Duration::from_millis(ttl.max(0) as u64)),
                Err(e) => tracing::warn!(error = %e, "redis rate limiter unavailable; using local counters"),
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
        if let Some((conn, prefix)) = &self.redis {
            let mut conn = conn.clone();
            let full = format!("{prefix}{key}");
            if let Err(e) = redis::cmd("DEL").arg(&full).query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "redis rate limiter unavailable");
            }
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
