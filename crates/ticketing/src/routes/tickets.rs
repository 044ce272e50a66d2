//! Purchases, tickets (with their QR images), check-in, and the organiser's door list, CSV and
//! numbers.

use super::TicketingState;
use crate::model::{Attendee, EventStats, PurchaseResult, Ticket};
use crate::service::{MAX_QUANTITY, Target};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::extract::{Json, Path, Query};
use platform::pagination::{Page, PageQuery};
use platform::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest code a scanner may send (codes are 22 characters; the service answers 404 for
/// anything not shaped like one).
const MAX_CODE: usize = 64;

/// What to buy: tickets of one event, or of one bundle.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::PurchaseRequest)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// The event (or give `bundle_id`).
    #[garde(skip)]
    pub event_id: Option<Uuid>,
    /// The bundle (or give `event_id`).
    #[garde(skip)]
    pub bundle_id: Option<Uuid>,
    /// Tickets, 1–10.
    #[garde(range(min = 1, max = MAX_QUANTITY))]
    pub quantity: i64,
}

/// Buy tickets, all or nothing. `Idempotency-Key` is required (428
/// `idempotency_key_required`): a retry with the same key answers the same tickets. 409
/// `sold_out` (with `seats_left`) or `not_on_sale`.
#[utoipa::path(post, path = "/api/v1/ticketing/purchases", tag = "ticketing", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "Required: 1–255 visible ASCII characters, new for each purchase")),
    request_body = PurchaseRequest, responses((status = 201, body = PurchaseResult),
        (status = 409, description = "sold_out (with seats_left) or not_on_sale", body = platform::error::Problem),
        (status = 428, description = "idempotency_key_required", body = platform::error::Problem)))]
pub(super) async fn purchase(
    State(s): State<TicketingState>,
    me: AuthUser,
    headers: HeaderMap,
    Json(b): Json<PurchaseRequest>,
) -> ApiResult<Response> {
    if !headers.contains_key(&platform::idempotency::HEADER) {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "idempotency_key_required",
            "Send an Idempotency-Key header, new for each purchase, so that a retry never buys twice.",
        ));
    }
    let target = match (b.event_id, b.bundle_id) {
        (Some(event), None) => Target::Event(event),
        (None, Some(bundle)) => Target::Bundle(bundle),
        _ => return Err(ApiError::invalid_field("event_id", "give exactly one of event_id and bundle_id")),
    };
    let result = s.ticketing.purchase(&me, target, b.quantity).await?;
    Ok((StatusCode::CREATED, axum::Json(result)).into_response())
}

/// The caller's tickets, newest first.
#[utoipa::path(get, path = "/api/v1/ticketing/tickets", tag = "ticketing", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<Ticket>)))]
pub(super) async fn my_tickets(
    State(s): State<TicketingState>,
    me: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Ticket>>> {
    let limit = q.limit()?;
    Ok(axum::Json(s.ticketing.my_tickets(&me, q.cursor.as_deref(), limit).await?))
}

/// A ticket, for its buyer, the event's organiser and admins (anyone else: 404).
#[utoipa::path(get, path = "/api/v1/ticketing/tickets/{code}", tag = "ticketing", security(("bearer" = [])),
    params(("code" = String, Path, description = "Ticket code")), responses((status = 200, body = Ticket)))]
pub(super) async fn get_ticket(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(c): Path<String>,
) -> ApiResult<axum::Json<Ticket>> {
    Ok(axum::Json(s.ticketing.ticket(&me, &c).await?))
}

fn image(bytes: Vec<u8>, content_type: &'static str) -> Response {
    // The code admits: no shared cache keeps it.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, no-store")], bytes).into_response()
}

/// The ticket's code as an SVG QR image.
#[utoipa::path(get, path = "/api/v1/ticketing/tickets/{code}/qr.svg", tag = "ticketing", security(("bearer" = [])),
    params(("code" = String, Path, description = "Ticket code")),
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String)))]
pub(super) async fn ticket_svg(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(c): Path<String>,
) -> ApiResult<Response> {
    Ok(image(s.ticketing.ticket_qr(&me, &c, false).await?, "image/svg+xml"))
}

