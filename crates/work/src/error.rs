//! What can go wrong in work, and the exact HTTP answer for each.

use platform::db::DbError;
use platform::{ApiError, FieldError};

/// A work failure.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// No such project, task or comment, or one the caller may not see.
    #[error("not found")]
    NotFound,
    /// The caller sees the project but their role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Adding someone who is a member already.
    #[error("already a member")]
    AlreadyMember,
    /// The owner cannot leave or be removed (delete the project or transfer it first).
    #[error("owner stays")]
    OwnerStays,
    /// The dependencies would form a cycle.
    #[error("dependency cycle")]
    Cycle,
    /// Invalid input.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure from another module or the platform that already is an answer.
    #[error("{0}")]
    Platform(ApiError),
}

impl WorkError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        WorkError::Invalid(vec![FieldError::new(field, message.into())])
    }
}

impl From<DbError> for WorkError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => WorkError::NotFound,
            DbError::Conflict(c) if c.contains("work_members") => WorkError::AlreadyMember,
            other => WorkError::Db(other),
        }
    }
}

impl From<ApiError> for WorkError {
    fn from(e: ApiError) -> Self {
        WorkError::Platform(e)
    }
}

impl From<accounts::AccountsError> for WorkError {
    fn from(e: accounts::AccountsError) -> Self {
        match e {
            accounts::AccountsError::NotFound => WorkError::NotFound,
            other => WorkError::Platform(other.into()),
        }
    }
}

impl From<notifications::NotificationsError> for WorkError {
    fn from(e: notifications::NotificationsError) -> Self {
        WorkError::Platform(e.into())
    }
}

impl From<WorkError> for ApiError {
    fn from(e: WorkError) -> Self {
        match e {
            WorkError::NotFound => ApiError::not_found(),
            WorkError::Forbidden(why) => ApiError::forbidden("forbidden", why),
            WorkError::AlreadyMember => {
                ApiError::conflict("already_member", "The user is already a member of this project.")
            }
            WorkError::OwnerStays => ApiError::conflict(
                "owner_stays",
                "The owner cannot leave or be removed; delete the project or make someone else owner first.",
            ),
            WorkError::Cycle => ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "dependency_cycle",
                "These blockers would make the task wait for itself.",
            ),
            WorkError::Invalid(errors) => ApiError::validation(errors),
            WorkError::Db(db) => ApiError::internal(db),
            WorkError::Platform(api) => api,
        }
    }
}
