//! All SQL of the work tables (`work_projects`, `work_members`, `work_invitations`,
//! `work_tasks`, `work_task_tags`, `work_task_deps`, `work_comments`, `work_activity`), written
//! once for SQLite and PostgreSQL. Projects, members, invitations and activity live here;
//! tasks and comments in [`tasks`].

pub mod departing;
pub mod tasks;

use crate::model::{ActivityRow, MemberRow, ProjectRow};
use chrono::NaiveDate;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// A project with the caller's ($1) role and the member count.
macro_rules! project_select {
    () => {
        "SELECT p.id, p.name, p.description, p.visibility, p.status, p.owner_id, p.client_id, p.hourly_rate,
           p.budget, p.currency, p.starts_on, p.ends_on, m.role AS role,
           (SELECT COUNT(*) FROM work_members c WHERE c.project_id = p.id) AS member_count,
           p.created_at, p.updated_at
         FROM work_projects p
         LEFT JOIN work_members m ON m.project_id = p.id AND m.user_id = $1 "
    };
}

/// A project's editable fields.
#[derive(Debug, Clone)]
pub struct ProjectFields {
    pub name: String,
    pub description: String,
    pub visibility: &'static str,
    pub status: &'static str,
    pub client_id: Option<Uuid>,
    pub hourly_rate: Option<i64>,
    pub budget: Option<i64>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

pub async fn insert_project(tx: &mut Tx, id: Uuid, owner: Uuid, f: &ProjectFields, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO work_projects (id, name, description, visibility, status, owner_id, client_id, hourly_rate,
               budget, currency, starts_on, ends_on, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(id)
        .bind(&f.name)
        .bind(&f.description)
        .bind(f.visibility)
        .bind(f.status)
        .bind(owner)
        .bind(f.client_id)
        .bind(f.hourly_rate)
        .bind(f.budget)
        .bind(&f.currency)
        .bind(f.starts_on)
        .bind(f.ends_on)
        .bind(now)
    )?;
    Ok(())
}

pub async fn update_project(tx: &mut Tx, id: Uuid, f: &ProjectFields, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE work_projects SET name = $2, description = $3, visibility = $4, status = $5, client_id = $6,
               hourly_rate = $7, budget = $8, currency = $9, starts_on = $10, ends_on = $11, updated_at = $12
             WHERE id = $1",
        )
        .bind(id)
        .bind(&f.name)
        .bind(&f.description)
        .bind(f.visibility)
        .bind(f.status)
        .bind(f.client_id)
        .bind(f.hourly_rate)
        .bind(f.budget)
        .bind(&f.currency)
        .bind(f.starts_on)
        .bind(f.ends_on)
        .bind(now)
    )?;
    Ok(())
}

pub async fn delete_project(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    Ok(execute_tx!(tx, sqlx::query("DELETE FROM work_projects WHERE id = $1").bind(id))? > 0)
}

/// A project as `user` sees it (their role, if any).
pub async fn project(db: &Db, user: Uuid, id: Uuid) -> Result<Option<ProjectRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, ProjectRow>(concat!(project_select!(), "WHERE p.id = $2"))
            .bind(user)
            .bind(id)
            .fetch_optional(pool)
            .await
    })?)
}

/// The projects `user` is a member of, or with `public` also every public project, by id
/// after `cursor`.
pub async fn projects(
    db: &Db,
    user: Uuid,
    with_public: bool,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ProjectRow>, DbError> {
    const SQL: &str = concat!(
        project_select!(),
        "WHERE (m.user_id IS NOT NULL OR ($2 AND p.visibility = 'public')) AND ($3 IS NULL OR p.id > $3)
         ORDER BY p.id LIMIT $4"
    );
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, ProjectRow>(SQL).bind(user).bind(with_public).bind(cursor).bind(limit).fetch_all(pool).await
    })?)
}

