//! SQL of what is sold: purchases, tickets, their seats and check-ins.

use crate::model::{AttendeeRow, PurchaseRow, SeatRow, TicketRow};
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`TicketRow`], of tickets named `t`.
macro_rules! ticket_columns {
    () => {
        "t.id, t.code, t.purchase_id, t.buyer_id, t.organizer_id, t.event_id, t.bundle_id, t.price_minor, t.currency,
         t.status, t.created_at, t.voided_at"
    };
}

/// Rows per multi-row `INSERT`: far below SQLite's 32 766 parameters.
const ROWS_PER_INSERT: usize = 500;

/// Inserts the purchases of a checkout group, several rows per statement.
pub async fn insert_purchases(tx: &mut Tx, purchases: &[&PurchaseRow]) -> Result<(), DbError> {
    for chunk in purchases.chunks(ROWS_PER_INSERT) {
        with_tx!(tx, |conn| {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO ticketing_purchases (id, buyer_id, event_id, bundle_id, quantity, amount_minor, currency, created_at) ",
            );
            query.push_values(chunk, |mut row, p| {
                row.push_bind(p.id)
                    .push_bind(p.buyer_id)
                    .push_bind(p.event_id)
                    .push_bind(p.bundle_id)
                    .push_bind(p.quantity)
                    .push_bind(p.amount_minor)
                    .push_bind(&p.currency)
                    .push_bind(p.created_at);
            });
            query.build().execute(conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Inserts the tickets of a checkout group, several rows per statement.
pub async fn insert_tickets(tx: &mut Tx, tickets: &[&TicketRow]) -> Result<(), DbError> {
    for chunk in tickets.chunks(ROWS_PER_INSERT) {
        with_tx!(tx, |conn| {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO ticketing_tickets (id, code, purchase_id, buyer_id, organizer_id, event_id, bundle_id,
                   price_minor, currency, status, created_at, voided_at) ",
            );
            query.push_values(chunk, |mut row, t| {
                row.push_bind(t.id)
                    .push_bind(&t.code)
                    .push_bind(t.purchase_id)
                    .push_bind(t.buyer_id)
                    .push_bind(t.organizer_id)
                    .push_bind(t.event_id)
                    .push_bind(t.bundle_id)
                    .push_bind(t.price_minor)
                    .push_bind(&t.currency)
                    .push_bind(&t.status)
                    .push_bind(t.created_at)
                    .push_bind(t.voided_at);
            });
            query.build().execute(conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Inserts seats `(ticket, event, share of the price)`, several rows per statement.
pub async fn insert_seats(tx: &mut Tx, seats: &[(Uuid, Uuid, i64)]) -> Result<(), DbError> {
    for chunk in seats.chunks(ROWS_PER_INSERT) {
        with_tx!(tx, |conn| {
            let mut query = sqlx::QueryBuilder::new("INSERT INTO ticketing_seats (ticket_id, event_id, amount_minor) ");
            query.push_values(chunk, |mut row, (ticket, event, amount)| {
                row.push_bind(*ticket).push_bind(*event).push_bind(*amount);
            });
            query.build().execute(conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

pub async fn ticket_by_code(db: &Db, code: &str) -> Result<Option<TicketRow>, DbError> {
    let sql = concat!("SELECT ", ticket_columns!(), " FROM ticketing_tickets t WHERE t.code = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TicketRow>(sql).bind(code).fetch_optional(pool).await)?)
}

/// A ticket read in a write transaction, locked on PostgreSQL: a check-in and a buyer giving the
/// ticket back happen one after the other, each seeing what the other did. (Callers that also
/// change seats lock the ticket's events first, see [`super::lock_events`].)
pub async fn ticket_by_code_in(tx: &mut Tx, code: &str) -> Result<Option<TicketRow>, DbError> {
    const SQL: &str = concat!("SELECT ", ticket_columns!(), " FROM ticketing_tickets t WHERE t.code = $1");
    const LOCKED: &str =
        concat!("SELECT ", ticket_columns!(), " FROM ticketing_tickets t WHERE t.code = $1 FOR UPDATE");
    Ok(match tx {
        Tx::Sqlite(inner, _) => sqlx::query_as::<_, TicketRow>(SQL).bind(code).fetch_optional(&mut **inner).await,
        Tx::Postgres(inner) => sqlx::query_as::<_, TicketRow>(LOCKED).bind(code).fetch_optional(&mut **inner).await,
    }?)
}

pub async fn ticket_in(tx: &mut Tx, id: Uuid) -> Result<Option<TicketRow>, DbError> {
    let sql = concat!("SELECT ", ticket_columns!(), " FROM ticketing_tickets t WHERE t.id = $1");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, TicketRow>(sql).bind(id).fetch_optional(conn).await)?)
}

/// Makes a valid ticket void (`cancelled` or `refunded`); false when it was not valid any more,
/// so its seats are returned once whatever races.
pub async fn void_ticket(tx: &mut Tx, id: Uuid, status: &str, now: Ts) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE ticketing_tickets SET status = $2, voided_at = $3 WHERE id = $1 AND status = 'valid'")
            .bind(id)
            .bind(status)
            .bind(now)
    )?;
    Ok(n == 1)
}

/// A ticket read in a transaction, without a lock.
pub async fn ticket_by_code_unlocked(tx: &mut Tx, code: &str) -> Result<Option<TicketRow>, DbError> {
    let sql = concat!("SELECT ", ticket_columns!(), " FROM ticketing_tickets t WHERE t.code = $1");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, TicketRow>(sql).bind(code).fetch_optional(conn).await)?)
}

/// The events a ticket has seats at.
pub async fn seat_events(tx: &mut Tx, ticket: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT event_id FROM ticketing_seats WHERE ticket_id = $1").bind(ticket).fetch_all(conn).await
    })?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Every event that a valid ticket with a seat at `event` also has a seat at (the other events
/// of its bundle tickets), `event` included: what refunding the event's tickets changes.
pub async fn events_sharing_valid_tickets(tx: &mut Tx, event: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT DISTINCT other.event_id FROM ticketing_seats mine
             JOIN ticketing_tickets t ON t.id = mine.ticket_id AND t.status = 'valid'
             JOIN ticketing_seats other ON other.ticket_id = mine.ticket_id
             WHERE mine.event_id = $1",
        )
        .bind(event)
        .fetch_all(conn)
        .await
    })?;
    let mut ids: Vec<Uuid> = rows.into_iter().map(|(id,)| id).collect();
    ids.push(event);
    Ok(ids)
}

/// Refunds every valid ticket with a seat at the event in one statement; the tickets, as
/// (id, buyer).
pub async fn refund_all_at(tx: &mut Tx, event: Uuid, now: Ts) -> Result<Vec<(Uuid, Option<Uuid>)>, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as(
            "UPDATE ticketing_tickets SET status = 'refunded', voided_at = $2
             WHERE status = 'valid' AND id IN (SELECT ticket_id FROM ticketing_seats WHERE event_id = $1)
             RETURNING id, buyer_id",
        )
        .bind(event)
        .bind(now)
        .fetch_all(conn)
        .await
    })?)
}

/// How many seats the given tickets hold at each event.
pub async fn seats_per_event(tx: &mut Tx, tickets: &[Uuid]) -> Result<Vec<(Uuid, i64)>, DbError> {
    let mut counts = std::collections::BTreeMap::<Uuid, i64>::new();
    for chunk in tickets.chunks(500) {
        let rows: Vec<(Uuid, i64)> = with_tx!(tx, |conn| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT event_id, CAST(COUNT(*) AS BIGINT) FROM ticketing_seats WHERE ticket_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(") GROUP BY event_id");
            query.build_query_as::<(Uuid, i64)>().fetch_all(conn).await
        })?;
        for (event, n) in rows {
            *counts.entry(event).or_default() += n;
        }
    }
    Ok(counts.into_iter().collect())
}

