//! Freelance's data as stored and as the API shows it, one room per feature.

mod clients;
mod contracts;
mod dashboard;
mod invoices;
mod resumes;
mod time;

pub use clients::{Client, ClientRow};
pub use contracts::{Contract, ContractRow, ContractStatus, ContractTemplate};
pub use dashboard::{CurrencySummary, Dashboard, MonthRevenue};
pub use invoices::{
    Discount, Every, Invoice, InvoiceRow, InvoiceStatus, InvoiceSummary, Line, LineRow, MAX_TOTAL_MINOR, Payment,
    PaymentMethod, PaymentRow, PublicLink, Recurrence, Tax, TaxRow, Terms, Totals, compute_totals, invoice_number,
    thousandths,
};
pub use resumes::{Education, Experience, Language, Resume, ResumeContent, ResumeRow, ResumeTemplate};
pub use time::{
    Amount, DaySummary, ProjectSummary, Rate, RateSource, TimeEntry, TimeEntryRow, TimerState, WeekSummary, amount_for,
};
