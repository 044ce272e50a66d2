//! All SQL of the ticketing tables, written once for SQLite and PostgreSQL: events here,
//! bundles, sales (purchases, tickets, seats, check-ins) and refunds in their own rooms.

use crate::model::EventRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of an [`EventRow`].
macro_rules! event_columns {
    () => {
        "id, owner_id, name, description, venue, starts_at, ends_at, capacity, seats_sold, price_minor, currency,
         status, published_at, created_at, updated_at"
    };
}

/// The columns of an [`EventRow`] in a join, where the events are `e`.
macro_rules! e_columns {
    () => {
        "e.id, e.owner_id, e.name, e.description, e.venue, e.starts_at, e.ends_at, e.capacity, e.seats_sold,
         e.price_minor, e.currency, e.status, e.published_at, e.created_at, e.updated_at"
    };
}

pub mod bundles;
pub mod refunds;
pub mod sales;

/// An event's editable fields, checked.
pub struct EventFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub venue: &'a str,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub capacity: i64,
    pub price_minor: i64,
    pub currency: &'a str,
}

/// The folded text `q` searches.
fn search(fields: &EventFields<'_>) -> String {
    platform::text::fold(&format!("{} {}", fields.name, fields.venue))
}

/// Binds `$1` the id, `$2`–`$10` the fields and `$11` the time, the numbering both the insert
/// and the update use.
macro_rules! bind_event {
    ($query:expr, $id:expr, $f:expr, $now:expr) => {
        $query
            .bind($id)
            .bind($f.name)
            .bind($f.description)
            .bind($f.venue)
            .bind(search($f))
            .bind($f.starts_at)
            .bind($f.ends_at)
            .bind($f.capacity)
            .bind($f.price_minor)
            .bind($f.currency)
            .bind($now)
    };
}

pub async fn insert_event(
    tx: &mut Tx,
    id: Uuid,
    owner: Uuid,
    f: &EventFields<'_>,
    now: Ts,
) -> Result<EventRow, DbError> {
    let sql = concat!(
        "INSERT INTO ticketing_events (id, name, description, venue, search, starts_at, ends_at, capacity,
           price_minor, currency, created_at, updated_at, owner_id, seats_sold, status, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, 0, 'draft', NULL) RETURNING ",
        event_columns!()
    );
    Ok(with_tx!(tx, |conn| bind_event!(sqlx::query_as::<_, EventRow>(sql), id, f, now)
        .bind(owner)
        .fetch_one(conn)
        .await)?)
}

pub async fn event(db: &Db, id: Uuid) -> Result<Option<EventRow>, DbError> {
    let sql = concat!("SELECT ", event_columns!(), " FROM ticketing_events WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, EventRow>(sql).bind(id).fetch_optional(pool).await)?)
}

/// An event read in a transaction, without a lock.
pub async fn event_in(tx: &mut Tx, id: Uuid) -> Result<Option<EventRow>, DbError> {
    let sql = concat!("SELECT ", event_columns!(), " FROM ticketing_events WHERE id = $1");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, EventRow>(sql).bind(id).fetch_optional(conn).await)?)
}

/// An event read inside a write transaction, locked against concurrent changes on PostgreSQL
/// (SQLite's write transactions are exclusive already): a change computed from it is not lost
/// to another made meanwhile.
pub async fn event_for_update(tx: &mut Tx, id: Uuid) -> Result<Option<EventRow>, DbError> {
    const SQL: &str = concat!("SELECT ", event_columns!(), " FROM ticketing_events WHERE id = $1");
    const SQL_LOCKED: &str = concat!("SELECT ", event_columns!(), " FROM ticketing_events WHERE id = $1 FOR UPDATE");
    Ok(match tx {
        Tx::Sqlite(inner, _) => sqlx::query_as::<_, EventRow>(SQL).bind(id).fetch_optional(&mut **inner).await,
        Tx::Postgres(inner) => sqlx::query_as::<_, EventRow>(SQL_LOCKED).bind(id).fetch_optional(&mut **inner).await,
    }?)
}

