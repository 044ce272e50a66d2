//! SQL of tasks, their tags and dependencies, and comments.

use crate::model::{CommentRow, TaskRow};
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// `SELECT` of a [`TaskRow`] from `work_tasks t`, to be followed by the conditions.
macro_rules! task_select {
    () => {
        "SELECT t.id, t.project_id, t.title, t.description, t.status, t.priority, t.assignee_id, t.creator_id,
           t.due_date, t.completed_at, t.position, t.tags, t.created_at, t.updated_at FROM work_tasks t "
    };
}

/// A task's stored fields (tags and dependencies are written separately).
#[derive(Debug, Clone)]
pub struct TaskFields {
    pub title: String,
    pub description: String,
    pub status: &'static str,
    pub priority: i32,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<Ts>,
    pub completed_at: Option<Ts>,
    pub position: i64,
}

pub async fn insert_task(
    tx: &mut Tx,
    id: Uuid,
    project: Uuid,
    creator: Uuid,
    f: &TaskFields,
    now: Ts,
) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO work_tasks (id, project_id, title, description, status, priority, assignee_id, creator_id,
               due_date, due_sort, due_notified_at, completed_at, position, tags, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $13, NULL, $10, $11, '[]', $12, $12)",
        )
        .bind(id)
        .bind(project)
        .bind(&f.title)
        .bind(&f.description)
        .bind(f.status)
        .bind(f.priority)
        .bind(f.assignee_id)
        .bind(creator)
        .bind(f.due_date)
        .bind(f.completed_at)
        .bind(f.position)
        .bind(now)
        .bind(f.due_date.unwrap_or_else(no_due_date))
    )?;
    Ok(())
}

/// Writes a task's fields; a changed due date re-arms its reminder.
pub async fn update_task(tx: &mut Tx, id: Uuid, f: &TaskFields, due_changed: bool, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE work_tasks SET title = $2, description = $3, status = $4, priority = $5, assignee_id = $6,
               due_date = $7, due_sort = $12, completed_at = $8, position = $9, updated_at = $10,
               due_notified_at = CASE WHEN $11 THEN NULL ELSE due_notified_at END
             WHERE id = $1",
        )
        .bind(id)
        .bind(&f.title)
        .bind(&f.description)
        .bind(f.status)
        .bind(f.priority)
        .bind(f.assignee_id)
        .bind(f.due_date)
        .bind(f.completed_at)
        .bind(f.position)
        .bind(now)
        .bind(due_changed)
        .bind(f.due_date.unwrap_or_else(no_due_date))
    )?;
    Ok(())
}

pub async fn task(db: &Db, id: Uuid) -> Result<Option<TaskRow>, DbError> {
    const SQL: &str = concat!(task_select!(), "WHERE t.id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TaskRow>(SQL).bind(id).fetch_optional(pool).await)?)
}

/// A task read inside a write transaction, locked against concurrent updates on PostgreSQL
/// (SQLite's write transactions are already exclusive).
pub async fn task_for_update(tx: &mut Tx, id: Uuid) -> Result<Option<TaskRow>, DbError> {
    const SQL: &str = concat!(task_select!(), "WHERE t.id = $1");
    const SQL_LOCKED: &str = concat!(task_select!(), "WHERE t.id = $1 FOR UPDATE");
    Ok(match tx {
        Tx::Sqlite(inner, _) => sqlx::query_as::<_, TaskRow>(SQL).bind(id).fetch_optional(&mut **inner).await,
        Tx::Postgres(inner) => sqlx::query_as::<_, TaskRow>(SQL_LOCKED).bind(id).fetch_optional(&mut **inner).await,
    }?)
}

pub async fn delete_task(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    Ok(execute_tx!(tx, sqlx::query("DELETE FROM work_tasks WHERE id = $1").bind(id))? > 0)
}

/// The next board position at the end of a project.
pub async fn next_position(tx: &mut Tx, project: Uuid) -> Result<i64, DbError> {
    let row: (Option<i64>,) = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT MAX(position) FROM work_tasks WHERE project_id = $1").bind(project).fetch_one(conn).await
    })?;
    Ok(row.0.map_or(1024, |p| p.saturating_add(1024)))
}

