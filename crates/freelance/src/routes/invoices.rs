//! Invoices: drafts, sending, the PDF, payments and voiding; the caller's own and nobody
//! else's (another user's invoice answers 404). Amounts are decimal strings computed by the
//! server: a request that carries amounts (`amount`, `total`…) is refused. Decimals travel as
//! strings (`"1.5"`), never as JSON numbers, which many clients hold as binary floats.

use super::{FreelanceState, pdf_response};
use crate::model::{Every, Invoice, InvoiceStatus, InvoiceSummary, PaymentMethod, PublicLink, Terms};
use crate::service::{InvoiceInput, InvoicePatch, InvoiceQuery, LineInput, PaymentInput, TaxInput};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
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

/// One line of an invoice: its amount is computed.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = freelance::InvoiceLineRequest)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// 1–1 000 characters.
    pub description: String,
    /// More than 0, up to 3 decimals (`"1.5"`).
    pub quantity: String,
    /// In the invoice's currency, at most its decimals (`"95.00"`).
    pub unit_price: String,
}

/// One tax rate of an invoice, applied to the subtotal after the discount.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = freelance::InvoiceTaxRequest)]
#[serde(deny_unknown_fields)]
pub struct TaxRequest {
    /// 1–50 characters (`"VAT"`).
    pub name: String,
    /// Percent, above 0 and at most 100, up to 3 decimals (`"7.7"`).
    pub rate: String,
}

fn lines(v: Vec<LineRequest>) -> Vec<LineInput> {
    v.into_iter()
        .map(|l| LineInput { description: l.description, quantity: l.quantity, unit_price: l.unit_price })
        .collect()
}

fn taxes(v: Vec<TaxRequest>) -> Vec<TaxInput> {
    v.into_iter().map(|t| TaxInput { name: t.name, rate: t.rate }).collect()
}

/// A new draft invoice.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::CreateInvoiceRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CreateInvoiceRequest {
    /// One of your clients (required).
    pub client_id: Option<Uuid>,
    /// A work project you are a member of.
    pub project_id: Option<Uuid>,
    /// ISO 4217; defaults to the client's currency.
    pub currency: Option<String>,
    /// Defaults to `net_30`.
    pub terms: Option<Terms>,
    /// Up to 500 lines.
    #[serde(default)]
    pub lines: Vec<LineRequest>,
    /// Percent off the subtotal (up to 3 decimals); or `discount_amount`, not both.
    pub discount_percent: Option<String>,
    /// A fixed amount off the subtotal, at most the subtotal.
    pub discount_amount: Option<String>,
    /// Up to 5 tax rates.
    #[serde(default)]
    pub taxes: Vec<TaxRequest>,
    /// Up to 5 000 characters, printed on the invoice.
    pub notes: Option<String>,
}

/// Draft changes: a field left out stays, `null` clears it, `lines` and `taxes` replace the
/// lists whole.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::UpdateInvoiceRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct UpdateInvoiceRequest {
    pub client_id: Option<Uuid>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
    pub currency: Option<String>,
    pub terms: Option<Terms>,
    pub lines: Option<Vec<LineRequest>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub discount_percent: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub discount_amount: Option<Option<String>>,
    pub taxes: Option<Vec<TaxRequest>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// A project's uninvoiced time to turn into a draft.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::InvoiceFromTimeRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct FromTimeRequest {
    /// A work project you are a member of, with a client of yours.
    pub project_id: Uuid,
    /// Time that ended by then (RFC 3339); default now.
    pub until: Option<Ts>,
}

/// A payment received.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::PaymentRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct PaymentRequest {
    /// In the invoice's currency, more than 0, at most the balance.
    pub amount: String,
    /// Default today.
    pub paid_on: Option<NaiveDate>,
    /// Default `other`.
    pub method: Option<PaymentMethod>,
    /// One line, up to 500 characters.
    pub note: Option<String>,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoicesQuery {
    pub status: Option<InvoiceStatus>,
    pub client_id: Option<Uuid>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The caller's invoices, newest first.
#[utoipa::path(get, path = "/api/v1/freelance/invoices", tag = "freelance", security(("bearer" = [])),
    params(InvoicesQuery), responses((status = 200, body = Page<InvoiceSummary>)))]
pub(super) async fn list_invoices(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Query(q): Query<InvoicesQuery>,
) -> ApiResult<axum::Json<Page<InvoiceSummary>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let query = InvoiceQuery { status: q.status, client: q.client_id, cursor: page.cursor_id()?, limit: page.limit()? };
    Ok(axum::Json(s.freelance.invoices(&me, &query).await?))
}

