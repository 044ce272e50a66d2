//! Freelance's use cases, one room each: clients, time tracking and its reports, invoice
//! drafts, billing (sending, payments, voiding, reminders), recurring invoices, public links,
//! the dashboard, contracts, resumes and the PDFs; here the service they share and the user's
//! data export.

mod billing;
mod checks;
mod clients;
mod contracts;
mod dashboard;
mod invoices;
mod pdf;
mod recurring;
mod resumes;
mod sharing;
mod time;
mod time_report;

pub use billing::{INVOICE_MAIL, INVOICE_MAILS_PER_HOUR, InvoiceMail, MailKind, PaymentInput};
pub use clients::{ClientInput, ClientPatch, ClientQuery, MAX_RATE};
pub use contracts::{ContractInput, ContractPatch, ContractQuery};
pub use invoices::{InvoiceInput, InvoicePatch, InvoiceQuery, LineInput, MAX_LINES, MAX_TAXES, TaxInput};
pub use resumes::{ResumeInput, ResumePatch};
pub use sharing::PUBLIC_VIEWS;
pub use time::{EntryInput, EntryPatch, MAX_ENTRY_HOURS};
pub use time_report::{EntryQuery, MAX_CSV_ROWS};

use crate::error::FreelanceError;
use crate::model::{Client, TimeEntry};
use crate::store;
use accounts::Accounts;
use platform::Platform;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;
use work::Work;

type Result<T> = std::result::Result<T, FreelanceError>;

/// The freelance service. Cheap to clone.
#[derive(Clone)]
pub struct Freelance {
    platform: Platform,
    /// The freelancer's name and address on their invoices.
    accounts: Accounts,
    /// Projects and tasks that time is tracked on, read as the caller.
    work: Work,
    /// The PDF fonts, parsed when the first PDF is made.
    fonts: Arc<OnceLock<Arc<pdf::Fonts>>>,
}

impl Freelance {
    /// The service over the platform, reading users through `accounts` and projects through
    /// `work`.
    pub fn new(platform: Platform, accounts: Accounts, work: Work) -> Self {
        Self { platform, accounts, work, fonts: Arc::default() }
    }

    /// Everything the user keeps here, for their data export. Entries carry only their
    /// own rate (the project's is the project owner's data).
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let clients: Vec<Client> =
            store::clients::all_of(&self.platform.db, user).await?.into_iter().map(Client::from).collect();
        let now = platform::db::Ts::now();
        let entries: Vec<TimeEntry> = store::time::all_of(&self.platform.db, user)
            .await?
            .into_iter()
            .map(|row| {
                let rate = time::entry_rate(&row);
                TimeEntry::new(row, rate, now)
            })
            .collect();
        let mut invoices = Vec::new();
        for row in store::invoices::all_of(&self.platform.db, user).await? {
            invoices.push(self.invoice_view(row).await?);
        }
        let contracts: Vec<crate::model::Contract> =
            store::contracts::all_of(&self.platform.db, user).await?.into_iter().map(Into::into).collect();
        let resumes: Vec<crate::model::Resume> =
            store::resumes::all_of(&self.platform.db, user).await?.into_iter().map(Into::into).collect();
        Ok(serde_json::json!({
            "clients": clients, "time_entries": entries, "invoices": invoices, "contracts": contracts, "resumes": resumes
        }))
    }
}