/// Writes `f` over the event, unless its capacity would go below the seats sold by then (the
/// condition is part of the statement, so a purchase racing the change cannot slip between a
/// check and the write). None: nothing was written.
pub async fn update_event(tx: &mut Tx, id: Uuid, f: &EventFields<'_>, now: Ts) -> Result<Option<EventRow>, DbError> {
    let sql = concat!(
        "UPDATE ticketing_events SET name = $2, description = $3, venue = $4, search = $5, starts_at = $6,
           ends_at = $7, capacity = $8, price_minor = $9, currency = $10, updated_at = $11
         WHERE id = $1 AND seats_sold <= $8 AND status <> 'cancelled' RETURNING ",
        event_columns!()
    );
    Ok(with_tx!(tx, |conn| bind_event!(sqlx::query_as::<_, EventRow>(sql), id, f, now).fetch_optional(conn).await)?)
}

/// Moves the event to `status` from one of `from`; publishing stamps the first publication.
/// None: it was not in one of `from` (or is gone).
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
    from: &[&str],
    now: Ts,
) -> Result<Option<EventRow>, DbError> {
    let (a, b) = (from.first().copied().unwrap_or(""), from.get(1).copied().unwrap_or(""));
    let sql = concat!(
        "UPDATE ticketing_events SET status = $2, updated_at = $3,
           published_at = CASE WHEN $2 = 'published' AND published_at IS NULL THEN $3 ELSE published_at END
         WHERE id = $1 AND status IN ($4, $5) RETURNING ",
        event_columns!()
    );
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, EventRow>(sql).bind(id).bind(status).bind(now).bind(a).bind(b).fetch_optional(conn).await
    })?)
}

/// Deletes the event if no ticket, valid or void, was ever sold for it (those stay for their
/// buyers' records and the organiser's accounts); false when one was (or it is gone).
pub async fn delete_unsold_event(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query(
            "DELETE FROM ticketing_events WHERE id = $1 AND seats_sold = 0
               AND NOT EXISTS (SELECT 1 FROM ticketing_seats WHERE event_id = $1)"
        )
        .bind(id)
    )?;
    Ok(n == 1)
}

/// Whether any ticket, valid or void, was ever sold for the event.
pub async fn has_sales(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT ticket_id FROM ticketing_seats WHERE event_id = $1 LIMIT 1")
            .bind(id)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_some())
}

/// Takes `quantity` seats of the event if it is on sale (published, not started) and has them
/// left, in one statement: two buyers racing for the last seat cannot both get it. The event
/// as it is afterwards, or None when nothing was taken.
pub async fn take_seats(tx: &mut Tx, id: Uuid, quantity: i64, now: Ts) -> Result<Option<EventRow>, DbError> {
    let sql = concat!(
        "UPDATE ticketing_events SET seats_sold = seats_sold + $2
         WHERE id = $1 AND status = 'published' AND starts_at > $3 AND seats_sold + $2 <= capacity RETURNING ",
        event_columns!()
    );
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, EventRow>(sql).bind(id).bind(quantity).bind(now).fetch_optional(conn).await
    })?)
}

/// Locks the events on PostgreSQL, in id order (SQLite's write transactions are exclusive
/// already). Every write that changes the seats of more than one event, or a ticket and then
/// its events, locks them this way first: all of them in one order, so two such writes never
/// wait on each other in a circle.
pub async fn lock_events(tx: &mut Tx, ids: &[Uuid]) -> Result<(), DbError> {
    if let Tx::Postgres(inner) = tx {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        sqlx::query("SELECT id FROM ticketing_events WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut **inner)
            .await?;
    }
    Ok(())
}

/// Locks the events a ticket has seats at, in id order (see [`lock_events`]).
pub async fn lock_ticket_events(tx: &mut Tx, ticket: Uuid) -> Result<(), DbError> {
    let events = sales::seat_events(tx, ticket).await?;
    lock_events(tx, &events).await
}

/// Gives back the seats of a ticket that became void; the events whose seats were returned.
pub async fn return_seats(tx: &mut Tx, ticket: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "UPDATE ticketing_events SET seats_sold = seats_sold - 1
             WHERE id IN (SELECT event_id FROM ticketing_seats WHERE ticket_id = $1) RETURNING id",
        )
        .bind(ticket)
        .fetch_all(conn)
        .await
    })?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Gives back `count` seats of the event (tickets voided together).
