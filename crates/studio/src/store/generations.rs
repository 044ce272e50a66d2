//! The SQL of generations. A generation leaves `queued`/`running` through exactly one
//! statement that checks the status it leaves, so two workers (or a worker and the sweep)
//! cannot both settle it.

use crate::model::GenerationRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`GenerationRow`].
macro_rules! generation_columns {
    () => {
        "id, owner_id, kind, prompt, template_id, character_id, parent_id, status, error, metadata, result_key,
         thumbnail_key, width, height, deadline, started_at, finished_at, created_at, updated_at"
    };
}

/// A new generation's fields.
pub struct NewGeneration<'a> {
    pub id: Uuid,
    pub owner: Uuid,
    pub kind: &'a str,
    pub prompt: &'a str,
    pub template_id: Option<Uuid>,
    pub character_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub metadata: &'a str,
}

pub async fn insert(tx: &mut Tx, g: &NewGeneration<'_>, now: Ts) -> Result<GenerationRow, DbError> {
    let sql = concat!(
        "INSERT INTO studio_generations (id, owner_id, kind, prompt, template_id, character_id, parent_id, status,
           metadata, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9, $9) RETURNING ",
        generation_columns!()
    );
    with_tx!(tx, |conn| sqlx::query_as::<_, GenerationRow>(sql)
        .bind(g.id)
        .bind(g.owner)
        .bind(g.kind)
        .bind(g.prompt)
        .bind(g.template_id)
        .bind(g.character_id)
        .bind(g.parent_id)
        .bind(g.metadata)
        .bind(now)
        .fetch_one(conn)
        .await)
    .map_err(Into::into)
}

pub async fn find(db: &Db, owner: Uuid, id: Uuid) -> Result<Option<GenerationRow>, DbError> {
    let sql = concat!("SELECT ", generation_columns!(), " FROM studio_generations WHERE id = $1 AND owner_id = $2");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, GenerationRow>(sql).bind(id).bind(owner).fetch_optional(pool).await)?)
}

/// Any user's generation (the worker's read).
pub async fn find_any(db: &Db, id: Uuid) -> Result<Option<GenerationRow>, DbError> {
    let sql = concat!("SELECT ", generation_columns!(), " FROM studio_generations WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, GenerationRow>(sql).bind(id).fetch_optional(pool).await)?)
}

/// The owner's generations, newest first, below `before`.
pub async fn list(db: &Db, owner: Uuid, before: Uuid, limit: i64) -> Result<Vec<GenerationRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        generation_columns!(),
        " FROM studio_generations WHERE owner_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, GenerationRow>(sql)
        .bind(owner)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(pool)
        .await)?)
}

/// Takes a queued generation to `running` until `deadline`; None when it is not queued.
pub async fn start(db: &Db, id: Uuid, deadline: Ts, now: Ts) -> Result<Option<GenerationRow>, DbError> {
    let sql = concat!(
        "UPDATE studio_generations SET status = 'running', deadline = $2, started_at = $3, updated_at = $3
         WHERE id = $1 AND status = 'queued' RETURNING ",
        generation_columns!()
    );
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| sqlx::query_as::<_, GenerationRow>(sql)
        .bind(id)
        .bind(deadline)
        .bind(now)
        .fetch_optional(pool)
        .await)?)
}

/// The stored result of a generation.
pub struct Outcome<'a> {
    pub key: &'a str,
    pub thumbnail_key: &'a str,
    pub width: i64,
    pub height: i64,
}

/// Settles a running generation as succeeded; answers false when it was settled already.
pub async fn succeed(tx: &mut Tx, id: Uuid, out: &Outcome<'_>, now: Ts) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query(
            "UPDATE studio_generations SET status = 'succeeded', result_key = $2, thumbnail_key = $3, width = $4,
               height = $5, finished_at = $6, updated_at = $6
             WHERE id = $1 AND status = 'running'"
        )
        .bind(id)
        .bind(out.key)
        .bind(out.thumbnail_key)
        .bind(out.width)
        .bind(out.height)
        .bind(now)
    )?;
    Ok(n == 1)
}