/// The ticket's code as a PNG QR image.
#[utoipa::path(get, path = "/api/v1/ticketing/tickets/{code}/qr.png", tag = "ticketing", security(("bearer" = [])),
    params(("code" = String, Path, description = "Ticket code")),
    responses((status = 200, description = "PNG", content_type = "image/png", body = Vec<u8>)))]
pub(super) async fn ticket_png(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(c): Path<String>,
) -> ApiResult<Response> {
    Ok(image(s.ticketing.ticket_qr(&me, &c, true).await?, "image/png"))
}

/// Give a ticket back before its event starts (buyer only): the seat returns to sale. 409
/// `ticket_void` or `event_started`.
#[utoipa::path(post, path = "/api/v1/ticketing/tickets/{code}/cancel", tag = "ticketing", security(("bearer" = [])),
    params(("code" = String, Path, description = "Ticket code")), responses((status = 200, body = Ticket),
        (status = 403, description = "forbidden (the organiser refunds instead)", body = platform::error::Problem),
        (status = 409, description = "ticket_void or event_started", body = platform::error::Problem)))]
pub(super) async fn cancel_ticket(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(c): Path<String>,
) -> ApiResult<axum::Json<Ticket>> {
    Ok(axum::Json(s.ticketing.cancel_ticket(&me, &c).await?))
}

/// The event's tickets for its organiser (owner or admin): code, status, check-in, the buyer's
/// email, and their name only if their profile is public.
#[utoipa::path(get, path = "/api/v1/ticketing/events/{id}/tickets", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id"), PageQuery), responses((status = 200, body = Page<Attendee>),
        (status = 403, description = "forbidden", body = platform::error::Problem)))]
pub(super) async fn attendees(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Attendee>>> {
    let limit = q.limit()?;
    Ok(axum::Json(s.ticketing.attendees(&me, id, q.cursor.as_deref(), limit).await?))
}

/// The event's door list as CSV (owner or admin; cells that a spreadsheet would run are quoted).
#[utoipa::path(get, path = "/api/v1/ticketing/events/{id}/tickets.csv", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    responses((status = 200, description = "text/csv with a header row", content_type = "text/csv", body = String),
        (status = 403, description = "forbidden", body = platform::error::Problem)))]
pub(super) async fn attendees_csv(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let bytes = s.ticketing.attendees_csv(&me, id).await?;
    let disposition = format!("attachment; filename=\"tickets-{id}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

/// A code scanned at the door.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::CheckInRequest)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The ticket's code.
    #[garde(length(min = 1, max = MAX_CODE))]
    pub code: String,
}

/// A check-in.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ticketing::CheckIn)]
pub struct CheckIn {
    /// The ticket.
    pub ticket: Ticket,
    /// When its holder was let in.
    pub checked_in_at: Ts,
}

/// Let a ticket's holder in (owner or admin): the first time answers 200; then 409
/// `already_checked_in` with the first time; a code of another event 404; a refunded or
/// cancelled ticket 409 `ticket_void`.
#[utoipa::path(post, path = "/api/v1/ticketing/events/{id}/check-ins", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), request_body = CheckInRequest,
    responses((status = 200, body = CheckIn), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "already_checked_in (with checked_in_at) or ticket_void", body = platform::error::Problem)))]
pub(super) async fn check_in(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<CheckInRequest>,
) -> ApiResult<axum::Json<CheckIn>> {
    let (ticket, checked_in_at) = s.ticketing.check_in(&me, id, &b.code).await?;
    Ok(axum::Json(CheckIn { ticket, checked_in_at }))
}

/// The event's numbers for its organiser (owner or admin).
#[utoipa::path(get, path = "/api/v1/ticketing/events/{id}/stats", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), responses((status = 200, body = EventStats),
        (status = 403, description = "forbidden", body = platform::error::Problem)))]
pub(super) async fn event_stats(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<EventStats>> {
    Ok(axum::Json(s.ticketing.stats(&me, id).await?))
}
