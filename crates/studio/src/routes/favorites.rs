//! Favourites: idempotent add and remove, the original app's toggle, and the caller's list.

use super::StudioState;
use crate::model::Template;
use crate::service::{FavoriteChange, FavoriteState};
use axum::extract::State;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Path, Query};
use platform::pagination::{Page, PageQuery};
use uuid::Uuid;

/// Add a template to the caller's favourites (doing it again changes nothing).
#[utoipa::path(put, path = "/api/v1/studio/templates/{id}/favorite", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Template id")), responses((status = 200, body = FavoriteState)))]
pub(super) async fn add_favorite(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<FavoriteState>> {
    Ok(axum::Json(s.studio.change_favorite(me.user_id, id, FavoriteChange::Add).await?))
}

/// Remove a template from the caller's favourites (doing it again changes nothing).
#[utoipa::path(delete, path = "/api/v1/studio/templates/{id}/favorite", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Template id")), responses((status = 200, body = FavoriteState)))]
pub(super) async fn remove_favorite(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<FavoriteState>> {
    Ok(axum::Json(s.studio.change_favorite(me.user_id, id, FavoriteChange::Remove).await?))
}

/// Toggle a favourite, as the original app did; prefer `PUT`/`DELETE`, which can be repeated.
#[utoipa::path(post, path = "/api/v1/studio/templates/{id}/favorite/toggle", tag = "studio",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Template id")),
    responses((status = 200, body = FavoriteState)))]
pub(super) async fn toggle_favorite(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<FavoriteState>> {
    Ok(axum::Json(s.studio.change_favorite(me.user_id, id, FavoriteChange::Toggle).await?))
}

/// The caller's favourite templates, most recently added first.
#[utoipa::path(get, path = "/api/v1/studio/favorites", tag = "studio", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<Template>)))]
pub(super) async fn list_favorites(
    State(s): State<StudioState>,
    me: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Template>>> {
    Ok(axum::Json(s.studio.favorites(me.user_id, q).await?))
}
