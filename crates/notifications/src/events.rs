//! What notifications publish on `user.{id}` and what they email.

use crate::model::Notification;
use platform::mail::{Mail, html_escape};

/// A notification was created (payload: the notification).
pub const CREATED: &str = "notification.created";
/// Notifications were marked read on some device (payload: `{ids}` or `{all: true}`), so other
/// devices can update their badges.
pub const READ: &str = "notification.read";

/// The email for `notification`, to `to`.
pub fn mail(to: &str, notification: &Notification) -> Mail {
    let footer = "Further notifications of this kind in the next ten minutes wait in your inbox. \
                  You receive this because email is on for this kind of notification; \
                  you can turn it off in your notification preferences.";
    Mail {
        to: to.to_string(),
        subject: notification.title.clone(),
        text: format!("{}\n\n{}\n\n{footer}\n", notification.title, notification.body),
        html: format!(
            "<p><strong>{}</strong></p><p>{}</p><p style=\"color:#777\">{footer}</p>",
            html_escape(&notification.title),
            html_escape(&notification.body)
        ),
        attachments: Vec::new(),
    }
}
