//! The Redis backplane: every event published on one instance is forwarded on one Redis
//! pub/sub channel and delivered by every other instance to its own connections.
//!
//! Forwarding goes through one queue and one publisher task, so events keep their order (what
//! queued while a batch was being published goes out as the next batch, in one pipeline). The
//! receiving side groups consecutive events of one topic that have already arrived when it
//! looks into one queue entry ([`Run`]), as they were published (usually a whole burst; what
//! the Redis client reads later forms the next entry). If
//! Redis is down, local delivery goes on and forwarded events are dropped (and counted); the
//! subscriber reconnects by itself when Redis returns.
//!
//! The same channel carries cache announcements ([`Coherence`]): while this instance is
//! subscribed its caches are on, and they are off from the moment the subscription is lost
//! until it is back. A subscription can also die silently (a half-open connection, a stalled
//! publisher), so each instance sends itself a heartbeat through Redis every second: one that
//! has not come back within [`HEARTBEAT_STALE`] turns the caches off, and the subscription is
//! made again. Announcements and heartbeats have a queue and publisher of their own, so they
//! never wait behind events, and Redis delivers in publish order: hearing one's own heartbeat
//! means every announcement published before it has arrived.
//!
//! Control messages (a session ended, a member lost access) are never dropped: they share the
//! queue with events (so they keep their order) but do not count against its bound, and the
//! publisher retries them (and announcements) until Redis takes them.
//! Pub/sub does not keep messages for a subscriber that is away, so an instance whose
//! subscription was lost asks every local connection to re-check its session and
//! subscriptions once it is back ([`Hub::audit_all`]).

