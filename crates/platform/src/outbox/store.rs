//! SQL of the outbox table. Claiming is the one dialect branch: PostgreSQL skips rows another
//! instance has locked; SQLite has a single writer and needs no such clause.

use crate::db::{Db, DbError, Dialect, Ts, Tx};
use crate::{execute_tx, execute_write, with_db};
use uuid::Uuid;

/// A claimed row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Row id (also the delivery's idempotency id).
    pub id: Uuid,
    /// What to do.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

pub(crate) async fn insert(tx: &mut Tx, id: Uuid, kind: &str, payload: &str) -> Result<Uuid, DbError> {
    let now = Ts::now();
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO outbox (id, kind, payload, status, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
        )
        .bind(id)
        .bind(kind)
        .bind(payload)
        .bind(now)
    )?;
    Ok(id)
}

const CLAIM_SQLITE: &str = "UPDATE outbox SET locked_until = $1
    WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND kind <> 'domain.event' AND next_attempt_at <= $2
                 AND (locked_until IS NULL OR locked_until < $2) ORDER BY next_attempt_at LIMIT $3)
    RETURNING id, kind, payload, attempts";

const CLAIM_POSTGRES: &str = "UPDATE outbox SET locked_until = $1
    WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND kind <> 'domain.event' AND next_attempt_at <= $2
                 AND (locked_until IS NULL OR locked_until < $2) ORDER BY next_attempt_at LIMIT $3
                 FOR UPDATE SKIP LOCKED)
    RETURNING id, kind, payload, attempts";

/// Whether a row is due: a read, which on SQLite takes no lock.
const ANY_DUE: &str =
    "SELECT id FROM outbox WHERE status = 'pending' AND kind <> 'domain.event' AND next_attempt_at <= $1
    AND (locked_until IS NULL OR locked_until < $1) LIMIT 1";

/// Locks up to `limit` due rows until `lock_until` and returns them.
///
/// On SQLite the claim is an `UPDATE`, which takes the database's one write lock even when no
/// row is due, and the worker claims on every wake-up (each write that may have queued mail):
/// at 50 task updates a second those empty claims fought the chat writer for the lock and the
/// loser slept in SQLite's busy handler. So it first asks, without a lock, whether anything is
/// due, and then claims in this process's writer turn like every other write.
pub(super) async fn claim(db: &Db, now: Ts, lock_until: Ts, limit: i64) -> Result<Vec<OutboxRow>, DbError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            let due: Option<(Uuid,)> =
                with_db!(db, |pool| sqlx::query_as(ANY_DUE).bind(now).fetch_optional(pool).await)?;
            if due.is_none() {
                return Ok(Vec::new());
            }
            CLAIM_SQLITE
        }
        Dialect::Postgres => CLAIM_POSTGRES,
    };
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, OutboxRow>(sql).bind(lock_until).bind(now).bind(limit).fetch_all(pool).await
    })?)
}

/// Keeps the claim on rows still being delivered until `lock_until` (rows delivered meanwhile
/// are gone and not touched).
pub(super) async fn extend_claims(db: &Db, ids: &[Uuid], lock_until: Ts) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let _turn = db.writer_turn().await?;
    with_db!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new("UPDATE outbox SET locked_until = ");
        query.push_bind(lock_until).push(" WHERE status = 'pending' AND id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        query.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// The oldest pending domain events, in the order they were written (the relay's queue; it
/// holds the relay lease, so no row lock is needed).
pub(crate) async fn pending_events(db: &Db, limit: i64) -> Result<Vec<OutboxRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, OutboxRow>(
            "SELECT id, kind, payload, attempts FROM outbox WHERE kind = 'domain.event' AND status = 'pending'
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// A row for the operator's listing.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ListedRow {
    /// Row id.
    pub id: Uuid,
    /// What it does.
    pub kind: String,
    /// `pending` or `parked`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: Ts,
}

/// Rows with `status`, oldest first.
pub async fn list(db: &Db, status: &str, limit: i64) -> Result<Vec<ListedRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, ListedRow>(
            "SELECT id, kind, status, attempts, last_error, created_at FROM outbox WHERE status = $1 ORDER BY id LIMIT $2",
        )
        .bind(status)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Sends a parked row back to the queue with a fresh attempt count; false if no parked row has `id`.
pub async fn retry(db: &Db, id: Uuid) -> Result<bool, DbError> {
    let n = execute_write!(
        db,
        sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, locked_until = NULL
             WHERE id = $1 AND status = 'parked'",
        )
        .bind(id)
        .bind(Ts::now())
    )?;
    Ok(n == 1)
}

/// A delivered row is deleted: its payload may hold a one-time code that should not linger.
pub(crate) async fn delete(db: &Db, id: Uuid) -> Result<(), DbError> {
    execute_write!(db, sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id))?;
    Ok(())
}

/// Records a failed attempt; `status` is pending (retry at `next`) or parked.
pub(crate) async fn fail(db: &Db, id: Uuid, status: &str, attempts: i64, next: Ts, error: &str) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query(
            "UPDATE outbox SET status = $2, attempts = $3, next_attempt_at = $4, locked_until = NULL, last_error = $5
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(error)
    )?;
    Ok(())
}

/// How many rows have `status` (for metrics and tests).
pub async fn count_by_status(db: &Db, status: &str) -> Result<i64, DbError> {
    let (n,): (i64,) = with_db!(db, |pool| {
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status = $1").bind(status).fetch_one(pool).await
    })?;
    Ok(n)
}

/// Records that `subscriber` handled `event`; false when it already had.
pub(crate) async fn mark_handled(tx: &mut Tx, subscriber: &str, event: Uuid) -> Result<bool, crate::db::DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO event_inbox (subscriber, event_id, handled_at) VALUES ($1, $2, $3)
             ON CONFLICT (subscriber, event_id) DO NOTHING",
        )
        .bind(subscriber)
        .bind(event)
        .bind(Ts::now())
    )?;
    Ok(n == 1)
}
