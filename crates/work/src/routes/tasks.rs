//! Task, comment and export routes.

use super::{WorkState, page};
use crate::model::*;
use crate::service::{CommentInput, TaskInput, TaskList, TaskPage, TaskPatch};
use crate::store::tasks::SortKey;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::extract::{Json, Path, Query, nullable};
use platform::http::created;
use platform::pagination::Page;
use platform::{ApiError, ApiResult};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new task.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::CreateTaskRequest)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    #[garde(skip)]
    pub project_id: Uuid,
    /// 1–200 characters.
    #[garde(length(chars, min = 1, max = 200))]
    pub title: String,
    /// Up to 10 000 characters.
    #[garde(inner(length(chars, max = 10000)))]
    pub description: Option<String>,
    /// Default `todo`.
    #[garde(skip)]
    pub status: Option<TaskStatus>,
    /// Default `medium`.
    #[garde(skip)]
    pub priority: Option<Priority>,
    /// A member of the project (not a guest).
    #[garde(skip)]
    pub assignee_id: Option<Uuid>,
    #[garde(skip)]
    pub due_date: Option<Ts>,
    /// Up to 20 tags of 1–50 characters (stored lowercase).
    #[garde(inner(length(max = 20)))]
    pub tags: Option<Vec<String>>,
    /// Board position; default: after the last task.
    #[garde(skip)]
    pub position: Option<i64>,
    /// Tasks of the same project that must be done first.
    #[garde(inner(length(max = 50)))]
    pub blocked_by: Option<Vec<Uuid>>,
}

/// Task changes; fields left out stay, `null` clears `assignee_id` and `due_date`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::UpdateTaskRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskRequest {
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub title: Option<String>,
    #[garde(inner(length(chars, max = 10000)))]
    pub description: Option<String>,
    #[garde(skip)]
    pub status: Option<TaskStatus>,
    #[garde(skip)]
    pub priority: Option<Priority>,
    #[garde(skip)]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub assignee_id: Option<Option<Uuid>>,
    #[garde(skip)]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Ts>, nullable)]
    pub due_date: Option<Option<Ts>>,
    #[garde(inner(length(max = 20)))]
    pub tags: Option<Vec<String>>,
    #[garde(skip)]
    pub position: Option<i64>,
    /// Replaces the blockers.
    #[garde(inner(length(max = 50)))]
    pub blocked_by: Option<Vec<Uuid>>,
}

/// The sort keys of task lists.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[schema(as = work::SortParam)]
#[serde(rename_all = "snake_case")]
pub enum SortParam {
    CreatedAt,
    UpdatedAt,
    DueDate,
    Priority,
    Position,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[schema(as = work::OrderParam)]
#[serde(rename_all = "snake_case")]
pub enum OrderParam {
    Asc,
    Desc,
}

/// Task list query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// One project (else every project I am a member of).
    pub project_id: Option<Uuid>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    pub tag: Option<String>,
    /// Due strictly before this instant.
    pub due_before: Option<Ts>,
    /// Due at or after this instant.
    pub due_after: Option<Ts>,
    /// Text in the title or description.
    pub q: Option<String>,
    /// `created_at` (default), `updated_at`, `due_date` (tasks without one last), `priority`, `position`.
    pub sort: Option<SortParam>,
    /// `asc` or `desc` (default `desc`, `asc` for `position`).
    pub order: Option<OrderParam>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Add `total`, the number of matching tasks.
    pub include_total: Option<bool>,
}

/// A comment's text.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::CommentRequest)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// 1–5000 characters; `@Name` mentions project members.
    #[garde(length(chars, min = 1, max = 5000))]
    pub content: String,
}

/// Comment list query (oldest first).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommentsQuery {
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Tasks I may see, filtered and sorted.
#[utoipa::path(get, path = "/api/v1/work/tasks", tag = "work", security(("bearer" = [])), params(TasksQuery),
    responses((status = 200, body = TaskPage)))]
pub(super) async fn list_tasks(
    State(s): State<WorkState>,
    me: AuthUser,
    Query(q): Query<TasksQuery>,
) -> ApiResult<axum::Json<TaskPage>> {
    let (limit, _) = page(q.limit, None)?;
    if q.tag.as_deref().is_some_and(|t| t.chars().count() > 50)
        || q.q.as_deref().is_some_and(|t| t.chars().count() > 200)
    {
        return Err(ApiError::invalid_field("q", "tag is at most 50 and q at most 200 characters"));
    }
    let sort = match q.sort.unwrap_or(SortParam::CreatedAt) {
        SortParam::CreatedAt => SortKey::CreatedAt,
        SortParam::UpdatedAt => SortKey::UpdatedAt,
        SortParam::DueDate => SortKey::DueDate,
        SortParam::Priority => SortKey::Priority,
        SortParam::Position => SortKey::Position,
    };
    let descending = match q.order {
        Some(OrderParam::Asc) => false,
        Some(OrderParam::Desc) => true,
        None => sort != SortKey::Position,
    };
    let list = TaskList {
        project_id: q.project_id,
        status: q.status,
        priority: q.priority,
        assignee_id: q.assignee_id,
        tag: q.tag,
        due_before: q.due_before,
        due_after: q.due_after,
        q: q.q,
        sort,
        descending,
        cursor: q.cursor,
        limit,
        include_total: q.include_total.unwrap_or(false),
    };
    Ok(axum::Json(s.work.tasks(&me, list).await?))
}

