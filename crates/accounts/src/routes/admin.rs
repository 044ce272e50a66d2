//! User administration under `/api/v1/admin/users` (admins only).

use super::*;

/// This feature's routes.
pub(super) fn routes() -> OpenApiRouter<AccountsState> {
    OpenApiRouter::new().routes(routes!(admin_list_users)).routes(routes!(admin_update_user))
}

/// Admin changes to a user.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::AdminUpdateRequest)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateRequest {
    /// New role.
    #[garde(skip)]
    pub role: Option<Role>,
    /// Disable or re-enable.
    #[garde(skip)]
    pub disabled: Option<bool>,
}

/// Admin user search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListQuery {
    /// Text to find in email or name.
    pub q: Option<String>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Admin: list and search users.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(AdminListQuery), responses((status = 200, body = Page<User>), (status = 403, description = "Not an admin", body = platform::error::Problem)))]
async fn admin_list_users(
    State(s): State<AccountsState>,
    me: AuthUser,
    Query(q): Query<AdminListQuery>,
) -> ApiResult<axum::Json<Page<User>>> {
    me.require_admin()?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    Ok(axum::Json(s.accounts.list_users(q.q.as_deref(), page.cursor_id()?, page.limit()?).await?))
}

/// Admin: change a user's role or disable them (their sessions end).
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")), request_body = AdminUpdateRequest,
    responses((status = 200, body = User), (status = 403, description = "Not an admin", body = platform::error::Problem)))]
async fn admin_update_user(
    State(s): State<AccountsState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AdminUpdateRequest>,
) -> ApiResult<axum::Json<User>> {
    me.require_admin()?;
    Ok(axum::Json(s.accounts.admin_update(id, body.role, body.disabled).await?))
}
