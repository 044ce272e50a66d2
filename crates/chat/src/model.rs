//! Chat's domain types and the shapes the API exchanges.

use crate::error::ChatError;
use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who may find and join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = chat::Visibility)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed; anyone signed in may join.
    Public,
    /// Members are invited by the owner or an admin.
    Private,
    /// The one room of two users.
    Direct,
}

impl Visibility {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Direct => "direct",
        }
    }

    /// From stored text.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "public" => Self::Public,
            "direct" => Self::Direct,
            _ => Self::Private,
        }
    }
}

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[schema(as = chat::MemberRole)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Reads and writes.
    Member,
    /// Also edits the room, invites and removes members, deletes messages.
    Admin,
    /// Also deletes the room and appoints admins.
    Owner,
}

impl MemberRole {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// From stored text.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            _ => Self::Member,
        }
    }
}

/// A room name: 1–100 characters after trimming.
pub fn room_name(raw: &str) -> Result<String, ChatError> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        return Err(ChatError::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

/// A room description: at most 1000 characters.
pub fn room_description(raw: &str) -> Result<String, ChatError> {
    if raw.chars().count() > 1000 {
        return Err(ChatError::field("description", "must be at most 1000 characters"));
    }
    Ok(raw.trim().to_string())
}

/// Message text: 1–4000 characters, not only white space.
pub fn message_content(raw: &str) -> Result<String, ChatError> {
    let n = raw.chars().count();
    if raw.trim().is_empty() || n > 4000 {
        return Err(ChatError::field("content", "must be 1 to 4000 characters"));
    }
    Ok(raw.to_string())
}

/// The last message of a room, as rooms lists show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = chat::LastMessage)]
pub struct LastMessage {
    /// Message id.
    pub id: Uuid,
    /// Sender id (null once the sender's account was deleted).
    pub sender_id: Option<Uuid>,
    /// Sender display name.
    pub sender_name: String,
    /// Text.
    pub content: String,
    /// When it was sent.
    pub created_at: Ts,
}

/// A room row with the caller's membership and counters.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub visibility: String,
    pub owner_id: Option<Uuid>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub member_count: i64,
    pub role: Option<String>,
    pub unread_count: i64,
    pub last_id: Option<Uuid>,
    pub last_sender_id: Option<Uuid>,
    pub last_sender_name: Option<String>,
    pub last_content: Option<String>,
    pub last_created_at: Option<Ts>,
}

/// A room as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = chat::Room)]
pub struct Room {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `public`, `private` or `direct`.
    pub visibility: Visibility,
    /// The owner (none for the rooms created at first start).
    pub owner_id: Option<Uuid>,
    /// Members.
    pub member_count: i64,
    /// The caller's role, if a member.
    pub role: Option<MemberRole>,
    /// Messages the caller has not read (0 for non-members).
    pub unread_count: i64,
    /// The newest message (members only).
    pub last_message: Option<LastMessage>,
    /// Created.
    pub created_at: Ts,
    /// Last change.
    pub updated_at: Ts,
}

impl From<RoomRow> for Room {
    fn from(r: RoomRow) -> Self {
        let member = r.role.is_some();
        let last_message =
            match (member, r.last_id, r.last_sender_id, r.last_sender_name, r.last_content, r.last_created_at) {
                (true, Some(id), sender_id, Some(sender_name), Some(content), Some(created_at)) => {
                    Some(LastMessage { id, sender_id, sender_name, content, created_at })
                }
                _ => None,
            };
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            visibility: Visibility::from_stored(&r.visibility),
            owner_id: r.owner_id,
            member_count: r.member_count,
            role: r.role.as_deref().map(MemberRole::from_stored),
            unread_count: if member { r.unread_count } else { 0 },
            last_message,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A member row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub role: String,
    pub joined_at: Ts,
}

/// A member as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = chat::Member)]
pub struct Member {
    /// The user.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// Role in the room.
    pub role: MemberRole,
    /// When they joined.
    pub joined_at: Ts,
}

/// A message (also the payload of message events).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[schema(as = chat::Message)]
pub struct Message {
    /// Id (UUIDv7: time-ordered).
    pub id: Uuid,
    /// Room.
    pub room_id: Uuid,
    /// Sender (null once the sender's account was deleted: the message stays, from
    /// "Deleted user").
    pub sender_id: Option<Uuid>,
    /// Sender's display name (never an email).
    pub sender_name: String,
    /// Text.
    pub content: String,
    /// Sent at.
    pub created_at: Ts,
    /// Last edited at.
    pub edited_at: Option<Ts>,
    /// The sender's own id for the message, echoed so a client can match its optimistic copy.
    pub client_id: Option<String>,
}

/// The topic of a room's events.
pub fn room_topic(room: Uuid) -> String {
    format!("chat.room.{room}")
}

/// The stable key of the direct room of two users (the same from either side).
pub fn direct_key(a: Uuid, b: Uuid) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("direct:{low}:{high}")
}

#[cfg(test)]
impl Message {
    /// A message from "Ann" in `room`, for tests (id and time as a fresh post would have them).
    pub(crate) fn sample(room: Uuid, content: &str) -> Self {
        Self {
            id: Uuid::now_v7(),
            room_id: room,
            sender_id: None,
            sender_name: "Ann".into(),
            content: content.into(),
            created_at: Ts::now(),
            edited_at: None,
            client_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules() {
        assert!(message_content("").is_err());
        assert!(message_content("   \n").is_err());
        assert!(message_content(&"é".repeat(4000)).is_ok());
        assert!(message_content(&"é".repeat(4001)).is_err());
        assert!(room_name(" General ").unwrap() == "General");
        assert!(room_name("").is_err());
    }

    #[test]
    fn direct_keys_are_symmetric() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(direct_key(a, b), direct_key(b, a));
    }
}
