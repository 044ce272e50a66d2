//! Project, member, activity and analytics routes.

use super::{WorkState, page};
use crate::model::*;
use crate::service::{Added, NewMember, ProjectInput, ProjectPatch};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use garde::Validate;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query, nullable};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use platform::{ApiError, ApiResult};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new project.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::CreateProjectRequest)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// 1–100 characters.
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    /// Up to 5000 characters.
    #[garde(inner(length(chars, max = 5000)))]
    pub description: Option<String>,
    /// `private` (default), `team` or `public`.
    #[garde(skip)]
    pub visibility: Option<Visibility>,
    /// `active` (default), `on_hold`, `completed` or `archived`.
    #[garde(skip)]
    pub status: Option<ProjectStatus>,
    /// The freelance client the project is for.
    #[garde(skip)]
    pub client_id: Option<Uuid>,
    /// Decimal string, e.g. `"85.00"`; needs `currency`.
    #[garde(inner(length(max = 30)))]
    pub hourly_rate: Option<String>,
    /// Decimal string; needs `currency`.
    #[garde(inner(length(max = 30)))]
    pub budget: Option<String>,
    /// ISO 4217 code.
    #[garde(inner(length(max = 3)))]
    pub currency: Option<String>,
    /// First day.
    #[garde(skip)]
    pub starts_on: Option<NaiveDate>,
    /// Last day.
    #[garde(skip)]
    pub ends_on: Option<NaiveDate>,
}

/// Project changes; fields left out stay, `null` clears the optional ones.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::UpdateProjectRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[garde(inner(length(chars, min = 1, max = 100)))]
    pub name: Option<String>,
    #[garde(inner(length(chars, max = 5000)))]
    pub description: Option<String>,
    #[garde(skip)]
    pub visibility: Option<Visibility>,
    #[garde(skip)]
    pub status: Option<ProjectStatus>,
    #[garde(skip)]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub client_id: Option<Option<Uuid>>,
    #[garde(inner(inner(length(max = 30))))]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub hourly_rate: Option<Option<String>>,
    #[garde(inner(inner(length(max = 30))))]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub budget: Option<Option<String>>,
    #[garde(inner(inner(length(max = 3))))]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub currency: Option<Option<String>>,
    #[garde(skip)]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub starts_on: Option<Option<NaiveDate>>,
    #[garde(skip)]
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub ends_on: Option<Option<NaiveDate>>,
}

/// Project list query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectsQuery {
    /// Also list public projects I am not a member of.
    pub include_public: Option<bool>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Someone to add: `user_id`, or `email` (an invitation if no verified account has it).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::AddMemberRequest)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    #[garde(skip)]
    pub user_id: Option<Uuid>,
    #[garde(inner(length(max = 254)))]
    pub email: Option<String>,
    /// `member` (default), `guest` or `manager`.
    #[garde(skip)]
    pub role: Option<Role>,
}

/// A role change (`owner` transfers the project).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = work::UpdateMemberRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    #[garde(skip)]
    pub role: Role,
}

/// Feed query (newest first).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Projects I am a member of (and, on request, public ones).
#[utoipa::path(get, path = "/api/v1/work/projects", tag = "work", security(("bearer" = [])), params(ProjectsQuery),
    responses((status = 200, body = Page<Project>)))]
pub(super) async fn list_projects(
    State(s): State<WorkState>,
    me: AuthUser,
    Query(q): Query<ProjectsQuery>,
) -> ApiResult<axum::Json<Page<Project>>> {
    let (limit, cursor) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.work.projects(&me, q.include_public.unwrap_or(false), cursor, limit).await?))
}

/// Create a project; the caller owns it.
#[utoipa::path(post, path = "/api/v1/work/projects", tag = "work", security(("bearer" = [])),
    request_body = CreateProjectRequest, responses((status = 201, body = Project)))]
pub(super) async fn create_project(
    State(s): State<WorkState>,
    me: AuthUser,
    Json(b): Json<CreateProjectRequest>,
) -> ApiResult<Response> {
    let input = ProjectInput {
        name: b.name,
        description: b.description,
        visibility: b.visibility,
        status: b.status,
        client_id: b.client_id,
        hourly_rate: b.hourly_rate,
        budget: b.budget,
        currency: b.currency,
        starts_on: b.starts_on,
        ends_on: b.ends_on,
    };
    let project = s.work.create_project(&me, &input).await?;
    Ok(created(format!("/api/v1/work/projects/{}", project.id), project))
}

/// A project.
#[utoipa::path(get, path = "/api/v1/work/projects/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")), responses((status = 200, body = Project)))]
pub(super) async fn get_project(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Project>> {
    Ok(axum::Json(s.work.project(&me, id).await?))
}

/// Edit a project (owner, managers).
#[utoipa::path(patch, path = "/api/v1/work/projects/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")), request_body = UpdateProjectRequest,
    responses((status = 200, body = Project)))]
pub(super) async fn update_project(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateProjectRequest>,
) -> ApiResult<axum::Json<Project>> {
    let patch = ProjectPatch {
        name: b.name,
        description: b.description,
        visibility: b.visibility,
        status: b.status,
        client_id: b.client_id,
        hourly_rate: b.hourly_rate,
        budget: b.budget,
        currency: b.currency,
        starts_on: b.starts_on,
        ends_on: b.ends_on,
    };
    Ok(axum::Json(s.work.update_project(&me, id, patch).await?))
}

