//! Profiles: the caller's tier, credits and counts; administrators change tiers and grant
//! credits.

use super::{Admin, StudioState};
use crate::model::StudioProfile;
use crate::service::PlanChange;
use axum::extract::State;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path};
use uuid::Uuid;

/// The caller's tier, credits (free and reserved), generations (in all and this month) and
/// favourites.
#[utoipa::path(get, path = "/api/v1/studio/me", tag = "studio", security(("bearer" = [])),
    responses((status = 200, body = StudioProfile)))]
pub(super) async fn get_profile(State(s): State<StudioState>, me: AuthUser) -> ApiResult<axum::Json<StudioProfile>> {
    Ok(axum::Json(s.studio.profile(me.user_id).await?))
}

/// Change a user's tier or grant them credits (administrators only; there are no payments).
#[utoipa::path(patch, path = "/api/v1/studio/users/{id}", tag = "studio", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")), request_body = PlanChange,
    responses((status = 200, body = StudioProfile),
        (status = 403, description = "admin_only", body = platform::error::Problem)))]
pub(super) async fn change_plan(
    State(s): State<StudioState>,
    Admin(me): Admin,
    Path(id): Path<Uuid>,
    Json(b): Json<PlanChange>,
) -> ApiResult<axum::Json<StudioProfile>> {
    Ok(axum::Json(s.studio.change_plan(&me, id, b).await?))
}
