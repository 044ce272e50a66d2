//! What can go wrong in freelance, in domain terms ([`DomainError`](platform::error::DomainError));
//! the edges map it to HTTP problems.

use platform::FieldError;
use platform::db::DbError;
use platform::error::{Internal, extension};
use uuid::Uuid;

/// A freelance failure.
#[derive(Debug, thiserror::Error)]
pub enum FreelanceError {
    /// No such client, or another user's.
    #[error("The resource does not exist.")]
    NotFound,
    /// Invalid input.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// Starting a timer while one runs.
    #[error("A timer is running already; stop it first.")]
    TimerRunning,
    /// Stopping a timer when none runs.
    #[error("No timer is running.")]
    TimerNotRunning,
    /// The time given shares time with another entry of the caller's (its id).
    #[error("This time overlaps another of your time entries.")]
    TimeOverlap(Uuid),
    /// Changing or deleting time that is on an invoice.
    #[error("This time entry is on an invoice and can no longer change.")]
    EntryInvoiced,
    /// Changing, deleting or sending an invoice that is no longer a draft.
    #[error("Only a draft invoice can change; this one was sent (void it instead).")]
    InvoiceNotDraft,
    /// A public link to a draft.
    #[error("A draft has no public link; send the invoice first.")]
    InvoiceNotSent,
    /// A payment or voiding on an invoice that is not open (a draft, paid or void).
    #[error("This invoice is not open for payments or voiding.")]
    InvoiceNotOpen,
    /// Voiding an invoice with payments recorded.
    #[error("This invoice has payments; delete them before voiding it.")]
    InvoiceHasPayments,
    /// Invoicing a project's time when none is left to invoice.
    #[error("The project has no billable time left to invoice.")]
    NoBillableTime,
    /// Changing or deleting a contract that is no longer a draft.
    #[error("Only a draft contract can change or be deleted.")]
    ContractNotDraft,
    /// A status change that is not one legal step.
    #[error("A contract cannot go from {from} to {to}.")]
    InvalidTransition { from: &'static str, to: &'static str },
    /// The project's time kept changing while it was being invoiced.
    #[error("The project's time changed while it was being invoiced; try again.")]
    TimeChanged,
    /// Deleting a client that has invoices.
    #[error("This client has invoices; archive it instead.")]
    ClientHasInvoices,
    /// Too many invoices mailed in a while.
    #[error("{0}")]
    RateLimited(platform::ratelimit::Limited),
    /// Reading users from accounts failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// Reading projects or tasks from the work module failed.
    #[error(transparent)]
    Work(#[from] work::WorkError),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure on our side.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl FreelanceError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        FreelanceError::Invalid(vec![FieldError::new(field, message.into())])
    }
}

platform::domain_error!(FreelanceError {
    Self::NotFound => NotFound, "not_found";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
    Self::TimerRunning => Conflict, "timer_running";
    Self::TimerNotRunning => Conflict, "timer_not_running";
    Self::TimeOverlap(other) => Conflict, "time_overlap", extensions(extension("overlapping_entry_id", other.to_string()));
    Self::EntryInvoiced => Conflict, "entry_invoiced";
    Self::InvoiceNotDraft => Conflict, "invoice_not_draft";
    Self::InvoiceNotOpen => Conflict, "invoice_not_open";
    Self::InvoiceNotSent => Conflict, "invoice_not_sent";
    Self::InvoiceHasPayments => Conflict, "invoice_has_payments";
    Self::NoBillableTime => Conflict, "no_billable_time";
    Self::ClientHasInvoices => Conflict, "client_has_invoices";
    Self::TimeChanged => Conflict, "time_changed";
    Self::ContractNotDraft => Conflict, "contract_not_draft";
    Self::InvalidTransition { from, to } => Conflict, "invalid_transition",
        extensions({ let mut m = extension("from", *from); m.extend(extension("to", *to)); m });
    Self::RateLimited(limited) => RateLimited, "rate_limited", limit(Some(*limited));
} wraps Db, Accounts, Work, Internal);

impl From<DbError> for FreelanceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => FreelanceError::NotFound,
            other => FreelanceError::Db(other),
        }
    }
}
