//! What can go wrong in chat, in domain terms ([`DomainError`]); the edges map it to HTTP
//! problems, gateway `error` frames or gRPC statuses.

use platform::FieldError;
use platform::db::DbError;
use platform::error::{DomainError, ErrorKind, Internal};

/// A chat failure.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No such room or message, or one the caller may not see.
    #[error("The resource does not exist.")]
    NotFound,
    /// The caller sees the room but lacks the role for this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Joining a room one is in already, or adding a member twice.
    #[error("The user is already a member of this room.")]
    AlreadyMember,
    /// The owner cannot leave (delete the room or hand it over first).
    #[error("The owner cannot leave the room; delete it or make someone else owner first.")]
    OwnerCannotLeave,
    /// Direct rooms have exactly their two members.
    #[error("Direct rooms always have exactly their two members.")]
    DirectRoom,
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

impl ChatError {
    /// One invalid field.
    pub fn field(field: &str, message: &str) -> Self {
        ChatError::Invalid(vec![FieldError::new(field, message)])
    }

    /// The error of another module this one wraps.
    fn inner(&self) -> Option<&dyn DomainError> {
        match self {
            ChatError::Db(e) => Some(e),
            ChatError::Accounts(e) => Some(e),
            ChatError::Notifications(e) => Some(e),
            ChatError::Internal(e) => Some(e),
            _ => None,
        }
    }
}

impl DomainError for ChatError {
    fn kind(&self) -> ErrorKind {
        match self {
            ChatError::NotFound => ErrorKind::NotFound,
            ChatError::Forbidden(_) => ErrorKind::Forbidden,
            ChatError::AlreadyMember | ChatError::OwnerCannotLeave | ChatError::DirectRoom => ErrorKind::Conflict,
            ChatError::Invalid(_) => ErrorKind::Invalid,
            _ => self.inner().map_or(ErrorKind::Internal, DomainError::kind),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ChatError::NotFound => "not_found",
            ChatError::Forbidden(_) => "forbidden",
            ChatError::AlreadyMember => "already_member",
            ChatError::OwnerCannotLeave => "owner_cannot_leave",
            ChatError::DirectRoom => "direct_room",
            ChatError::Invalid(_) => "validation_failed",
            _ => self.inner().map_or("internal_error", DomainError::code),
        }
    }

    fn message(&self) -> String {
        self.inner().map_or_else(|| self.to_string(), DomainError::message)
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            ChatError::Invalid(errors) => errors.clone(),
            _ => self.inner().map(DomainError::fields).unwrap_or_default(),
        }
    }

    fn limit(&self) -> Option<platform::ratelimit::Limited> {
        self.inner().and_then(DomainError::limit)
    }
}

impl From<DbError> for ChatError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => ChatError::NotFound,
            DbError::Unique(c) if c == "chat_members(room_id, user_id)" => ChatError::AlreadyMember,
            other => ChatError::Db(other),
        }
    }
}
