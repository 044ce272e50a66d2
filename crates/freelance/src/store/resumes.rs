//! The SQL of `freelance_resumes`. Every statement names the owner.

use crate::model::ResumeRow;
use platform::db::{Db, DbError, Ts};
use platform::{execute_write, with_db};
use uuid::Uuid;

macro_rules! resume_columns {
    () => {
        "id, owner_id, title, template, content, created_at, updated_at"
    };
}

pub async fn insert(
    db: &Db,
    id: Uuid,
    owner: Uuid,
    title: &str,
    template: &str,
    content: &str,
    now: Ts,
) -> Result<ResumeRow, DbError> {
    let sql = concat!(
        "INSERT INTO freelance_resumes (id, owner_id, title, template, content, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
        resume_columns!()
    );
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ResumeRow>(sql)
        .bind(id)
        .bind(owner)
        .bind(title)
        .bind(template)
        .bind(content)
        .bind(now)
        .fetch_one(pool)
        .await)?)
}

/// Replaces a resume's title, template and content in one statement (the last change wins
/// whole; a resume is one document).
pub async fn update(
    db: &Db,
    id: Uuid,
    owner: Uuid,
    title: &str,
    template: &str,
    content: &str,
    now: Ts,
) -> Result<ResumeRow, DbError> {
    let sql = concat!(
        "UPDATE freelance_resumes SET title = $3, template = $4, content = $5, updated_at = $6
         WHERE id = $1 AND owner_id = $2 RETURNING ",
        resume_columns!()
    );
    let _turn = db.writer_turn().await?;
    with_db!(db, |pool| sqlx::query_as::<_, ResumeRow>(sql)
        .bind(id)
        .bind(owner)
        .bind(title)
        .bind(template)
        .bind(content)
        .bind(now)
        .fetch_optional(pool)
        .await)?
    .ok_or(DbError::NotFound)
}

pub async fn get(db: &Db, id: Uuid, owner: Uuid) -> Result<ResumeRow, DbError> {
    let sql = concat!("SELECT ", resume_columns!(), " FROM freelance_resumes WHERE id = $1 AND owner_id = $2");
    with_db!(db, |pool| sqlx::query_as::<_, ResumeRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?
        .ok_or(DbError::NotFound)
}

pub async fn delete(db: &Db, id: Uuid, owner: Uuid) -> Result<bool, DbError> {
    let done = execute_write!(
        db,
        sqlx::query("DELETE FROM freelance_resumes WHERE id = $1 AND owner_id = $2").bind(id).bind(owner)
    )?;
    Ok(done > 0)
}

/// The owner's resumes, newest first, `limit + 1` at most.
pub async fn list(db: &Db, owner: Uuid, before: Option<Uuid>, limit: i64) -> Result<Vec<ResumeRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        resume_columns!(),
        " FROM freelance_resumes WHERE owner_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ResumeRow>(sql)
        .bind(owner)
        .bind(before.unwrap_or(Uuid::max()))
        .bind(limit + 1)
        .fetch_all(pool)
        .await)?)
}

/// Every resume of `owner`, oldest first (for their data export).
pub async fn all_of(db: &Db, owner: Uuid) -> Result<Vec<ResumeRow>, DbError> {
    let sql = concat!("SELECT ", resume_columns!(), " FROM freelance_resumes WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ResumeRow>(sql).bind(owner).fetch_all(pool).await)?)
}
