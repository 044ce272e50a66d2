//! WebSocket fan-out load: `connections` clients (lean raw readers, see `raw_ws`) subscribed to
//! one chat room through the native gateway, senders posting `rate` messages per second with `chat.send`, each message carrying
//! its send time, so every receiver measures delivery latency. Counts every delivery against
//! what should have arrived (sent × connections).

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

/// What a fan-out run measured.
#[derive(Debug, Clone)]
pub struct FanoutResult {
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
            "{} conns, {} msg/s: sent {}, delivered {}/{} ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
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

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Opens one authenticated gateway connection.
pub async fn connect(addr: SocketAddr, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{addr}/api/v1/realtime").into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

/// Extracts the send time from a `chat.message.created` frame whose content is `t:<micros>`.
fn sent_at(frame: &[u8]) -> Option<u64> {
    const PREFIX: &[u8] = br#""content":"t:"#;
    let start = frame.windows(PREFIX.len()).position(|w| w == PREFIX)? + PREFIX.len();
    let digits = frame[start..].iter().take_while(|b| b.is_ascii_digit());
    Some(digits.fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Opens `n` raw receiving connections subscribed to `topic`, 200 at a time.
pub async fn open_receivers(addr: SocketAddr, token: &str, topic: &str, n: usize) -> anyhow::Result<Vec<RawWs>> {
    let mut sockets = Vec::with_capacity(n);
    while sockets.len() < n {
        let batch = (n - sockets.len()).min(200);
        let tasks: Vec<_> = (0..batch)
            .map(|_| {
                let (token, topic) = (token.to_string(), topic.to_string());
                tokio::spawn(async move {
                    let mut ws = RawWs::connect(addr, &token).await?;
                    ws.subscribe(&topic).await?;
                    Ok::<_, anyhow::Error>(ws)
                })
            })
            .collect();
        for t in tasks {
            sockets.push(t.await??);
        }
    }
    Ok(sockets)
}

/// Runs the fan-out scenario for `duration`.
pub async fn fanout(
    addr: SocketAddr,
    receiver_token: &str,
    sender_token: &str,
    room: &str,
    connections: usize,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<FanoutResult> {
    let topic = format!("chat.room.{room}");
    let receivers = open_receivers(addr, receiver_token, &topic, connections).await?;
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop_readers, stopped) = tokio::sync::watch::channel(false);
    let readers: Vec<_> = receivers
        .into_iter()
        .map(|mut socket| {
            let delivered = delivered.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                loop {
                    tokio::select! {
                        frame = socket.next(|frame| match frame {
                            Frame::Text(text) => sent_at(text),
                            Frame::Other => None,
                        }) => match frame {
                            Ok(Some(sent)) => {
                                let _ = hist.record(now_micros().saturating_sub(sent).max(1));
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(None) => {}
                            Err(_) => break,
                        },
                        _ = stopped.changed() => break,
                    }
                }
                hist
            })
        })
        .collect();

    // Senders: several connections so no single one needs a high message rate.
    let sender_count = ((rate / 10).max(1) as usize).min(64);
    let mut senders = Vec::new();
    for _ in 0..sender_count {
        let socket = connect(addr, sender_token).await?;
        let (mut sink, mut stream) = socket.split();
        tokio::spawn(async move { while stream.next().await.is_some() {} });
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1024);
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        senders.push(tx);
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let stop = tokio::time::Instant::now() + duration;
    let mut sent = 0u64;
    while tokio::time::Instant::now() < stop {
        tick.tick().await;
        let frame = format!(r#"{{"type":"chat.send","room_id":"{room}","content":"t:{}"}}"#, now_micros());
        if senders[(sent as usize) % senders.len()].send(frame).await.is_ok() {
            sent += 1;
        }
    }
    drop(senders);
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
