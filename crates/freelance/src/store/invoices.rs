//! The SQL of invoices, their lines, taxes and payments. Every statement that finds an invoice
//! by what a request names takes its owner too (another user's invoice is not found, the same
//! as one that does not exist); the statements that change an invoice already found that way
//! (`mark_sent`, `set_state`, the claims, payments) take its id alone.

use crate::model::{InvoiceRow, LineRow, PaymentRow, TaxRow};
use chrono::NaiveDate;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of an [`InvoiceRow`].
macro_rules! invoice_columns {
    () => {
        "id, owner_id, client_id, project_id, number, status, currency, terms, issued_on, due_on,
         discount_percent_milli, discount_minor, subtotal_minor, discount_total_minor, tax_total_minor,
         total_minor, paid_minor, notes, public_token_hash, sent_at, paid_at, overdue_at, reminded_at,
         voided_at, recur_every, recur_next_on, recurred_from, created_at, updated_at"
    };
}

/// A draft's editable content, checked, with its computed amounts.
#[derive(Debug, Clone)]
pub struct DraftFields {
    pub client_id: Uuid,
    pub project_id: Option<Uuid>,
    pub currency: String,
    pub terms: String,
    pub discount_percent_milli: Option<i64>,
    pub discount_minor: Option<i64>,
    pub subtotal_minor: i64,
    pub discount_total_minor: i64,
    pub tax_total_minor: i64,
    pub total_minor: i64,
    pub notes: Option<String>,
    pub lines: Vec<LineRow>,
    pub taxes: Vec<TaxRow>,
}

/// Binds `$1` the id, `$2` the owner, `$3`–`$13` a draft's fields and `$14` the time, the
/// numbering both the insert and the update use.
macro_rules! bind_draft {
    ($query:expr, $id:expr, $owner:expr, $f:expr, $now:expr) => {
        $query
            .bind($id)
            .bind($owner)
            .bind($f.client_id)
            .bind($f.project_id)
            .bind(&$f.currency)
            .bind(&$f.terms)
            .bind($f.discount_percent_milli)
            .bind($f.discount_minor)
            .bind($f.subtotal_minor)
            .bind($f.discount_total_minor)
            .bind($f.tax_total_minor)
            .bind($f.total_minor)
            .bind(&$f.notes)
            .bind($now)
    };
}

/// Writes a new draft with its lines and taxes.
pub async fn insert(tx: &mut Tx, id: Uuid, owner: Uuid, f: &DraftFields, now: Ts) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "INSERT INTO freelance_invoices (id, owner_id, client_id, project_id, status, currency, terms,
           discount_percent_milli, discount_minor, subtotal_minor, discount_total_minor, tax_total_minor, total_minor,
           paid_minor, notes, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $14, $14) RETURNING ",
        invoice_columns!()
    );
    let row = with_tx!(tx, |conn| bind_draft!(sqlx::query_as::<_, InvoiceRow>(sql), id, owner, f, now)
        .fetch_one(conn)
        .await)?;
    write_items(tx, id, f).await?;
    Ok(row)
}

/// Rewrites a draft (and replaces its lines and taxes); a sent invoice is not found.
pub async fn update_draft(tx: &mut Tx, id: Uuid, owner: Uuid, f: &DraftFields, now: Ts) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_invoices SET client_id = $3, project_id = $4, currency = $5, terms = $6,
           discount_percent_milli = $7, discount_minor = $8, subtotal_minor = $9, discount_total_minor = $10,
           tax_total_minor = $11, total_minor = $12, notes = $13, updated_at = $14
         WHERE id = $1 AND owner_id = $2 AND status = 'draft' RETURNING ",
        invoice_columns!()
    );
    let row = with_tx!(tx, |conn| bind_draft!(sqlx::query_as::<_, InvoiceRow>(sql), id, owner, f, now)
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)?;
    execute_tx!(tx, sqlx::query("DELETE FROM freelance_invoice_lines WHERE invoice_id = $1").bind(id))?;
    execute_tx!(tx, sqlx::query("DELETE FROM freelance_invoice_taxes WHERE invoice_id = $1").bind(id))?;
    write_items(tx, id, f).await?;
    Ok(row)
}

async fn write_items(tx: &mut Tx, id: Uuid, f: &DraftFields) -> Result<(), DbError> {
    for line in &f.lines {
        execute_tx!(
            tx,
            sqlx::query(
                "INSERT INTO freelance_invoice_lines (invoice_id, position, description, quantity_milli,
                   unit_price_minor, amount_minor) VALUES ($1, $2, $3, $4, $5, $6)"
            )
            .bind(id)
            .bind(line.position)
            .bind(&line.description)
            .bind(line.quantity_milli)
            .bind(line.unit_price_minor)
            .bind(line.amount_minor)
        )?;
    }
    for tax in &f.taxes {
        execute_tx!(
            tx,
            sqlx::query(
                "INSERT INTO freelance_invoice_taxes (invoice_id, position, name, rate_milli, amount_minor)
                 VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(id)
            .bind(tax.position)
            .bind(&tax.name)
            .bind(tax.rate_milli)
            .bind(tax.amount_minor)
        )?;
    }
    Ok(())
}

