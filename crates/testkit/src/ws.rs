//! A real WebSocket client (tokio-tungstenite) for the gateway and the chat sockets.

use crate::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long helpers wait for a frame.
pub const WAIT: Duration = Duration::from_secs(5);

/// An open WebSocket.
pub struct Ws {
    /// The stream, for tests that need raw access.
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What ended a connection, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The stream ended without a close frame.
    Dropped,
}

impl TestApp {
    /// Opens a WebSocket to `path` (with query), optionally with `Authorization: Bearer`.
    pub async fn ws(&self, path: &str, bearer: Option<&str>) -> Result<Ws, tungstenite::Error> {
        let mut request = format!("ws://{}{}", self.addr, path).into_client_request()?;
        if let Some(token) = bearer {
            let value = format!("Bearer {token}").parse().map_err(|_| tungstenite::Error::Utf8(String::new()))?;
            request.headers_mut().insert("authorization", value);
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws { stream })
    }
}

impl Ws {
    /// Sends a JSON text frame.
    pub async fn send(&mut self, frame: Value) {
        self.stream.send(Message::Text(frame.to_string().into())).await.expect("ws send");
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::Text(text.to_string().into())).await.expect("ws send");
    }

    /// The next JSON text frame within `wait`, or None (timeout, close, end).
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            match msg {
                Message::Text(text) => return serde_json::from_str(&text).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next JSON text frame; panics after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.next_within(WAIT).await.expect("no frame arrived")
    }

    /// The next frame whose `type` is `kind` (others are skipped); panics after [`WAIT`].
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next_within(left).await.unwrap_or_else(|| panic!("no {kind} frame arrived"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends `frame` with `ref` = `reference` and returns the `ack` or `error` that answers it.
    pub async fn request(&mut self, mut frame: Value, reference: &str) -> Value {
        frame["ref"] = Value::String(reference.to_string());
        self.send(frame).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let answer = self.next_within(left).await.unwrap_or_else(|| panic!("no answer to {reference}"));
            if answer["ref"] == reference {
                return answer;
            }
        }
    }

    /// Waits up to `wait` for the connection to end, skipping frames.
    pub async fn ended_within(&mut self, wait: Duration) -> Option<Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Ended::Dropped),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(frame.map_or(Ended::Dropped, |f| Ended::Closed(u16::from(f.code))));
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}