/// A project's visibility and `user`'s role in it, if the project exists.
pub async fn access(db: &Db, project: Uuid, user: Uuid) -> Result<Option<(String, Option<String>)>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT p.visibility, m.role FROM work_projects p
             LEFT JOIN work_members m ON m.project_id = p.id AND m.user_id = $2 WHERE p.id = $1",
        )
        .bind(project)
        .bind(user)
        .fetch_optional(pool)
        .await
    })?)
}

// --- members ----------------------------------------------------------------------------------

pub async fn add_member(tx: &mut Tx, project: Uuid, user: Uuid, role: &str, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("INSERT INTO work_members (project_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
            .bind(project)
            .bind(user)
            .bind(role)
            .bind(now)
    )?;
    Ok(())
}

pub async fn member_role(db: &Db, project: Uuid, user: Uuid) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = with_db!(db, |pool| {
        sqlx::query_as("SELECT role FROM work_members WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.map(|r| r.0))
}

/// [`member_role`] inside a transaction.
pub async fn member_role_tx(tx: &mut Tx, project: Uuid, user: Uuid) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT role FROM work_members WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.map(|r| r.0))
}

/// The member holding the owner role.
pub async fn owner_of(tx: &mut Tx, project: Uuid) -> Result<Option<Uuid>, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT user_id FROM work_members WHERE project_id = $1 AND role = 'owner'")
            .bind(project)
            .fetch_optional(conn)
            .await
    })?;
    Ok(row.map(|r| r.0))
}

/// Up to `limit` members by user id after `after`.
pub async fn members_page(db: &Db, project: Uuid, after: Option<Uuid>, limit: i64) -> Result<Vec<MemberRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, role, joined_at FROM work_members WHERE project_id = $1 AND ($2 IS NULL OR user_id > $2)
             ORDER BY user_id LIMIT $3",
        )
        .bind(project)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// One member.
pub async fn member(db: &Db, project: Uuid, user: Uuid) -> Result<Option<MemberRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, role, joined_at FROM work_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project)
        .bind(user)
        .fetch_optional(pool)
        .await
    })?)
}

/// Every member (the revocation of a project that stopped being public keeps them).
pub async fn members(db: &Db, project: Uuid) -> Result<Vec<MemberRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, role, joined_at FROM work_members WHERE project_id = $1 ORDER BY joined_at, user_id",
        )
        .bind(project)
        .fetch_all(pool)
        .await
    })?)
}

/// Which of `users` are members of `project`.
pub async fn members_among(db: &Db, project: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>, DbError> {
    let select = "SELECT user_id FROM work_members WHERE project_id = $1 AND user_id IN";
    platform::db::ids_among(db, select, project, users).await
}

pub async fn set_member_role(tx: &mut Tx, project: Uuid, user: Uuid, role: &str) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE work_members SET role = $3 WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .bind(role)
    )?;
    Ok(n > 0)
}

pub async fn remove_member(tx: &mut Tx, project: Uuid, user: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("DELETE FROM work_members WHERE project_id = $1 AND user_id = $2").bind(project).bind(user)
    )?;
    Ok(n > 0)
}

/// Unassigns `user` from the project's tasks (they left it).
pub async fn unassign(tx: &mut Tx, project: Uuid, user: Uuid, now: Ts) -> Result<u64, DbError> {
    Ok(execute_tx!(
        tx,
        sqlx::query(
            "UPDATE work_tasks SET assignee_id = NULL, updated_at = $3 WHERE project_id = $1 AND assignee_id = $2",
        )
        .bind(project)
        .bind(user)
        .bind(now)
    )?)
}

pub async fn set_owner(tx: &mut Tx, project: Uuid, owner: Uuid) -> Result<(), DbError> {
    execute_tx!(tx, sqlx::query("UPDATE work_projects SET owner_id = $2 WHERE id = $1").bind(project).bind(owner))?;
    Ok(())
}

// --- invitations ------------------------------------------------------------------------------

