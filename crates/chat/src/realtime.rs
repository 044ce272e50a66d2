//! Chat over WebSockets: the gateway commands `chat.send` and `chat.typing`, and the
//! seed-compatible per-room socket's frame translation.

use crate::model::Message;
use crate::service::Chat;
use axum::extract::ws::Utf8Bytes;
use platform::ApiError;
use platform::auth::AuthUser;
use platform::realtime::{CommandHandler, EntryMemo, Frames, TopicSocket};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

fn room_id(frame: &Value) -> Result<Uuid, ApiError> {
    frame
        .get("room_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ApiError::invalid_field("room_id", "must be a room id"))
}

/// `{"type":"chat.send","room_id","content","client_id"?}`: acked with the stored message.
pub struct SendCommand(pub Chat);

#[async_trait::async_trait]
impl CommandHandler for SendCommand {
    async fn handle(&self, user: &AuthUser, frame: &Value) -> Result<Value, ApiError> {
        let room = room_id(frame)?;
        let content = frame
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_field("content", "is required"))?;
        let client_id = frame.get("client_id").and_then(Value::as_str);
        let message = self.0.send(user, room, content, client_id).await?;
        serde_json::to_value(message).map_err(ApiError::internal)
    }
}

/// `{"type":"chat.typing","room_id"}`: announces typing (throttled).
pub struct TypingCommand(pub Chat);

#[async_trait::async_trait]
impl CommandHandler for TypingCommand {
    async fn handle(&self, user: &AuthUser, frame: &Value) -> Result<Value, ApiError> {
        self.0.typing(user, room_id(frame)?).await?;
        Ok(Value::Null)
    }
}

/// Queue entries translated to the seed's frames, shared by every room socket (see
/// [`EntryMemo`]).
#[derive(Clone, Default)]
pub struct SeedFrames(EntryMemo<Frames>);

impl SeedFrames {
    /// The seed frames of a hub entry: its message events, translated, in order.
    fn translate(&self, entry: &Frames) -> Frames {
        self.0.get(entry, |entry| entry.iter().filter_map(|frame| seed_frame(frame)).collect())
    }
}

fn seed_frame(frame: &str) -> Option<Utf8Bytes> {
    let event: Value = serde_json::from_str(frame).ok()?;
    if event.get("event").and_then(Value::as_str) != Some(crate::events::MESSAGE_CREATED) {
        return None;
    }
    let m: Message = serde_json::from_value(event.get("data")?.clone()).ok()?;
    let seed = json!({
        "type": "message",
        "id": m.id,
        "room_id": m.room_id,
        "sender_id": m.sender_id,
        "sender_name": m.sender_name,
        "content": m.content,
        "created_at": m.created_at,
    });
    Some(Utf8Bytes::from(seed.to_string()))
}

/// The per-room socket of the seed: the client sends `{"type":"message","content"}` and
/// receives `{"type":"message", id, room_id, sender_id, sender_name, content, created_at}`.
pub fn room_socket(room: Uuid, seeds: SeedFrames) -> TopicSocket {
    TopicSocket {
        topic: crate::model::room_topic(room),
        inbound: Arc::new(move |frame: &Value| {
            (frame.get("type").and_then(Value::as_str) == Some("message")).then(|| {
                json!({"type": "chat.send", "room_id": room, "content": frame.get("content").cloned().unwrap_or(Value::Null)})
            })
        }),
        outbound: Arc::new(move |entry: &Frames| seeds.translate(entry)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_event(content: &str) -> Utf8Bytes {
        let m = json!({"id": Uuid::now_v7(), "room_id": Uuid::now_v7(), "sender_id": Uuid::now_v7(), "sender_name": "Ann",
            "content": content, "created_at": "2026-01-01T00:00:00.000000Z", "edited_at": null, "client_id": null});
        Utf8Bytes::from(json!({"type": "event", "event": crate::events::MESSAGE_CREATED, "data": m}).to_string())
    }

    fn entry(frames: &[&Utf8Bytes]) -> Frames {
        frames.iter().map(|f| (*f).clone()).collect()
    }

    #[test]
    fn each_entry_is_translated_once_to_its_own_seed_frames() {
        let seeds = SeedFrames::default();
        let typing = Utf8Bytes::from_static(r#"{"type":"event","event":"chat.typing","data":{}}"#);
        let (a, b) = (message_event("first"), message_event("second"));
        let ab = entry(&[&a, &typing, &b]);
        let seed_ab = seeds.translate(&ab);
        assert_eq!(seed_ab.len(), 2, "only message events, in order");
        assert!(seed_ab[0].as_str().contains("\"first\"") && seed_ab[1].as_str().contains("\"second\""), "{seed_ab:?}");
        assert!(Arc::ptr_eq(&seeds.translate(&ab.clone()), &seed_ab), "translated once");
        // The same frames in another entry are another delivery, translated alike.
        let again = entry(&[&a, &typing, &b]);
        let seed_again = seeds.translate(&again);
        assert!(!Arc::ptr_eq(&seed_again, &seed_ab));
        assert_eq!(seed_again[1].as_str(), seed_ab[1].as_str());
        // Past what the memo holds, an entry is translated again, alike.
        for i in 0..8 * platform::realtime::ENTRY_FRAMES {
            seeds.translate(&entry(&[&message_event(&format!("m{i}"))]));
        }
        let forgotten = seeds.translate(&ab);
        assert!(!Arc::ptr_eq(&forgotten, &seed_ab), "forgotten");
        assert!(forgotten[0].as_str().contains("\"first\""), "still right once forgotten");
        assert!(seeds.translate(&entry(&[&typing])).is_empty());
    }
}
