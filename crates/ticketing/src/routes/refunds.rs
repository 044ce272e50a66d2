//! Refund requests: asked by buyers, decided by organisers; each side lists only its own.

use super::TicketingState;
use crate::model::{Refund, RefundStatus};
use crate::service::RefundQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query};
use platform::pagination::{Page, PageQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Why a refund is wanted.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::RefundRequest)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// 1–1 000 characters.
    #[garde(length(chars, min = 1, max = 1000))]
    pub reason: String,
}

/// Why a refund is declined.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::RejectRequest)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// 1–1 000 characters, for the buyer.
    #[garde(length(chars, min = 1, max = 1000))]
    pub message: String,
}

/// Ask for a refund of a ticket (its buyer; one request per ticket: 409 `refund_exists`).
#[utoipa::path(post, path = "/api/v1/ticketing/tickets/{code}/refund-request", tag = "ticketing", security(("bearer" = [])),
    params(("code" = String, Path, description = "Ticket code")), request_body = RefundRequest,
    responses((status = 202, body = Refund), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "refund_exists or ticket_void", body = platform::error::Problem)))]
pub(super) async fn request_refund(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(code): Path<String>,
    Json(b): Json<RefundRequest>,
) -> ApiResult<Response> {
    let refund = s.ticketing.request_refund(&me, &code, &b.reason).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(refund)).into_response())
}

/// Which side's refunds.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundRole {
    /// Requests I made (the default).
    Buyer,
    /// Requests I decide, as the organiser.
    Organizer,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundsQuery {
    /// `buyer` (default) or `organizer`.
    pub role: Option<RefundRole>,
    /// `pending`, `approved` or `rejected`.
    pub status: Option<RefundStatus>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The caller's refund requests, as buyer or as organiser, newest first.
#[utoipa::path(get, path = "/api/v1/ticketing/refunds", tag = "ticketing", security(("bearer" = [])),
    params(RefundsQuery), responses((status = 200, body = Page<Refund>)))]
pub(super) async fn list_refunds(
    State(s): State<TicketingState>,
    me: AuthUser,
    Query(q): Query<RefundsQuery>,
) -> ApiResult<axum::Json<Page<Refund>>> {
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    let query = RefundQuery {
        as_organizer: matches!(q.role, Some(RefundRole::Organizer)),
        status: q.status,
        cursor: q.cursor,
        limit,
    };
    Ok(axum::Json(s.ticketing.refunds(&me, &query).await?))
}

/// Approve a pending refund (the event's organiser or an admin): the ticket is refunded, its seat
/// returned, and the buyer told.
#[utoipa::path(post, path = "/api/v1/ticketing/refunds/{id}/approve", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Refund id")), responses((status = 200, body = Refund),
        (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "refund_resolved", body = platform::error::Problem)))]
pub(super) async fn approve_refund(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Refund>> {
    Ok(axum::Json(s.ticketing.approve_refund(&me, id).await?))
}

/// Decline a pending refund, finally (the event's organiser or an admin); the buyer is told.
#[utoipa::path(post, path = "/api/v1/ticketing/refunds/{id}/reject", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Refund id")), request_body = RejectRequest,
    responses((status = 200, body = Refund), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "refund_resolved", body = platform::error::Problem)))]
pub(super) async fn reject_refund(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<RejectRequest>,
) -> ApiResult<axum::Json<Refund>> {
    Ok(axum::Json(s.ticketing.reject_refund(&me, id, &b.message).await?))
}