/// Write a draft invoice; the server computes every amount.
#[utoipa::path(post, path = "/api/v1/freelance/invoices", tag = "freelance", security(("bearer" = [])),
    request_body = CreateInvoiceRequest, responses((status = 201, body = Invoice)))]
pub(super) async fn create_invoice(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<CreateInvoiceRequest>,
) -> ApiResult<Response> {
    let input = InvoiceInput {
        client_id: b.client_id,
        project_id: b.project_id,
        currency: b.currency,
        terms: b.terms,
        lines: lines(b.lines),
        discount_percent: b.discount_percent,
        discount_amount: b.discount_amount,
        taxes: taxes(b.taxes),
        notes: b.notes,
    };
    let invoice = s.freelance.create_invoice(&me, &input).await?;
    Ok(created(format!("/api/v1/freelance/invoices/{}", invoice.id), invoice))
}

/// Turn a project's uninvoiced billable time into a draft (entries marked invoiced with it).
#[utoipa::path(post, path = "/api/v1/freelance/invoices/from-time", tag = "freelance", security(("bearer" = [])),
    request_body = FromTimeRequest, responses((status = 201, body = Invoice),
    (status = 409, description = "`no_billable_time`", body = platform::error::Problem)))]
pub(super) async fn invoice_from_time(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Json(b): Json<FromTimeRequest>,
) -> ApiResult<Response> {
    let invoice = s.freelance.invoice_from_time(&me, b.project_id, b.until).await?;
    Ok(created(format!("/api/v1/freelance/invoices/{}", invoice.id), invoice))
}

/// One of the caller's invoices, with lines, taxes and payments.
#[utoipa::path(get, path = "/api/v1/freelance/invoices/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")), responses((status = 200, body = Invoice)))]
pub(super) async fn get_invoice(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Invoice>> {
    Ok(axum::Json(s.freelance.invoice(&me, id).await?))
}

/// Change a draft invoice.
#[utoipa::path(patch, path = "/api/v1/freelance/invoices/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")), request_body = UpdateInvoiceRequest,
    responses((status = 200, body = Invoice),
    (status = 409, description = "`invoice_not_draft`", body = platform::error::Problem)))]
pub(super) async fn update_invoice(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateInvoiceRequest>,
) -> ApiResult<axum::Json<Invoice>> {
    let patch = InvoicePatch {
        client_id: b.client_id,
        project_id: b.project_id,
        currency: b.currency,
        terms: b.terms,
        lines: b.lines.map(lines),
        discount_percent: b.discount_percent,
        discount_amount: b.discount_amount,
        taxes: b.taxes.map(taxes),
        notes: b.notes,
    };
    Ok(axum::Json(s.freelance.update_invoice(&me, id, patch).await?))
}

/// Delete a draft invoice (its time is billable again).
#[utoipa::path(delete, path = "/api/v1/freelance/invoices/{id}", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")), responses((status = 204, description = "Deleted"),
    (status = 409, description = "`invoice_not_draft`: void it instead", body = platform::error::Problem)))]
pub(super) async fn delete_invoice(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.freelance.delete_invoice(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a draft: it gets the next number and is mailed to the client with its PDF.
#[utoipa::path(post, path = "/api/v1/freelance/invoices/{id}/send", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")), responses((status = 200, body = Invoice),
    (status = 409, description = "`invoice_not_draft`", body = platform::error::Problem),
    (status = 429, description = "`rate_limited`: 100 invoices an hour", body = platform::error::Problem)))]
pub(super) async fn send_invoice(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Invoice>> {
    Ok(axum::Json(s.freelance.send_invoice(&me, id).await?))
}

/// The invoice as a PDF.
#[utoipa::path(get, path = "/api/v1/freelance/invoices/{id}/pdf", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>)))]
pub(super) async fn invoice_pdf(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let (pdf, name) = s.freelance.invoice_pdf(&me, id).await?;
    Ok(pdf_response(pdf, &name))
}

/// Void a sent invoice without payments (it keeps its number; its time is billable again).
#[utoipa::path(post, path = "/api/v1/freelance/invoices/{id}/void", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")), responses((status = 200, body = Invoice),
    (status = 409, description = "`invoice_not_open` or `invoice_has_payments`", body = platform::error::Problem)))]
pub(super) async fn void_invoice(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Invoice>> {
    Ok(axum::Json(s.freelance.void_invoice(&me, id).await?))
}

/// Record a payment; the status follows (`partially_paid`, `paid`).
#[utoipa::path(post, path = "/api/v1/freelance/invoices/{id}/payments", tag = "freelance", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id")), request_body = PaymentRequest,
    responses((status = 201, body = Invoice),
    (status = 409, description = "`invoice_not_open`", body = platform::error::Problem)))]
