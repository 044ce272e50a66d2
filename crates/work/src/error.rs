//! What can go wrong in work, in domain terms ([`DomainError`]); the edges map it to HTTP
//! problems, socket.io acks or gRPC statuses.

use platform::FieldError;
use platform::db::DbError;
use platform::error::{DomainError, ErrorKind, Internal};

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

    /// The error of another module this one wraps.
    fn inner(&self) -> Option<&dyn DomainError> {
        match self {
            WorkError::Db(e) => Some(e),
            WorkError::Accounts(e) => Some(e),
            WorkError::Notifications(e) => Some(e),
            WorkError::Internal(e) => Some(e),
            _ => None,
        }
    }
}

impl DomainError for WorkError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkError::NotFound => ErrorKind::NotFound,
            WorkError::Forbidden(_) => ErrorKind::Forbidden,
            WorkError::AlreadyMember | WorkError::OwnerStays => ErrorKind::Conflict,
            WorkError::Cycle | WorkError::Invalid(_) => ErrorKind::Invalid,
            _ => self.inner().map_or(ErrorKind::Internal, DomainError::kind),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            WorkError::NotFound => "not_found",
            WorkError::Forbidden(_) => "forbidden",
            WorkError::AlreadyMember => "already_member",
            WorkError::OwnerStays => "owner_stays",
            WorkError::Cycle => "dependency_cycle",
            WorkError::Invalid(_) => "validation_failed",
            _ => self.inner().map_or("internal_error", DomainError::code),
        }
    }

    fn message(&self) -> String {
        self.inner().map_or_else(|| self.to_string(), DomainError::message)
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            WorkError::Invalid(errors) => errors.clone(),
            _ => self.inner().map(DomainError::fields).unwrap_or_default(),
        }
    }

    fn limit(&self) -> Option<platform::ratelimit::Limited> {
        self.inner().and_then(DomainError::limit)
    }
}

impl From<DbError> for WorkError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => WorkError::NotFound,
            DbError::Unique(c) if c == "work_members(project_id, user_id)" => WorkError::AlreadyMember,
            other => WorkError::Db(other),
        }
    }
}