/// Delete a project with its tasks (owner).
#[utoipa::path(delete, path = "/api/v1/work/projects/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")), responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_project(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.work.delete_project(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a project, a page at a time by user id.
#[utoipa::path(get, path = "/api/v1/work/projects/{id}/members", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), PageQuery), responses((status = 200, body = Page<Member>)))]
pub(super) async fn list_members(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Member>>> {
    let (limit, after) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.work.members(&me, id, after, limit).await?))
}

/// Add a member by `user_id` or `email` (201 with the member), or invite an address that no
/// verified account has (202 with the invitation).
#[utoipa::path(post, path = "/api/v1/work/projects/{id}/members", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")), request_body = AddMemberRequest,
    responses((status = 201, body = Member), (status = 202, body = Invitation),
              (status = 409, description = "already_member", body = platform::error::Problem)))]
pub(super) async fn add_member(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<AddMemberRequest>,
) -> ApiResult<Response> {
    let who = match (b.user_id, b.email) {
        (Some(user), None) => NewMember::User(user),
        (None, Some(email)) => NewMember::Email(email),
        _ => return Err(ApiError::invalid_field("user_id", "give exactly one of user_id and email")),
    };
    match s.work.add_member(&me, id, who, b.role.unwrap_or(Role::Member)).await? {
        Added::Member(member) => Ok(created(format!("/api/v1/work/projects/{id}/members/{}", member.user_id), member)),
        Added::Invited(invitation) => Ok((StatusCode::ACCEPTED, axum::Json(invitation)).into_response()),
    }
}

/// Change a member's role (owner; managers for members and guests).
#[utoipa::path(patch, path = "/api/v1/work/projects/{id}/members/{user_id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), ("user_id" = Uuid, Path, description = "Member")),
    request_body = UpdateMemberRequest, responses((status = 200, body = Member)))]
pub(super) async fn update_member(
    State(s): State<WorkState>,
    me: AuthUser,
    Path((id, user)): Path<(Uuid, Uuid)>,
    Json(b): Json<UpdateMemberRequest>,
) -> ApiResult<axum::Json<Member>> {
    Ok(axum::Json(s.work.set_role(&me, id, user, b.role).await?))
}

/// Remove a member, or leave (oneself).
#[utoipa::path(delete, path = "/api/v1/work/projects/{id}/members/{user_id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), ("user_id" = Uuid, Path, description = "Member")),
    responses((status = 204, description = "Removed"), (status = 409, description = "owner_stays", body = platform::error::Problem)))]
pub(super) async fn remove_member(
    State(s): State<WorkState>,
    me: AuthUser,
    Path((id, user)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    s.work.remove_member(&me, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pending invitations (owner, managers), a page at a time, oldest first.
#[utoipa::path(get, path = "/api/v1/work/projects/{id}/invitations", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), PageQuery), responses((status = 200, body = Page<Invitation>)))]
pub(super) async fn list_invitations(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Invitation>>> {
    let (limit, after) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.work.invitations(&me, id, after, limit).await?))
}

/// Withdraw an invitation (owner, managers).
#[utoipa::path(delete, path = "/api/v1/work/projects/{id}/invitations/{invitation_id}", tag = "work",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), ("invitation_id" = Uuid, Path, description = "Invitation id")),
    responses((status = 204, description = "Withdrawn")))]
pub(super) async fn revoke_invitation(
    State(s): State<WorkState>,
    me: AuthUser,
    Path((id, invitation)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    s.work.revoke_invitation(&me, id, invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's invitations (to their verified address), valid 14 days each, a page at a time,
/// oldest first (anyone may invite any address, so there may be many).
#[utoipa::path(get, path = "/api/v1/work/invitations", tag = "work", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<InvitationForMe>)))]
pub(super) async fn my_invitations(
    State(s): State<WorkState>,
    me: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<InvitationForMe>>> {
    let (limit, after) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.work.my_invitations(&me, after, limit).await?))
}

/// Accept an invitation: the caller becomes a member with its role.
#[utoipa::path(post, path = "/api/v1/work/invitations/{id}/accept", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invitation id")), responses((status = 200, body = Member)))]
pub(super) async fn accept_invitation(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Member>> {
    Ok(axum::Json(s.work.accept_invitation(&me, id).await?))
}

/// Decline an invitation.
#[utoipa::path(delete, path = "/api/v1/work/invitations/{id}", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invitation id")), responses((status = 204, description = "Declined")))]
pub(super) async fn decline_invitation(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.work.decline_invitation(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who changed what in a project, newest first.
#[utoipa::path(get, path = "/api/v1/work/projects/{id}/activity", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), FeedQuery), responses((status = 200, body = Page<Activity>)))]
pub(super) async fn list_activity(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<FeedQuery>,
) -> ApiResult<axum::Json<Page<Activity>>> {
    let (limit, cursor) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.work.activity(&me, id, cursor, limit).await?))
}

/// Task counts, overdue tasks, completions per week and cycle times of a project.
#[utoipa::path(get, path = "/api/v1/work/projects/{id}/analytics", tag = "work", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")), responses((status = 200, body = Analytics)))]
pub(super) async fn project_analytics(
    State(s): State<WorkState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Analytics>> {
    Ok(axum::Json(s.work.project_analytics(&me, id).await?))
}

/// The same analytics over the tasks assigned to me.
#[utoipa::path(get, path = "/api/v1/work/users/me/analytics", tag = "work", security(("bearer" = [])),
    responses((status = 200, body = Analytics)))]
pub(super) async fn my_analytics(State(s): State<WorkState>, me: AuthUser) -> ApiResult<axum::Json<Analytics>> {
    Ok(axum::Json(s.work.my_analytics(&me).await?))
}