use super::hub::{CACHE_TOPIC, CONTROL_TOPIC, ENTRY_FRAMES, Forward, Forwarded, HEARTBEAT_TOPIC, Hub, REVOKE_TOPIC};
use crate::cache::Coherence;
use axum::extract::ws::Utf8Bytes;
use futures::{FutureExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Events waiting to be forwarded before new ones are dropped.
const FORWARD_CAPACITY: usize = 16_384;

/// Cache announcements waiting for Redis before new ones are dropped (about 10 MB). They wait
/// only while Redis refuses them; a dropped one leaves the other instances' entries for that
/// key stale until their time-to-live ends, the backstop every cache has for a lost
/// announcement (see `cache`).
const ANNOUNCE_CAPACITY: usize = 100_000;

/// Messages published in one round trip to Redis: what queued while the last batch was sent,
/// so a burst costs a few round trips instead of one per message, and the queue stays short.
const PUBLISH_BATCH: usize = 256;

/// How often an instance sends itself a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A heartbeat older than this turns the caches off.
const HEARTBEAT_STALE: Duration = Duration::from_secs(3);

/// Wire format on the channel: `{instance}\n{topic}\n{frame}` (no re-encoding of the frame).
fn encode(instance: Uuid, topic: &str, frame: &str) -> String {
    format!("{instance}\n{topic}\n{frame}")
}

fn decode(payload: &str) -> Option<(&str, &str, &str)> {
    let (instance, rest) = payload.split_once('\n')?;
    let (topic, frame) = rest.split_once('\n')?;
    Some((instance, topic, frame))
}

/// Connects `hub` to the other instances through Redis at `client`, on channel `{prefix}:realtime`.
/// `caches` are on while the subscription is up, and announce their changes through it.
pub async fn attach(
    hub: &Hub,
    caches: &Coherence,
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    prefix: &str,
) {
    let channel = format!("{prefix}:realtime");
    let (tx, mut rx) = mpsc::unbounded_channel::<Forwarded>();
    let queued_events = Arc::new(AtomicUsize::new(0));
    let instance = hub.instance();
    let announce_conn = conn.clone();

    let publish_channel = channel.clone();
    let events = queued_events.clone();
    tokio::spawn(async move {
        let mut conn = conn;
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
            let plain = batch.iter().filter(|(_, _, control)| !control).count();
            events.fetch_sub(plain, Ordering::AcqRel);
            let payloads: Vec<String> = batch.iter().map(|(topic, frame, _)| encode(instance, topic, frame)).collect();
            if let Err(e) = publish_all(&mut conn, &publish_channel, &payloads).await {
                metrics::counter!("realtime_backplane_dropped_total").increment(plain as u64);
                tracing::warn!(error = %e, "realtime backplane publish failed; delivering locally only");
                // Events are dropped; control messages are sent again, in order, until taken.
                for (payload, (_, _, control)) in payloads.iter().zip(&batch) {
                    if *control {
                        publish_until_taken(&mut conn, &publish_channel, std::slice::from_ref(payload)).await;
                    }
                }
            }
            batch.clear();
        }
    });

    // Cache announcements and heartbeats have their own queue and publisher: they must not
    // wait behind a backlog of events (an invalidation may arrive before events published
    // earlier; that is always safe, as it follows its commit).
    let (announce, mut announcements) = mpsc::unbounded_channel::<(&'static str, String)>();
    let queued_announcements = Arc::new(AtomicUsize::new(0));
    let announce_channel = channel.clone();
    let mut announce_conn = announce_conn;
    let announced = queued_announcements.clone();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        while announcements.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
            // Heartbeats are not counted: only announcements are.
            let taken = batch.iter().filter(|(topic, _)| *topic == CACHE_TOPIC).count();
            announced.fetch_sub(taken, Ordering::AcqRel);
            let payloads: Vec<String> = batch.drain(..).map(|(topic, frame)| encode(instance, topic, &frame)).collect();
            publish_until_taken(&mut announce_conn, &announce_channel, &payloads).await;
        }
    });
    // Told by the heartbeat watchdog to drop a subscription that went silent.
    let silent = Arc::new(tokio::sync::Notify::new());

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    // Milliseconds since `started` when this instance last heard its own heartbeat.
    let started = std::time::Instant::now();
    let heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let since_start = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    let local = hub.clone();
    let coherence = caches.clone();
    let last_heard = heard.clone();
    let went_silent = silent.clone();
    // This instance as it appears in the wire format, compared with every message's origin.
    let me = instance.to_string();
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut backoff = Duration::from_millis(100);
        loop {
            match subscribe(&client, &channel).await {
                Ok(mut pubsub) => {
                    backoff = Duration::from_millis(100);
                    last_heard.store(since_start(), Ordering::Release);
                    coherence.connected();
                    match ready.take() {
                        Some(ready) => {
                            let _ = ready.send(());
                        }
                        // Back after a gap: control messages sent meanwhile never reached us.
                        None => local.audit_all(),
                    }
                    let mut messages = pubsub.on_message();
                    let mut run = Run::default();
                    loop {
                        // What has already arrived is taken without waiting, and the run of
                        // events gathered from it is delivered before waiting for more.
                        let msg = match messages.next().now_or_never() {
                            Some(msg) => msg,
                            None => {
                                run.deliver(&local);
                                tokio::select! {
                                    msg = messages.next() => msg,
                                    _ = went_silent.notified() => {
                                        tracing::warn!("realtime backplane subscription silent; resubscribing");
                                        None
                                    }
                                }
                            }
                        };
                        let Some(msg) = msg else { break };
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        // A control message, a revocation or a cache announcement first
                        // delivers the events before it, so that it keeps its place after them.
                        match decode(&payload) {
                            Some((origin, topic, _)) if topic == HEARTBEAT_TOPIC => {
                                if origin == me {
                                    last_heard.store(since_start(), Ordering::Release);
                                    if !coherence.is_live() {
                                        coherence.connected();
                                    }
                                }
                            }
                            Some((origin, _, _)) if origin == me => {}
                            Some((_, topic, frame)) if topic == CONTROL_TOPIC => {
                                run.deliver(&local);
                                match serde_json::from_str(frame) {
                                    Ok(ended) => local.end_local(ended),
                                    Err(_) => tracing::warn!("malformed session control message"),
                                }
                            }
                            Some((_, topic, frame)) if topic == CACHE_TOPIC => {
                                run.deliver(&local);
                                coherence.received(frame);
                            }
                            Some((_, topic, frame)) if topic == REVOKE_TOPIC => {
                                run.deliver(&local);
                                match serde_json::from_str(frame) {
                                    Ok(revoked) => local.revoke_local(&revoked),
                                    Err(_) => tracing::warn!("malformed revocation message"),
                                }
                            }
                            Some((_, topic, frame)) => run.add(&local, topic, frame),
                            None => tracing::warn!("malformed backplane message"),
                        }
                    }
                    run.deliver(&local);
                    coherence.disconnected();
                    tracing::warn!("realtime backplane subscription ended; reconnecting");
                }
                Err(e) => {
                    coherence.disconnected();
                    tracing::warn!(error = %e, "realtime backplane unavailable; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    // Wait (briefly) for the first subscription, so events published right after start-up
    // by other instances are not missed; a down Redis does not hold up the start.
    let _ = tokio::time::timeout(Duration::from_secs(2), ready_rx).await;
    hub.set_backplane(Forward { queue: tx, events: queued_events, capacity: FORWARD_CAPACITY });
    let announcer = announce.clone();
    caches.set_publisher(move |announcement| {
        if queued_announcements.fetch_add(1, Ordering::AcqRel) >= ANNOUNCE_CAPACITY {
            queued_announcements.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("cache_announcements_dropped_total").increment(1);
            return;
        }
        let _ = announcer.send((CACHE_TOPIC, announcement));
    });

    let coherence = caches.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            every.tick().await;
            if announce.send((HEARTBEAT_TOPIC, String::new())).is_err() {
                return;
            }
            let quiet = since_start().saturating_sub(heard.load(Ordering::Acquire));
            if coherence.is_live() && Duration::from_millis(quiet) > HEARTBEAT_STALE {
                tracing::warn!(silent_ms = quiet, "realtime backplane heartbeat late; caches off until it returns");
                coherence.disconnected();
                silent.notify_one();
            }
        }
    });
}

