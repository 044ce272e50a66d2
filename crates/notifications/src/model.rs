//! Notification kinds, the inbox entry, and the preferences document.

use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A task was assigned to the user.
    TaskAssigned,
    /// The user was mentioned in a task comment.
    CommentMention,
    /// The user was mentioned in a chat message.
    ChatMention,
    /// A task assigned to the user is due within 24 hours.
    TaskDue,
    /// The user was added to a project.
    ProjectInvitation,
}

impl Kind {
    /// Every kind, in the order the preferences list them.
    pub const ALL: [Kind; 5] =
        [Kind::TaskAssigned, Kind::CommentMention, Kind::ChatMention, Kind::TaskDue, Kind::ProjectInvitation];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TaskAssigned => "task_assigned",
            Kind::CommentMention => "comment_mention",
            Kind::ChatMention => "chat_mention",
            Kind::TaskDue => "task_due",
            Kind::ProjectInvitation => "project_invitation",
        }
    }

    /// The kind stored as `name`, if this build knows it.
    pub fn from_stored(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A notification for one user, written by the module that causes it.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// The recipient.
    pub user_id: Uuid,
    /// What it is about.
    pub kind: Kind,
    /// One line (also the email subject).
    pub title: String,
    /// A few sentences (also the email text).
    pub body: String,
    /// Ids a client needs to open the thing (`project_id`, `task_id` …).
    pub data: serde_json::Value,
}

/// An inbox entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// What it is about.
    pub kind: Kind,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub body: String,
    /// Ids of the objects concerned.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// When the user read it; null while unread.
    pub read_at: Option<Ts>,
    /// When it was created.
    pub created_at: Ts,
}

/// A stored notification row.
#[derive(Debug, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: String,
    pub read_at: Option<Ts>,
    pub created_at: Ts,
}

impl NotificationRow {
    /// The API form; None for a kind this build does not know (written by a newer instance).
    pub fn into_notification(self) -> Option<Notification> {
        Some(Notification {
            id: self.id,
            kind: Kind::from_stored(&self.kind)?,
            title: self.title,
            body: self.body,
            data: serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null),
            read_at: self.read_at,
            created_at: self.created_at,
        })
    }
}

/// How one kind is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Channels {
    /// Always true: every notification lands in the inbox.
    pub in_app: bool,
    /// Whether it is also emailed (default true).
    pub email: bool,
}

/// Delivery per kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preferences {
    /// A task was assigned to me.
    pub task_assigned: Channels,
    /// I was mentioned in a task comment.
    pub comment_mention: Channels,
    /// I was mentioned in chat.
    pub chat_mention: Channels,
    /// A task of mine is due within 24 hours.
    pub task_due: Channels,
    /// I was added to a project.
    pub project_invitation: Channels,
}

impl Preferences {
    /// The document from the kinds whose email is off.
    pub fn from_email_off(off: &[Kind]) -> Self {
        let channels = |kind: Kind| Channels { in_app: true, email: !off.contains(&kind) };
        Self {
            task_assigned: channels(Kind::TaskAssigned),
            comment_mention: channels(Kind::CommentMention),
            chat_mention: channels(Kind::ChatMention),
            task_due: channels(Kind::TaskDue),
            project_invitation: channels(Kind::ProjectInvitation),
        }
    }
}

/// The topic on which a user's notifications are pushed.
pub fn user_topic(user: Uuid) -> String {
    format!("user.{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_storage() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_stored(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(Kind::from_stored("nope"), None);
    }
}