/// The seats of the given tickets, with their events' start times.
pub async fn seats_of(db: &Db, tickets: &[Uuid]) -> Result<Vec<SeatRow>, DbError> {
    let mut rows = Vec::new();
    for chunk in tickets.chunks(500) {
        rows.extend(with_db!(db, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT s.ticket_id, s.event_id, e.starts_at, s.checked_in_at
                 FROM ticketing_seats s JOIN ticketing_events e ON e.id = s.event_id WHERE s.ticket_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(") ORDER BY e.starts_at, e.id");
            query.build_query_as::<SeatRow>().fetch_all(pool).await
        })?);
    }
    Ok(rows)
}

/// The seats of one ticket, in a transaction.
pub async fn seats_in(tx: &mut Tx, ticket: Uuid) -> Result<Vec<SeatRow>, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, SeatRow>(
            "SELECT s.ticket_id, s.event_id, e.starts_at, s.checked_in_at
             FROM ticketing_seats s JOIN ticketing_events e ON e.id = s.event_id
             WHERE s.ticket_id = $1 ORDER BY e.starts_at, e.id",
        )
        .bind(ticket)
        .fetch_all(conn)
        .await
    })?)
}

/// Marks the ticket's seat at `event` as used, if it was not; the check-in time as it is
/// afterwards (the first one, when the seat was used already), or None when the ticket has no
/// seat at that event.
pub async fn check_in(tx: &mut Tx, ticket: Uuid, event: Uuid, now: Ts) -> Result<Option<(Ts, bool)>, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query(
            "UPDATE ticketing_seats SET checked_in_at = $3
             WHERE ticket_id = $1 AND event_id = $2 AND checked_in_at IS NULL"
        )
        .bind(ticket)
        .bind(event)
        .bind(now)
    )?;
    if n == 1 {
        return Ok(Some((now, true)));
    }
    let first: Option<(Option<Ts>,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT checked_in_at FROM ticketing_seats WHERE ticket_id = $1 AND event_id = $2")
            .bind(ticket)
            .bind(event)
            .fetch_optional(conn)
            .await
    })?;
    Ok(first.and_then(|(at,)| at).map(|at| (at, false)))
}

