//! SQL of bundles (`ticketing_bundles`) and their events (`ticketing_bundle_events`).

use crate::model::{BundleRow, EventRow};
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`BundleRow`].
macro_rules! bundle_columns {
    () => {
        "id, owner_id, name, description, price_minor, currency, created_at, updated_at"
    };
}

/// A bundle's editable fields, checked.
pub struct BundleFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub price_minor: i64,
    pub currency: &'a str,
}

pub async fn insert_bundle(
    tx: &mut Tx,
    id: Uuid,
    owner: Uuid,
    f: &BundleFields<'_>,
    now: Ts,
) -> Result<BundleRow, DbError> {
    let sql = concat!(
        "INSERT INTO ticketing_bundles (id, owner_id, name, description, price_minor, currency, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
        bundle_columns!()
    );
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, BundleRow>(sql)
            .bind(id)
            .bind(owner)
            .bind(f.name)
            .bind(f.description)
            .bind(f.price_minor)
            .bind(f.currency)
            .bind(now)
            .fetch_one(conn)
            .await
    })?)
}

pub async fn update_bundle(tx: &mut Tx, id: Uuid, f: &BundleFields<'_>, now: Ts) -> Result<Option<BundleRow>, DbError> {
    let sql = concat!(
        "UPDATE ticketing_bundles SET name = $2, description = $3, price_minor = $4, currency = $5, updated_at = $6
         WHERE id = $1 RETURNING ",
        bundle_columns!()
    );
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, BundleRow>(sql)
            .bind(id)
            .bind(f.name)
            .bind(f.description)
            .bind(f.price_minor)
            .bind(f.currency)
            .bind(now)
            .fetch_optional(conn)
            .await
    })?)
}

pub async fn bundle(db: &Db, id: Uuid) -> Result<Option<BundleRow>, DbError> {
    let sql = concat!("SELECT ", bundle_columns!(), " FROM ticketing_bundles WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, BundleRow>(sql).bind(id).fetch_optional(pool).await)?)
}

/// How a bundle read in a transaction is locked on PostgreSQL (SQLite's write transactions are
/// exclusive already).
#[derive(Clone, Copy)]
pub enum Lock {
    /// Purchases: many at once, but not while its events change.
    Share,
    /// Changes to its events, fields or existence.
    Update,
}

/// A bundle read in a write transaction, locked: a purchase never sees the bundle's events
/// change under it, so a ticket always has a seat in every event of its bundle.
pub async fn bundle_in(tx: &mut Tx, id: Uuid, lock: Lock) -> Result<Option<BundleRow>, DbError> {
    const SQL: &str = concat!("SELECT ", bundle_columns!(), " FROM ticketing_bundles WHERE id = $1");
    const SHARE: &str = concat!("SELECT ", bundle_columns!(), " FROM ticketing_bundles WHERE id = $1 FOR SHARE");
    const UPDATE: &str = concat!("SELECT ", bundle_columns!(), " FROM ticketing_bundles WHERE id = $1 FOR UPDATE");
    Ok(match tx {
        Tx::Sqlite(inner, _) => sqlx::query_as::<_, BundleRow>(SQL).bind(id).fetch_optional(&mut **inner).await,
        Tx::Postgres(inner) => {
            let sql = match lock {
                Lock::Share => SHARE,
                Lock::Update => UPDATE,
            };
            sqlx::query_as::<_, BundleRow>(sql).bind(id).fetch_optional(&mut **inner).await
        }
    }?)
}

pub async fn delete_bundle(tx: &mut Tx, id: Uuid) -> Result<(), DbError> {
    execute_tx!(tx, sqlx::query("DELETE FROM ticketing_bundles WHERE id = $1").bind(id))?;
    Ok(())
}

/// Whether any ticket of the bundle was ever sold (valid or not).
pub async fn has_tickets(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM ticketing_tickets WHERE bundle_id = $1 LIMIT 1")
            .bind(id)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_some())
}

/// Puts the event in the bundle (nothing changes if it is there).
pub async fn add_event(tx: &mut Tx, bundle: Uuid, event: Uuid) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO ticketing_bundle_events (bundle_id, event_id) VALUES ($1, $2)
             ON CONFLICT (bundle_id, event_id) DO NOTHING"
        )
        .bind(bundle)
        .bind(event)
    )?;
    Ok(())
}

/// Takes the event out of the bundle; false if it was not in it.
pub async fn remove_event(tx: &mut Tx, bundle: Uuid, event: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("DELETE FROM ticketing_bundle_events WHERE bundle_id = $1 AND event_id = $2")
            .bind(bundle)
            .bind(event)
    )?;
    Ok(n == 1)
}

/// Whether the event is in any bundle.
pub async fn event_in_a_bundle(tx: &mut Tx, event: Uuid) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT bundle_id FROM ticketing_bundle_events WHERE event_id = $1 LIMIT 1")
            .bind(event)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_some())
}

/// The events of a bundle in a transaction, by id: the order seats are taken in, the same for
/// every purchase, so two bundles sharing events never wait on each other in a circle.
pub async fn events_in(tx: &mut Tx, bundle: Uuid) -> Result<Vec<EventRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        e_columns!(),
        " FROM ticketing_bundle_events be JOIN ticketing_events e ON e.id = be.event_id
         WHERE be.bundle_id = $1 ORDER BY e.id"
    );
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, EventRow>(sql).bind(bundle).fetch_all(conn).await)?)
}

/// An event with the bundle it belongs to.
#[derive(sqlx::FromRow)]
pub struct MemberRow {
    pub bundle_id: Uuid,
    #[sqlx(flatten)]
    pub event: EventRow,
}

/// The events of the given bundles, soonest first.
pub async fn events_of(db: &Db, bundles: &[Uuid]) -> Result<Vec<MemberRow>, DbError> {
    let mut rows = Vec::new();
    for chunk in bundles.chunks(500) {
        rows.extend(with_db!(db, |pool| {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT be.bundle_id, ",
                e_columns!(),
                " FROM ticketing_bundle_events be JOIN ticketing_events e ON e.id = be.event_id WHERE be.bundle_id IN ("
            ));
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(") ORDER BY e.starts_at, e.id");
            query.build_query_as::<MemberRow>().fetch_all(pool).await
        })?);
    }
    Ok(rows)
}

/// Bundles anyone may see (every event of them published, and at least one), with the
/// caller's own, newest first; `owner` narrows to one organiser's.
pub async fn list_bundles(
    db: &Db,
    caller: Option<Uuid>,
    owner: Option<Uuid>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<BundleRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        bundle_columns!(),
        " FROM ticketing_bundles b
         WHERE (b.owner_id = $1 OR (
                 EXISTS (SELECT 1 FROM ticketing_bundle_events be WHERE be.bundle_id = b.id)
                 AND NOT EXISTS (SELECT 1 FROM ticketing_bundle_events be JOIN ticketing_events e ON e.id = be.event_id
                                 WHERE be.bundle_id = b.id AND e.published_at IS NULL)))
           AND ($2 IS NULL OR b.owner_id = $2)
           AND ($3 IS NULL OR b.id < $3)
         ORDER BY b.id DESC LIMIT $4"
    );
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, BundleRow>(sql).bind(caller).bind(owner).bind(before).bind(limit + 1).fetch_all(pool).await
    })?)
}
