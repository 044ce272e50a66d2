//! WebSocket fan-out load: `connections` clients (lean raw readers, see `raw_ws`) listening to
//! one chat room or one task board over one of the transports, and senders posting `rate`
//! messages (chat, with `chat.send` on the gateway) or tasks (work, over REST) per second, each
//! carrying its send time, so every receiver measures delivery latency. Counts every delivery
//! against what should have arrived (sent × connections). The same events over two transports
//! compare the transports: the native gateway against the seed's room socket for chat, socket.io
//! against the gateway for task boards.

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::raw_ws::{Frame, RawWs};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Who listens, and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receivers {
    /// Native gateway connections subscribed to the chat room.
    ChatGateway,
    /// The chat room's own seed-format socket.
    ChatRoomSocket,
    /// Native gateway connections subscribed to the task board (`work.project.{id}`).
    BoardGateway,
    /// socket.io connections that joined the task board.
    BoardSocketIo,
}

impl Receivers {
    /// How the report names them.
    pub fn label(self) -> &'static str {
        match self {
            Receivers::ChatGateway => "chat room, native gateway",
            Receivers::ChatRoomSocket => "chat room, room socket (original chat app's format)",
            Receivers::BoardGateway => "task board, native gateway",
            Receivers::BoardSocketIo => "task board, socket.io",
        }
    }

    fn chat(self) -> bool {
        matches!(self, Receivers::ChatGateway | Receivers::ChatRoomSocket)
    }
}

/// What the load runs against: the server, its two users, the room and the board.
pub struct Target<'a> {
    pub addr: SocketAddr,
    /// Listens (a member of the room and the board).
    pub receiver_token: &'a str,
    /// Posts.
    pub sender_token: &'a str,
    pub room: &'a str,
    pub project: &'a str,
}

