//! Chat over WebSockets: the gateway commands `chat.send` and `chat.typing`, and the
//! seed-compatible per-room socket's frame translation.

use crate::model::Message;
use crate::service::Chat;
use axum::extract::ws::Utf8Bytes;
use platform::ApiError;
use platform::auth::AuthUser;
use platform::realtime::{CommandHandler, TopicSocket};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
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

/// Events translated to the seed's frame, shared by every room socket: an event delivered to a
/// thousand sockets is parsed and re-serialised once, not a thousand times.
#[derive(Clone, Default)]
pub struct SeedFrames(Arc<Mutex<Memo>>);

/// Hub frames and their seed frames, oldest first.
type Memo = VecDeque<(Utf8Bytes, Option<Utf8Bytes>)>;

/// Translations remembered: events in flight to the room sockets at once, with room to spare.
/// A batch of messages is delivered as one entry of up to [`platform::realtime::ENTRY_FRAMES`]
/// frames, and typing, presence or another room's batch may come between, so several entries'
/// worth: were a frame evicted while sockets still deliver it, each would translate it again.
const REMEMBERED: usize = 4 * platform::realtime::ENTRY_FRAMES;

impl SeedFrames {
    /// The seed frame of a hub event frame (None: not a message event).
    fn translate(&self, frame: &Utf8Bytes) -> Option<Utf8Bytes> {
        // The memo holds each frame it knows, so its buffer is not freed and reused while it
        // is here: the same address and length is the same frame.
        let same = |known: &Utf8Bytes| known.as_str().as_ptr() == frame.as_str().as_ptr() && known.len() == frame.len();
        // Newest first: the frame being delivered is almost always among the last entry's.
        if let Some((_, seed)) = self.lock().iter().rev().find(|(known, _)| same(known)) {
            return seed.clone();
        }
        let seed = seed_frame(frame);
        let mut memo = self.lock();
        if memo.len() >= REMEMBERED {
            memo.pop_front();
        }
        memo.push_back((frame.clone(), seed.clone()));
        seed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
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
        outbound: Arc::new(move |frame: &Utf8Bytes| seeds.translate(frame)),
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

    #[test]
    fn each_frame_is_translated_to_its_own_seed_frame() {
        let seeds = SeedFrames::default();
        let (a, b) = (message_event("first"), message_event("second"));
        let seed_a = seeds.translate(&a).unwrap();
        assert!(seed_a.as_str().contains("\"first\""), "{seed_a}");
        assert_eq!(seeds.translate(&a.clone()).unwrap().as_str().as_ptr(), seed_a.as_str().as_ptr(), "translated once");
        // The same text in another buffer is a different event delivery, translated alike.
        let copy = Utf8Bytes::from(a.as_str().to_string());
        assert_eq!(seeds.translate(&copy).unwrap().as_str(), seed_a.as_str());
        assert!(seeds.translate(&b).unwrap().as_str().contains("\"second\""));
        for i in 0..2 * REMEMBERED {
            seeds.translate(&message_event(&format!("m{i}")));
        }
        assert!(seeds.translate(&a).unwrap().as_str().contains("\"first\""), "still right once forgotten");
        assert!(
            seeds.translate(&Utf8Bytes::from_static(r#"{"type":"event","event":"chat.typing","data":{}}"#)).is_none()
        );
    }
}
