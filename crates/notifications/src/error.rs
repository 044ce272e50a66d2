//! What can go wrong with notifications, in domain terms ([`DomainError`]).

use platform::db::DbError;
use platform::error::{DomainError, ErrorKind};

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

impl DomainError for NotificationsError {
    fn kind(&self) -> ErrorKind {
        match self {
            NotificationsError::NotFound => ErrorKind::NotFound,
            NotificationsError::Db(db) => db.kind(),
            NotificationsError::Accounts(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            NotificationsError::NotFound => "not_found",
            NotificationsError::Db(db) => db.code(),
            NotificationsError::Accounts(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            NotificationsError::Accounts(e) => e.message(),
            other => other.to_string(),
        }
    }
}

impl From<DbError> for NotificationsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => NotificationsError::NotFound,
            other => NotificationsError::Db(other),
        }
    }
}
