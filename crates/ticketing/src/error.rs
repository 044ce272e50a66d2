//! What can go wrong in ticketing, in domain terms ([`DomainError`](platform::error::DomainError));
//! the edges map it to HTTP problems or gRPC statuses.

use platform::FieldError;
use platform::db::DbError;
use platform::db::Ts;
use platform::error::{Internal, extension};

/// A ticketing failure.
#[derive(Debug, thiserror::Error)]
pub enum TicketingError {
    /// No such event, bundle, ticket or refund, or one the caller may not see.
    #[error("The resource does not exist.")]
    NotFound,
    /// The caller sees the event or bundle but may not change it.
    #[error("Only the owner or an admin may do this.")]
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
    /// Not enough seats are left for the purchase (nothing was bought).
    #[error("Not enough seats are left: {seats_left}.")]
    SoldOut {
        /// Seats (or bundle tickets) still for sale.
        seats_left: i64,
    },
    /// The event or bundle is not sold: not published, cancelled, or started.
    #[error("This is not on sale.")]
    NotOnSale,
    /// A bundle with tickets sold keeps its events and stays.
    #[error("The bundle has tickets; its events can no longer change.")]
    BundleHasTickets,
    /// A bundle's events are priced in its currency.
    #[error("The event and the bundle are priced in different currencies.")]
    CurrencyMismatch,
    /// The ticket's holder was let in already.
    #[error("The ticket was checked in already.")]
    AlreadyCheckedIn {
        /// The first check-in.
        at: Ts,
    },
    /// The ticket was refunded or cancelled.
    #[error("The ticket is no longer valid.")]
    TicketVoid,
    /// The event started: its tickets can no longer be given back.
    #[error("The event has started.")]
    EventStarted,
    /// The ticket has a refund request already.
    #[error("The ticket has a refund request already.")]
    RefundExists,
    /// The refund request was decided already.
    #[error("The refund request was decided already.")]
    RefundResolved,
    /// Invalid input.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// Looking the caller up failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// Recording a notification failed.
    #[error(transparent)]
    Notifications(#[from] notifications::NotificationsError),
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
    Self::SoldOut { seats_left } => Conflict, "sold_out", extensions(extension("seats_left", *seats_left));
    Self::NotOnSale => Conflict, "not_on_sale";
    Self::BundleHasTickets => Conflict, "bundle_has_tickets";
    Self::CurrencyMismatch => Conflict, "currency_mismatch";
    Self::AlreadyCheckedIn { at } => Conflict, "already_checked_in",
        message(format!("The ticket was checked in already, at {}.", at.to_rfc3339())),
        extensions(extension("checked_in_at", at.to_rfc3339()));
    Self::TicketVoid => Conflict, "ticket_void";
    Self::EventStarted => Conflict, "event_started";
    Self::RefundExists => Conflict, "refund_exists";
    Self::RefundResolved => Conflict, "refund_resolved";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
} wraps Db, Accounts, Notifications, Internal);

impl From<DbError> for TicketingError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => TicketingError::NotFound,
            other => TicketingError::Db(other),
        }
    }
}