/// Create a task (members, managers, owner).
#[utoipa::path(post, path = "/api/v1/work/tasks", tag = "work", security(("bearer" = [])),
    request_body = CreateTaskRequest, responses((status = 201, body = Task),
    (status = 422, description = "validation_failed or dependency_cycle", body = platform::error::Problem)))]
pub(super) async fn create_task(
    State(s): State<WorkState>,
    me: AuthUser,
    Json(b): Json<CreateTaskRequest>,
) -> ApiResult<Response> {
    let input = TaskInput {
        project_id: b.project_id,
        title: b.title,
        description: b.description,
        status: b.status,
        priority: b.priority,
        assignee_id: b.assignee_id,
        due_date: b.due_date.map(|d| Ts::from(d.get())),
        tags: b.tags,
        position: b.position,
        blocked_by: b.blocked_by,
    };
    let task = s.work.create_task(&me, input).await?;
    Ok(created(format!("/api/v1/work/tasks/{}", task.id), task))
}

/// A task.
#[utoipa::path(get, path = "/api/v1/work/tasks/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")), responses((status = 200, body = Task)))]
pub(super) async fn get_task(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Task>> {
    Ok(axum::Json(s.work.task(&me, id).await?))
}

/// Edit a task.
#[utoipa::path(patch, path = "/api/v1/work/tasks/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")), request_body = UpdateTaskRequest,
    responses((status = 200, body = Task),
    (status = 422, description = "validation_failed or dependency_cycle", body = platform::error::Problem)))]
pub(super) async fn update_task(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateTaskRequest>,
) -> ApiResult<axum::Json<Task>> {
    let patch = TaskPatch {
        title: b.title,
        description: b.description,
        status: b.status,
        priority: b.priority,
        assignee_id: b.assignee_id,
        due_date: b.due_date.map(|d| d.map(|d| Ts::from(d.get()))),
        tags: b.tags,
        position: b.position,
        blocked_by: b.blocked_by,
    };
    Ok(axum::Json(s.work.update_task(&me, id, patch).await?))
}

/// Delete a task.
#[utoipa::path(delete, path = "/api/v1/work/tasks/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")), responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_task(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.work.delete_task(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every task of a project as CSV.
#[utoipa::path(get, path = "/api/v1/work/projects/{id}/tasks.csv", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 200, description = "text/csv with a header row", content_type = "text/csv", body = String)))]
pub(super) async fn export_tasks(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let bytes = s.work.export_csv(&me, id).await?;
    let disposition = format!("attachment; filename=\"tasks-{id}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

/// A task's comments, oldest first.
#[utoipa::path(get, path = "/api/v1/work/tasks/{id}/comments", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id"), CommentsQuery), responses((status = 200, body = Page<Comment>)))]
pub(super) async fn list_comments(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<CommentsQuery>,
) -> ApiResult<axum::Json<Page<Comment>>> {
    let (limit, cursor) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.work.comments(&me, id, cursor, limit).await?))
}

/// Comment on a task (members, managers, owner).
#[utoipa::path(post, path = "/api/v1/work/tasks/{id}/comments", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")), request_body = CommentRequest,
    responses((status = 201, body = Comment)))]
pub(super) async fn create_comment(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<CommentRequest>,
) -> ApiResult<Response> {
    let comment = s.work.create_comment(&me, id, CommentInput { content: b.content }).await?;
    Ok(created(format!("/api/v1/work/comments/{}", comment.id), comment))
}

/// Edit a comment (its author).
#[utoipa::path(patch, path = "/api/v1/work/comments/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Comment id")), request_body = CommentRequest,
    responses((status = 200, body = Comment)))]
pub(super) async fn edit_comment(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<CommentRequest>,
) -> ApiResult<axum::Json<Comment>> {
    Ok(axum::Json(s.work.edit_comment(&me, id, CommentInput { content: b.content }).await?))
}

/// Delete a comment (its author, managers, owner).
#[utoipa::path(delete, path = "/api/v1/work/comments/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Comment id")), responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_comment(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.work.delete_comment(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
