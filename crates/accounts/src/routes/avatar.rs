//! Avatars: upload (through the platform's upload extractor), removal, and public serving.

use super::*;

/// This feature's routes; uploads are bounded by `uploads`' body limit for one avatar.
pub(super) fn routes(uploads: &Uploads) -> OpenApiRouter<AccountsState> {
    let upload = OpenApiRouter::new()
        .routes(routes!(upload_avatar, delete_avatar))
        .layer(DefaultBodyLimit::max(uploads.body_limit::<AvatarRules>()));
    OpenApiRouter::new().merge(upload).routes(routes!(get_avatar))
}

/// An avatar upload takes one image in the `file` field.
pub struct AvatarRules;

impl UploadRules for AvatarRules {
    const FIELD: &'static str = "file";
}

/// Which rendition of an avatar.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[schema(as = accounts::AvatarSize)]
#[serde(rename_all = "snake_case")]
pub enum AvatarSize {
    /// The uploaded picture.
    #[default]
    Original,
    /// The 256×256 JPEG thumbnail.
    Thumbnail,
}

/// Avatar query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvatarQuery {
    /// `original` (default) or `thumbnail`.
    pub size: Option<AvatarSize>,
    /// Version from the avatar URL (for caches; any value is accepted).
    #[allow(dead_code)] // Documented and accepted; only caches care about it.
    pub v: Option<String>,
}

/// An avatar upload (multipart/form-data).
#[derive(Debug, ToSchema)]
#[schema(as = accounts::AvatarUpload)]
#[allow(dead_code)] // Only describes the form for the OpenAPI document.
pub struct AvatarUpload {
    /// A JPEG, PNG or WebP image.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// Set the caller's avatar (JPEG, PNG or WebP; the type is checked by content).
#[utoipa::path(put, path = "/api/v1/users/me/avatar", tag = "users", security(("bearer" = [])),
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = User),
        (status = 413, description = "Over the upload limit", body = platform::error::Problem),
        (status = 415, description = "Not an image we accept", body = platform::error::Problem),
        (status = 422, description = "Broken, or more pixels than we take", body = platform::error::Problem)))]
async fn upload_avatar(
    State(s): State<AccountsState>,
    me: AuthUser,
    upload: Upload<AvatarRules>,
) -> ApiResult<axum::Json<User>> {
    let Some(file) = upload.files.into_iter().next() else {
        return Err(platform::ApiError::invalid_field("file", "is required"));
    };
    Ok(axum::Json(s.accounts.set_avatar(me.user_id, file).await?))
}

/// Remove the caller's avatar.
#[utoipa::path(delete, path = "/api/v1/users/me/avatar", tag = "users", security(("bearer" = [])),
    responses((status = 204, description = "Removed")))]
async fn delete_avatar(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<StatusCode> {
    s.accounts.delete_avatar(me.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's avatar picture (public, like the name).
#[utoipa::path(get, path = "/api/v1/users/{id}/avatar", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), AvatarQuery),
    responses((status = 200, description = "The image", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp")))))]
async fn get_avatar(
    State(s): State<AccountsState>,
    Path(id): Path<Uuid>,
    Query(q): Query<AvatarQuery>,
) -> ApiResult<Response> {
    let thumbnail = matches!(q.size.unwrap_or_default(), AvatarSize::Thumbnail);
    let (bytes, content_type) = s.accounts.avatar(id, thumbnail).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], bytes).into_response())
}
