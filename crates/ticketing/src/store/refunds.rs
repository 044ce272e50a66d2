//! SQL of refund requests (`ticketing_refunds`).

use crate::model::RefundRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`RefundRow`].
macro_rules! refund_columns {
    () => {
        "id, ticket_id, buyer_id, organizer_id, reason, status, message, created_at, resolved_at"
    };
}

/// Records a pending request for the ticket; None when the ticket has one already.
pub async fn insert_refund(
    tx: &mut Tx,
    id: Uuid,
    ticket: Uuid,
    buyer: Uuid,
    organizer: Uuid,
    reason: &str,
    now: Ts,
) -> Result<Option<RefundRow>, DbError> {
    let sql = concat!(
        "INSERT INTO ticketing_refunds (id, ticket_id, buyer_id, organizer_id, reason, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT (ticket_id) DO NOTHING RETURNING ",
        refund_columns!()
    );
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, RefundRow>(sql)
            .bind(id)
            .bind(ticket)
            .bind(buyer)
            .bind(organizer)
            .bind(reason)
            .bind(now)
            .fetch_optional(conn)
            .await
    })?)
}

/// A request read in a transaction, without a lock (its decision is one conditional update).
pub async fn refund_in(tx: &mut Tx, id: Uuid) -> Result<Option<RefundRow>, DbError> {
    let sql = concat!("SELECT ", refund_columns!(), " FROM ticketing_refunds WHERE id = $1");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, RefundRow>(sql).bind(id).fetch_optional(conn).await)?)
}

/// Decides a pending request; None when it was decided already (the first decision stands).
pub async fn resolve(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
    message: Option<&str>,
    by: Uuid,
    now: Ts,
) -> Result<Option<RefundRow>, DbError> {
    let sql = concat!(
        "UPDATE ticketing_refunds SET status = $2, message = $3, resolved_by = $4, resolved_at = $5
         WHERE id = $1 AND status = 'pending' RETURNING ",
        refund_columns!()
    );
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, RefundRow>(sql)
            .bind(id)
            .bind(status)
            .bind(message)
            .bind(by)
            .bind(now)
            .fetch_optional(conn)
            .await
    })?)
}

/// Grants every pending request for a ticket with a seat at the event (the event's cancellation
/// refunded them all).
pub async fn approve_all_at(tx: &mut Tx, event: Uuid, by: Option<Uuid>, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE ticketing_refunds SET status = 'approved', resolved_by = $2, resolved_at = $3
             WHERE status = 'pending' AND ticket_id IN (SELECT ticket_id FROM ticketing_seats WHERE event_id = $1)"
        )
        .bind(event)
        .bind(by)
        .bind(now)
    )?;
    Ok(())
}

/// Withdraws the ticket's pending request (its buyer is leaving).
pub async fn withdraw_pending(tx: &mut Tx, ticket: Uuid) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("DELETE FROM ticketing_refunds WHERE ticket_id = $1 AND status = 'pending'").bind(ticket)
    )?;
    Ok(())
}

/// The ticket's pending request, if any.
pub async fn pending_for(tx: &mut Tx, ticket: Uuid) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM ticketing_refunds WHERE ticket_id = $1 AND status = 'pending'")
            .bind(ticket)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_some())
}

/// Which side of refunds a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Requests the user made.
    Buyer,
    /// Requests the user decides.
    Organizer,
}

/// The user's requests on one side, newest first, narrowed by status.
pub async fn list(
    db: &Db,
    user: Uuid,
    side: Side,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RefundRow>, DbError> {
    /// The list over `$column`.
    macro_rules! listing {
        ($column:literal) => {
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM ticketing_refunds WHERE ",
                $column,
                " = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
            )
        };
    }
    let sql = match side {
        Side::Buyer => listing!("buyer_id"),
        Side::Organizer => listing!("organizer_id"),
    };
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, RefundRow>(sql).bind(user).bind(status).bind(before).bind(limit + 1).fetch_all(pool).await
    })?)
}

/// Every request the user made, oldest first (for their data export).
pub async fn all_of_buyer(db: &Db, buyer: Uuid) -> Result<Vec<RefundRow>, DbError> {
    let sql = concat!("SELECT ", refund_columns!(), " FROM ticketing_refunds WHERE buyer_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, RefundRow>(sql).bind(buyer).fetch_all(pool).await)?)
}
