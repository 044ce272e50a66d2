//! `freelance_books`: one row per freelancer, the lock their books are changed under.

use platform::db::{DbError, Ts, Tx};
use platform::execute_tx;
use uuid::Uuid;

/// Locks `owner`'s books until `tx` ends, creating the row on first use. Every write that must
/// see the owner's entries, invoice numbers or payments whole takes it first: on PostgreSQL two
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

/// The owner's next invoice number, counted in their books (locked by [`lock`] in the same
/// transaction, so numbers have neither gaps nor duplicates).
pub async fn next_invoice_number(tx: &mut Tx, owner: Uuid, now: Ts) -> Result<i64, DbError> {
    platform::with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "UPDATE freelance_books SET last_invoice_number = last_invoice_number + 1, updated_at = $2
         WHERE owner_id = $1 RETURNING last_invoice_number"
    )
    .bind(owner)
    .bind(now)
    .fetch_one(conn)
    .await)
    .map_err(DbError::from)
}
