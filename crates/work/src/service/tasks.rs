//! Tasks: create, read, list (filters, whitelisted sorts, keyset cursors), edit with the
//! `completed_at` rule and cycle-free blockers, delete. Assignments notify the assignee.

use super::{Result, Work};
use crate::error::WorkError;
use crate::events;
use crate::model::*;
use crate::store::tasks::{self as store, After, KeyValue, SortKey, TaskFields, TaskFilter};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use notifications::{NewNotification, Recorded};
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A new task as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct TaskInput {
    pub project_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<Ts>,
    pub tags: Option<Vec<String>>,
    pub position: Option<i64>,
    pub blocked_by: Option<Vec<Uuid>>,
}

/// Changes to a task: `None` leaves a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<Uuid>>,
    pub due_date: Option<Option<Ts>>,
    pub tags: Option<Vec<String>>,
    pub position: Option<i64>,
    pub blocked_by: Option<Vec<Uuid>>,
}

/// A task list request, already parsed.
#[derive(Debug, Clone)]
pub struct TaskList {
    pub project_id: Option<Uuid>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    pub tag: Option<String>,
    pub due_before: Option<Ts>,
    pub due_after: Option<Ts>,
    pub q: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub cursor: Option<String>,
    pub limit: i64,
    pub include_total: bool,
}

/// One page of tasks.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::TaskPage)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// Pass as `cursor` (with the same filters and sort) for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// All matching tasks, with `include_total=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

fn sort_name(key: SortKey) -> &'static str {
    match key {
        SortKey::CreatedAt => "created_at",
        SortKey::UpdatedAt => "updated_at",
        SortKey::DueDate => "due_date",
        SortKey::Priority => "priority",
        SortKey::Position => "position",
    }
}

