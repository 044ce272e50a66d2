//! Contracts: the caller's own (another user's answers 404).

use super::{FreelanceState, pdf_response};
use crate::model::{Contract, ContractStatus, ContractTemplate};
use crate::service::{ContractInput, ContractPatch, ContractQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use garde::Validate;
use platform::ApiResult;
use platform::auth::AuthUser;
use platform::extract::{Json, Path, Query, nullable};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new contract from a template. `{{placeholders}}` in the text are filled from the client,
/// the project and you: `today`, `freelancer.name`, `freelancer.email`, `client.name`,
/// `client.company`, `client.email`, `client.address`, `client.tax_id`, `project.name`,
/// `project.description`, `contract.title`, `contract.value`, `contract.starts_on`,
/// `contract.ends_on` (an empty one becomes a line to fill in by hand; an unknown one is refused).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::CreateContractRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CreateContractRequest {
    pub template: ContractTemplate,
    /// 1–200 characters; defaults to the template's name.
    pub title: Option<String>,
    /// One of your clients.
    pub client_id: Option<Uuid>,
    /// A work project you are a member of.
    pub project_id: Option<Uuid>,
    /// Your own text (up to 50 000 characters; `# ` starts a heading); defaults to the template's.
    pub body: Option<String>,
    /// Decimal string in `currency` (default the client's).
    pub value: Option<String>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

/// Contract changes: content only while a draft (a new `body` is filled again); `status` one
/// legal step: draft → sent → signed → active → completed, or terminated from sent, signed or
/// active.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::UpdateContractRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct UpdateContractRequest {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub client_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
    pub body: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub value: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub starts_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub ends_on: Option<Option<NaiveDate>>,
    pub status: Option<ContractStatus>,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContractsQuery {
    pub status: Option<ContractStatus>,
    pub client_id: Option<Uuid>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The caller's contracts, newest first.
#[utoipa::path(get, path = "/api/v1/freelance/contracts", tag = "freelance", security(("bearer" = [])),
    params(ContractsQuery), responses((status = 200, body = Page<Contract>)))]
pub(super) async fn list_contracts(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<ContractsQuery>,
) -> ApiResult<axum::Json<Page<Contract>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let query =
        ContractQuery { status: q.status, client: q.client_id, cursor: page.cursor_id()?, limit: page.limit()? };
    Ok(axum::Json(s.freelance.contracts(&me, &query).await?))
}

/// Write a contract from a template.
#[utoipa::path(post, path = "/api/v1/freelance/contracts", tag = "freelance", security(("bearer" = [])),
    request_body = CreateContractRequest, responses((status = 201, body = Contract)))]
pub(super) async fn create_contract(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<CreateContractRequest>,
) -> ApiResult<Response> {
    let input = ContractInput {
        template: b.template,
        title: b.title,
        client_id: b.client_id,
        project_id: b.project_id,
        body: b.body,
        value: b.value,
        currency: b.currency,
        starts_on: b.starts_on,
        ends_on: b.ends_on,
    };
    let contract = s.freelance.create_contract(&me, &input).await?;
    Ok(created(format!("/api/v1/freelance/contracts/{}", contract.id), contract))
}

/// One of the caller's contracts.
#[utoipa::path(get, path = "/api/v1/freelance/contracts/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contract id")), responses((status = 200, body = Contract)))]
pub(super) async fn get_contract(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Contract>> {
    Ok(axum::Json(s.freelance.contract(&me, id).await?))
}

/// Change a draft contract, or move it one status on.
#[utoipa::path(patch, path = "/api/v1/freelance/contracts/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contract id")), request_body = UpdateContractRequest,
    responses((status = 200, body = Contract),
    (status = 409, description = "`contract_not_draft` or `invalid_transition` (with `from` and `to`)",
        body = platform::error::Problem)))]
pub(super) async fn update_contract(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateContractRequest>,
) -> ApiResult<axum::Json<Contract>> {
    let patch = ContractPatch {
        title: b.title,
        client_id: b.client_id,
        project_id: b.project_id,
        body: b.body,
        value: b.value,
        currency: b.currency,
        starts_on: b.starts_on,
        ends_on: b.ends_on,
        status: b.status,
    };
    Ok(axum::Json(s.freelance.update_contract(&me, id, patch).await?))
}

/// Delete a draft contract.
#[utoipa::path(delete, path = "/api/v1/freelance/contracts/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contract id")), responses((status = 204, description = "Deleted"),
    (status = 409, description = "`contract_not_draft`: terminate it instead", body = platform::error::Problem)))]
pub(super) async fn delete_contract(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.freelance.delete_contract(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The contract as a PDF with signature spaces.
#[utoipa::path(get, path = "/api/v1/freelance/contracts/{id}/pdf", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contract id")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>)))]
pub(super) async fn contract_pdf(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let (pdf, name) = s.freelance.contract_pdf(&me, id).await?;
    Ok(pdf_response(pdf, &name))
}
