//! `freelance_books`: one row per freelancer, the lock their books are changed under.

use platform::db::{DbError, Ts, Tx};
use platform::execute_tx;
use uuid::Uuid;

/// Locks `owner`'s books until `tx` ends, creating the row on first use. Every write that must
/// see the owner's entries (or, later, invoice numbers) whole takes it first: on PostgreSQL two
/// such writes then run one after the other; on SQLite the transaction holds the database's
/// write lock already, and this costs one statement.
pub async fn lock(tx: &mut Tx, owner: Uuid, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO freelance_books (owner_id, updated_at) VALUES ($1, $2)
             ON CONFLICT (owner_id) DO UPDATE SET updated_at = EXCLUDED.updated_at"
        )
        .bind(owner)
        .bind(now)
    )?;
    Ok(())
}
