//! All SQL of `notifications` and `notification_preferences`, written once for both databases.

use crate::model::NotificationRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, execute_write, with_db, with_tx};
use uuid::Uuid;

/// A row to insert.
pub struct NewRow<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub data: &'a str,
    pub created_at: Ts,
}

pub async fn insert(tx: &mut Tx, row: &NewRow<'_>) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO notifications (id, user_id, kind, title, body, data, read_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(row.id)
        .bind(row.user_id)
        .bind(row.kind)
        .bind(row.title)
        .bind(row.body)
        .bind(row.data)
        .bind(row.created_at)
    )?;
    Ok(())
}

/// Whether `user` wants `kind` by email (true unless they turned it off).
pub async fn email_wanted(tx: &mut Tx, user: Uuid, kind: &str) -> Result<bool, DbError> {
    let row: Option<(bool,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT email FROM notification_preferences WHERE user_id = $1 AND kind = $2")
            .bind(user)
            .bind(kind)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.is_none_or(|r| r.0))
}

/// A user's notifications older than `before`, newest first.
pub async fn list(
    db: &Db,
    user: Uuid,
    unread_only: bool,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<NotificationRow>, DbError> {
    const SQL: &str = "SELECT id, kind, title, body, data, read_at, created_at FROM notifications
         WHERE user_id = $1 AND ($2 IS NULL OR id < $2) AND (NOT $3 OR read_at IS NULL)
         ORDER BY id DESC LIMIT $4";
    Ok(with_db!(db, |pool| {
        sqlx::query_as(SQL).bind(user).bind(before).bind(unread_only).bind(limit).fetch_all(pool).await
    })?)
}

pub async fn unread_count(db: &Db, user: Uuid) -> Result<i64, DbError> {
    let row: (i64,) = with_db!(db, |pool| {
        sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user)
            .fetch_one(pool)
            .await
    })?;
    Ok(row.0)
}

/// Marks one notification read (keeping the first read time); the row, if it is the user's.
pub async fn mark_read(db: &Db, user: Uuid, id: Uuid) -> Result<Option<NotificationRow>, DbError> {
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2
             RETURNING id, kind, title, body, data, read_at, created_at",
        )
        .bind(id)
        .bind(user)
        .bind(Ts::now())
        .fetch_optional(pool)
        .await
    })?)
}

/// Marks every unread notification of `user` read; how many.
pub async fn mark_all_read(db: &Db, user: Uuid) -> Result<u64, DbError> {
    Ok(execute_write!(
        db,
        sqlx::query("UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL")
            .bind(user)
            .bind(Ts::now())
    )?)
}

/// The kinds `user` does not want by email.
pub async fn email_off(db: &Db, user: Uuid) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = with_db!(db, |pool| {
        sqlx::query_as("SELECT kind FROM notification_preferences WHERE user_id = $1 AND NOT email")
            .bind(user)
            .fetch_all(pool)
            .await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn set_email(tx: &mut Tx, user: Uuid, kind: &str, email: bool) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO notification_preferences (user_id, kind, email) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, kind) DO UPDATE SET email = excluded.email",
        )
        .bind(user)
        .bind(kind)
        .bind(email)
    )?;
    Ok(())
}
