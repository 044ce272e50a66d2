//! The SQL of `freelance_time_entries`. Every statement that finds entries by what a request
//! names takes the owner too (another user's entry is not found, the same as one that does not
//! exist); marking and releasing invoiced time go by the entry or invoice found that way.

use crate::model::TimeEntryRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`TimeEntryRow`].
macro_rules! entry_columns {
    () => {
        "id, owner_id, project_id, task_id, client_id, description, started_at, ended_at, billable,
         hourly_rate_minor, currency, invoice_id, invoiced_at, created_at, updated_at"
    };
}

/// An entry's editable fields, checked.
#[derive(Debug, Clone)]
pub struct EntryFields {
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub description: String,
    pub started_at: Ts,
    pub ended_at: Option<Ts>,
    pub billable: bool,
    pub hourly_rate_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Binds `$1` the id, `$2` the owner, `$3`–`$11` an entry's fields and `$12` the time, the
/// numbering both the insert and the update use.
macro_rules! bind_entry {
    ($query:expr, $id:expr, $owner:expr, $f:expr, $now:expr) => {
        $query
            .bind($id)
            .bind($owner)
            .bind($f.project_id)
            .bind($f.task_id)
            .bind($f.client_id)
            .bind(&$f.description)
            .bind($f.started_at)
            .bind($f.ended_at)
            .bind($f.billable)
            .bind($f.hourly_rate_minor)
            .bind(&$f.currency)
            .bind($now)
    };
}

pub async fn insert(tx: &mut Tx, id: Uuid, owner: Uuid, f: &EntryFields, now: Ts) -> Result<TimeEntryRow, DbError> {
    let sql = concat!(
        "INSERT INTO freelance_time_entries (id, owner_id, project_id, task_id, client_id, description, started_at,
           ended_at, billable, hourly_rate_minor, currency, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING ",
        entry_columns!()
    );
    Ok(with_tx!(tx, |conn| bind_entry!(sqlx::query_as::<_, TimeEntryRow>(sql), id, owner, f, now)
        .fetch_one(conn)
        .await)?)
}

/// Rewrites an entry that is not invoiced (an invoiced one is not found).
pub async fn update(tx: &mut Tx, id: Uuid, owner: Uuid, f: &EntryFields, now: Ts) -> Result<TimeEntryRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_time_entries SET project_id = $3, task_id = $4, client_id = $5, description = $6,
           started_at = $7, ended_at = $8, billable = $9, hourly_rate_minor = $10, currency = $11, updated_at = $12
         WHERE id = $1 AND owner_id = $2 AND invoiced_at IS NULL RETURNING ",
        entry_columns!()
    );
    with_tx!(tx, |conn| bind_entry!(sqlx::query_as::<_, TimeEntryRow>(sql), id, owner, f, now)
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)
}

/// The entry, read inside `tx` (after the owner's books are locked, nothing else changes it).
pub async fn get_in(tx: &mut Tx, id: Uuid, owner: Uuid) -> Result<TimeEntryRow, DbError> {
    let sql = concat!("SELECT ", entry_columns!(), " FROM freelance_time_entries WHERE id = $1 AND owner_id = $2");
    with_tx!(tx, |conn| sqlx::query_as::<_, TimeEntryRow>(sql).bind(id).bind(owner).fetch_optional(conn).await)?
        .ok_or(DbError::NotFound)
}

pub async fn get(db: &Db, id: Uuid, owner: Uuid) -> Result<TimeEntryRow, DbError> {
    let sql = concat!("SELECT ", entry_columns!(), " FROM freelance_time_entries WHERE id = $1 AND owner_id = $2");
    with_db!(db, |pool| sqlx::query_as::<_, TimeEntryRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?
        .ok_or(DbError::NotFound)
}

/// The owner's running timer, if any.
pub async fn running(db: &Db, owner: Uuid) -> Result<Option<TimeEntryRow>, DbError> {
    let sql =
        concat!("SELECT ", entry_columns!(), " FROM freelance_time_entries WHERE owner_id = $1 AND ended_at IS NULL");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TimeEntryRow>(sql).bind(owner).fetch_optional(pool).await)?)
}

/// The owner's running timer, read inside `tx`.
pub async fn running_in(tx: &mut Tx, owner: Uuid) -> Result<Option<TimeEntryRow>, DbError> {
    let sql =
        concat!("SELECT ", entry_columns!(), " FROM freelance_time_entries WHERE owner_id = $1 AND ended_at IS NULL");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, TimeEntryRow>(sql).bind(owner).fetch_optional(conn).await)?)
}

/// An entry of the owner's (other than `except`) that shares time with `[start, end)`; a
/// running entry lasts for ever, and so does an open `end`.
pub async fn overlapping(
    tx: &mut Tx,
    owner: Uuid,
    start: Ts,
    end: Option<Ts>,
    except: Option<Uuid>,
) -> Result<Option<Uuid>, DbError> {
    let sql = "SELECT id FROM freelance_time_entries
               WHERE owner_id = $1 AND ($4 IS NULL OR id <> $4)
                 AND ($3 IS NULL OR started_at < $3)
                 AND (ended_at IS NULL OR ended_at > $2)
               ORDER BY started_at LIMIT 1";
    Ok(with_tx!(tx, |conn| sqlx::query_scalar::<_, Uuid>(sql)
        .bind(owner)
        .bind(start)
        .bind(end)
        .bind(except)
        .fetch_optional(conn)
        .await)?)
}

