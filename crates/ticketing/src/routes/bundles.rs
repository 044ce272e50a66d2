//! Bundles: listed and read by anyone once their events are published, changed by their owner
//! or an admin.

use super::TicketingState;
use crate::model::Bundle;
use crate::service::BundleInput;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use garde::Validate;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new bundle (add its events with `PUT …/bundles/{id}/events/{event_id}`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::BundleRequest)]
#[serde(deny_unknown_fields)]
pub struct BundleRequest {
    /// 3–100 characters.
    #[garde(length(chars, max = 100))]
    pub name: String,
    /// Up to 5 000 characters.
    #[garde(inner(length(chars, max = 5000)))]
    pub description: Option<String>,
    /// Price of one bundle ticket, a non-negative decimal string.
    #[garde(length(max = 30))]
    pub price: String,
    /// ISO 4217 code; its events must be priced in it.
    #[garde(length(max = 3))]
    pub currency: String,
}

/// Bundle changes; fields left out stay.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::UpdateBundleRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateBundleRequest {
    #[garde(inner(length(chars, max = 100)))]
    pub name: Option<String>,
    #[garde(inner(length(chars, max = 5000)))]
    pub description: Option<String>,
    #[garde(inner(length(max = 30)))]
    pub price: Option<String>,
    #[garde(inner(length(max = 3)))]
    pub currency: Option<String>,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BundlesQuery {
    /// Only this organiser's bundles.
    pub owner_id: Option<Uuid>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Bundles whose events are all published, and the caller's own; newest first, no token needed.
#[utoipa::path(get, path = "/api/v1/ticketing/bundles", tag = "ticketing", security((), ("bearer" = [])),
    params(BundlesQuery), responses((status = 200, body = Page<Bundle>)))]
pub(super) async fn list_bundles(
    State(s): State<TicketingState>,
    me: Option<AuthUser>,
    Query(q): Query<BundlesQuery>,
) -> ApiResult<axum::Json<Page<Bundle>>> {
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    Ok(axum::Json(s.ticketing.bundles(me.as_ref(), q.owner_id, q.cursor.as_deref(), limit).await?))
}

/// Create a bundle; needs a verified email address or phone number (403 `verification_required`).
#[utoipa::path(post, path = "/api/v1/ticketing/bundles", tag = "ticketing", security(("bearer" = [])),
    request_body = BundleRequest, responses((status = 201, body = Bundle),
        (status = 403, description = "verification_required", body = platform::error::Problem)))]
pub(super) async fn create_bundle(
    State(s): State<TicketingState>,
    me: AuthUser,
    Json(b): Json<BundleRequest>,
) -> ApiResult<Response> {
    let input = BundleInput {
        name: Some(b.name),
        description: b.description,
        price: Some(b.price),
        currency: Some(b.currency),
    };
    let bundle = s.ticketing.create_bundle(&me, &input).await?;
    Ok(created(format!("/api/v1/ticketing/bundles/{}", bundle.id), bundle))
}

/// A bundle: for anyone once its events are published, else for its owner and admins.
#[utoipa::path(get, path = "/api/v1/ticketing/bundles/{id}", tag = "ticketing", security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "Bundle id")), responses((status = 200, body = Bundle)))]
pub(super) async fn get_bundle(
    State(s): State<TicketingState>,
    me: Option<AuthUser>,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Bundle>> {
    Ok(axum::Json(s.ticketing.bundle(me.as_ref(), id).await?))
}

/// Change a bundle (owner or admin). Its currency changes only while no event or ticket holds it.
#[utoipa::path(patch, path = "/api/v1/ticketing/bundles/{id}", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Bundle id")), request_body = UpdateBundleRequest,
    responses((status = 200, body = Bundle), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "bundle_has_tickets or currency_mismatch", body = platform::error::Problem)))]
pub(super) async fn update_bundle(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateBundleRequest>,
) -> ApiResult<axum::Json<Bundle>> {
    let input = BundleInput { name: b.name, description: b.description, price: b.price, currency: b.currency };
    Ok(axum::Json(s.ticketing.update_bundle(&me, id, &input).await?))
}

/// Delete a bundle of which no ticket was sold (owner or admin; 409 `bundle_has_tickets`).
#[utoipa::path(delete, path = "/api/v1/ticketing/bundles/{id}", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Bundle id")), responses((status = 204, description = "Deleted"),
        (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "bundle_has_tickets", body = platform::error::Problem)))]
pub(super) async fn delete_bundle(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.ticketing.delete_bundle(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put one of the caller's events into the caller's bundle (409 `bundle_has_tickets` once one is
/// sold, `currency_mismatch` when the event is priced in another currency).
#[utoipa::path(put, path = "/api/v1/ticketing/bundles/{id}/events/{event_id}", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Bundle id"), ("event_id" = Uuid, Path, description = "Event id")),
    responses((status = 200, body = Bundle), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "bundle_has_tickets or currency_mismatch", body = platform::error::Problem)))]
pub(super) async fn add_bundle_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path((id, event)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Bundle>> {
    Ok(axum::Json(s.ticketing.set_bundle_event(&me, id, event, true).await?))
}

/// Take an event out of the caller's bundle (409 `bundle_has_tickets` once one is sold).
#[utoipa::path(delete, path = "/api/v1/ticketing/bundles/{id}/events/{event_id}", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Bundle id"), ("event_id" = Uuid, Path, description = "Event id")),
    responses((status = 200, body = Bundle), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "bundle_has_tickets", body = platform::error::Problem)))]
pub(super) async fn remove_bundle_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path((id, event)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Bundle>> {
    Ok(axum::Json(s.ticketing.set_bundle_event(&me, id, event, false).await?))
}