pub async fn return_seat_count(tx: &mut Tx, id: Uuid, count: i64) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("UPDATE ticketing_events SET seats_sold = seats_sold - $2 WHERE id = $1").bind(id).bind(count)
    )?;
    Ok(())
}

/// Events of `owner` (for their account's deletion).
pub async fn owned_events_in(tx: &mut Tx, owner: Uuid) -> Result<Vec<EventRow>, DbError> {
    let sql = concat!("SELECT ", event_columns!(), " FROM ticketing_events WHERE owner_id = $1 ORDER BY id");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, EventRow>(sql).bind(owner).fetch_all(conn).await)?)
}

/// How a list of events is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Soonest first, by start time.
    StartsAt,
    /// Newest first.
    CreatedAt,
}

/// What a list of events is narrowed to; `caller`'s own drafts are listed with the public events.
pub struct Filter {
    pub caller: Option<Uuid>,
    pub owner: Option<Uuid>,
    /// A LIKE pattern over the folded name and venue.
    pub pattern: Option<String>,
    pub starts_after: Option<Ts>,
    pub starts_before: Option<Ts>,
    /// Only events still on sale: published, not started, seats left.
    pub has_seats: bool,
    pub order: Order,
    /// The last row of the previous page: its start time and id.
    pub after: Option<(Ts, Uuid)>,
    pub limit: i64,
}

pub async fn list_events(db: &Db, f: &Filter) -> Result<Vec<EventRow>, DbError> {
    /// The list's statement, ordered by `$order` and continuing after `$after`.
    macro_rules! listing {
        ($after:literal, $order:literal) => {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM ticketing_events
                 WHERE (published_at IS NOT NULL OR owner_id = $1)
                   AND ($2 IS NULL OR owner_id = $2)
                   AND ($3 IS NULL OR search LIKE $3 ESCAPE '\\')
                   AND ($4 IS NULL OR starts_at > $4)
                   AND ($5 IS NULL OR starts_at < $5)
                   AND ($6 = FALSE OR (status = 'published' AND seats_sold < capacity AND starts_at > $11))
                   AND ($7 = FALSE OR ",
                $after,
                ") ORDER BY ",
                $order,
                " LIMIT $10"
            )
        };
    }
    let sql = match f.order {
        Order::StartsAt => listing!("(starts_at > $8 OR (starts_at = $8 AND id > $9))", "starts_at, id"),
        Order::CreatedAt => listing!("id < $9", "id DESC"),
    };
    let (at, id) = f.after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    // With no caller, `owner_id = NULL` matches nothing.
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, EventRow>(sql)
            .bind(f.caller)
            .bind(f.owner)
            .bind(f.pattern.as_deref())
            .bind(f.starts_after)
            .bind(f.starts_before)
            .bind(f.has_seats)
            .bind(f.after.is_some())
            .bind(at)
            .bind(id)
            .bind(f.limit + 1)
            .bind(Ts::now())
            .fetch_all(pool)
            .await
    })?)
}

/// Every event `owner` created, oldest first (for their data export).
pub async fn owned_events(db: &Db, owner: Uuid) -> Result<Vec<EventRow>, DbError> {
    let sql = concat!("SELECT ", event_columns!(), " FROM ticketing_events WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, EventRow>(sql).bind(owner).fetch_all(pool).await)?)
}

/// Whether `owner` has an event others could see.
pub async fn has_published(tx: &mut Tx, owner: Uuid) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM ticketing_events WHERE owner_id = $1 AND published_at IS NOT NULL LIMIT 1")
            .bind(owner)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_some())
}