pub async fn get(db: &Db, id: Uuid, owner: Uuid) -> Result<InvoiceRow, DbError> {
    let sql = concat!("SELECT ", invoice_columns!(), " FROM freelance_invoices WHERE id = $1 AND owner_id = $2");
    with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?
        .ok_or(DbError::NotFound)
}

/// The invoice, read inside `tx` (after the owner's books are locked, nothing else changes it).
pub async fn get_in(tx: &mut Tx, id: Uuid, owner: Uuid) -> Result<InvoiceRow, DbError> {
    let sql = concat!("SELECT ", invoice_columns!(), " FROM freelance_invoices WHERE id = $1 AND owner_id = $2");
    with_tx!(tx, |conn| sqlx::query_as::<_, InvoiceRow>(sql).bind(id).bind(owner).fetch_optional(conn).await)?
        .ok_or(DbError::NotFound)
}

pub async fn lines(db: &Db, id: Uuid) -> Result<Vec<LineRow>, DbError> {
    let sql = "SELECT position, description, quantity_milli, unit_price_minor, amount_minor
               FROM freelance_invoice_lines WHERE invoice_id = $1 ORDER BY position";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, LineRow>(sql).bind(id).fetch_all(pool).await)?)
}

pub async fn lines_in(tx: &mut Tx, id: Uuid) -> Result<Vec<LineRow>, DbError> {
    let sql = "SELECT position, description, quantity_milli, unit_price_minor, amount_minor
               FROM freelance_invoice_lines WHERE invoice_id = $1 ORDER BY position";
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, LineRow>(sql).bind(id).fetch_all(conn).await)?)
}

pub async fn taxes(db: &Db, id: Uuid) -> Result<Vec<TaxRow>, DbError> {
    let sql = "SELECT position, name, rate_milli, amount_minor FROM freelance_invoice_taxes
               WHERE invoice_id = $1 ORDER BY position";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TaxRow>(sql).bind(id).fetch_all(pool).await)?)
}

pub async fn payments(db: &Db, id: Uuid) -> Result<Vec<PaymentRow>, DbError> {
    let sql = "SELECT id, invoice_id, amount_minor, paid_on, method, note, created_at FROM freelance_payments
               WHERE invoice_id = $1 ORDER BY paid_on, id";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, PaymentRow>(sql).bind(id).fetch_all(pool).await)?)
}

/// Deletes a draft (its lines and taxes go with it); false when there is no such draft.
pub async fn delete_draft(tx: &mut Tx, id: Uuid, owner: Uuid) -> Result<bool, DbError> {
    let done = execute_tx!(
        tx,
        sqlx::query("DELETE FROM freelance_invoices WHERE id = $1 AND owner_id = $2 AND status = 'draft'")
            .bind(id)
            .bind(owner)
    )?;
    Ok(done > 0)
}

/// Issues a draft: its number, dates and status `sent`.
pub async fn mark_sent(
    tx: &mut Tx,
    id: Uuid,
    number: i64,
    issued_on: NaiveDate,
    due_on: NaiveDate,
    now: Ts,
) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_invoices SET number = $2, status = 'sent', issued_on = $3, due_on = $4, sent_at = $5,
           updated_at = $5
         WHERE id = $1 AND status = 'draft' RETURNING ",
        invoice_columns!()
    );
    with_tx!(tx, |conn| sqlx::query_as::<_, InvoiceRow>(sql)
        .bind(id)
        .bind(number)
        .bind(issued_on)
        .bind(due_on)
        .bind(now)
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)
}

/// Sets what payments and voiding change: status, amount paid and the times.
pub async fn set_state(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
    paid_minor: i64,
    paid_at: Option<Ts>,
    voided_at: Option<Ts>,
    now: Ts,
) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_invoices SET status = $2, paid_minor = $3, paid_at = $4, voided_at = $5, updated_at = $6,
           recur_every = CASE WHEN $2 = 'void' THEN NULL ELSE recur_every END,
           recur_next_on = CASE WHEN $2 = 'void' THEN NULL ELSE recur_next_on END
         WHERE id = $1 RETURNING ",
        invoice_columns!()
    );
    with_tx!(tx, |conn| sqlx::query_as::<_, InvoiceRow>(sql)
        .bind(id)
        .bind(status)
        .bind(paid_minor)
        .bind(paid_at)
        .bind(voided_at)
        .bind(now)
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)
}

