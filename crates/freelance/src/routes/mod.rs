//! HTTP routes under `/api/v1/freelance`: parse, call [`Freelance`], answer.

mod clients;
mod contracts;
mod dashboard;
mod invoices;
mod resumes;
mod time;

pub use clients::{CreateClientRequest, UpdateClientRequest};
pub use contracts::{CreateContractRequest, UpdateContractRequest};
pub use invoices::{
    CreateInvoiceRequest, FromTimeRequest, LineRequest, PaymentRequest, RecurrenceRequest, TaxRequest,
    UpdateInvoiceRequest,
};
pub use resumes::{CreateResumeRequest, UpdateResumeRequest};
pub use time::{CreateTimeEntryRequest, StartTimerRequest, UpdateTimeEntryRequest};

use crate::service::Freelance;
use axum::extract::FromRef;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use platform::auth::Authenticator;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A PDF answer, shown in the browser, saved under `name`; private to the caller.
fn pdf_response(pdf: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        pdf,
    )
        .into_response()
}

/// State of the freelance routes.
#[derive(Clone)]
pub struct FreelanceState {
    /// The service.
    pub freelance: Freelance,
    /// Checks tokens.
    pub auth: Authenticator,
}

impl FromRef<FreelanceState> for Authenticator {
    fn from_ref(s: &FreelanceState) -> Self {
        s.auth.clone()
    }
}

/// The freelance routes.
pub fn router(freelance: Freelance, auth: Authenticator) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(clients::get_client, clients::update_client, clients::delete_client))
        .routes(routes!(time::start_timer))
        .routes(routes!(time::stop_timer))
        .routes(routes!(time::get_timer))
        .routes(routes!(time::list_entries, time::create_entry))
        .routes(routes!(time::get_entry, time::update_entry, time::delete_entry))
        .routes(routes!(time::export_entries))
        .routes(routes!(time::week_summary))
        .routes(routes!(invoices::list_invoices, invoices::create_invoice))
        .routes(routes!(invoices::invoice_from_time))
        .routes(routes!(invoices::get_invoice, invoices::update_invoice, invoices::delete_invoice))
        .routes(routes!(invoices::send_invoice))
        .routes(routes!(invoices::invoice_pdf))
        .routes(routes!(invoices::void_invoice))
        .routes(routes!(invoices::add_payment))
        .routes(routes!(invoices::delete_payment))
        .routes(routes!(invoices::create_public_link, invoices::revoke_public_link))
        .routes(routes!(invoices::set_recurrence, invoices::stop_recurrence))
        .routes(routes!(invoices::public_invoice))
        .routes(routes!(dashboard::dashboard))
        .routes(routes!(contracts::list_contracts, contracts::create_contract))
        .routes(routes!(contracts::get_contract, contracts::update_contract, contracts::delete_contract))
        .routes(routes!(contracts::contract_pdf))
        .routes(routes!(resumes::list_resumes, resumes::create_resume))
        .routes(routes!(resumes::get_resume, resumes::update_resume, resumes::delete_resume))
        .routes(routes!(resumes::resume_html))
        .routes(routes!(resumes::resume_pdf))
        .with_state(FreelanceState { freelance, auth })
}
