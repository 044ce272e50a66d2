//! What can go wrong with notifications, in domain terms ([`DomainError`](platform::error::DomainError)).

use platform::db::DbError;

/// A notifications failure.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// No such notification for this user.
    #[error("The resource does not exist.")]
    NotFound,
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// Looking up the recipient failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
}

platform::domain_error!(NotificationsError {
    Self::NotFound => NotFound, "not_found";
} wraps Db, Accounts);

impl From<DbError> for NotificationsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => NotificationsError::NotFound,
            other => NotificationsError::Db(other),
        }
    }
}
