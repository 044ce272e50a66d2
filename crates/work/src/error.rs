//! What can go wrong in work, in domain terms ([`DomainError`](platform::error::DomainError)); the edges map it to HTTP
//! problems, socket.io acks or gRPC statuses.

use platform::FieldError;
use platform::db::DbError;
use platform::error::Internal;

/// A work failure.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// No such project, task or comment, or one the caller may not see.
    #[error("The resource does not exist.")]
    NotFound,
    /// The caller sees the project but their role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Adding someone who is a member already.
    #[error("The user is already a member of this project.")]
    AlreadyMember,
    /// The owner cannot leave or be removed (delete the project or transfer it first).
    #[error("The owner cannot leave or be removed; delete the project or make someone else owner first.")]
    OwnerStays,
    /// The dependencies would form a cycle.
    #[error("These blockers would make the task wait for itself.")]
    Cycle,
    /// Invalid input.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// The caller sent too many of something (invitations) in a while.
    #[error("{0}")]
    RateLimited(platform::ratelimit::Limited),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// Looking users up failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// Recording a notification failed.
    #[error(transparent)]
    Notifications(#[from] notifications::NotificationsError),
    /// A failure on our side.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl WorkError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        WorkError::Invalid(vec![FieldError::new(field, message.into())])
    }
}

platform::domain_error!(WorkError {
    Self::NotFound => NotFound, "not_found";
    Self::Forbidden(_) => Forbidden, "forbidden";
    Self::AlreadyMember => Conflict, "already_member";
    Self::OwnerStays => Conflict, "owner_stays";
    Self::Cycle => Invalid, "dependency_cycle";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
    Self::RateLimited(limited) => RateLimited, "rate_limited", limit(Some(*limited));
} wraps Db, Accounts, Notifications, Internal);

impl From<DbError> for WorkError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => WorkError::NotFound,
            DbError::Unique(c) if c == "work_members(project_id, user_id)" => WorkError::AlreadyMember,
            other => WorkError::Db(other),
        }
    }
}
