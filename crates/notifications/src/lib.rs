//! Notifications: every user's in-app inbox (newest first, unread counts, mark read), pushed live
//! on the `user.{id}` topic, and emailed through the outbox when the user wants that kind by
//! email (on by default; in-app is always on).
//!
//! Other modules call [`Notifications::record`] inside the transaction of the change that causes
//! the notification, and [`Notifications::announce`] after it commits: the inbox row and the
//! email exist if and only if the change does, and nothing is pushed for a change rolled back.

pub mod error;
pub mod events;
pub mod model;
mod module;
pub mod routes;
pub mod service;
mod store;

pub use error::NotificationsError;
pub use model::{Kind, NewNotification, Notification, user_topic};
pub use module::NotificationsModule;
pub use routes::router;
pub use service::{Notifications, Recorded};

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] =
    platform::migrations!("notifications", 1 => "0001_notifications.sql");
