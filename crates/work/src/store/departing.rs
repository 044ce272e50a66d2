//! The SQL of an account's departure: which projects it leaves behind and to whom, and its
//! comments kept without it.

use platform::db::{DbError, Tx};
use platform::{execute_tx, with_tx};
use uuid::Uuid;

/// Projects `user` is in that no manager or member besides them is in (guests cannot own).
pub async fn projects_only_of(tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT p.id FROM work_projects p
             WHERE p.owner_id = $1
               AND NOT EXISTS (SELECT 1 FROM work_members o
                               WHERE o.project_id = p.id AND o.user_id <> $1 AND o.role <> 'guest')
             ORDER BY p.id",
        )
        .bind(user)
        .fetch_all(conn)
        .await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Projects `user` owns.
pub async fn owned_projects(tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM work_projects WHERE owner_id = $1 ORDER BY id").bind(user).fetch_all(conn).await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Who inherits `project` from `user`: the longest-standing manager, else the longest-standing
/// member (None when only guests are left).
pub async fn heir(tx: &mut Tx, project: Uuid, user: Uuid) -> Result<Option<Uuid>, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT user_id FROM work_members
             WHERE project_id = $1 AND user_id <> $2 AND role IN ('manager', 'member')
             ORDER BY CASE role WHEN 'manager' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1",
        )
        .bind(project)
        .bind(user)
        .fetch_optional(conn)
        .await
    })?;
    Ok(row.map(|r| r.0))
}

/// Keeps `user`'s comments without an author.
pub async fn detach_author(tx: &mut Tx, user: Uuid) -> Result<u64, DbError> {
    Ok(execute_tx!(tx, sqlx::query("UPDATE work_comments SET author_id = NULL WHERE author_id = $1").bind(user))?)
}

/// Whether `user` wrote a comment or owns a project that someone else is in.
pub async fn has_activity(tx: &mut Tx, user: Uuid) -> Result<bool, DbError> {
    let comment: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM work_comments WHERE author_id = $1 LIMIT 1")
            .bind(user)
            .fetch_optional(conn)
            .await
    })?;
    if comment.is_some() {
        return Ok(true);
    }
    let shared: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT p.id FROM work_projects p WHERE p.owner_id = $1
               AND EXISTS (SELECT 1 FROM work_members m WHERE m.project_id = p.id AND m.user_id <> $1) LIMIT 1",
        )
        .bind(user)
        .fetch_optional(conn)
        .await
    })?;
    Ok(shared.is_some())
}