/// Settles a generation as failed, a queued one only when `queued_only`, else a queued or
/// running one; answers its owner when this call did it.
pub async fn fail(tx: &mut Tx, id: Uuid, error: &str, now: Ts, queued_only: bool) -> Result<Option<Uuid>, DbError> {
    macro_rules! failing {
        ($from:literal) => {
            concat!(
                "UPDATE studio_generations SET status = 'failed', error = $2, finished_at = $3, updated_at = $3
                 WHERE id = $1 AND status IN ",
                $from,
                " RETURNING owner_id"
            )
        };
    }
    let sql = if queued_only { failing!("('queued')") } else { failing!("('queued', 'running')") };
    let row: Option<(Uuid,)> =
        with_tx!(tx, |conn| sqlx::query_as(sql).bind(id).bind(error).bind(now).fetch_optional(conn).await)?;
    Ok(row.map(|(owner,)| owner))
}

/// Queued generations ordered before `before` (the sweep hands them to a run again: the
/// instance that took them may have stopped).
pub async fn waiting(db: &Db, before: Ts, limit: i64) -> Result<Vec<GenerationRow>, DbError> {
    let sql = concat!(
        "SELECT ",
        generation_columns!(),
        " FROM studio_generations WHERE status = 'queued' AND created_at < $1 ORDER BY created_at LIMIT $2"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, GenerationRow>(sql).bind(before).bind(limit).fetch_all(pool).await)?)
}

/// How many of the owner's generations are queued or running.
pub async fn open_count(tx: &mut Tx, owner: Uuid) -> Result<i64, DbError> {
    let (n,): (i64,) = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT COUNT(*) FROM studio_generations WHERE owner_id = $1 AND status IN ('queued', 'running')",
        )
        .bind(owner)
        .fetch_one(conn)
        .await
    })?;
    Ok(n)
}

/// Generations left behind: running past their deadline, or queued since before `queued_before`;
/// with whether each is still queued.
pub async fn stranded(db: &Db, now: Ts, queued_before: Ts, limit: i64) -> Result<Vec<(Uuid, bool)>, DbError> {
    let rows: Vec<(Uuid, String)> = with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, status FROM studio_generations
             WHERE (status = 'running' AND deadline < $1) OR (status = 'queued' AND created_at < $2)
             LIMIT $3",
        )
        .bind(now)
        .bind(queued_before)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows.into_iter().map(|(id, status)| (id, status == "queued")).collect())
}

/// The owner's generations in all, since `since`, and still holding a credit.
pub async fn counts(db: &Db, owner: Uuid, since: Ts) -> Result<(i64, i64, i64), DbError> {
    let row: (i64, i64, i64) = with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT COUNT(*),
                    COALESCE(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN status IN ('queued', 'running') THEN 1 ELSE 0 END), 0)
             FROM studio_generations WHERE owner_id = $1",
        )
        .bind(owner)
        .bind(since)
        .fetch_one(pool)
        .await
    })?;
    Ok(row)
}

/// Every stored file of the owner's generations (their account's deletion removes them).
pub async fn files_of(tx: &mut Tx, owner: Uuid) -> Result<Vec<String>, DbError> {
    let rows: Vec<(Option<String>, Option<String>)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT result_key, thumbnail_key FROM studio_generations WHERE owner_id = $1")
            .bind(owner)
            .fetch_all(conn)
            .await
    })?;
    Ok(rows.into_iter().flat_map(|(a, b)| [a, b]).flatten().collect())
}

/// Every generation of the owner, oldest first (their export).
pub async fn all_of(db: &Db, owner: Uuid) -> Result<Vec<GenerationRow>, DbError> {
    let sql = concat!("SELECT ", generation_columns!(), " FROM studio_generations WHERE owner_id = $1 ORDER BY id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, GenerationRow>(sql).bind(owner).fetch_all(pool).await)?)
}