/// Writes a task's tags: the list on the task (what reads return) and one row per tag (what the
/// tag filter searches).
pub async fn set_tags(tx: &mut Tx, task: Uuid, tags: &[String]) -> Result<(), DbError> {
    let list = serde_json::to_string(tags).unwrap_or_else(|_| "[]".into());
    execute_tx!(tx, sqlx::query("UPDATE work_tasks SET tags = $2 WHERE id = $1").bind(task).bind(list))?;
    execute_tx!(tx, sqlx::query("DELETE FROM work_task_tags WHERE task_id = $1").bind(task))?;
    for tag in tags {
        execute_tx!(tx, sqlx::query("INSERT INTO work_task_tags (task_id, tag) VALUES ($1, $2)").bind(task).bind(tag))?;
    }
    Ok(())
}

pub async fn set_blockers(tx: &mut Tx, task: Uuid, blockers: &[Uuid]) -> Result<(), DbError> {
    execute_tx!(tx, sqlx::query("DELETE FROM work_task_deps WHERE task_id = $1").bind(task))?;
    for b in blockers {
        execute_tx!(
            tx,
            sqlx::query("INSERT INTO work_task_deps (task_id, blocked_by_id) VALUES ($1, $2)").bind(task).bind(b)
        )?;
    }
    Ok(())
}

/// Every dependency edge (task, blocker) inside a project.
pub async fn project_edges(tx: &mut Tx, project: Uuid) -> Result<Vec<(Uuid, Uuid)>, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT d.task_id, d.blocked_by_id FROM work_task_deps d JOIN work_tasks t ON t.id = d.task_id
             WHERE t.project_id = $1",
        )
        .bind(project)
        .fetch_all(conn)
        .await
    })?)
}

/// How many of `ids` are tasks of `project`.
pub async fn count_in_project(tx: &mut Tx, project: Uuid, ids: &[Uuid]) -> Result<i64, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let row: (i64,) = with_tx!(tx, |conn| {
        let mut q = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM work_tasks WHERE project_id = ");
        q.push_bind(project).push(" AND id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(")");
        q.build_query_as().fetch_one(conn).await
    })?;
    Ok(row.0)
}

/// (task, blocker) pairs of these tasks, by blocker.
pub async fn blockers_of(db: &Db, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_db!(db, |pool| {
        let mut q = sqlx::QueryBuilder::new("SELECT task_id, blocked_by_id FROM work_task_deps WHERE task_id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(") ORDER BY blocked_by_id");
        q.build_query_as().fetch_all(pool).await
    })?)
}

// --- lists ------------------------------------------------------------------------------------

/// Which tasks to list. `project: None` means every project the viewer is a member of; the
/// service checks access to a given project first.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub viewer: Uuid,
    pub project: Option<Uuid>,
    pub status: Option<&'static str>,
    pub priority: Option<i32>,
    pub assignee: Option<Uuid>,
    pub tag: Option<String>,
    pub due_before: Option<Ts>,
    pub due_after: Option<Ts>,
    /// A lowercase `LIKE` pattern with `\` escapes.
    pub pattern: Option<String>,
}

/// The sort keys a list may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    DueDate,
    Priority,
    Position,
}

/// A sort key's value in a cursor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyValue {
    Time(Ts),
    Int(i64),
}

/// Where the previous page ended.
#[derive(Debug, Clone, Copy)]
pub struct After {
    pub key: KeyValue,
    pub id: Uuid,
}

/// Tasks without a due date sort as if due on the last day of year 9999 (`due_sort`, the
/// indexed sort key, is the due date or this).
pub fn no_due_date() -> Ts {
    let end = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
    Ts::from(end.and_utc())
}