/// What a fan-out run measured.
#[derive(Debug, Clone)]
pub struct FanoutResult {
    pub receivers: Receivers,
    pub connections: usize,
    pub rate: u64,
    pub seconds: f64,
    pub sent: u64,
    pub expected: u64,
    pub delivered: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl std::fmt::Display for FanoutResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} conns, {} msg/s: sent {}, delivered {}/{} ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.receivers.label(),
            self.connections,
            self.rate,
            self.sent,
            self.delivered,
            self.expected,
            self.delivered as f64 / self.seconds,
            self.p50_us as f64 / 1000.0,
            self.p99_us as f64 / 1000.0,
            self.max_us as f64 / 1000.0
        )
    }
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Opens one authenticated gateway connection.
pub async fn connect(addr: SocketAddr, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{addr}/api/v1/realtime").into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

/// Extracts the send time from a frame that carries `"<field>":"t:<micros>"` (a chat message's
/// content or a task's title). The field is found with a SIMD substring search: compared byte
/// window by byte window, a native gateway frame (content at byte ~230, behind its topic and the
/// message's ids) cost the load generator 1.3–1.4 s more CPU per 2 000 × 400/s run than it does
/// now, and on a shared 2-core machine that CPU came out of the server's share.
pub(crate) fn sent_at(frame: &[u8], field: &[u8]) -> Option<u64> {
    let start = memchr::memmem::find(frame, field)? + field.len();
    let digits = &frame[start..];
    let digits = &digits[..digits.iter().take_while(|b| b.is_ascii_digit()).count()];
    // No digits is no send time (a delay from 0 would be dropped by the histogram unseen).
    if digits.is_empty() {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// What a receiver found in a frame.
enum Read {
    Delivery(u64),
    /// An engine.io ping, to be answered.
    Ping,
    Nothing,
}

/// Opens `n` connections with `open_one`, 200 at a time.
async fn batched<F, Fut>(n: usize, open_one: F) -> anyhow::Result<Vec<RawWs>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<RawWs>> + Send + 'static,
{
    let mut sockets = Vec::with_capacity(n);
    while sockets.len() < n {
        let tasks: Vec<_> = (0..(n - sockets.len()).min(200))
            .map(|_| tokio::spawn(tokio::time::timeout(Duration::from_secs(30), open_one())))
            .collect();
        for t in tasks {
            sockets.push(t.await?.map_err(|_| anyhow::anyhow!("opening a receiver took over 30 s"))??);
        }
    }
    Ok(sockets)
}

/// Opens `n` raw gateway connections subscribed to `topic`, 200 at a time.
pub async fn open_receivers(addr: SocketAddr, token: &str, topic: &str, n: usize) -> anyhow::Result<Vec<RawWs>> {
    batched(n, || {
        let (token, topic) = (token.to_string(), topic.to_string());
        async move {
            let mut ws = RawWs::connect(addr, &token).await?;
            ws.subscribe(&topic).await?;
            Ok(ws)
        }
    })
    .await
}

/// Opens `n` receivers of the given kind.
async fn open(target: &Target<'_>, receivers: Receivers, n: usize) -> anyhow::Result<Vec<RawWs>> {
    let (addr, token) = (target.addr, target.receiver_token);
    match receivers {
        Receivers::ChatGateway => open_receivers(addr, token, &format!("chat.room.{}", target.room), n).await,
        Receivers::BoardGateway => open_receivers(addr, token, &format!("work.project.{}", target.project), n).await,
        Receivers::ChatRoomSocket => {
            let path = format!("/api/v1/chat/rooms/{}/ws", target.room);
            batched(n, || {
                let (path, token) = (path.clone(), token.to_string());
                async move { RawWs::open(addr, &path, Some(&token)).await }
            })
            .await
        }
        Receivers::BoardSocketIo => {
            batched(n, || {
                let (token, project) = (token.to_string(), target.project.to_string());
                async move { RawWs::socketio(addr, &token, &project).await }
            })
            .await
        }
    }
}

/// Posts one message or task per tick, each carrying `t:<the time it is sent>`; returns how
/// many were sent (chat: written to a sender's socket; tasks: created, 201).
async fn send(target: &Target<'_>, chat: bool, rate: u64, duration: Duration) -> anyhow::Result<u64> {
    let sender_count = ((rate / 10).max(1) as usize).min(64);
    let (mut senders, mut tasks) = (Vec::new(), Vec::new());
    let sent = Arc::new(AtomicU64::new(0));
    for _ in 0..sender_count {
        // Ticks queue here; each is stamped when its sender gets to it, so time spent waiting
        // in the load generator is not counted as delivery time.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1024);
        if chat {
            // Several gateway connections, so that no single one needs a high message rate.
            let (mut sink, mut stream) = connect(target.addr, target.sender_token).await?.split();
            tokio::spawn(async move { while stream.next().await.is_some() {} });
            let (room, sent) = (target.room.to_string(), sent.clone());
            tasks.push(tokio::spawn(async move {
                while rx.recv().await.is_some() {
                    let frame = format!(r#"{{"type":"chat.send","room_id":"{room}","content":"t:{}"}}"#, now_micros());
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                let _ = sink.close().await;
            }));
        } else {
            let (addr, token, sent) = (target.addr, target.sender_token.to_string(), sent.clone());
            let project = target.project.to_string();
            tasks.push(tokio::spawn(async move {
                while rx.recv().await.is_some() {
                    let body = format!(r#"{{"project_id":"{project}","title":"t:{}"}}"#, now_micros());
                    let post = crate::http_load::request(addr, "POST", "/api/v1/work/tasks", Some(&token), Some(&body));
                    if let Ok(Ok((201, _))) = tokio::time::timeout(Duration::from_secs(10), post).await {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        senders.push(tx);
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let stop = tokio::time::Instant::now() + duration;
    let mut queued = 0usize;
    while tokio::time::Instant::now() < stop {
        tick.tick().await;
        if senders[queued % senders.len()].send(()).await.is_ok() {
            queued += 1;
        }
    }
    drop(senders);
    // Everything queued has been sent (and, over REST, answered) once each sender has ended.
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .map_err(|_| anyhow::anyhow!("the senders did not finish within 60 s of the run"))??;
    }
    Ok(sent.load(Ordering::Relaxed))
}

/// Runs the fan-out scenario for `duration`.
pub async fn fanout(
    target: &Target<'_>,
    receivers: Receivers,
    connections: usize,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<FanoutResult> {
    let sockets = open(target, receivers, connections).await?;
    let field: &'static [u8] = if receivers.chat() { br#""content":"t:"# } else { br#""title":"t:"# };
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop_readers, stopped) = tokio::sync::watch::channel(false);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let delivered = delivered.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                loop {
                    tokio::select! {
                        read = socket.next(|frame| match frame {
                            Frame::Text(b"2") => Read::Ping,
                            Frame::Text(text) => sent_at(text, field).map_or(Read::Nothing, Read::Delivery),
                            Frame::Other => Read::Nothing,
                        }) => match read {
                            Ok(Read::Delivery(sent)) => {
                                let _ = hist.record(now_micros().saturating_sub(sent).max(1));
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Read::Ping) => {
                                if socket.send_text("3").await.is_err() {
                                    break;
                                }
                            }
                            Ok(Read::Nothing) => {}
                            Err(_) => break,
                        },
                        _ = stopped.changed() => break,
                    }
                }
                hist
            })
        })
        .collect();

    // A room socket subscribes after its upgrade is answered: let the last ones settle before
    // anything is sent, so that a late subscription is not counted as a lost delivery.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = send(target, receivers.chat(), rate, duration).await?;
    // Let the last messages arrive, then close the receivers.
    let expected = sent * connections as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_readers.send(true);
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for r in readers {
        total.add(&r.await?)?;
    }
    Ok(FanoutResult {
        receivers,
        connections,
        rate,
        seconds: duration.as_secs_f64(),
        sent,
        expected,
        delivered: delivered.load(Ordering::Relaxed),
        p50_us: total.value_at_quantile(0.5),
        p99_us: total.value_at_quantile(0.99),
        max_us: total.max(),
    })
}

#[cfg(test)]
mod tests {
    use super::sent_at;

    #[test]
    fn the_send_time_is_read_wherever_the_field_is() {
        let field = br#""content":"t:"#;
        assert_eq!(sent_at(br#"{"content":"t:1234|x","id":"a"}"#, field), Some(1234));
        let late = br#"{"type":"event","topic":"chat.room.1","data":{"id":"a","content":"t:98765"}}"#;
        assert_eq!(sent_at(late, field), Some(98765));
        assert_eq!(sent_at(br#"{"title":"t:5"}"#, field), None, "another field");
        assert_eq!(sent_at(br#"{"content":"t"#, field), None, "cut short before the field ends");
        assert_eq!(sent_at(br#"{"content":"t:"#, field), None, "the field at the very end");
        assert_eq!(sent_at(br#"{"content":"t:x1"}"#, field), None, "no digits after the field");
    }
}