/// The buyer's tickets, newest first, before `before`.
pub async fn tickets_of_buyer(
    db: &Db,
    buyer: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TicketRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        ticket_columns!(),
        " FROM ticketing_tickets t WHERE t.buyer_id = $1 AND ($2 IS NULL OR t.id < $2) ORDER BY t.id DESC LIMIT $3"
    );
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, TicketRow>(sql).bind(buyer).bind(before).bind(limit + 1).fetch_all(pool).await
    })?)
}

/// Every ticket of the buyer, oldest first (for their data export).
pub async fn all_tickets_of_buyer(db: &Db, buyer: Uuid) -> Result<Vec<TicketRow>, DbError> {
    let sql = concat!("SELECT ", ticket_columns!(), " FROM ticketing_tickets t WHERE t.buyer_id = $1 ORDER BY t.id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TicketRow>(sql).bind(buyer).fetch_all(pool).await)?)
}

/// The buyer's valid tickets none of whose events has started and none of whose seats was used
/// (their account's deletion gives those seats back).
pub async fn upcoming_tickets_of(tx: &mut Tx, buyer: Uuid, now: Ts) -> Result<Vec<TicketRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        ticket_columns!(),
        " FROM ticketing_tickets t WHERE t.buyer_id = $1 AND t.status = 'valid'
           AND NOT EXISTS (SELECT 1 FROM ticketing_seats s JOIN ticketing_events e ON e.id = s.event_id
                           WHERE s.ticket_id = t.id AND (e.starts_at <= $2 OR s.checked_in_at IS NOT NULL))
         ORDER BY t.id"
    );
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, TicketRow>(sql).bind(buyer).bind(now).fetch_all(conn).await)?)
}

/// Whether the user bought any ticket.
pub async fn has_tickets(tx: &mut Tx, buyer: Uuid) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM ticketing_tickets WHERE buyer_id = $1 LIMIT 1")
            .bind(buyer)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_some())
}

/// The tickets with a seat at the event, by ticket id after `after`.
pub async fn attendees(db: &Db, event: Uuid, after: Option<Uuid>, limit: i64) -> Result<Vec<AttendeeRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, AttendeeRow>(
            "SELECT t.id AS ticket_id, t.code, t.status, t.buyer_id, s.checked_in_at
             FROM ticketing_seats s JOIN ticketing_tickets t ON t.id = s.ticket_id
             WHERE s.event_id = $1 AND ($2 IS NULL OR s.ticket_id > $2)
             ORDER BY s.ticket_id LIMIT $3",
        )
        .bind(event)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(pool)
        .await
    })?)
}

/// One status's numbers at an event: tickets, checked in, money (the seats' shares).
#[derive(sqlx::FromRow)]
pub struct StatusCount {
    pub status: String,
    pub tickets: i64,
    pub checked_in: i64,
    pub amount_minor: i64,
}

/// The event's seats counted by their tickets' status. (PostgreSQL sums BIGINTs to NUMERIC: the
/// casts keep both backends' answers 64-bit integers.)
pub async fn counts_at(db: &Db, event: Uuid) -> Result<Vec<StatusCount>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, StatusCount>(
            "SELECT t.status, COUNT(*) AS tickets,
               CAST(COALESCE(SUM(CASE WHEN s.checked_in_at IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS checked_in,
               CAST(COALESCE(SUM(s.amount_minor), 0) AS BIGINT) AS amount_minor
             FROM ticketing_seats s JOIN ticketing_tickets t ON t.id = s.ticket_id
             WHERE s.event_id = $1 GROUP BY t.status",
        )
        .bind(event)
        .fetch_all(pool)
        .await
    })?)
}

/// Tickets sold per UTC day at the event, oldest first, as (`YYYY-MM-DD`, count).
pub async fn sales_per_day(db: &Db, event: Uuid) -> Result<Vec<(String, i64)>, DbError> {
    Ok(match db {
        // Times are stored as RFC 3339 in UTC: the day is the first ten characters.
        Db::Sqlite(pool, _) => {
            sqlx::query_as(
                "SELECT substr(t.created_at, 1, 10) AS day, COUNT(*)
                 FROM ticketing_seats s JOIN ticketing_tickets t ON t.id = s.ticket_id
                 WHERE s.event_id = $1 GROUP BY day ORDER BY day",
            )
            .bind(event)
            .fetch_all(pool)
            .await
        }
        Db::Postgres(pool) => {
            sqlx::query_as(
                "SELECT to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COUNT(*)
                 FROM ticketing_seats s JOIN ticketing_tickets t ON t.id = s.ticket_id
                 WHERE s.event_id = $1 GROUP BY day ORDER BY day",
            )
            .bind(event)
            .fetch_all(pool)
            .await
        }
    }?)
}
