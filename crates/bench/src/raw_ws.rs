//! A minimal WebSocket client for the receiving side of the fan-out benchmark: it performs the
//! upgrade by hand and reads frames straight from the socket buffer without allocating per
//! frame, so the load generator spends as little CPU as possible per delivery (it shares the
//! machine with the server). Only what the benchmark needs: unmasked server frames, masked
//! client text and pong frames, no extensions.

use anyhow::Context;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An upgraded connection with its read buffer.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

/// A frame as read: opcode and payload range inside the buffer.
pub enum Frame<'a> {
    /// A text frame.
    Text(&'a [u8]),
    /// Any other frame (pong, binary, close; pings are answered before they get here).
    Other,
}

fn masked_text(payload: &[u8]) -> Vec<u8> {
    masked(0x81, payload)
}

/// A final client frame of the given first byte (FIN and opcode), masked as clients must.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc7, 0x2e];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

impl RawWs {
    /// Connects to the gateway with a bearer token.
    pub async fn connect(addr: SocketAddr, token: &str) -> anyhow::Result<Self> {
        Self::open(addr, "/api/v1/realtime", Some(token)).await
    }

    /// Upgrades `path` (with a bearer token if given).
    pub async fn open(addr: SocketAddr, path: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut ws = Self { stream, buf: Vec::with_capacity(16 * 1024), start: 0 };
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            ws.fill().await?;
        };
        anyhow::ensure!(
            ws.buf.starts_with(b"HTTP/1.1 101"),
            "upgrade refused: {}",
            String::from_utf8_lossy(&ws.buf[..end])
        );
        ws.start = end;
        Ok(ws)
    }

    /// Opens a socket.io (engine.io 4 over WebSocket) connection to the task boards, connects
    /// with `auth: {token}` and joins `project`'s board.
    pub async fn socketio(addr: SocketAddr, token: &str, project: &str) -> anyhow::Result<Self> {
        let mut ws = Self::open(addr, "/socket.io/?EIO=4&transport=websocket", None).await?;
        let open = ws.next_text().await?;
        anyhow::ensure!(open.starts_with('0'), "no engine.io open packet: {open}");
        ws.send_text(&format!(r#"40{{"token":"{token}"}}"#)).await?;
        let connected = ws.next_text().await?;
        anyhow::ensure!(connected.starts_with("40"), "socket.io connect refused: {connected}");
        ws.send_text(&format!(r#"420["join:project",{{"projectId":"{project}"}}]"#)).await?;
        loop {
            let answer = ws.next_text().await?;
            anyhow::ensure!(!answer.starts_with("41") && !answer.starts_with("44"), "disconnected: {answer}");
            if answer.starts_with("430") {
                anyhow::ensure!(answer.contains(r#""ok":true"#), "join refused: {answer}");
                return Ok(ws);
            }
        }
    }

    /// The next text frame, as a string (an engine.io ping, `2`, is answered and skipped).
    async fn next_text(&mut self) -> anyhow::Result<String> {
        loop {
            let text = self
                .next(|frame| match frame {
                    Frame::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    Frame::Other => None,
                })
                .await?;
            match text.as_deref() {
                Some("2") => self.send_text("3").await?,
                Some(_) => return Ok(text.unwrap_or_default()),
                None => {}
            }
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 8 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(16 * 1024);
        let n = self.stream.read_buf(&mut self.buf).await?;
        anyhow::ensure!(n > 0, "connection closed");
        Ok(())
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.stream.write_all(&masked_text(text.as_bytes())).await?;
        Ok(())
    }

    /// Reads the next frame; `f` sees it while it is still in the buffer. A ping is answered
    /// with its pong here (the server closes a connection that leaves its pings unanswered).
    pub async fn next<T>(&mut self, f: impl Fn(Frame<'_>) -> T) -> anyhow::Result<T> {
        loop {
            if let Some((opcode, from, to)) = self.header() {
                self.start = to;
                if opcode == 9 {
                    let pong = masked(0x8a, &self.buf[from..to]);
                    self.stream.write_all(&pong).await?;
                    continue;
                }
                let frame = if opcode == 1 { Frame::Text(&self.buf[from..to]) } else { Frame::Other };
                return Ok(f(frame));
            }
            self.fill().await?;
        }
    }

    /// The opcode and payload range of a complete frame at the read position, if there is one.
    fn header(&self) -> Option<(u8, usize, usize)> {
        let b = &self.buf[self.start..];
        if b.len() < 2 {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let (len, offset) = match b[1] & 0x7f {
            126 => (u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize, 4),
            127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize, 10),
            n => (n as usize, 2),
        };
        let from = self.start + offset;
        (self.buf.len() >= from + len).then_some((opcode, from, from + len))
    }

    /// Subscribes and waits for the acknowledgement.
    pub async fn subscribe(&mut self, topic: &str) -> anyhow::Result<()> {
        self.send_text(&format!(r#"{{"type":"subscribe","topic":"{topic}","ref":"s"}}"#)).await?;
        let ack = self
            .next(|frame| match frame {
                Frame::Text(t) => String::from_utf8_lossy(t).contains(r#""type":"ack""#),
                Frame::Other => false,
            })
            .await?;
        ack.then_some(()).context("subscription refused")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_masked_with_the_right_length() {
        let f = masked_text(b"hi");
        assert_eq!(f[0], 0x81);
        assert_eq!(f[1], 0x80 | 2);
        assert_eq!([f[6] ^ f[2], f[7] ^ f[3]], [b'h', b'i']);
        assert_eq!(masked_text(&[b'x'; 300])[1], 0x80 | 126);
    }
}
