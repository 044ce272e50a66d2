//! Chat over WebSockets: the gateway commands `chat.send` and `chat.typing`, and the
//! seed-compatible per-room socket's frame translation.

use crate::model::Message;
use crate::service::Chat;
use axum::extract::ws::Utf8Bytes;
use platform::ApiError;
use platform::auth::AuthUser;
use platform::realtime::{CommandHandler, TopicSocket};
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

/// The per-room socket of the seed: the client sends `{"type":"message","content"}` and
/// receives `{"type":"message", id, room_id, sender_id, sender_name, content, created_at}`.
pub fn room_socket(room: Uuid) -> TopicSocket {
    TopicSocket {
        topic: crate::model::room_topic(room),
        inbound: Arc::new(move |frame: &Value| {
            (frame.get("type").and_then(Value::as_str) == Some("message")).then(|| {
                json!({"type": "chat.send", "room_id": room, "content": frame.get("content").cloned().unwrap_or(Value::Null)})
            })
        }),
        outbound: Arc::new(|frame: &str| {
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
        }),
    }
}