/// Appends the filter's conditions (after a `WHERE`).
macro_rules! push_filters {
    ($q:ident, $f:expr) => {{
        let f = $f;
        match f.project {
            Some(p) => {
                $q.push("t.project_id = ").push_bind(p);
            }
            None => {
                $q.push("t.project_id IN (SELECT m.project_id FROM work_members m WHERE m.user_id = ")
                    .push_bind(f.viewer)
                    .push(")");
            }
        }
        if let Some(s) = f.status {
            $q.push(" AND t.status = ").push_bind(s);
        }
        if let Some(p) = f.priority {
            $q.push(" AND t.priority = ").push_bind(p);
        }
        if let Some(a) = f.assignee {
            $q.push(" AND t.assignee_id = ").push_bind(a);
        }
        if let Some(tag) = &f.tag {
            $q.push(" AND EXISTS (SELECT 1 FROM work_task_tags g WHERE g.task_id = t.id AND g.tag = ")
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(d) = f.due_before {
            $q.push(" AND t.due_date < ").push_bind(d);
        }
        if let Some(d) = f.due_after {
            $q.push(" AND t.due_date >= ").push_bind(d);
        }
        if let Some(p) = &f.pattern {
            $q.push(" AND (LOWER(t.title) LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\' OR LOWER(t.description) LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\')");
        }
    }};
}

/// Appends the sort key's expression.
macro_rules! push_key {
    ($q:ident, $key:expr) => {{
        match $key {
            SortKey::CreatedAt => {
                $q.push("t.created_at");
            }
            SortKey::UpdatedAt => {
                $q.push("t.updated_at");
            }
            SortKey::DueDate => {
                $q.push("t.due_sort");
            }
            SortKey::Priority => {
                $q.push("t.priority");
            }
            SortKey::Position => {
                $q.push("t.position");
            }
        }
    }};
}

macro_rules! push_value {
    ($q:ident, $value:expr) => {{
        match $value {
            KeyValue::Time(ts) => {
                $q.push_bind(ts);
            }
            KeyValue::Int(n) => {
                $q.push_bind(n);
            }
        }
    }};
}

/// One page of tasks: up to `limit` rows after `after`, by `key` then id.
pub async fn list(
    db: &Db,
    f: &TaskFilter,
    key: SortKey,
    descending: bool,
    after: Option<After>,
    limit: i64,
) -> Result<Vec<TaskRow>, DbError> {
    let (cmp, dir) = if descending { (" < ", " DESC") } else { (" > ", " ASC") };
    Ok(with_db!(db, |pool| {
        let mut q = sqlx::QueryBuilder::new(concat!(task_select!(), "WHERE "));
        push_filters!(q, f);
        if let Some(after) = after {
            q.push(" AND (");
            push_key!(q, key);
            q.push(cmp);
            push_value!(q, after.key);
            q.push(" OR (");
            push_key!(q, key);
            q.push(" = ");
            push_value!(q, after.key);
            q.push(" AND t.id").push(cmp).push_bind(after.id).push("))");
        }
        q.push(" ORDER BY ");
        push_key!(q, key);
        q.push(dir).push(", t.id").push(dir).push(" LIMIT ").push_bind(limit);
        q.build_query_as::<TaskRow>().fetch_all(pool).await
    })?)
}

/// How many tasks match (ignoring pages).
pub async fn count(db: &Db, f: &TaskFilter) -> Result<i64, DbError> {
    let row: (i64,) = with_db!(db, |pool| {
        let mut q = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM work_tasks t WHERE ");
        push_filters!(q, f);
        q.build_query_as().fetch_one(pool).await
    })?;
    Ok(row.0)
}

/// Every task of a project in board order (the CSV export).
pub async fn project_tasks(db: &Db, project: Uuid) -> Result<Vec<TaskRow>, DbError> {
    const SQL: &str = concat!(task_select!(), "WHERE t.project_id = $1 ORDER BY t.position, t.id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TaskRow>(SQL).bind(project).fetch_all(pool).await)?)
}

/// What analytics needs of a task: (status, priority, due_date, created_at, completed_at).
pub type Facts = (String, i32, Option<Ts>, Ts, Option<Ts>);

/// The analytics facts of a project's tasks, or (with `project: None`) of the tasks assigned
/// to `assignee` in projects they are a member of.
pub async fn facts(db: &Db, project: Option<Uuid>, assignee: Option<Uuid>) -> Result<Vec<Facts>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT t.status, t.priority, t.due_date, t.created_at, t.completed_at FROM work_tasks t
             WHERE ($1 IS NULL OR t.project_id = $1) AND ($2 IS NULL OR t.assignee_id = $2)",
        )
        .bind(project)
        .bind(assignee)
        .fetch_all(pool)
        .await
    })?)
}

