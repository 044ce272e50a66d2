//! Clients: the caller's own, and nobody else's (another user's id answers 404).

use super::FreelanceState;
use crate::model::Client;
use crate::service::{ClientInput, ClientPatch, ClientQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use garde::Validate;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query, nullable};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new client. Text fields are trimmed; blank ones are left out.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::CreateClientRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CreateClientRequest {
    /// 1–200 characters.
    pub name: String,
    pub email: Option<String>,
    /// International form with the country code (`+41 44 668 18 00`); stored as E.164.
    pub phone: Option<String>,
    /// Up to 200 characters.
    pub company: Option<String>,
    /// Up to 1 000 characters, several lines.
    pub address: Option<String>,
    /// Up to 50 characters.
    pub tax_id: Option<String>,
    /// ISO 4217 code of the client's invoices and rate.
    pub currency: Option<String>,
    /// Default hourly rate in `currency`, a decimal string (`"95.00"`), at most 1 000 000.
    pub hourly_rate: Option<String>,
    /// Up to 5 000 characters.
    pub notes: Option<String>,
}

/// Client changes: a field left out stays, `null` clears it. A new `currency` needs a rate that
/// fits it (or `hourly_rate: null`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::UpdateClientRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct UpdateClientRequest {
    /// 1–200 characters; cannot be cleared.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// `true` archives the client (left out of the list, kept with its history), `false`
    /// restores it.
    pub archived: Option<bool>,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientsQuery {
    /// Words of the name, company or email, any case, accents or not (up to 100 characters).
    pub q: Option<String>,
    /// `true`: archived clients only; `false` (the default): active ones.
    pub archived: Option<bool>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The caller's clients, newest first.
#[utoipa::path(get, path = "/api/v1/freelance/clients", tag = "freelance", security(("bearer" = [])),
    params(ClientsQuery), responses((status = 200, body = Page<Client>)))]
pub(super) async fn list_clients(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<ClientsQuery>,
) -> ApiResult<axum::Json<Page<Client>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let query =
        ClientQuery { q: q.q, archived: q.archived.unwrap_or(false), cursor: page.cursor_id()?, limit: page.limit()? };
    Ok(axum::Json(s.freelance.clients(&me, &query).await?))
}

/// Add a client.
#[utoipa::path(post, path = "/api/v1/freelance/clients", tag = "freelance", security(("bearer" = [])),
    request_body = CreateClientRequest, responses((status = 201, body = Client)))]
pub(super) async fn create_client(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<CreateClientRequest>,
) -> ApiResult<Response> {
    let input = ClientInput {
        name: b.name,
        email: b.email,
        phone: b.phone,
        company: b.company,
        address: b.address,
        tax_id: b.tax_id,
        currency: b.currency,
        hourly_rate: b.hourly_rate,
        notes: b.notes,
    };
    let client = s.freelance.create_client(&me, &input).await?;
    Ok(created(format!("/api/v1/freelance/clients/{}", client.id), client))
}

/// One of the caller's clients.
#[utoipa::path(get, path = "/api/v1/freelance/clients/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Client id")), responses((status = 200, body = Client)))]
pub(super) async fn get_client(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Client>> {
    Ok(axum::Json(s.freelance.client(&me, id).await?))
}

/// Change a client, or archive or restore it.
#[utoipa::path(patch, path = "/api/v1/freelance/clients/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Client id")), request_body = UpdateClientRequest,
    responses((status = 200, body = Client)))]
pub(super) async fn update_client(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateClientRequest>,
) -> ApiResult<axum::Json<Client>> {
    let patch = ClientPatch {
        name: b.name,
        email: b.email,
        phone: b.phone,
        company: b.company,
        address: b.address,
        tax_id: b.tax_id,
        currency: b.currency,
        hourly_rate: b.hourly_rate,
        notes: b.notes,
        archived: b.archived,
    };
    Ok(axum::Json(s.freelance.update_client(&me, id, patch).await?))
}

/// Delete a client without invoices (archive one that has them).
#[utoipa::path(delete, path = "/api/v1/freelance/clients/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Client id")), responses((status = 204, description = "Deleted"),
    (status = 409, description = "`client_has_invoices`: archive it instead", body = platform::error::Problem)))]
pub(super) async fn delete_client(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.freelance.delete_client(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