pub async fn insert_payment(tx: &mut Tx, p: &PaymentRow) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO freelance_payments (id, invoice_id, amount_minor, paid_on, method, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(p.id)
        .bind(p.invoice_id)
        .bind(p.amount_minor)
        .bind(p.paid_on)
        .bind(&p.method)
        .bind(&p.note)
        .bind(p.created_at)
    )?;
    Ok(())
}

/// Deletes a payment of `invoice`; its amount, or None when there is no such payment.
pub async fn delete_payment(tx: &mut Tx, invoice: Uuid, id: Uuid) -> Result<Option<i64>, DbError> {
    Ok(with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "DELETE FROM freelance_payments WHERE id = $1 AND invoice_id = $2 RETURNING amount_minor"
    )
    .bind(id)
    .bind(invoice)
    .fetch_optional(conn)
    .await)?)
}

/// Whether the owner's client has any invoice (a client with invoices is archived, not deleted).
pub async fn client_has_invoices(db: &Db, client: Uuid) -> Result<bool, DbError> {
    let found = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM (SELECT 1 FROM freelance_invoices WHERE client_id = $1 LIMIT 1) AS found"
    )
    .bind(client)
    .fetch_one(pool)
    .await)?;
    Ok(found > 0)
}

/// What a list of invoices is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub owner: Uuid,
    pub status: Option<String>,
    pub client: Option<Uuid>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// An invoice as a list shows it: the few columns of its summary and its client's name
/// (decoding all of a row's 30 columns was most of a list's time).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub client_id: Uuid,
    pub number: Option<i64>,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub created_at: Ts,
    pub client_name: String,
}

/// The columns of [`Listed`] and the owner's condition; a page's position is a bound on the id
/// (the largest id when there is none), so both databases walk their index from it and stop
/// after `limit + 1` rows, at any depth.
macro_rules! listed {
    ($condition:literal) => {
        concat!(
            "SELECT i.id, i.client_id, i.number, i.status, i.currency, i.total_minor, i.paid_minor, i.issued_on,
               i.due_on, i.created_at, c.name AS client_name
             FROM freelance_invoices i JOIN freelance_clients c ON c.id = i.client_id
             WHERE i.owner_id = $1 AND i.id < $2 AND ($3 IS NULL OR i.client_id = $3) ",
            $condition,
            " ORDER BY i.id DESC LIMIT $4"
        )
    };
}

/// The owner's invoices, newest first, `limit + 1` at most. With a status the query names it
/// outright, so the `(owner_id, status, id)` index serves it.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<Listed>, DbError> {
    let before = f.before.unwrap_or(Uuid::max());
    Ok(match &f.status {
        Some(status) => with_db!(db, |pool| sqlx::query_as::<_, Listed>(listed!("AND i.status = $5"))
            .bind(f.owner)
            .bind(before)
            .bind(f.client)
            .bind(f.limit + 1)
            .bind(status)
            .fetch_all(pool)
            .await)?,
        None => with_db!(db, |pool| sqlx::query_as::<_, Listed>(listed!(""))
            .bind(f.owner)
            .bind(before)
            .bind(f.client)
            .bind(f.limit + 1)
            .fetch_all(pool)
            .await)?,
    })
}

/// Every invoice of `owner`, oldest first (for their data export).
pub async fn all_of(db: &Db, owner: Uuid) -> Result<Vec<InvoiceRow>, DbError> {
    let sql = concat!("SELECT ", invoice_columns!(), " FROM freelance_invoices WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql).bind(owner).fetch_all(pool).await)?)
}

/// Sets (`Some`) or revokes (`None`) the hash of an invoice's public link.
pub async fn set_public_token(
    db: &Db,
    id: Uuid,
    owner: Uuid,
    hash: Option<&str>,
    now: Ts,
) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_invoices SET public_token_hash = $3, updated_at = $4 WHERE id = $1 AND owner_id = $2
         RETURNING ",
        invoice_columns!()
    );
    let _turn = db.writer_turn().await?;
    with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql)
        .bind(id)
        .bind(owner)
        .bind(hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?
    .ok_or(DbError::NotFound)
}

/// The invoice a public link's token hash opens (a draft never: its link is refused).
pub async fn by_public_token(db: &Db, hash: &str) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM freelance_invoices WHERE public_token_hash = $1 AND status <> 'draft'"
    );
    with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql).bind(hash).fetch_optional(pool).await)?
        .ok_or(DbError::NotFound)
}