// --- due-date reminders -----------------------------------------------------------------------

/// Open, assigned tasks due in `[now, until)` whose reminder has not gone out:
/// (id, project, title, assignee, due).
pub async fn due_soon(db: &Db, now: Ts, until: Ts, limit: i64) -> Result<Vec<(Uuid, Uuid, String, Uuid, Ts)>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, project_id, title, assignee_id, due_date FROM work_tasks
             WHERE due_date >= $1 AND due_date < $2 AND due_notified_at IS NULL AND assignee_id IS NOT NULL
               AND status <> 'done'
             ORDER BY due_date LIMIT $3",
        )
        .bind(now)
        .bind(until)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Claims a task's reminder; false when another instance already did.
pub async fn claim_reminder(tx: &mut Tx, task: Uuid, now: Ts) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE work_tasks SET due_notified_at = $2 WHERE id = $1 AND due_notified_at IS NULL")
            .bind(task)
            .bind(now)
    )?;
    Ok(n == 1)
}

// --- comments ---------------------------------------------------------------------------------

/// `SELECT` of a [`CommentRow`] (with its task's project), to be followed by the conditions.
macro_rules! comment_select {
    () => {
        "SELECT c.id, c.task_id, t.project_id, c.author_id, c.content, c.mentions, c.created_at, c.edited_at
         FROM work_comments c JOIN work_tasks t ON t.id = c.task_id "
    };
}

pub async fn insert_comment(tx: &mut Tx, c: &CommentRow) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO work_comments (id, task_id, author_id, content, mentions, created_at, edited_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(c.id)
        .bind(c.task_id)
        .bind(c.author_id)
        .bind(&c.content)
        .bind(&c.mentions)
        .bind(c.created_at)
    )?;
    Ok(())
}

pub async fn comment(db: &Db, id: Uuid) -> Result<Option<CommentRow>, DbError> {
    const SQL: &str = concat!(comment_select!(), "WHERE c.id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, CommentRow>(SQL).bind(id).fetch_optional(pool).await)?)
}

/// A task's comments after `cursor`, oldest first.
pub async fn comments(db: &Db, task: Uuid, after: Option<Uuid>, limit: i64) -> Result<Vec<CommentRow>, DbError> {
    const SQL: &str =
        concat!(comment_select!(), "WHERE c.task_id = $1 AND ($2 IS NULL OR c.id > $2) ORDER BY c.id LIMIT $3");
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, CommentRow>(SQL).bind(task).bind(after).bind(limit).fetch_all(pool).await
    })?)
}

/// Tasks `user` created or is assigned to in projects they are still a member of, oldest
/// first (the data export: leaving a private project ends access to its tasks).
pub async fn tasks_of_user(db: &Db, user: Uuid) -> Result<Vec<TaskRow>, DbError> {
    const SQL: &str = concat!(
        task_select!(),
        "WHERE (t.creator_id = $1 OR t.assignee_id = $1)
           AND EXISTS (SELECT 1 FROM work_members m WHERE m.project_id = t.project_id AND m.user_id = $1)
         ORDER BY t.id"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TaskRow>(SQL).bind(user).fetch_all(pool).await)?)
}

/// Comments `user` wrote in projects they are still a member of, oldest first (the data export).
pub async fn comments_by(db: &Db, user: Uuid) -> Result<Vec<CommentRow>, DbError> {
    const SQL: &str = concat!(
        comment_select!(),
        "WHERE c.author_id = $1
           AND EXISTS (SELECT 1 FROM work_members m WHERE m.project_id = t.project_id AND m.user_id = $1)
         ORDER BY c.id"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, CommentRow>(SQL).bind(user).fetch_all(pool).await)?)
}

pub async fn edit_comment(tx: &mut Tx, id: Uuid, content: &str, mentions: &str, now: Ts) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE work_comments SET content = $2, mentions = $3, edited_at = $4 WHERE id = $1")
            .bind(id)
            .bind(content)
            .bind(mentions)
            .bind(now)
    )?;
    Ok(n > 0)
}

pub async fn delete_comment(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    Ok(execute_tx!(tx, sqlx::query("DELETE FROM work_comments WHERE id = $1").bind(id))? > 0)
}
