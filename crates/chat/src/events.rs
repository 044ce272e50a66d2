//! What chat publishes on `chat.room.{id}`, and the owner of those topics: only members may
//! subscribe, and members coming and going are announced as presence.

use crate::model::room_topic;
use crate::store;
use platform::ApiError;
use platform::auth::AuthUser;
use platform::db::Db;
use platform::realtime::{Hub, TopicAuthorizer};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// The notification kind chat sends: someone mentioned the user in a room.
pub const CHAT_MENTION: notifications::Kind =
    notifications::Kind { name: "chat_mention", description: "I was mentioned in chat" };

/// Domain event: a room was created (payload `{room_id, name, visibility, owner_id}`; direct
/// rooms have no owner). Messages go out as [`MESSAGE_CREATED`] with the message.
pub const ROOM_CREATED: &str = "chat.room.created";

/// Writes [`ROOM_CREATED`] for `room` inside the transaction that creates it.
pub async fn room_created(
    outbox: &platform::outbox::Outbox,
    tx: &mut platform::db::Tx,
    room: &crate::store::NewRoom<'_>,
) -> Result<(), platform::db::DbError> {
    let data = serde_json::json!({
        "room_id": room.id, "name": room.name, "visibility": room.visibility, "owner_id": room.owner_id,
    });
    outbox.event(tx, ROOM_CREATED, &data).await?;
    Ok(())
}

/// A message was stored (payload: the message; also the domain event of that name).
pub const MESSAGE_CREATED: &str = "chat.message.created";
/// A message was edited (payload: the message; also the domain event of that name).
pub const MESSAGE_UPDATED: &str = "chat.message.updated";
/// A message was deleted (payload: `{id, room_id}`; also the domain event of that name).
pub const MESSAGE_DELETED: &str = "chat.message.deleted";
/// Someone joined or was added (payload: the member).
pub const MEMBER_JOINED: &str = "chat.member.joined";
/// Someone left or was removed (payload: `{room_id, user_id}`).
pub const MEMBER_LEFT: &str = "chat.member.left";
/// Someone is typing (payload: `{room_id, user_id, name}`; not stored).
pub const TYPING: &str = "chat.typing";
/// A member's first connection to the room opened, or their last one closed
/// (payload: `{room_id, user_id, status: "online"|"offline"}`; not stored).
pub const PRESENCE: &str = "chat.presence";
/// The room was renamed or re-described (payload: the room).
pub const ROOM_UPDATED: &str = "chat.room.updated";
/// The room was deleted (payload: `{room_id}`; also the domain event of that name).
pub const ROOM_DELETED: &str = "chat.room.deleted";

/// Publishes `event` on the room's topic.
pub fn publish<T: Serialize>(hub: &Hub, room: Uuid, event: &str, data: &T) {
    hub.publish(&room_topic(room), event, data);
}

/// Publishes one `event` per item of `data` on the room's topic, as one delivery.
pub fn publish_each<T: Serialize>(hub: &Hub, room: Uuid, event: &str, data: &[T]) {
    hub.publish_each(&room_topic(room), event, data);
}

/// Messages grouped by room: rooms in the order they first appear, each room's messages in
/// the order given (events keep their order within a topic; a topic is a room).
pub fn by_room<'a>(messages: &[&'a crate::model::Message]) -> Vec<(Uuid, Vec<&'a crate::model::Message>)> {
    let mut rooms: Vec<(Uuid, Vec<&crate::model::Message>)> = Vec::new();
    for &message in messages {
        match rooms.iter_mut().find(|(room, _)| *room == message.room_id) {
            Some((_, list)) => list.push(message),
            None => rooms.push((message.room_id, vec![message])),
        }
    }
    rooms
}

fn room_of(topic: &str) -> Option<Uuid> {
    topic.strip_prefix("chat.room.").and_then(|id| Uuid::parse_str(id).ok())
}

/// Owner of the `chat.room.` topics: authorises subscriptions and tracks presence (connections
/// per member and room on this instance; presence events reach every instance).
pub struct Presence {
    db: Db,
    hub: Hub,
    online: Mutex<HashMap<(Uuid, Uuid), usize>>,
}

impl Presence {
    /// A tracker publishing on `hub`.
    pub fn new(db: Db, hub: Hub) -> Self {
        Self { db, hub, online: Mutex::default() }
    }

    fn announce(&self, room: Uuid, user: Uuid, status: &str) {
        publish(&self.hub, room, PRESENCE, &serde_json::json!({"room_id": room, "user_id": user, "status": status}));
    }
}

#[async_trait::async_trait]
impl TopicAuthorizer for Presence {
    async fn authorize(&self, user: &AuthUser, topic: &str) -> Result<bool, ApiError> {
        let Some(room) = room_of(topic) else { return Ok(false) };
        Ok(store::member_role(&self.db, room, user.user_id).await?.is_some())
    }

    fn joined(&self, user: Uuid, topic: &str) {
        let Some(room) = room_of(topic) else { return };
        let first = {
            let mut online = self.online.lock().unwrap_or_else(|p| p.into_inner());
            let n = online.entry((room, user)).or_default();
            *n += 1;
            *n == 1
        };
        if first {
            self.announce(room, user, "online");
        }
    }

    fn left(&self, user: Uuid, topic: &str) {
        let Some(room) = room_of(topic) else { return };
        let last = {
            let mut online = self.online.lock().unwrap_or_else(|p| p.into_inner());
            match online.get_mut(&(room, user)) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    online.remove(&(room, user));
                    true
                }
                None => false,
            }
        };
        if last {
            self.announce(room, user, "offline");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn message(room: Uuid, content: &str) -> Message {
        Message::sample(room, content)
    }

    #[test]
    fn a_batch_is_grouped_by_room_keeping_each_rooms_order() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let batch = [message(a, "a1"), message(b, "b1"), message(a, "a2"), message(b, "b2"), message(a, "a3")];
        let refs: Vec<&Message> = batch.iter().collect();
        let grouped: Vec<(Uuid, Vec<&str>)> = by_room(&refs)
            .into_iter()
            .map(|(room, list)| (room, list.iter().map(|m| m.content.as_str()).collect()))
            .collect();
        assert_eq!(grouped, [(a, vec!["a1", "a2", "a3"]), (b, vec!["b1", "b2"])]);
    }
}
