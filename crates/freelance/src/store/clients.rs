//! The SQL of `freelance_clients`. Every statement names the owner: a row of another user is
//! not found, the same as a row that does not exist.

use crate::model::ClientRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_write, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`ClientRow`].
macro_rules! client_columns {
    () => {
        "id, owner_id, name, email, phone, company, address, tax_id, currency, hourly_rate_minor, notes,
         archived_at, created_at, updated_at"
    };
}

/// A client's editable fields, checked.
pub struct ClientFields {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
    pub tax_id: Option<String>,
    pub currency: Option<String>,
    pub hourly_rate_minor: Option<i64>,
    pub notes: Option<String>,
}

/// The folded text `q` searches.
fn search(f: &ClientFields) -> String {
    let parts = [Some(f.name.as_str()), f.company.as_deref(), f.email.as_deref()];
    platform::text::fold(&parts.into_iter().flatten().collect::<Vec<_>>().join(" "))
}

/// Binds `$1` the id, `$2` the owner, `$3`–`$12` the fields and the search text, and `$13` the
/// time, the numbering both the insert and the update use.
macro_rules! bind_client {
    ($query:expr, $id:expr, $owner:expr, $f:expr, $now:expr) => {
        $query
            .bind($id)
            .bind($owner)
            .bind(&$f.name)
            .bind(&$f.email)
            .bind(&$f.phone)
            .bind(&$f.company)
            .bind(&$f.address)
            .bind(&$f.tax_id)
            .bind(&$f.currency)
            .bind($f.hourly_rate_minor)
            .bind(&$f.notes)
            .bind(search($f))
            .bind($now)
    };
}

pub async fn insert(db: &Db, id: Uuid, owner: Uuid, f: &ClientFields, now: Ts) -> Result<ClientRow, DbError> {
    let sql = concat!(
        "INSERT INTO freelance_clients (id, owner_id, name, email, phone, company, address, tax_id, currency,
           hourly_rate_minor, notes, search, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING ",
        client_columns!()
    );
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| bind_client!(sqlx::query_as::<_, ClientRow>(sql), id, owner, f, now).fetch_one(pool).await)?)
}

pub async fn update(tx: &mut Tx, id: Uuid, owner: Uuid, f: &ClientFields, now: Ts) -> Result<ClientRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_clients SET name = $3, email = $4, phone = $5, company = $6, address = $7,
           tax_id = $8, currency = $9, hourly_rate_minor = $10, notes = $11, search = $12, updated_at = $13
         WHERE id = $1 AND owner_id = $2 RETURNING ",
        client_columns!()
    );
    with_tx!(tx, |conn| bind_client!(sqlx::query_as::<_, ClientRow>(sql), id, owner, f, now)
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)
}

/// Archives (`Some(now)`) or restores (`None`) a client.
pub async fn set_archived(tx: &mut Tx, id: Uuid, owner: Uuid, at: Option<Ts>, now: Ts) -> Result<ClientRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_clients SET archived_at = $3, updated_at = $4 WHERE id = $1 AND owner_id = $2 RETURNING ",
        client_columns!()
    );
    with_tx!(tx, |conn| sqlx::query_as::<_, ClientRow>(sql)
        .bind(id)
        .bind(owner)
        .bind(at)
        .bind(now)
        .fetch_optional(conn)
        .await)?
    .ok_or(DbError::NotFound)
}

/// The client, locked until `tx` ends: a change reads and writes it whole, so two changes of
/// different fields must not interleave (on SQLite the transaction holds the write lock already).
pub async fn lock(tx: &mut Tx, id: Uuid, owner: Uuid) -> Result<ClientRow, DbError> {
    let select = concat!("SELECT ", client_columns!(), " FROM freelance_clients WHERE id = $1 AND owner_id = $2");
    let row = match tx {
        Tx::Sqlite(inner, _) => {
            sqlx::query_as::<_, ClientRow>(select).bind(id).bind(owner).fetch_optional(&mut **inner).await?
        }
        Tx::Postgres(inner) => {
            let sql = concat!(
                "SELECT ",
                client_columns!(),
                " FROM freelance_clients WHERE id = $1 AND owner_id = $2 FOR UPDATE"
            );
            sqlx::query_as::<_, ClientRow>(sql).bind(id).bind(owner).fetch_optional(&mut **inner).await?
        }
    };
    row.ok_or(DbError::NotFound)
}

pub async fn get(db: &Db, id: Uuid, owner: Uuid) -> Result<ClientRow, DbError> {
    let sql = concat!("SELECT ", client_columns!(), " FROM freelance_clients WHERE id = $1 AND owner_id = $2");
    with_db!(db, |pool| sqlx::query_as::<_, ClientRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?
        .ok_or(DbError::NotFound)
}

/// Deletes a client; false when the owner has no such client.
pub async fn delete(db: &Db, id: Uuid, owner: Uuid) -> Result<bool, DbError> {
    let done = execute_write!(
        db,
        sqlx::query("DELETE FROM freelance_clients WHERE id = $1 AND owner_id = $2").bind(id).bind(owner)
    )?;
    Ok(done > 0)
}

/// What a list of clients is narrowed to.
pub struct Filter {
    pub owner: Uuid,
    /// A LIKE pattern over the folded name, company and email.
    pub pattern: Option<String>,
    /// Archived clients only (true) or active ones only (false).
    pub archived: bool,
    /// The last id of the previous page.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The owner's clients, newest first.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<ClientRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        client_columns!(),
        " FROM freelance_clients
         WHERE owner_id = $1
           AND ($2 IS NULL OR search LIKE $2 ESCAPE '\\')
           AND ((archived_at IS NOT NULL) = $3)
           AND id < $4
         ORDER BY id DESC LIMIT $5"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ClientRow>(sql)
        .bind(f.owner)
        .bind(f.pattern.as_deref())
        .bind(f.archived)
        .bind(f.before.unwrap_or(Uuid::max()))
        .bind(f.limit + 1)
        .fetch_all(pool)
        .await)?)
}

/// Every client of `owner`, oldest first (for their data export).
pub async fn all_of(db: &Db, owner: Uuid) -> Result<Vec<ClientRow>, DbError> {
    let sql = concat!("SELECT ", client_columns!(), " FROM freelance_clients WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ClientRow>(sql).bind(owner).fetch_all(pool).await)?)
}