/// Consecutive events for one topic that arrived together (a pipelined burst, such as a batch
/// of chat messages published at once on another instance), delivered as one queue entry, as
/// they were on the instance that published them: each local connection is woken once and
/// writes them with one flush, instead of once per event.
#[derive(Default)]
struct Run {
    topic: String,
    frames: Vec<Utf8Bytes>,
}

impl Run {
    /// Adds an event, first delivering the run if it is for another topic or full.
    fn add(&mut self, hub: &Hub, topic: &str, frame: &str) {
        if self.topic != topic || self.frames.len() >= ENTRY_FRAMES {
            self.deliver(hub);
            topic.clone_into(&mut self.topic);
        }
        self.frames.push(Utf8Bytes::from(frame));
    }

    /// Hands the run to the topic's local connections, if there is one.
    fn deliver(&mut self, hub: &Hub) {
        if !self.frames.is_empty() {
            hub.deliver_local(&self.topic, self.frames.drain(..).collect());
        }
    }
}

/// Publishes `payloads` in order, in one round trip.
async fn publish_all(
    conn: &mut redis::aio::ConnectionManager,
    channel: &str,
    payloads: &[String],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for payload in payloads {
        pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
    }
    pipe.query_async(conn).await
}

/// Publishes, retrying (100 ms doubling to 2 s) until Redis takes them: for messages that must
/// not be lost (control messages, cache announcements, heartbeats). A retry may repeat some
/// that were taken before the failure; all of these can be received twice.
async fn publish_until_taken(conn: &mut redis::aio::ConnectionManager, channel: &str, payloads: &[String]) {
    let mut backoff = Duration::from_millis(100);
    while let Err(e) = publish_all(conn, channel, payloads).await {
        tracing::warn!(error = %e, "realtime backplane publish failed; retrying messages that must arrive");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips_frames_with_newlines() {
        let id = Uuid::now_v7();
        let payload = encode(id, "chat.room.1", "{\"a\":\"x\\ny\"}\nmore");
        let (origin, topic, frame) = decode(&payload).unwrap();
        assert_eq!(origin, id.to_string());
        assert_eq!(topic, "chat.room.1");
        assert_eq!(frame, "{\"a\":\"x\\ny\"}\nmore");
    }
}
