//! What can go wrong in chat, and the exact HTTP answer for each.

use platform::db::DbError;
use platform::{ApiError, FieldError};

/// A chat failure.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No such room or message, or one the caller may not see.
    #[error("not found")]
    NotFound,
    /// The caller sees the room but lacks the role for this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Joining a room one is in already, or adding a member twice.
    #[error("already a member")]
    AlreadyMember,
    /// The owner cannot leave (delete the room or hand it over first).
    #[error("owner cannot leave")]
    OwnerCannotLeave,
    /// Direct rooms have exactly their two members.
    #[error("direct room")]
    DirectRoom,
    /// Invalid input.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure from another module that already is an answer.
    #[error("{0}")]
    Platform(ApiError),
}

impl ChatError {
    /// One invalid field.
    pub fn field(field: &str, message: &str) -> Self {
        ChatError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<DbError> for ChatError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ChatError::NotFound,
            DbError::Conflict(c) if c.contains("chat_members") || c.contains("room_id") => ChatError::AlreadyMember,
            other => ChatError::Db(other),
        }
    }
}

impl From<ApiError> for ChatError {
    fn from(e: ApiError) -> Self {
        ChatError::Platform(e)
    }
}

impl From<accounts::AccountsError> for ChatError {
    fn from(e: accounts::AccountsError) -> Self {
        match e {
            accounts::AccountsError::NotFound => ChatError::NotFound,
            other => ChatError::Platform(other.into()),
        }
    }
}

impl From<notifications::NotificationsError> for ChatError {
    fn from(e: notifications::NotificationsError) -> Self {
        ChatError::Platform(e.into())
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::NotFound => ApiError::not_found(),
            ChatError::Forbidden(why) => ApiError::forbidden("forbidden", why),
            ChatError::AlreadyMember => {
                ApiError::conflict("already_member", "The user is already a member of this room.")
            }
            ChatError::OwnerCannotLeave => ApiError::conflict(
                "owner_cannot_leave",
                "The owner cannot leave the room; delete it or make someone else owner first.",
            ),
            ChatError::DirectRoom => {
                ApiError::conflict("direct_room", "Direct rooms always have exactly their two members.")
            }
            ChatError::Invalid(errors) => ApiError::validation(errors),
            ChatError::Db(db) => ApiError::internal(db),
            ChatError::Platform(api) => api,
        }
    }
}
