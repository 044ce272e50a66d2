//! What can go wrong in ticketing, in domain terms ([`DomainError`](platform::error::DomainError));
//! the edges map it to HTTP problems or gRPC statuses.

use platform::FieldError;
use platform::db::DbError;
use platform::error::Internal;

/// A ticketing failure.
#[derive(Debug, thiserror::Error)]
pub enum TicketingError {
    /// No such event, or one the caller may not see.
    #[error("The resource does not exist.")]
    NotFound,
    /// The caller sees the event but may not change it.
    #[error("Only the event's owner or an admin may do this.")]
    Forbidden,
    /// Creating events needs a verified email address or phone number.
    #[error("Verify your email address or phone number before creating events.")]
    VerificationRequired,
    /// The capacity asked for is below the seats already sold.
    #[error("The capacity cannot go below the seats already sold ({sold}).")]
    CapacityBelowSold {
        /// Seats sold.
        sold: i64,
    },
    /// An event with tickets cannot be deleted (cancel it instead: that refunds them).
    #[error("The event has tickets; cancel it instead.")]
    EventHasTickets,
    /// A cancelled event stays as it is.
    #[error("The event is cancelled.")]
    EventCancelled,
    /// Invalid input.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// Looking the caller up failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// A failure on our side.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl TicketingError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        TicketingError::Invalid(vec![FieldError::new(field, message.into())])
    }
}

platform::domain_error!(TicketingError {
    Self::NotFound => NotFound, "not_found";
    Self::Forbidden => Forbidden, "forbidden";
    Self::VerificationRequired => Forbidden, "verification_required";
    Self::CapacityBelowSold { .. } => Conflict, "capacity_below_sold";
    Self::EventHasTickets => Conflict, "event_has_tickets";
    Self::EventCancelled => Conflict, "event_cancelled";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
} wraps Db, Accounts, Internal);

impl From<DbError> for TicketingError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => TicketingError::NotFound,
            other => TicketingError::Db(other),
        }
    }
}