/// Sets (`Some`) or stops (`None`) an invoice's recurrence.
pub async fn set_recurrence(
    db: &Db,
    id: Uuid,
    owner: Uuid,
    every: Option<&str>,
    next_on: Option<NaiveDate>,
    now: Ts,
) -> Result<InvoiceRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_invoices SET recur_every = $3, recur_next_on = $4, updated_at = $5
         WHERE id = $1 AND owner_id = $2 RETURNING ",
        invoice_columns!()
    );
    let _turn = db.writer_turn().await?;
    with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql)
        .bind(id)
        .bind(owner)
        .bind(every)
        .bind(next_on)
        .bind(now)
        .fetch_optional(pool)
        .await)?
    .ok_or(DbError::NotFound)
}

/// Recurring invoices whose next copy is due by `today`, oldest date first.
pub async fn recurring_due(db: &Db, today: NaiveDate, limit: i64) -> Result<Vec<InvoiceRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM freelance_invoices WHERE recur_next_on <= $1 AND recur_every IS NOT NULL AND status <> 'void'
         ORDER BY recur_next_on, id LIMIT $2"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql).bind(today).bind(limit).fetch_all(pool).await)?)
}

/// Moves a recurrence from `due` to `next`; false when another run moved it first (the copy
/// for `due` is made by whoever moves it).
pub async fn claim_recurrence(tx: &mut Tx, id: Uuid, due: NaiveDate, next: NaiveDate) -> Result<bool, DbError> {
    let done = execute_tx!(
        tx,
        sqlx::query("UPDATE freelance_invoices SET recur_next_on = $3 WHERE id = $1 AND recur_next_on = $2")
            .bind(id)
            .bind(due)
            .bind(next)
    )?;
    Ok(done > 0)
}

/// Marks the copy of a recurring invoice.
pub async fn set_recurred_from(tx: &mut Tx, id: Uuid, from: Uuid) -> Result<(), DbError> {
    execute_tx!(tx, sqlx::query("UPDATE freelance_invoices SET recurred_from = $2 WHERE id = $1").bind(id).bind(from))?;
    Ok(())
}

/// Issued invoices with a balance that were due before `today` and have had no reminder since
/// `remind_before` (none at all, or the last over a week ago).
pub async fn overdue_due(db: &Db, today: NaiveDate, remind_before: Ts, limit: i64) -> Result<Vec<InvoiceRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM freelance_invoices
         WHERE status IN ('sent', 'partially_paid', 'overdue') AND due_on < $1 AND total_minor > paid_minor
           AND (reminded_at IS NULL OR reminded_at <= $2)
         ORDER BY due_on, id LIMIT $3"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, InvoiceRow>(sql)
        .bind(today)
        .bind(remind_before)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
}

/// Marks an invoice overdue (once) and reminded now, if it still qualifies; the row when this
/// run claimed it, None when another run did or it was paid meanwhile.
pub async fn claim_overdue(tx: &mut Tx, id: Uuid, remind_before: Ts, now: Ts) -> Result<Option<InvoiceRow>, DbError> {
    let sql = concat!(
        "UPDATE freelance_invoices SET status = 'overdue', overdue_at = COALESCE(overdue_at, $3), reminded_at = $3,
           updated_at = $3
         WHERE id = $1 AND status IN ('sent', 'partially_paid', 'overdue') AND total_minor > paid_minor
           AND (reminded_at IS NULL OR reminded_at <= $2) RETURNING ",
        invoice_columns!()
    );
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, InvoiceRow>(sql)
        .bind(id)
        .bind(remind_before)
        .bind(now)
        .fetch_optional(conn)
        .await)?)
}

/// An open balance or a payment, for the dashboard's sums (added up by the caller in 128
/// bits: a sum in SQL could overflow `BIGINT`, which is an error on both databases).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Money {
    pub currency: String,
    pub minor: i64,
    /// The payment's day; the invoice's due date for a balance.
    pub day: Option<NaiveDate>,
    /// For a balance: whether the invoice is overdue.
    pub overdue: bool,
}

/// The balances of the owner's issued, unpaid invoices.
pub async fn balances(db: &Db, owner: Uuid) -> Result<Vec<Money>, DbError> {
    let sql = "SELECT currency, total_minor - paid_minor AS minor, due_on AS day, status = 'overdue' AS overdue
               FROM freelance_invoices
               WHERE owner_id = $1 AND status IN ('sent', 'partially_paid', 'overdue')";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, Money>(sql).bind(owner).fetch_all(pool).await)?)
}

/// The owner's payments since `since` (of invoices not void).
pub async fn payments_since(db: &Db, owner: Uuid, since: NaiveDate) -> Result<Vec<Money>, DbError> {
    let sql = "SELECT i.currency, p.amount_minor AS minor, p.paid_on AS day, FALSE AS overdue
               FROM freelance_payments p JOIN freelance_invoices i ON i.id = p.invoice_id
               WHERE i.owner_id = $1 AND p.paid_on >= $2 AND i.status <> 'void'";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, Money>(sql).bind(owner).bind(since).fetch_all(pool).await)?)
}
