//! Time tracking: the timer, time entries, their CSV and the weekly summary; the caller's own
//! and nobody else's (another user's entry answers 404).

use super::FreelanceState;
use crate::model::{TimeEntry, TimerState, WeekSummary};
use crate::service::{EntryInput, EntryPatch, EntryQuery};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::extract::{Json, Path, Query, nullable};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A timer to start now.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::StartTimerRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct StartTimerRequest {
    /// A work project you are a member of.
    pub project_id: Option<Uuid>,
    /// A task of that project (the project follows from it when left out).
    pub task_id: Option<Uuid>,
    /// One of your clients; defaults to the project's client.
    pub client_id: Option<Uuid>,
    /// One line, up to 1 000 characters.
    pub description: Option<String>,
    /// Default true.
    pub billable: Option<bool>,
    /// The entry's own hourly rate (decimal string), over the project's and the client's.
    pub hourly_rate: Option<String>,
    /// Currency of `hourly_rate`; defaults to the project's, then the client's.
    pub currency: Option<String>,
}

/// Time worked, recorded after the fact.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::CreateTimeEntryRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CreateTimeEntryRequest {
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub description: Option<String>,
    pub billable: Option<bool>,
    pub hourly_rate: Option<String>,
    pub currency: Option<String>,
    /// Required.
    pub started_at: Option<Ts>,
    /// Required: after `started_at`, at most 168 hours later, not in the future.
    pub ended_at: Option<Ts>,
}

/// Entry changes: a field left out stays, `null` clears it. The result is checked as a new
/// entry would be (no overlap, a sane span).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::UpdateTimeEntryRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct UpdateTimeEntryRequest {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub task_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub client_id: Option<Option<Uuid>>,
    pub description: Option<String>,
    pub billable: Option<bool>,
    /// `null` returns to the project's or client's rate.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    pub started_at: Option<Ts>,
    /// On the running timer, stops it at that time.
    pub ended_at: Option<Ts>,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    pub project_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    /// Entries that started at or after this RFC 3339 time.
    pub from: Option<Ts>,
    /// Entries that started before this RFC 3339 time.
    pub to: Option<Ts>,
    pub billable: Option<bool>,
    /// `true`: only entries on an invoice; `false`: only those not yet invoiced.
    pub invoiced: Option<bool>,
    /// Page size, 1–100 (default 20); not used by the CSV.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`; not used by the CSV.
    pub cursor: Option<String>,
}

impl EntriesQuery {
    fn query(self) -> ApiResult<EntryQuery> {
        let page = PageQuery { limit: self.limit, cursor: self.cursor };
        Ok(EntryQuery {
            project: self.project_id,
            client: self.client_id,
            from: self.from,
            to: self.to,
            billable: self.billable,
            invoiced: self.invoiced,
            cursor: page.cursor_id()?,
            limit: page.limit()?,
        })
    }
}

/// The summary's week and time zone.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// ISO week, `2026-W49`; default the current week.
    pub week: Option<String>,
    /// IANA time zone the days are cut in (`Europe/Paris`); default UTC.
    pub time_zone: Option<String>,
}

fn input(b: StartTimerRequest) -> EntryInput {
    EntryInput {
        project_id: b.project_id,
        task_id: b.task_id,
        client_id: b.client_id,
        description: b.description,
        billable: b.billable,
        hourly_rate: b.hourly_rate,
        currency: b.currency,
        started_at: None,
        ended_at: None,
    }
}

/// Start a timer now (one at a time).
#[utoipa::path(post, path = "/api/v1/freelance/timer/start", tag = "freelance", security(("bearer" = [])),
    request_body = StartTimerRequest, responses((status = 201, body = TimeEntry),
    (status = 409, description = "`timer_running`, or `time_overlap` with an entry that ends later",
        body = platform::error::Problem)))]
pub(super) async fn start_timer(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<StartTimerRequest>,
) -> ApiResult<Response> {
    let entry = s.freelance.start_timer(&me, &input(b)).await?;
    Ok(created(format!("/api/v1/freelance/time-entries/{}", entry.id), entry))
}

/// Stop the running timer now.
#[utoipa::path(post, path = "/api/v1/freelance/timer/stop", tag = "freelance", security(("bearer" = [])),
    responses((status = 200, body = TimeEntry),
    (status = 409, description = "`timer_not_running`", body = platform::error::Problem)))]
pub(super) async fn stop_timer(State(s): State<FreelanceState>, me: AuthUser) -> ApiResult<axum::Json<TimeEntry>> {
    Ok(axum::Json(s.freelance.stop_timer(&me).await?))
}