/// Records an invitation, or refreshes the role of a live one; an expired one (created before
/// `live_since`) is replaced by a new one. Answers its id and whether it is new (only a new one
/// is mailed).
pub async fn upsert_invitation(
    tx: &mut Tx,
    project: Uuid,
    email: &str,
    role: &str,
    by: Uuid,
    now: Ts,
    live_since: Ts,
) -> Result<(Uuid, bool), DbError> {
    execute_tx!(
        tx,
        sqlx::query("DELETE FROM work_invitations WHERE project_id = $1 AND email = $2 AND created_at <= $3")
            .bind(project)
            .bind(email)
            .bind(live_since)
    )?;
    let id = Uuid::now_v7();
    let row: (Uuid,) = with_tx!(tx, |conn| {
        sqlx::query_as(
            "INSERT INTO work_invitations (id, project_id, email, role, invited_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, email) DO UPDATE SET role = excluded.role
             RETURNING id",
        )
        .bind(id)
        .bind(project)
        .bind(email)
        .bind(role)
        .bind(by)
        .bind(now)
        .fetch_one(conn)
        .await
    })?;
    Ok((row.0, row.0 == id))
}

/// Removes a project's invitation; false if there was none.
pub async fn delete_invitation(tx: &mut Tx, project: Uuid, id: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("DELETE FROM work_invitations WHERE id = $1 AND project_id = $2").bind(id).bind(project)
    )?;
    Ok(n > 0)
}

/// The live invitations of an address, by id after `after`: (id, project, project name, role,
/// created_at). Anyone may invite any address, so this is paged.
pub async fn invitations_of(
    db: &Db,
    email: &str,
    live_since: Ts,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, String, String, Ts)>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT i.id, i.project_id, p.name, i.role, i.created_at
             FROM work_invitations i JOIN work_projects p ON p.id = i.project_id
             WHERE i.email = $1 AND i.created_at > $2 AND ($3 IS NULL OR i.id > $3) ORDER BY i.id LIMIT $4",
        )
        .bind(email)
        .bind(live_since)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Pending invitations of a project, by id after `after`: (id, email, role, created_at).
pub async fn invitations(
    db: &Db,
    project: Uuid,
    live_since: Ts,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(Uuid, String, String, Ts)>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, email, role, created_at FROM work_invitations
             WHERE project_id = $1 AND created_at > $2 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
        )
        .bind(project)
        .bind(live_since)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Takes (deletes and returns) the live invitations for `email` (only `only`, when given; only
/// those created by `sent_by`, when given): (project, role). Expired ones of the address go too.
pub async fn take_invitations(
    tx: &mut Tx,
    email: &str,
    live_since: Ts,
    only: Option<Uuid>,
    sent_by: Option<Ts>,
) -> Result<Vec<(Uuid, String)>, DbError> {
    execute_tx!(
        tx,
        sqlx::query("DELETE FROM work_invitations WHERE email = $1 AND created_at <= $2").bind(email).bind(live_since)
    )?;
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as(
            "DELETE FROM work_invitations WHERE email = $1 AND ($2 IS NULL OR id = $2)
             AND ($3 IS NULL OR created_at <= $3) RETURNING project_id, role",
        )
        .bind(email)
        .bind(only)
        .bind(sent_by)
        .fetch_all(conn)
        .await
    })?)
}

// --- activity ---------------------------------------------------------------------------------

/// One activity entry, written in the transaction of the change it describes.
pub async fn log(
    tx: &mut Tx,
    project: Uuid,
    actor: Option<Uuid>,
    action: &str,
    subject: Option<Uuid>,
    details: &serde_json::Value,
) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO work_activity (id, project_id, actor_id, action, subject_id, details, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(project)
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(details.to_string())
        .bind(Ts::now())
    )?;
    Ok(())
}

/// A project's activity older than `before`, newest first.
pub async fn activity(db: &Db, project: Uuid, before: Option<Uuid>, limit: i64) -> Result<Vec<ActivityRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, ActivityRow>(
            "SELECT id, actor_id, action, subject_id, details, created_at FROM work_activity
             WHERE project_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(project)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}
