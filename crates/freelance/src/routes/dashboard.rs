//! The freelancer's dashboard.

use super::FreelanceState;
use crate::model::Dashboard;
use axum::extract::State;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::Query;
use serde::Deserialize;
use utoipa::IntoParams;

/// The dashboard's currency.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// One ISO 4217 currency; default every currency with activity.
    pub currency: Option<String>,
}

/// Outstanding, overdue and received amounts per currency, revenue per month for a year, and
/// the hours of the week.
#[utoipa::path(get, path = "/api/v1/freelance/summary", tag = "freelance", security(("bearer" = [])),
    params(DashboardQuery), responses((status = 200, body = Dashboard)))]
pub(super) async fn dashboard(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<DashboardQuery>,
) -> ApiResult<axum::Json<Dashboard>> {
    Ok(axum::Json(s.freelance.dashboard(&me, q.currency.as_deref()).await?))
}
