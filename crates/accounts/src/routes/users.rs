//! The caller's profile, export and deletion, and other users' public profiles, under `/api/v1/users`.

use super::*;

/// This feature's routes.
pub(super) fn routes() -> OpenApiRouter<AccountsState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(export_me))
        .routes(routes!(get_user))
}

/// Profile changes; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::UpdateMeRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// Display name, 1–100 characters.
    #[garde(inner(length(chars, min = 1, max = 100)))]
    pub name: Option<String>,
    /// `en` or `fa`.
    #[garde(skip)]
    pub locale: Option<Locale>,
    /// Whether the name may be shown to others.
    #[garde(skip)]
    pub public_profile: Option<bool>,
}

/// Account deletion confirmation.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::DeleteMeRequest)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    /// The password (not needed for accounts created by phone).
    #[garde(inner(length(max = 1024)))]
    pub password: Option<String>,
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User)))]
async fn get_me(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(s.accounts.user(me.user_id).await?))
}

/// Change the caller's profile.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = UpdateMeRequest, responses((status = 200, body = User)))]
async fn update_me(
    State(s): State<AccountsState>,
    me: AuthUser,
    Json(body): Json<UpdateMeRequest>,
) -> ApiResult<axum::Json<User>> {
    let user = s.accounts.update_profile(me.user_id, body.name.as_deref(), body.locale, body.public_profile).await?;
    Ok(axum::Json(user))
}

/// Delete the caller's account.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = DeleteMeRequest, responses((status = 204, description = "Deleted")))]
async fn delete_me(
    State(s): State<AccountsState>,
    me: AuthUser,
    Json(body): Json<DeleteMeRequest>,
) -> ApiResult<StatusCode> {
    s.accounts.delete_account(me.user_id, body.password.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything stored about the caller.
#[utoipa::path(get, path = "/api/v1/users/me/export", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Object)))]
async fn export_me(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<axum::Json<serde_json::Value>> {
    Ok(axum::Json(s.accounts.export(me.user_id, me.session_id).await?))
}

/// Another user's public profile.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")), responses((status = 200, body = PublicUser)))]
async fn get_user(
    State(s): State<AccountsState>,
    _me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<PublicUser>> {
    Ok(axum::Json(PublicUser::from(s.accounts.user(id).await?)))
}
