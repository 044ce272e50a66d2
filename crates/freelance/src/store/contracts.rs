//! The SQL of `freelance_contracts`. Every statement names the owner.

use crate::model::ContractRow;
use chrono::NaiveDate;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_write, with_db, with_tx};
use uuid::Uuid;

macro_rules! contract_columns {
    () => {
        "id, owner_id, client_id, project_id, template, title, body, status, value_minor, currency, starts_on,
         ends_on, sent_at, signed_at, activated_at, ended_at, created_at, updated_at"
    };
}

/// A contract's editable content, checked and filled.
#[derive(Debug, Clone)]
pub struct ContractFields {
    pub client_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub template: String,
    pub title: String,
    pub body: String,
    pub value_minor: Option<i64>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

/// Binds `$1` the id, `$2` the owner, `$3`–`$11` a contract's fields and `$12` the time, the
/// numbering both the insert and the update use.
macro_rules! bind_contract {
    ($query:expr, $id:expr, $owner:expr, $f:expr, $now:expr) => {
        $query
            .bind($id)
            .bind($owner)
            .bind($f.client_id)
            .bind($f.project_id)
            .bind(&$f.template)
            .bind(&$f.title)
            .bind(&$f.body)
            .bind($f.value_minor)
            .bind(&$f.currency)
            .bind($f.starts_on)
            .bind($f.ends_on)
            .bind($now)
    };
}

pub async fn insert(db: &Db, id: Uuid, owner: Uuid, f: &ContractFields, now: Ts) -> Result<ContractRow, DbError> {
    let sql = concat!(
        "INSERT INTO freelance_contracts (id, owner_id, client_id, project_id, template, title, body, status,
           value_minor, currency, starts_on, ends_on, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9, $10, $11, $12, $12) RETURNING ",
        contract_columns!()
    );
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| bind_contract!(sqlx::query_as::<_, ContractRow>(sql), id, owner, f, now)
        .fetch_one(pool)
        .await)?)
}

/// The contract, locked until `tx` ends (on SQLite the transaction holds the write lock).
pub async fn lock(tx: &mut Tx, id: Uuid, owner: Uuid) -> Result<ContractRow, DbError> {
    let row = match tx {
        Tx::Sqlite(inner, _) => {
            let sql =
                concat!("SELECT ", contract_columns!(), " FROM freelance_contracts WHERE id = $1 AND owner_id = $2");
            sqlx::query_as::<_, ContractRow>(sql).bind(id).bind(owner).fetch_optional(&mut **inner).await?
        }
        Tx::Postgres(inner) => {
            let sql = concat!(
                "SELECT ",
                contract_columns!(),
                " FROM freelance_contracts WHERE id = $1 AND owner_id = $2 FOR UPDATE"
            );
            sqlx::query_as::<_, ContractRow>(sql).bind(id).bind(owner).fetch_optional(&mut **inner).await?
        }
    };
    row.ok_or(DbError::NotFound)
}

/// Rewrites a contract's content and status.
pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    owner: Uuid,
    f: &ContractFields,
    status: &str,
    times: [Option<Ts>; 4],
    now: Ts,
) -> Result<ContractRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_contracts SET client_id = $3, project_id = $4, template = $5, title = $6, body = $7,
           value_minor = $8, currency = $9, starts_on = $10, ends_on = $11, updated_at = $12, status = $13,
           sent_at = $14, signed_at = $15, activated_at = $16, ended_at = $17
         WHERE id = $1 AND owner_id = $2 RETURNING ",
        contract_columns!()
    );
    with_tx!(tx, |conn| bind_contract!(sqlx::query_as::<_, ContractRow>(sql), id, owner, f, now)
        .bind(status)
        .bind(times[0])
        .bind(times[1])
        .bind(times[2])
        .bind(times[3])
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)
}

pub async fn get(db: &Db, id: Uuid, owner: Uuid) -> Result<ContractRow, DbError> {
    let sql = concat!("SELECT ", contract_columns!(), " FROM freelance_contracts WHERE id = $1 AND owner_id = $2");
    with_db!(db, |pool| sqlx::query_as::<_, ContractRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?
        .ok_or(DbError::NotFound)
}

/// Deletes a draft; false when the owner has no such draft.
pub async fn delete_draft(db: &Db, id: Uuid, owner: Uuid) -> Result<bool, DbError> {
    let done = execute_write!(
        db,
        sqlx::query("DELETE FROM freelance_contracts WHERE id = $1 AND owner_id = $2 AND status = 'draft'")
            .bind(id)
            .bind(owner)
    )?;
    Ok(done > 0)
}

/// What a list of contracts is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub owner: Uuid,
    pub status: Option<String>,
    pub client: Option<Uuid>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The owner's contracts, newest first, `limit + 1` at most.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<ContractRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        contract_columns!(),
        " FROM freelance_contracts WHERE owner_id = $1 AND ($2 IS NULL OR status = $2)
           AND ($3 IS NULL OR client_id = $3) AND id < $4
         ORDER BY id DESC LIMIT $5"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ContractRow>(sql)
        .bind(f.owner)
        .bind(f.status.as_deref())
        .bind(f.client)
        .bind(f.before.unwrap_or(Uuid::max()))
        .bind(f.limit + 1)
        .fetch_all(pool)
        .await)?)
}

/// Every contract of `owner`, oldest first (for their data export).
pub async fn all_of(db: &Db, owner: Uuid) -> Result<Vec<ContractRow>, DbError> {
    let sql = concat!("SELECT ", contract_columns!(), " FROM freelance_contracts WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ContractRow>(sql).bind(owner).fetch_all(pool).await)?)
}
