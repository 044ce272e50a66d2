//! SQL of the idempotency keys. Its writes are single statements that take the SQLite writer
//! turn ([`execute_write!`]): every signed-in POST with a key makes two of them, and outside the
//! queue they would sleep in SQLite's busy handler whenever a transaction holds the lock.

use crate::db::{Db, DbError, Ts};
use crate::{execute_write, with_db};

/// A key's record: the request it was first used with and, once answered, the answer.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Record {
    pub request_hash: String,
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<Vec<u8>>,
    pub created_at: Ts,
}

/// Claims `(scope, key)` for a request; false when a record exists already.
pub(super) async fn claim(db: &Db, scope: &str, key: &str, hash: &str, now: Ts) -> Result<bool, DbError> {
    let n = execute_write!(
        db,
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(hash)
        .bind(now)
    )?;
    Ok(n == 1)
}

pub(super) async fn find(db: &Db, scope: &str, key: &str) -> Result<Option<Record>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, Record>(
            "SELECT request_hash, status, content_type, location, body, created_at FROM idempotency_keys
             WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(pool)
        .await
    })?)
}

/// Stores the answer of the request that claimed the key.
pub(super) async fn complete(
    db: &Db,
    scope: &str,
    key: &str,
    status: i32,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &[u8],
) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, content_type = $4, location = $5, body = $6
             WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .bind(status)
        .bind(content_type)
        .bind(location)
        .bind(body)
    )?;
    Ok(())
}

/// Forgets a key (its request failed on our side, or it expired), so it can be used afresh.
pub(super) async fn forget(db: &Db, scope: &str, key: &str) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2").bind(scope).bind(key)
    )?;
    Ok(())
}

/// Forgets a key only if it was created before `before` (two requests that both found it
/// expired must not delete each other's fresh claim).
pub(super) async fn forget_expired(db: &Db, scope: &str, key: &str, before: Ts) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3")
            .bind(scope)
            .bind(key)
            .bind(before)
    )?;
    Ok(())
}

/// Removes the claim of a request that never answered (its instance died, or the database
/// went away before the claim could be released), if it was made before `before`.
pub(super) async fn forget_abandoned(db: &Db, scope: &str, key: &str, before: Ts) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL AND created_at < $3",
        )
        .bind(scope)
        .bind(key)
        .bind(before)
    )?;
    Ok(())
}

/// Removes keys created before `before`.
pub(super) async fn purge(db: &Db, before: Ts) -> Result<u64, DbError> {
    Ok(execute_write!(db, sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before))?)
}
