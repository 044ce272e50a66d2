//! Events: listed and read by anyone, changed by their owner or an admin.

use super::TicketingState;
use crate::model::Event;
use crate::service::{EventInput, EventQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use garde::Validate;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::extract::{Json, Path, Query};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use platform::{ApiError, ApiResult};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new event (a draft until it is published).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::CreateEventRequest)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    /// 3–100 characters.
    #[garde(length(chars, max = 100))]
    pub name: String,
    /// Up to 5 000 characters.
    #[garde(inner(length(chars, max = 5000)))]
    pub description: Option<String>,
    /// Up to 200 characters.
    #[garde(inner(length(chars, max = 200)))]
    pub venue: Option<String>,
    /// In the future.
    #[garde(skip)]
    pub starts_at: Ts,
    /// After `starts_at`.
    #[garde(skip)]
    pub ends_at: Ts,
    /// Seats, 1–50 000.
    #[garde(skip)]
    pub capacity: i64,
    /// Price of one ticket, a non-negative decimal string (`"25.00"`; `"0"` for free).
    #[garde(length(max = 30))]
    pub price: String,
    /// ISO 4217 code.
    #[garde(length(max = 3))]
    pub currency: String,
}

/// Event changes; fields left out stay. A new `currency` needs its `price` too.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = ticketing::UpdateEventRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventRequest {
    #[garde(inner(length(chars, max = 100)))]
    pub name: Option<String>,
    #[garde(inner(length(chars, max = 5000)))]
    pub description: Option<String>,
    #[garde(inner(length(chars, max = 200)))]
    pub venue: Option<String>,
    #[garde(skip)]
    pub starts_at: Option<Ts>,
    #[garde(skip)]
    pub ends_at: Option<Ts>,
    /// Never below the seats sold (409 `capacity_below_sold`).
    #[garde(skip)]
    pub capacity: Option<i64>,
    #[garde(inner(length(max = 30)))]
    pub price: Option<String>,
    #[garde(inner(length(max = 3)))]
    pub currency: Option<String>,
}

/// How the list is ordered.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventSort {
    /// Soonest first (the default).
    StartsAt,
    /// Newest first.
    CreatedAt,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Words of the name or venue, any case, accents or not (up to 100 characters).
    pub q: Option<String>,
    /// Only this organiser's events (their drafts too, when they ask).
    pub owner_id: Option<Uuid>,
    /// Only events starting after this time.
    pub starts_after: Option<Ts>,
    /// Only events starting before this time.
    pub starts_before: Option<Ts>,
    /// Only published events with seats left.
    pub has_seats: Option<bool>,
    /// `starts_at` (default) or `created_at`.
    pub sort: Option<EventSort>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Published events, and the caller's own drafts; no token needed.
#[utoipa::path(get, path = "/api/v1/ticketing/events", tag = "ticketing", security((), ("bearer" = [])),
    params(EventsQuery), responses((status = 200, body = Page<Event>)))]
pub(super) async fn list_events(
    State(s): State<TicketingState>,
    me: Option<AuthUser>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<axum::Json<Page<Event>>> {
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    if q.q.as_ref().is_some_and(|q| q.chars().count() > 100 || q.chars().any(char::is_control)) {
        return Err(ApiError::invalid_field("q", "must be at most 100 characters, without control characters"));
    }
    let query = EventQuery {
        q: q.q,
        owner_id: q.owner_id,
        starts_after: q.starts_after,
        starts_before: q.starts_before,
        has_seats: q.has_seats.unwrap_or(false),
        sort_by_creation: matches!(q.sort, Some(EventSort::CreatedAt)),
        cursor: q.cursor,
        limit,
    };
    Ok(axum::Json(s.ticketing.events(me.as_ref(), &query).await?))
}

/// Create an event, as a draft; needs a verified email address or phone number (403
/// `verification_required`).
#[utoipa::path(post, path = "/api/v1/ticketing/events", tag = "ticketing", security(("bearer" = [])),
    request_body = CreateEventRequest, responses((status = 201, body = Event),
        (status = 403, description = "verification_required", body = platform::error::Problem)))]
pub(super) async fn create_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Json(b): Json<CreateEventRequest>,
) -> ApiResult<Response> {
    let input = EventInput {
        name: Some(b.name),
        description: b.description,
        venue: b.venue,
        starts_at: Some(b.starts_at),
        ends_at: Some(b.ends_at),
        capacity: Some(b.capacity),
        price: Some(b.price),
        currency: Some(b.currency),
    };
    let event = s.ticketing.create_event(&me, &input).await?;
    Ok(created(format!("/api/v1/ticketing/events/{}", event.id), event))
}

/// An event: published ones for anyone, drafts for their owner and admins.
#[utoipa::path(get, path = "/api/v1/ticketing/events/{id}", tag = "ticketing", security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), responses((status = 200, body = Event)))]
pub(super) async fn get_event(
    State(s): State<TicketingState>,
    me: Option<AuthUser>,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    Ok(axum::Json(s.ticketing.event(me.as_ref(), id).await?))
}

/// Change an event (owner or admin).
#[utoipa::path(patch, path = "/api/v1/ticketing/events/{id}", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), request_body = UpdateEventRequest,
    responses((status = 200, body = Event), (status = 403, description = "forbidden", body = platform::error::Problem),
        (status = 409, description = "capacity_below_sold or event_cancelled", body = platform::error::Problem)))]
pub(super) async fn update_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateEventRequest>,
) -> ApiResult<axum::Json<Event>> {
    let input = EventInput {
        name: b.name,
        description: b.description,
        venue: b.venue,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        capacity: b.capacity,
        price: b.price,
        currency: b.currency,
    };
    Ok(axum::Json(s.ticketing.update_event(&me, id, &input).await?))
}

/// Delete an event of which no ticket was sold (owner or admin; 409 `event_has_tickets`).
#[utoipa::path(delete, path = "/api/v1/ticketing/events/{id}", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), responses((status = 204, description = "Deleted"),
        (status = 403, description = "forbidden", body = platform::error::Problem), (status = 409, description = "event_has_tickets", body = platform::error::Problem)))]
pub(super) async fn delete_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.ticketing.delete_event(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a draft (owner or admin): it becomes public.
#[utoipa::path(post, path = "/api/v1/ticketing/events/{id}/publish", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), responses((status = 200, body = Event),
        (status = 403, description = "forbidden", body = platform::error::Problem), (status = 409, description = "event_cancelled", body = platform::error::Problem)))]
pub(super) async fn publish_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    Ok(axum::Json(s.ticketing.publish_event(&me, id).await?))
}

/// Cancel an event (owner or admin): it is no longer sold.
#[utoipa::path(post, path = "/api/v1/ticketing/events/{id}/cancel", tag = "ticketing", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")), responses((status = 200, body = Event),
        (status = 403, description = "forbidden", body = platform::error::Problem)))]
pub(super) async fn cancel_event(
    State(s): State<TicketingState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    Ok(axum::Json(s.ticketing.cancel_event(&me, id).await?))
}