/// Deletes an entry that is not invoiced; false when there is none such.
pub async fn delete(tx: &mut Tx, id: Uuid, owner: Uuid) -> Result<bool, DbError> {
    let done = execute_tx!(
        tx,
        sqlx::query("DELETE FROM freelance_time_entries WHERE id = $1 AND owner_id = $2 AND invoiced_at IS NULL")
            .bind(id)
            .bind(owner)
    )?;
    Ok(done > 0)
}

/// What a list of entries is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub owner: Uuid,
    pub project: Option<Uuid>,
    pub client: Option<Uuid>,
    /// Started at or after.
    pub from: Option<Ts>,
    /// Started before.
    pub to: Option<Ts>,
    pub billable: Option<bool>,
    pub invoiced: Option<bool>,
    /// The position of the previous page's last entry.
    pub after: Option<(Ts, Uuid)>,
    pub limit: i64,
}

/// The owner's entries, latest start first, `limit + 1` at most.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<TimeEntryRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        entry_columns!(),
        " FROM freelance_time_entries
         WHERE owner_id = $1
           AND ($2 IS NULL OR project_id = $2)
           AND ($3 IS NULL OR client_id = $3)
           AND ($4 IS NULL OR started_at >= $4)
           AND ($5 IS NULL OR started_at < $5)
           AND ($6 IS NULL OR billable = $6)
           AND ($7 IS NULL OR (invoiced_at IS NOT NULL) = $7)
           AND (started_at, id) < ($8, $9)
         ORDER BY started_at DESC, id DESC LIMIT $10"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TimeEntryRow>(sql)
        .bind(f.owner)
        .bind(f.project)
        .bind(f.client)
        .bind(f.from)
        .bind(f.to)
        .bind(f.billable)
        .bind(f.invoiced)
        .bind(f.after.map_or_else(Ts::latest, |a| a.0))
        .bind(f.after.map_or(Uuid::max(), |a| a.1))
        .bind(f.limit + 1)
        .fetch_all(pool)
        .await)?)
}

/// Where the owner's entry `id` sorts (the position a cursor names).
pub async fn position(db: &Db, owner: Uuid, id: Uuid) -> Result<Option<Ts>, DbError> {
    let sql = "SELECT started_at FROM freelance_time_entries WHERE id = $1 AND owner_id = $2";
    Ok(with_db!(db, |pool| sqlx::query_scalar::<_, Ts>(sql).bind(id).bind(owner).fetch_optional(pool).await)?)
}

/// The owner's entries that share time with `[from, to)`, running ones included, by start.
pub async fn within(db: &Db, owner: Uuid, from: Ts, to: Ts) -> Result<Vec<TimeEntryRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        entry_columns!(),
        " FROM freelance_time_entries
         WHERE owner_id = $1 AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2)
         ORDER BY started_at, id"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TimeEntryRow>(sql)
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await)?)
}

/// Every entry of `owner`, oldest first (for their data export).
pub async fn all_of(db: &Db, owner: Uuid) -> Result<Vec<TimeEntryRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        entry_columns!(),
        " FROM freelance_time_entries WHERE owner_id = $1 ORDER BY started_at, id"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TimeEntryRow>(sql).bind(owner).fetch_all(pool).await)?)
}

/// The owner's billable, stopped, not yet invoiced time on `project` that ended by `until`,
/// by start.
macro_rules! uninvoiced_sql {
    () => {
        concat!(
            "SELECT ",
            entry_columns!(),
            " FROM freelance_time_entries
             WHERE owner_id = $1 AND project_id = $2 AND billable AND invoiced_at IS NULL
               AND ended_at IS NOT NULL AND ended_at <= $3
             ORDER BY started_at, id"
        )
    };
}

/// The owner's billable, stopped, not yet invoiced time on `project` that ended by `until`.
pub async fn uninvoiced(db: &Db, owner: Uuid, project: Uuid, until: Ts) -> Result<Vec<TimeEntryRow>, DbError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TimeEntryRow>(uninvoiced_sql!())
        .bind(owner)
        .bind(project)
        .bind(until)
        .fetch_all(pool)
        .await)?)
}

/// The same, read inside `tx` (under the books lock).
pub async fn uninvoiced_in(tx: &mut Tx, owner: Uuid, project: Uuid, until: Ts) -> Result<Vec<TimeEntryRow>, DbError> {
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, TimeEntryRow>(uninvoiced_sql!())
        .bind(owner)
        .bind(project)
        .bind(until)
        .fetch_all(conn)
        .await)?)
}

/// Marks an entry invoiced on `invoice`, keeping the rate it was billed at as its own; false
/// when it was invoiced already.
pub async fn mark_invoiced(
    tx: &mut Tx,
    id: Uuid,
    invoice: Uuid,
    rate_minor: i64,
    currency: &str,
    now: Ts,
) -> Result<bool, DbError> {
    let done = execute_tx!(
        tx,
        sqlx::query(
            "UPDATE freelance_time_entries SET invoice_id = $2, invoiced_at = $3, hourly_rate_minor = $4,
               currency = $5, updated_at = $3
             WHERE id = $1 AND invoiced_at IS NULL"
        )
        .bind(id)
        .bind(invoice)
        .bind(now)
        .bind(rate_minor)
        .bind(currency)
    )?;
    Ok(done > 0)
}

/// Gives the time of a deleted or voided invoice back: billable again, at the rate it was
/// billed at.
pub async fn release(tx: &mut Tx, invoice: Uuid, now: Ts) -> Result<u64, DbError> {
    Ok(execute_tx!(
        tx,
        sqlx::query(
            "UPDATE freelance_time_entries SET invoice_id = NULL, invoiced_at = NULL, updated_at = $2
             WHERE invoice_id = $1"
        )
        .bind(invoice)
        .bind(now)
    )?)
}