/// The running timer, if any.
#[utoipa::path(get, path = "/api/v1/freelance/timer", tag = "freelance", security(("bearer" = [])),
    responses((status = 200, body = TimerState)))]
pub(super) async fn get_timer(State(s): State<FreelanceState>, me: AuthUser) -> ApiResult<axum::Json<TimerState>> {
    Ok(axum::Json(s.freelance.timer(&me).await?))
}

/// The caller's time entries, latest start first.
#[utoipa::path(get, path = "/api/v1/freelance/time-entries", tag = "freelance", security(("bearer" = [])),
    params(EntriesQuery), responses((status = 200, body = Page<TimeEntry>)))]
pub(super) async fn list_entries(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<EntriesQuery>,
) -> ApiResult<axum::Json<Page<TimeEntry>>> {
    Ok(axum::Json(s.freelance.entries(&me, &q.query()?).await?))
}

/// Record time worked.
#[utoipa::path(post, path = "/api/v1/freelance/time-entries", tag = "freelance", security(("bearer" = [])),
    request_body = CreateTimeEntryRequest, responses((status = 201, body = TimeEntry),
    (status = 409, description = "`time_overlap`: shares time with another of your entries (its id in \
        `overlapping_entry_id`)", body = platform::error::Problem)))]
pub(super) async fn create_entry(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<CreateTimeEntryRequest>,
) -> ApiResult<Response> {
    let input = EntryInput {
        project_id: b.project_id,
        task_id: b.task_id,
        client_id: b.client_id,
        description: b.description,
        billable: b.billable,
        hourly_rate: b.hourly_rate,
        currency: b.currency,
        started_at: b.started_at,
        ended_at: b.ended_at,
    };
    let entry = s.freelance.create_entry(&me, &input).await?;
    Ok(created(format!("/api/v1/freelance/time-entries/{}", entry.id), entry))
}

/// One of the caller's time entries.
#[utoipa::path(get, path = "/api/v1/freelance/time-entries/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Time entry id")), responses((status = 200, body = TimeEntry)))]
pub(super) async fn get_entry(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<TimeEntry>> {
    Ok(axum::Json(s.freelance.entry(&me, id).await?))
}

/// Change a time entry that is not invoiced.
#[utoipa::path(patch, path = "/api/v1/freelance/time-entries/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Time entry id")), request_body = UpdateTimeEntryRequest,
    responses((status = 200, body = TimeEntry),
    (status = 409, description = "`entry_invoiced`, or `time_overlap`", body = platform::error::Problem)))]
pub(super) async fn update_entry(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateTimeEntryRequest>,
) -> ApiResult<axum::Json<TimeEntry>> {
    let patch = EntryPatch {
        project_id: b.project_id,
        task_id: b.task_id,
        client_id: b.client_id,
        description: b.description,
        billable: b.billable,
        hourly_rate: b.hourly_rate,
        currency: b.currency,
        started_at: b.started_at,
        ended_at: b.ended_at,
    };
    Ok(axum::Json(s.freelance.update_entry(&me, id, patch).await?))
}

/// Delete a time entry that is not invoiced.
#[utoipa::path(delete, path = "/api/v1/freelance/time-entries/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Time entry id")), responses((status = 204, description = "Deleted"),
    (status = 409, description = "`entry_invoiced`", body = platform::error::Problem)))]
pub(super) async fn delete_entry(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.freelance.delete_entry(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's time entries as CSV (the list's filters; at most 50 000 entries).
#[utoipa::path(get, path = "/api/v1/freelance/time-entries.csv", tag = "freelance", security(("bearer" = [])),
    params(EntriesQuery),
    responses((status = 200, description = "text/csv with a header row", content_type = "text/csv", body = String)))]
pub(super) async fn export_entries(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<EntriesQuery>,
) -> ApiResult<Response> {
    let bytes = s.freelance.entries_csv(&me, &q.query()?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"time-entries.csv\""),
        ],
        bytes,
    )
        .into_response())
}

/// The caller's time in one week: hours per day and per project, and the billable amount.
#[utoipa::path(get, path = "/api/v1/freelance/time/summary", tag = "freelance", security(("bearer" = [])),
    params(SummaryQuery), responses((status = 200, body = WeekSummary)))]
pub(super) async fn week_summary(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<SummaryQuery>,
) -> ApiResult<axum::Json<WeekSummary>> {
    Ok(axum::Json(s.freelance.week_summary(&me, q.week.as_deref(), q.time_zone.as_deref()).await?))
}
