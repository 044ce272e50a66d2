//! Characters: the caller's own, and nobody else's (another user's id answers 404).

use super::StudioState;
use crate::model::Character;
use crate::service::{MAX_IMAGES, MIN_IMAGES};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use platform::upload::{Upload, UploadRules};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A character takes 3–5 images in the `images` field.
pub struct CharacterRules;

impl UploadRules for CharacterRules {
    const FIELD: &'static str = "images";
    const MIN_FILES: usize = MIN_IMAGES;
    const MAX_FILES: usize = MAX_IMAGES;
}

/// A new character (multipart/form-data).
#[derive(Debug, ToSchema)]
#[schema(as = studio::CharacterUpload)]
#[allow(dead_code)] // Only describes the form for the OpenAPI document.
pub struct CharacterUpload {
    /// 1–100 characters.
    name: String,
    /// 3–5 JPEG, PNG or WebP images (checked by content), each within the upload limit.
    #[schema(value_type = Vec<String>, format = Binary)]
    images: Vec<Vec<u8>>,
}

/// A character's change.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::UpdateCharacterRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct UpdateCharacterRequest {
    /// 1–100 characters.
    pub name: String,
}

/// The caller's characters, newest first.
#[utoipa::path(get, path = "/api/v1/studio/characters", tag = "studio", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<Character>)))]
pub(super) async fn list_characters(
    State(s): State<StudioState>,
    me: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Character>>> {
    Ok(axum::Json(s.studio.characters(me.user_id, q).await?))
}

/// Create a character from a name and 3–5 photos; the photos are private (signed links only).
#[utoipa::path(post, path = "/api/v1/studio/characters", tag = "studio", security(("bearer" = [])),
    request_body(content = CharacterUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = Character),
        (status = 413, description = "Over the upload limit", body = platform::error::Problem),
        (status = 415, description = "Not an image we accept", body = platform::error::Problem),
        (status = 429, description = "rate_limited", body = platform::error::Problem)))]
pub(super) async fn create_character(
    State(s): State<StudioState>,
    me: AuthUser,
    upload: Upload<CharacterRules>,
) -> ApiResult<Response> {
    let name = upload.fields.get("name").cloned();
    let character = s.studio.create_character(me.user_id, name.as_deref(), upload.files).await?;
    Ok(created(format!("/api/v1/studio/characters/{}", character.id), character))
}

/// One of the caller's characters, with fresh links to its photos.
#[utoipa::path(get, path = "/api/v1/studio/characters/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Character id")), responses((status = 200, body = Character)))]
pub(super) async fn get_character(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Character>> {
    Ok(axum::Json(s.studio.character(me.user_id, id).await?))
}

/// Rename one of the caller's characters.
#[utoipa::path(patch, path = "/api/v1/studio/characters/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Character id")), request_body = UpdateCharacterRequest,
    responses((status = 200, body = Character)))]
pub(super) async fn update_character(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateCharacterRequest>,
) -> ApiResult<axum::Json<Character>> {
    Ok(axum::Json(s.studio.rename_character(me.user_id, id, &b.name).await?))
}

/// Delete one of the caller's characters; its photos are removed.
#[utoipa::path(delete, path = "/api/v1/studio/characters/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Character id")), responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_character(
    State(s): State<StudioState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.studio.delete_character(me.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
