//! The Redis backplane: every event published on one instance is forwarded on one Redis
//! pub/sub channel and delivered by every other instance to its own connections.
//!
//! Forwarding goes through one queue and one publisher task, so events keep their order. If
//! Redis is down, local delivery goes on and forwarded events are dropped (and counted); the
//! subscriber reconnects by itself when Redis returns.
//!
//! Control messages (a session ended, a member lost access) are never dropped: they share the
//! queue with events (so they keep their order) but do not count against its bound, and the
//! publisher retries them until Redis takes them.
//! Pub/sub does not keep messages for a subscriber that is away, so an instance whose
//! subscription was lost asks every local connection to re-check its session and
//! subscriptions once it is back ([`Hub::audit_all`]).

use super::hub::{Forward, Forwarded, Hub};
use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Events waiting to be forwarded before new ones are dropped.
const FORWARD_CAPACITY: usize = 16_384;

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
pub async fn attach(hub: &Hub, client: redis::Client, conn: redis::aio::ConnectionManager, prefix: &str) {
    let channel = format!("{prefix}:realtime");
    let (tx, mut rx) = mpsc::unbounded_channel::<Forwarded>();
    let queued_events = Arc::new(AtomicUsize::new(0));
    let instance = hub.instance();

    let publish_channel = channel.clone();
    let events = queued_events.clone();
    tokio::spawn(async move {
        let mut conn = conn;
        while let Some((topic, frame, control)) = rx.recv().await {
            if !control {
                events.fetch_sub(1, Ordering::AcqRel);
            }
            let payload = encode(instance, &topic, &frame);
            let mut backoff = Duration::from_millis(100);
            loop {
                let sent: Result<(), redis::RedisError> =
                    redis::cmd("PUBLISH").arg(&publish_channel).arg(&payload).query_async(&mut conn).await;
                match sent {
                    Ok(()) => break,
                    Err(e) if control => {
                        tracing::warn!(error = %e, "realtime backplane publish failed; retrying a control message");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        metrics::counter!("realtime_backplane_dropped_total").increment(1);
                        tracing::warn!(error = %e, "realtime backplane publish failed; delivering locally only");
                        break;
                    }
                }
            }
        }
    });

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let local = hub.clone();
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut backoff = Duration::from_millis(100);
        loop {
            match subscribe(&client, &channel).await {
                Ok(mut pubsub) => {
                    backoff = Duration::from_millis(100);
                    match ready.take() {
                        Some(ready) => {
                            let _ = ready.send(());
                        }
                        // Back after a gap: control messages sent meanwhile never reached us.
                        None => local.audit_all(),
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        match decode(&payload) {
                            Some((origin, topic, frame)) if origin != instance.to_string() => {
                                if topic == super::hub::CONTROL_TOPIC {
                                    match serde_json::from_str(frame) {
                                        Ok(ended) => local.end_local(ended),
                                        Err(_) => tracing::warn!("malformed session control message"),
                                    }
                                } else if topic == super::hub::REVOKE_TOPIC {
                                    match serde_json::from_str(frame) {
                                        Ok(revoked) => local.revoke_local(&revoked),
                                        Err(_) => tracing::warn!("malformed revocation message"),
                                    }
                                } else {
                                    local.deliver_local(topic, Utf8Bytes::from(frame));
                                }
                            }
                            Some(_) => {}
                            None => tracing::warn!("malformed backplane message"),
                        }
                    }
                    tracing::warn!("realtime backplane subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "realtime backplane unavailable; retrying"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    // Wait (briefly) for the first subscription, so events published right after start-up
    // by other instances are not missed; a down Redis does not hold up the start.
    let _ = tokio::time::timeout(Duration::from_secs(2), ready_rx).await;
    hub.set_backplane(Forward { queue: tx, events: queued_events, capacity: FORWARD_CAPACITY });
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
