//! Generations: order one (202, then live on `user.{id}`), the caller's history and one job.

use super::StudioState;
use crate::model::Generation;
use crate::service::GenerationInput;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query};
use platform::pagination::{Page, PageQuery};
use uuid::Uuid;

/// Order a generation: one credit is reserved now, spent if it succeeds and returned if it
/// fails. Answers 202 with the queued job; its progress arrives on `user.{id}` as
/// `studio.generation.updated`, or by polling `Location`.
#[utoipa::path(post, path = "/api/v1/studio/generations", tag = "studio", security(("bearer" = [])),
    request_body = GenerationInput, responses((status = 202, body = Generation),
        (status = 402, description = "insufficient_credits", body = platform::error::Problem),
        (status = 403, description = "verification_required", body = platform::error::Problem),
        (status = 409, description = "parent_not_ready or too_many_generations", body = platform::error::Problem),
        (status = 503, description = "generation_not_configured", body = platform::error::Problem)))]
pub(super) async fn create_generation(
    State(s): State<StudioState>,
    me: AuthUser,
    Json(b): Json<GenerationInput>,
) -> ApiResult<Response> {
    let generation = s.studio.create_generation(me.user_id, b).await?;
    let location = format!("/api/v1/studio/generations/{}", generation.id);
    let mut response = (StatusCode::ACCEPTED, axum::Json(generation)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The caller's generations, newest first (each edit names its parent).
#[utoipa::path(get, path = "/api/v1/studio/generations", tag = "studio", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<Generation>)))]
pub(super) async fn list_generations(
    State(s): State<StudioState>,
    me: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Generation>>> {
    Ok(axum::Json(s.studio.generations(me.user_id, q).await?))
}

/// One of the caller's generations, with fresh links to its image.
#[utoipa::path(get, path = "/api/v1/studio/generations/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Generation id")), responses((status = 200, body = Generation)))]
pub(super) async fn get_generation(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Generation>> {
    Ok(axum::Json(s.studio.generation(me.user_id, id).await?))
}
