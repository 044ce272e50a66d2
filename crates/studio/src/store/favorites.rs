//! The SQL of favourites. A template's `like_count` moves in the same transaction as the row
//! that caused it, and only when the row really changed, so it equals the number of rows.

use crate::model::TemplateRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// Adds the favourite; answers whether it was new.
pub async fn add(tx: &mut Tx, user: Uuid, template: Uuid, now: Ts) -> Result<bool, DbError> {
    let added = execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO studio_favorites (user_id, template_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, template_id) DO NOTHING"
        )
        .bind(user)
        .bind(template)
        .bind(now)
    )?;
    if added == 1 {
        execute_tx!(
            tx,
            sqlx::query("UPDATE studio_templates SET like_count = like_count + 1 WHERE id = $1").bind(template)
        )?;
    }
    Ok(added == 1)
}

/// Removes the favourite; answers whether there was one.
pub async fn remove(tx: &mut Tx, user: Uuid, template: Uuid) -> Result<bool, DbError> {
    let removed = execute_tx!(
        tx,
        sqlx::query("DELETE FROM studio_favorites WHERE user_id = $1 AND template_id = $2").bind(user).bind(template)
    )?;
    if removed == 1 {
        execute_tx!(
            tx,
            sqlx::query("UPDATE studio_templates SET like_count = like_count - 1 WHERE id = $1").bind(template)
        )?;
    }
    Ok(removed == 1)
}

/// Takes back the likes of a user whose favourites are about to go with their account (the
/// rows leave by `ON DELETE CASCADE`; the counts must leave with them).
pub async fn forget_user(tx: &mut Tx, user: Uuid) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE studio_templates SET like_count = like_count - 1
             WHERE id IN (SELECT template_id FROM studio_favorites WHERE user_id = $1)"
        )
        .bind(user)
    )?;
    execute_tx!(tx, sqlx::query("DELETE FROM studio_favorites WHERE user_id = $1").bind(user))?;
    Ok(())
}

/// The template's like count as this transaction sees it.
pub async fn like_count(tx: &mut Tx, template: Uuid) -> Result<i64, DbError> {
    let row: Option<(i64,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT like_count FROM studio_templates WHERE id = $1")
            .bind(template)
            .fetch_optional(conn)
            .await
    })?;
    row.map(|(n,)| n).ok_or(DbError::NotFound)
}

/// Which of `templates` the user has among their favourites.
pub async fn favorite_among(db: &Db, user: Uuid, templates: &[Uuid]) -> Result<Vec<Uuid>, DbError> {
    platform::db::ids_among(
        db,
        "SELECT template_id FROM studio_favorites WHERE user_id = $1 AND template_id IN",
        user,
        templates,
    )
    .await
}

/// The user's favourites, newest first, after the favourite `after` (its time and template).
pub async fn list(
    db: &Db,
    user: Uuid,
    after: Option<(Ts, Uuid)>,
    limit: i64,
) -> Result<Vec<(Ts, TemplateRow)>, DbError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        favorited_at: Ts,
        #[sqlx(flatten)]
        template: TemplateRow,
    }
    let (at, id) = after.unwrap_or((Ts::latest(), Uuid::max()));
    let sql =
        "SELECT f.created_at AS favorited_at, t.id, t.category_id, t.title, t.prompt, t.style, t.tags, t.image_key,
                      t.is_trending, t.view_count, t.like_count, t.created_at, t.updated_at
               FROM studio_favorites f JOIN studio_templates t ON t.id = f.template_id
               WHERE f.user_id = $1 AND (f.created_at < $2 OR (f.created_at = $2 AND f.template_id < $3))
               ORDER BY f.created_at DESC, f.template_id DESC LIMIT $4";
    let rows = with_db!(db, |pool| sqlx::query_as::<_, Row>(sql)
        .bind(user)
        .bind(at)
        .bind(id)
        .bind(limit + 1)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|r| (r.favorited_at, r.template)).collect())
}

/// How many favourites the user has.
pub async fn count(db: &Db, user: Uuid) -> Result<i64, DbError> {
    let (n,): (i64,) = with_db!(db, |pool| {
        sqlx::query_as("SELECT COUNT(*) FROM studio_favorites WHERE user_id = $1").bind(user).fetch_one(pool).await
    })?;
    Ok(n)
}
