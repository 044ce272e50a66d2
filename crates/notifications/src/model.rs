//! Notification kinds, the inbox entry, and the preferences document.

use platform::db::Ts;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a notification is about: declared by the module that sends it
/// ([`platform::module::Module::notification_kinds`]) and registered here when the app is built.
pub use platform::module::NotificationKind as Kind;

/// A notification for one user, written by the module that causes it.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// The recipient.
    pub user_id: Uuid,
    /// Whose action it tells of (None for the system): mail it causes counts against that
    /// person's hourly mail budget.
    pub actor: Option<Uuid>,
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
#[schema(as = notifications::Notification)]
pub struct Notification {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// What it is about (`task_assigned`, `chat_mention` …; the preferences list every kind).
    pub kind: String,
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
    /// The API form.
    pub fn into_notification(self) -> Notification {
        Notification {
            id: self.id,
            kind: self.kind,
            title: self.title,
            body: self.body,
            data: serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null),
            read_at: self.read_at,
            created_at: self.created_at,
        }
    }
}

/// How one kind is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = notifications::Channels)]
pub struct Channels {
    /// Always true: every notification lands in the inbox.
    pub in_app: bool,
    /// Whether it is also emailed (default true).
    pub email: bool,
}

/// Delivery per kind, keyed by the kind's name (every registered kind is listed).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = notifications::Preferences)]
#[serde(transparent)]
pub struct Preferences(pub std::collections::BTreeMap<String, Channels>);

impl Preferences {
    /// The document for `kinds`, from the names of those whose email is off.
    pub fn from_email_off(kinds: &[Kind], off: &[String]) -> Self {
        Self(
            kinds
                .iter()
                .map(|k| (k.name.to_string(), Channels { in_app: true, email: !off.iter().any(|o| o == k.name) }))
                .collect(),
        )
    }
}

/// The topic on which a user's notifications are pushed.
pub fn user_topic(user: Uuid) -> String {
    format!("user.{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Kind = Kind { name: "a_happened", description: "A happened" };
    const B: Kind = Kind { name: "b_happened", description: "B happened" };

    #[test]
    fn preferences_list_every_registered_kind_and_only_those() {
        let prefs = Preferences::from_email_off(&[A, B], &["b_happened".into(), "gone_kind".into()]);
        let v = serde_json::to_value(&prefs).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "a_happened": {"in_app": true, "email": true},
                "b_happened": {"in_app": true, "email": false},
            })
        );
    }
}
