//! Chat: public and private rooms, direct messages, members and roles, message history with
//! keyset pagination, edits and deletions, @mentions, read markers and unread counts, typing
//! and presence, delivered live over the native gateway (`chat.room.{id}` topics and the
//! `chat.send` / `chat.typing` commands) and the seed-compatible per-room socket.
//!
//! Permissions: anyone signed in may create rooms and join public ones; only members read,
//! write or subscribe; the owner and admins edit the room, invite and remove members and delete
//! any message; only the owner deletes the room and appoints admins; authors edit their own
//! messages. Platform admins moderate every room as its owner.

pub mod error;
pub mod events;
pub mod model;
mod module;
pub mod realtime;
pub mod routes;
pub mod service;
mod store;

pub use error::ChatError;
pub use module::{ChatModule, ChatSettings};
pub use routes::router;
pub use service::Chat;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] =
    platform::migrations!("chat", 1 => "0001_chat.sql", 2 => "0002_keep_departed_senders.sql");
