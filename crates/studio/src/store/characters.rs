//! The SQL of characters.

use crate::model::CharacterRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`CharacterRow`].
macro_rules! character_columns {
    () => {
        "id, owner_id, name, images, created_at, updated_at"
    };
}

pub async fn insert(db: &Db, row: &CharacterRow) -> Result<(), DbError> {
    platform::execute_write!(
        db,
        sqlx::query(
            "INSERT INTO studio_characters (id, owner_id, name, images, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(row.id)
        .bind(row.owner_id)
        .bind(&row.name)
        .bind(&row.images)
        .bind(row.created_at)
        .bind(row.updated_at)
    )?;
    Ok(())
}

pub async fn find(db: &Db, owner: Uuid, id: Uuid) -> Result<Option<CharacterRow>, DbError> {
    let sql = concat!("SELECT ", character_columns!(), " FROM studio_characters WHERE id = $1 AND owner_id = $2");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, CharacterRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?)
}

/// The owner's characters, newest first, below `before`.
pub async fn list(db: &Db, owner: Uuid, before: Uuid, limit: i64) -> Result<Vec<CharacterRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        character_columns!(),
        " FROM studio_characters WHERE owner_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, CharacterRow>(sql)
        .bind(owner)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(pool)
        .await)?)
}

pub async fn rename(db: &Db, owner: Uuid, id: Uuid, name: &str, now: Ts) -> Result<CharacterRow, DbError> {
    let sql = concat!(
        "UPDATE studio_characters SET name = $3, updated_at = $4 WHERE id = $1 AND owner_id = $2 RETURNING ",
        character_columns!()
    );
    let _turn = db.writer_turn().await?;
    with_db!(db, |pool| sqlx::query_as::<_, CharacterRow>(sql)
        .bind(id)
        .bind(owner)
        .bind(name)
        .bind(now)
        .fetch_optional(pool)
        .await)?
    .ok_or(DbError::NotFound)
}

/// Deletes the character; answers the row it was.
pub async fn delete(tx: &mut Tx, owner: Uuid, id: Uuid) -> Result<CharacterRow, DbError> {
    let sql = concat!("DELETE FROM studio_characters WHERE id = $1 AND owner_id = $2 RETURNING ", character_columns!());
    with_tx!(tx, |conn| sqlx::query_as::<_, CharacterRow>(sql).bind(id).bind(owner).fetch_optional(conn).await)?
        .ok_or(DbError::NotFound)
}

/// Every character of the owner, for their export.
pub async fn all_of_owner(db: &Db, owner: Uuid) -> Result<Vec<CharacterRow>, DbError> {
    let sql = concat!("SELECT ", character_columns!(), " FROM studio_characters WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, CharacterRow>(sql).bind(owner).fetch_all(pool).await)?)
}

/// Every character of the owner, in the transaction that deletes their account (whose files go).
pub async fn all_of(tx: &mut Tx, owner: Uuid) -> Result<Vec<CharacterRow>, DbError> {
    let sql = concat!("SELECT ", character_columns!(), " FROM studio_characters WHERE owner_id = $1 ORDER BY id");
    Ok(with_tx!(tx, |conn| sqlx::query_as::<_, CharacterRow>(sql).bind(owner).fetch_all(conn).await)?)
}