pub(super) async fn add_payment(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<PaymentRequest>,
) -> ApiResult<Response> {
    let input = PaymentInput {
        amount: b.amount,
        paid_on: b.paid_on,
        method: b.method.unwrap_or(PaymentMethod::Other),
        note: b.note,
    };
    let invoice = s.freelance.add_payment(&me, id, &input).await?;
    Ok(created(format!("/api/v1/freelance/invoices/{id}"), invoice))
}

/// Delete a payment recorded by mistake; the status follows.
#[utoipa::path(delete, path = "/api/v1/freelance/invoices/{id}/payments/{payment_id}", tag = "freelance",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invoice id"), ("payment_id" = Uuid, Path, description = "Payment id")),
    responses((status = 200, body = Invoice),
    (status = 409, description = "`invoice_not_open`", body = platform::error::Problem)))]
pub(super) async fn delete_payment(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path((id, payment)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Invoice>> {
    Ok(axum::Json(s.freelance.delete_payment(&me, id, payment).await?))
}

/// Create a public link to an issued invoice (replacing the previous one); the token is shown
/// only now.
#[utoipa::path(post, path = "/api/v1/freelance/invoices/{id}/public-link", tag = "freelance",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Invoice id")),
    responses((status = 201, body = PublicLink),
    (status = 409, description = "`invoice_not_sent`: a draft has no link", body = platform::error::Problem)))]
pub(super) async fn create_public_link(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let link = s.freelance.create_public_link(&me, id).await?;
    let mut response = (StatusCode::CREATED, axum::Json(link)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revoke the invoice's public link.
#[utoipa::path(delete, path = "/api/v1/freelance/invoices/{id}/public-link", tag = "freelance",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Invoice id")),
    responses((status = 204, description = "Revoked")))]
pub(super) async fn revoke_public_link(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.freelance.revoke_public_link(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A recurrence to set.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = freelance::RecurrenceRequest)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct RecurrenceRequest {
    pub every: Every,
    /// The day of the first copy: today to a year ahead.
    pub next_on: NaiveDate,
}

/// Make an invoice recurring: a copy is made and sent on `next_on`, then every period.
#[utoipa::path(post, path = "/api/v1/freelance/invoices/{id}/recurrence", tag = "freelance",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Invoice id")),
    request_body = RecurrenceRequest, responses((status = 200, body = Invoice),
    (status = 409, description = "`invoice_not_open`: a void invoice does not recur", body = platform::error::Problem)))]
pub(super) async fn set_recurrence(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<RecurrenceRequest>,
) -> ApiResult<axum::Json<Invoice>> {
    Ok(axum::Json(s.freelance.set_recurrence(&me, id, b.every, b.next_on).await?))
}

/// Stop an invoice's recurrence.
#[utoipa::path(delete, path = "/api/v1/freelance/invoices/{id}/recurrence", tag = "freelance",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Invoice id")),
    responses((status = 200, body = Invoice)))]
pub(super) async fn stop_recurrence(
    State(s): State<FreelanceState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Invoice>> {
    Ok(axum::Json(s.freelance.stop_recurrence(&me, id).await?))
}

/// How a public invoice is answered.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicQuery {
    /// `html` (the default) or `pdf`.
    pub format: Option<PublicFormat>,
}

/// The public invoice's form.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublicFormat {
    Html,
    Pdf,
}

/// An invoice through its public link, for the client: no account needed; 404 once revoked.
#[utoipa::path(get, path = "/api/v1/freelance/public/invoices/{token}", tag = "freelance",
    params(("token" = String, Path, description = "The link's token"), PublicQuery),
    responses((status = 200, description = "The invoice as a page, or as its PDF with `format=pdf`",
        content((String = "text/html"), (Vec<u8> = "application/pdf"))),
    (status = 429, description = "`rate_limited`: 60 views a minute per link", body = platform::error::Problem)))]
pub(super) async fn public_invoice(
    State(s): State<FreelanceState>,
    Path(token): Path<String>,
    Query(q): Query<PublicQuery>,
) -> ApiResult<Response> {
    let mut response = match q.format.unwrap_or(PublicFormat::Html) {
        PublicFormat::Pdf => {
            let (pdf, name) = s.freelance.public_invoice_pdf(&token).await?;
            pdf_response(pdf, &name)
        }
        PublicFormat::Html => {
            let html = s.freelance.public_invoice_html(&token).await?;
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "private, no-store"),
                    (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'"),
                ],
                html,
            )
                .into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    headers.insert("x-robots-tag", header::HeaderValue::from_static("noindex"));
    Ok(response)
}
