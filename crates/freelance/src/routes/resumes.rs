//! Resumes: the caller's own (another user's answers 404).

use super::{FreelanceState, pdf_response};
use crate::model::{Resume, ResumeContent, ResumeTemplate};
use crate::service::{ResumeInput, ResumePatch};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A new resume.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::CreateResumeRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CreateResumeRequest {
    /// Your name for it, 1–200 characters.
    pub title: String,
    /// Default `modern`.
    pub template: Option<ResumeTemplate>,
    pub content: ResumeContent,
}

/// Resume changes: a field left out stays; `content` replaces the whole document.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::UpdateResumeRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct UpdateResumeRequest {
    pub title: Option<String>,
    pub template: Option<ResumeTemplate>,
    pub content: Option<ResumeContent>,
}

/// The caller's resumes, newest first.
#[utoipa::path(get, path = "/api/v1/freelance/resumes", tag = "freelance", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<Resume>)))]
pub(super) async fn list_resumes(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Resume>>> {
    Ok(axum::Json(s.freelance.resumes(&me, q.cursor_id()?, q.limit()?).await?))
}

/// Write a resume.
#[utoipa::path(post, path = "/api/v1/freelance/resumes", tag = "freelance", security(("bearer" = [])),
    request_body = CreateResumeRequest, responses((status = 201, body = Resume)))]
pub(super) async fn create_resume(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<CreateResumeRequest>,
) -> ApiResult<Response> {
    let input =
        ResumeInput { title: b.title, template: b.template.unwrap_or(ResumeTemplate::Modern), content: b.content };
    let resume = s.freelance.create_resume(&me, &input).await?;
    Ok(created(format!("/api/v1/freelance/resumes/{}", resume.id), resume))
}

/// One of the caller's resumes.
#[utoipa::path(get, path = "/api/v1/freelance/resumes/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Resume id")), responses((status = 200, body = Resume)))]
pub(super) async fn get_resume(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Resume>> {
    Ok(axum::Json(s.freelance.resume(&me, id).await?))
}

/// Change a resume.
#[utoipa::path(patch, path = "/api/v1/freelance/resumes/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Resume id")), request_body = UpdateResumeRequest,
    responses((status = 200, body = Resume)))]
pub(super) async fn update_resume(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateResumeRequest>,
) -> ApiResult<axum::Json<Resume>> {
    let patch = ResumePatch { title: b.title, template: b.template, content: b.content };
    Ok(axum::Json(s.freelance.update_resume(&me, id, patch).await?))
}

/// Delete a resume.
#[utoipa::path(delete, path = "/api/v1/freelance/resumes/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Resume id")), responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_resume(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.freelance.delete_resume(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The resume as an HTML page in its template.
#[utoipa::path(get, path = "/api/v1/freelance/resumes/{id}/html", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Resume id")),
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub(super) async fn resume_html(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let html = s.freelance.resume_html(&me, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "private, no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'"),
        ],
        html,
    )
        .into_response())
}

/// The resume as a PDF in its template.
#[utoipa::path(get, path = "/api/v1/freelance/resumes/{id}/pdf", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Resume id")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>)))]
pub(super) async fn resume_pdf(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let (pdf, name) = s.freelance.resume_pdf(&me, id).await?;
    Ok(pdf_response(pdf, &name))
}
