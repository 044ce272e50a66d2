//! The catalogue: categories and templates, public to read, administrators' to write.

use super::{Admin, StudioState};
use crate::model::{Category, Template};
use crate::service::{CategoryInput, CategoryPatch, TemplateInput, TemplatePatch, TemplateQuery};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query};
use platform::http::{ClientIp, created};
use platform::pagination::Page;
use platform::upload::{Upload, UploadRules};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A template picture upload takes one image in the `image` field.
pub struct TemplateImageRules;

impl UploadRules for TemplateImageRules {
    const FIELD: &'static str = "image";
}

/// A template picture upload (multipart/form-data).
#[derive(Debug, ToSchema)]
#[schema(as = studio::TemplateImageUpload)]
#[allow(dead_code)] // Only describes the form for the OpenAPI document.
pub struct TemplateImageUpload {
    /// A JPEG, PNG or WebP image.
    #[schema(format = Binary, value_type = String)]
    image: Vec<u8>,
}

/// Which rendition of a template picture.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageQuery {
    /// `thumbnail` for the 256×256 JPEG; the picture otherwise.
    pub size: Option<String>,
    /// Version from the image URL (for caches; any value is accepted).
    #[allow(dead_code)] // Documented and accepted; only caches care about it.
    pub v: Option<String>,
}

/// Every category, in display order; no token needed.
#[utoipa::path(get, path = "/api/v1/studio/categories", tag = "studio", security((), ("bearer" = [])),
    responses((status = 200, body = Vec<Category>)))]
pub(super) async fn list_categories(State(s): State<StudioState>) -> ApiResult<axum::Json<Vec<Category>>> {
    Ok(axum::Json(s.studio.categories().await?))
}

/// Add a category (administrators only).
#[utoipa::path(post, path = "/api/v1/studio/categories", tag = "studio", security(("bearer" = [])),
    request_body = CategoryInput, responses((status = 201, body = Category),
        (status = 403, description = "admin_only", body = platform::error::Problem),
        (status = 409, description = "slug_taken", body = platform::error::Problem)))]
pub(super) async fn create_category(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Json(b): Json<CategoryInput>,
) -> ApiResult<Response> {
    let category = s.studio.create_category(&me, b).await?;
    Ok(created(format!("/api/v1/studio/categories/{}", category.id), category))
}

/// Change a category (administrators only).
#[utoipa::path(patch, path = "/api/v1/studio/categories/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")), request_body = CategoryPatch,
    responses((status = 200, body = Category),
        (status = 403, description = "admin_only", body = platform::error::Problem),
        (status = 409, description = "slug_taken", body = platform::error::Problem)))]
pub(super) async fn update_category(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Path(id): Path<Uuid>,
    Json(b): Json<CategoryPatch>,
) -> ApiResult<axum::Json<Category>> {
    Ok(axum::Json(s.studio.update_category(&me, id, b).await?))
}

/// Delete a category that has no templates (administrators only).
#[utoipa::path(delete, path = "/api/v1/studio/categories/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    responses((status = 204, description = "Deleted"),
        (status = 403, description = "admin_only", body = platform::error::Problem),
        (status = 409, description = "category_not_empty", body = platform::error::Problem)))]
pub(super) async fn delete_category(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.studio.delete_category(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The catalogue: filter by category (id or slug), words, tag and trending; newest or most
/// liked first. No token needed; with one, each template says whether it is the caller's
/// favourite.
#[utoipa::path(get, path = "/api/v1/studio/templates", tag = "studio", security((), ("bearer" = [])),
    params(TemplateQuery), responses((status = 200, body = Page<Template>)))]
pub(super) async fn list_templates(
    State(s): State<StudioState>,
    me: Option<AuthUser>,
    Query(q): Query<TemplateQuery>,
) -> ApiResult<axum::Json<Page<Template>>> {
    Ok(axum::Json(s.studio.templates(me.map(|m| m.user_id), q).await?))
}

/// Add a template (administrators only); its picture is uploaded with `PUT …/image`.
#[utoipa::path(post, path = "/api/v1/studio/templates", tag = "studio", security(("bearer" = [])),
    request_body = TemplateInput, responses((status = 201, body = Template),
        (status = 403, description = "admin_only", body = platform::error::Problem)))]
pub(super) async fn create_template(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Json(b): Json<TemplateInput>,
) -> ApiResult<Response> {
    let template = s.studio.create_template(&me, b).await?;
    Ok(created(format!("/api/v1/studio/templates/{}", template.id), template))
}

/// One template; counts a view (each viewer once an hour). No token needed.
#[utoipa::path(get, path = "/api/v1/studio/templates/{id}", tag = "studio", security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "Template id")), responses((status = 200, body = Template)))]
pub(super) async fn get_template(
    State(s): State<StudioState>,
    me: Option<AuthUser>,
    ip: ClientIp,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Template>> {
    let viewer = match &me {
        Some(user) => format!("u:{}", user.user_id),
        None => format!("ip:{}", ip.network()),
    };
    Ok(axum::Json(s.studio.template(id, me.map(|m| m.user_id), Some(viewer)).await?))
}

/// Change a template (administrators only).
#[utoipa::path(patch, path = "/api/v1/studio/templates/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Template id")), request_body = TemplatePatch,
    responses((status = 200, body = Template),
        (status = 403, description = "admin_only", body = platform::error::Problem)))]
pub(super) async fn update_template(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Path(id): Path<Uuid>,
    Json(b): Json<TemplatePatch>,
) -> ApiResult<axum::Json<Template>> {
    Ok(axum::Json(s.studio.update_template(&me, id, b).await?))
}

/// Delete a template, with its favourites and picture (administrators only).
#[utoipa::path(delete, path = "/api/v1/studio/templates/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Template id")),
    responses((status = 204, description = "Deleted"),
        (status = 403, description = "admin_only", body = platform::error::Problem)))]
pub(super) async fn delete_template(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.studio.delete_template(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A template's picture (public, like the catalogue).
#[utoipa::path(get, path = "/api/v1/studio/templates/{id}/image", tag = "studio", security(()),
    params(("id" = Uuid, Path, description = "Template id"), ImageQuery),
    responses((status = 200, description = "The image", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp")))))]
pub(super) async fn get_template_image(
    State(s): State<StudioState>,
    Path(id): Path<Uuid>,
    Query(q): Query<ImageQuery>,
) -> ApiResult<Response> {
    let thumbnail = q.size.as_deref() == Some("thumbnail");
    let (bytes, content_type) = s.studio.template_image(id, thumbnail).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], bytes).into_response())
}

/// Set a template's picture (administrators only; JPEG, PNG or WebP, checked by content).
#[utoipa::path(put, path = "/api/v1/studio/templates/{id}/image", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Template id")),
    request_body(content = TemplateImageUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = Template),
        (status = 403, description = "admin_only", body = platform::error::Problem),
        (status = 413, description = "Over the upload limit", body = platform::error::Problem),
        (status = 415, description = "Not an image we accept", body = platform::error::Problem)))]
pub(super) async fn put_template_image(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Path(id): Path<Uuid>,
    upload: Upload<TemplateImageRules>,
) -> ApiResult<axum::Json<Template>> {
    let Some(file) = upload.files.into_iter().next() else {
        return Err(platform::ApiError::invalid_field("image", "is required"));
    };
    Ok(axum::Json(s.studio.set_template_image(&me, id, file).await?))
}
