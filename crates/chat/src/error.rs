//! What can go wrong in chat, in domain terms ([`DomainError`](platform::error::DomainError)); the edges map it to HTTP
//! problems, gateway `error` frames or gRPC statuses.

use platform::FieldError;
use platform::db::DbError;
use platform::error::Internal;

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
}

platform::domain_error!(ChatError {
    Self::NotFound => NotFound, "not_found";
    Self::Forbidden(_) => Forbidden, "forbidden";
    Self::AlreadyMember => Conflict, "already_member";
    Self::OwnerCannotLeave => Conflict, "owner_cannot_leave";
    Self::DirectRoom => Conflict, "direct_room";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
} wraps Db, Accounts, Notifications, Internal);

impl From<DbError> for ChatError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => ChatError::NotFound,
            DbError::Unique(c) if c == "chat_members(room_id, user_id)" => ChatError::AlreadyMember,
            other => ChatError::Db(other),
        }
    }
}
