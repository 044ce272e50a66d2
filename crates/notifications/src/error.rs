//! What can go wrong with notifications, and the HTTP answer for each.

use platform::ApiError;
use platform::db::DbError;

/// A notifications failure.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// No such notification for this user.
    #[error("not found")]
    NotFound,
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure from another module that already is an answer.
    #[error("{0}")]
    Platform(ApiError),
}

impl From<DbError> for NotificationsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => NotificationsError::NotFound,
            other => NotificationsError::Db(other),
        }
    }
}

impl From<accounts::AccountsError> for NotificationsError {
    fn from(e: accounts::AccountsError) -> Self {
        NotificationsError::Platform(e.into())
    }
}

impl From<NotificationsError> for ApiError {
    fn from(e: NotificationsError) -> Self {
        match e {
            NotificationsError::NotFound => ApiError::not_found(),
            NotificationsError::Db(db) => ApiError::internal(db),
            NotificationsError::Platform(api) => api,
        }
    }
}