/// The cursor after `task` for this sort: opaque to clients, bound to the sort it was made for.
fn encode_cursor(key: SortKey, descending: bool, task: &Task) -> String {
    let value = match key {
        SortKey::CreatedAt => task.created_at.to_rfc3339(),
        SortKey::UpdatedAt => task.updated_at.to_rfc3339(),
        SortKey::DueDate => task.due_date.unwrap_or_else(store::no_due_date).to_rfc3339(),
        SortKey::Priority => task.priority.rank().to_string(),
        SortKey::Position => task.position.to_string(),
    };
    let text = format!("{}|{}|{value}|{}", sort_name(key), if descending { "desc" } else { "asc" }, task.id);
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(key: SortKey, descending: bool, cursor: &str) -> Result<After> {
    let invalid = || WorkError::field("cursor", "is not a cursor of this list (same filters, sort and order)");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split('|').collect();
    let [sort, order, value, id] = parts[..] else { return Err(invalid()) };
    if sort != sort_name(key) || order != if descending { "desc" } else { "asc" } {
        return Err(invalid());
    }
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    let key = match key {
        SortKey::CreatedAt | SortKey::UpdatedAt | SortKey::DueDate => {
            let time = chrono::DateTime::parse_from_rfc3339(value).map_err(|_| invalid())?;
            KeyValue::Time(Ts::from(time.with_timezone(&chrono::Utc)))
        }
        SortKey::Priority | SortKey::Position => KeyValue::Int(value.parse().map_err(|_| invalid())?),
    };
    Ok(After { key, id })
}

/// `%text%` for `LIKE`, lowercased, with `%`, `_` and `\` escaped.
fn like_pattern(q: &str) -> String {
    platform::text::like_contains(&q.to_lowercase())
}

/// The `completed_at` rule: set on entering `done`, kept while done, cleared on leaving.
fn completed_at(old_status: Option<TaskStatus>, new_status: TaskStatus, old: Option<Ts>, now: Ts) -> Option<Ts> {
    match (old_status, new_status) {
        (Some(TaskStatus::Done), TaskStatus::Done) => old.or(Some(now)),
        (_, TaskStatus::Done) => Some(now),
        _ => None,
    }
}

impl Work {
    /// Tasks with their blockers, in the given order.
    pub(crate) async fn complete(&self, rows: Vec<TaskRow>) -> Result<Vec<Task>> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut blockers: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (task, blocker) in store::blockers_of(&self.platform.db, &ids).await? {
            blockers.entry(task).or_default().push(blocker);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let id = r.id;
                r.into_task(blockers.remove(&id).unwrap_or_default())
            })
            .collect())
    }

    pub(crate) async fn task_by_id(&self, id: Uuid) -> Result<Task> {
        let row = store::task(&self.platform.db, id).await?.ok_or(WorkError::NotFound)?;
        self.complete(vec![row]).await?.pop().ok_or(WorkError::NotFound)
    }

    /// A task the caller may see.
    pub async fn task(&self, user: &AuthUser, id: Uuid) -> Result<Task> {
        let task = self.task_by_id(id).await?;
        self.access(user, task.project_id).await?;
        Ok(task)
    }

    /// Checks that `assignee` may be assigned in `project`: a member who is not a guest.
    async fn check_assignee(&self, project: Uuid, assignee: Option<Uuid>) -> Result<()> {
        let Some(assignee) = assignee else { return Ok(()) };
        match crate::store::member_role(&self.platform.db, project, assignee).await? {
            Some(role) if Role::from_stored(&role) >= Role::Member => Ok(()),
            Some(_) => Err(WorkError::field("assignee_id", "guests cannot be assigned tasks")),
            None => Err(WorkError::field("assignee_id", "must be a member of the project")),
        }
    }

    /// Checks blockers (same project, no cycle) inside the write transaction.
    async fn check_blockers(&self, tx: &mut Tx, project: Uuid, task: Uuid, blockers: &[Uuid]) -> Result<Vec<Uuid>> {
        let mut blockers = blockers.to_vec();
        blockers.sort();
        blockers.dedup();
        if blockers.len() > 50 {
            return Err(WorkError::field("blocked_by", "at most 50 blockers"));
        }
        if store::count_in_project(tx, project, &blockers).await? != blockers.len() as i64 {
            return Err(WorkError::field("blocked_by", "must be tasks of the same project"));
        }
        let edges: Vec<(Uuid, Uuid)> =
            store::project_edges(tx, project).await?.into_iter().filter(|(t, _)| *t != task).collect();
        if creates_cycle(task, &blockers, &edges) {
            return Err(WorkError::Cycle);
        }
        Ok(blockers)
    }

    /// What an assignment notification says besides the task, read before the transaction that
    /// records it (nothing waits for a second connection while holding one).
    async fn assignment_context(&self, actor: &AuthUser, project: Uuid) -> Result<AssignmentContext> {
        Ok(AssignmentContext {
            actor: actor.user_id,
            actor_name: self.name_of(actor.user_id).await,
            project: self.project_as(actor, project).await?.name,
        })
    }

    fn assignment_note(context: &AssignmentContext, task: &Task, assignee: Uuid) -> NewNotification {
        let (actor_name, project) = (&context.actor_name, &context.project);
        let due =
            task.due_date.map(|d| format!(" It is due {}.", d.get().format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default();
        NewNotification {
            user_id: assignee,
            actor: Some(context.actor),
            kind: crate::events::TASK_ASSIGNED,
            title: format!("{actor_name} assigned you “{}”", task.title),
            body: format!(
                "In {project}: “{}” ({}, {}).{due}",
                task.title,
                task.status.as_str(),
                task.priority.as_str()
            ),
            data: json!({"project_id": task.project_id, "task_id": task.id}),
        }
    }

    /// Creates a task (members, managers, owner).
    pub async fn create_task(&self, user: &AuthUser, input: TaskInput) -> Result<Task> {
        let project = input.project_id;
        self.require(user, project, Role::Member).await?;
        let title = text(&input.title, 1, 200).map_err(|m| WorkError::field("title", m))?;
        let description = text(input.description.as_deref().unwrap_or(""), 0, 10_000)
            .map_err(|m| WorkError::field("description", m))?;
        let tags = tags(input.tags.as_deref().unwrap_or_default()).map_err(|m| WorkError::field("tags", m))?;
        self.check_assignee(project, input.assignee_id).await?;
        let status = input.status.unwrap_or(TaskStatus::Todo);
        let now = Ts::now();
        let id = Uuid::now_v7();
        let context = match input.assignee_id.filter(|a| *a != user.user_id) {
            Some(_) => Some(self.assignment_context(user, project).await?),
            None => None,
        };
        let mut recorded: Vec<Recorded> = Vec::new();
        let mut tx = self.platform.db.begin().await?;
        let blockers =
            self.check_blockers(&mut tx, project, id, input.blocked_by.as_deref().unwrap_or_default()).await?;
        let position = match input.position {
            Some(p) => p,
            None => store::next_position(&mut tx, project).await?,
        };
        let fields = TaskFields {
            title,
            description,
            status: status.as_str(),
            priority: input.priority.unwrap_or(Priority::Medium).rank(),
            assignee_id: input.assignee_id,
            due_date: input.due_date,
            completed_at: completed_at(None, status, None, now),
            position,
        };
        store::insert_task(&mut tx, id, project, user.user_id, &fields, now).await?;
        store::set_tags(&mut tx, id, &tags).await?;
        store::set_blockers(&mut tx, id, &blockers).await?;
        crate::store::log(
            &mut tx,
            project,
            Some(user.user_id),
            "task.created",
            Some(id),
            &json!({"title": fields.title}),
        )
        .await?;
        let task = Task {
            id,
            project_id: project,
            title: fields.title.clone(),
            description: fields.description.clone(),
            status,
            priority: Priority::from_rank(fields.priority),
            assignee_id: fields.assignee_id,
            creator_id: Some(user.user_id),
            due_date: fields.due_date,
            completed_at: fields.completed_at,
            tags,
            position,
            blocked_by: blockers,
            created_at: now,
            updated_at: now,
        };
        if let (Some(assignee), Some(context)) = (task.assignee_id.filter(|a| *a != user.user_id), &context) {
            self.notify(&mut tx, &mut recorded, Self::assignment_note(context, &task, assignee)).await?;
        }
        self.platform.outbox.event(&mut tx, events::DOMAIN_TASK_CREATED, &json!({"task": task})).await?;
        if task.status == TaskStatus::Done {
            self.platform.outbox.event(&mut tx, events::DOMAIN_TASK_COMPLETED, &json!({"task": task})).await?;
        }
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&recorded);
        events::publish(&self.platform.hub, project, events::TASK_CREATED, &json!({"task": task}));
        Ok(task)
    }

    /// Edits a task: managers and the owner any task; members the tasks they created or are
    /// assigned to.
    pub async fn update_task(&self, user: &AuthUser, id: Uuid, patch: TaskPatch) -> Result<Task> {
        let before = self.task_by_id(id).await?;
        let access = self.require(user, before.project_id, Role::Member).await?;
        let mine = before.creator_id == Some(user.user_id) || before.assignee_id == Some(user.user_id);
        if access.role == Role::Member && !mine {
            return Err(WorkError::Forbidden("Members edit only the tasks they created or are assigned to."));
        }
        let title =
            patch.title.as_deref().map(|t| text(t, 1, 200)).transpose().map_err(|m| WorkError::field("title", m))?;
        let description = patch
            .description
            .as_deref()
            .map(|d| text(d, 0, 10_000))
            .transpose()
            .map_err(|m| WorkError::field("description", m))?;
        let new_tags = patch.tags.as_deref().map(tags).transpose().map_err(|m| WorkError::field("tags", m))?;
        if let Some(assignee) = patch.assignee_id {
            self.check_assignee(before.project_id, assignee).await?;
        }
        let now = Ts::now();
        let context = match patch.assignee_id.flatten().filter(|a| *a != user.user_id) {
            Some(_) => Some(self.assignment_context(user, before.project_id).await?),
            None => None,
        };
        let mut recorded: Vec<Recorded> = Vec::new();
        let mut tx = self.platform.db.begin().await?;
        // Re-read under the write lock: the edit applies to the latest version.
        let row = store::task_for_update(&mut tx, id).await?.ok_or(WorkError::NotFound)?;
        let old_status = TaskStatus::from_stored(&row.status);
        let status = patch.status.unwrap_or(old_status);
        let fields = TaskFields {
            title: title.unwrap_or(row.title.clone()),
            description: description.unwrap_or(row.description.clone()),
            status: status.as_str(),
            priority: patch.priority.map_or(row.priority, Priority::rank),
            assignee_id: patch.assignee_id.unwrap_or(row.assignee_id),
            due_date: patch.due_date.unwrap_or(row.due_date),
            completed_at: completed_at(Some(old_status), status, row.completed_at, now),
            position: patch.position.unwrap_or(row.position),
        };
        let mut new_blockers = None;
        if let Some(blockers) = &patch.blocked_by {
            let blockers = self.check_blockers(&mut tx, row.project_id, id, blockers).await?;
            store::set_blockers(&mut tx, id, &blockers).await?;
            new_blockers = Some(blockers);
        }
        if let Some(tags) = &new_tags {
            store::set_tags(&mut tx, id, tags).await?;
        }
        let due_changed = fields.due_date != row.due_date;
        store::update_task(&mut tx, id, &fields, due_changed, now).await?;
        let changed: Vec<&str> = [
            ("title", fields.title != row.title),
            ("description", fields.description != row.description),
            ("status", fields.status != row.status),
            ("priority", fields.priority != row.priority),
            ("assignee_id", fields.assignee_id != row.assignee_id),
            ("due_date", due_changed),
            ("position", fields.position != row.position),
            ("tags", new_tags.is_some()),
            ("blocked_by", patch.blocked_by.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect();
        crate::store::log(
            &mut tx,
            row.project_id,
            Some(user.user_id),
            "task.updated",
            Some(id),
            &json!({"changed": changed}),
        )
        .await?;
        let newly_assigned = fields.assignee_id.filter(|a| Some(*a) != row.assignee_id && *a != user.user_id);
        let mut task = before;
        task.title = fields.title.clone();
        task.description = fields.description.clone();
        task.status = status;
        task.priority = Priority::from_rank(fields.priority);
        task.assignee_id = fields.assignee_id;
        task.due_date = fields.due_date;
        task.completed_at = fields.completed_at;
        task.position = fields.position;
        task.updated_at = now;
        if let Some(tags) = new_tags {
            task.tags = tags;
        }
        if let Some(blockers) = new_blockers {
            task.blocked_by = blockers;
        }
        if let (Some(assignee), Some(context)) = (newly_assigned, &context) {
            self.notify(&mut tx, &mut recorded, Self::assignment_note(context, &task, assignee)).await?;
        }
        let outbox = &self.platform.outbox;
        outbox.event(&mut tx, events::DOMAIN_TASK_UPDATED, &json!({"task": task})).await?;
        if task.status == TaskStatus::Done && old_status != TaskStatus::Done {
            outbox.event(&mut tx, events::DOMAIN_TASK_COMPLETED, &json!({"task": task})).await?;
        }
        tx.commit().await?;
        outbox.wake();
        self.notifications.announce(&recorded);
        events::publish(&self.platform.hub, task.project_id, events::TASK_UPDATED, &json!({"task": task}));
        Ok(task)
    }

    /// Deletes a task (managers, the owner, or its creator).
    pub async fn delete_task(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let task = self.task_by_id(id).await?;
        let access = self.require(user, task.project_id, Role::Member).await?;
        if access.role == Role::Member && task.creator_id != Some(user.user_id) {
            return Err(WorkError::Forbidden("Members delete only the tasks they created."));
        }
        let mut tx = self.platform.db.begin().await?;
        if !store::delete_task(&mut tx, id).await? {
            return Err(WorkError::NotFound);
        }
        crate::store::log(
            &mut tx,
            task.project_id,
            Some(user.user_id),
            "task.deleted",
            Some(id),
            &json!({"title": task.title}),
        )
        .await?;
        let deleted = json!({"task_id": id, "project_id": task.project_id});
        self.platform.outbox.event(&mut tx, events::DOMAIN_TASK_DELETED, &deleted).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        events::publish(&self.platform.hub, task.project_id, events::TASK_DELETED, &json!({"taskId": id}));
        Ok(())
    }

    /// Lists tasks: of one project the caller may see, or of every project they are a member of.
    pub async fn tasks(&self, user: &AuthUser, list: TaskList) -> Result<TaskPage> {
        if let Some(project) = list.project_id {
            self.access(user, project).await?;
        }
        let after =
            list.cursor.as_deref().filter(|c| !c.is_empty()).map(|c| decode_cursor(list.sort, list.descending, c));
        let after = after.transpose()?;
        let filter = TaskFilter {
            viewer: user.user_id,
            project: list.project_id,
            status: list.status.map(TaskStatus::as_str),
            priority: list.priority.map(Priority::rank),
            assignee: list.assignee_id,
            tag: list.tag.map(|t| t.trim().to_lowercase()),
            due_before: list.due_before,
            due_after: list.due_after,
            pattern: list.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(like_pattern),
        };
        let rows = store::list(&self.platform.db, &filter, list.sort, list.descending, after, list.limit + 1).await?;
        let more = rows.len() as i64 > list.limit;
        let mut items = self.complete(rows).await?;
        items.truncate(list.limit as usize);
        let next_cursor = if more { items.last().map(|t| encode_cursor(list.sort, list.descending, t)) } else { None };
        let total = if list.include_total { Some(store::count(&self.platform.db, &filter).await?) } else { None };
        Ok(TaskPage { items, next_cursor, total })
    }
}

/// The actor's name and the project's, for assignment notifications.
struct AssignmentContext {
    actor: Uuid,
    actor_name: String,
    project: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_at_follows_the_status() {
        let (t0, t1) = (Ts::now(), Ts::now().plus(chrono::Duration::hours(1)));
        assert_eq!(completed_at(Some(TaskStatus::Todo), TaskStatus::Done, None, t1), Some(t1));
        assert_eq!(completed_at(Some(TaskStatus::Done), TaskStatus::Done, Some(t0), t1), Some(t0));
        assert_eq!(completed_at(Some(TaskStatus::Done), TaskStatus::Review, Some(t0), t1), None);
        assert_eq!(completed_at(None, TaskStatus::Todo, None, t1), None);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }
}
