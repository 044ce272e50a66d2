//! The [`Hub`]: named topics, local fan-out to bounded per-connection queues, and (with Redis)
//! a backplane so that an event published on any instance reaches every instance's connections.
//!
//! Publishing never waits for a subscriber: a full queue drops the event for that connection
//! only and counts it, and the connection is told to resync once it catches up. Subscribing is
//! authorised by the module that owns the topic's prefix.

mod audit;
mod queue;

pub use audit::AUDITS_AT_ONCE;
pub use queue::{Connection, ENTRY_FRAMES, Frames, QUEUE_CAPACITY};
use queue::{Inlet, Refused};

use crate::auth::AuthUser;
use crate::error::ApiError;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use uuid::Uuid;

/// The queue to the other instances (the backplane's publisher reads it). Events and control
/// messages (ended sessions, revoked subscriptions) share it, so they keep their order (a
/// member sees `member:removed` before the subscription ends); events are bounded and dropped
/// past [`Forward::capacity`], control messages never are (they are few and each matters).
#[derive(Clone)]
pub(super) struct Forward {
    pub queue: mpsc::UnboundedSender<Forwarded>,
    /// Events in the queue now (the publisher counts them down).
    pub events: Arc<AtomicUsize>,
    pub capacity: usize,
}

/// One message to forward: topic, frame, and whether it is a control message.
pub(super) type Forwarded = (Arc<str>, Utf8Bytes, bool);

/// Queues an event for the other instances; drops (and counts) it when the queue is full.
fn forward(queue: &Forward, topic: &str, frame: Utf8Bytes) {
    if queue.events.fetch_add(1, Ordering::AcqRel) >= queue.capacity {
        queue.events.fetch_sub(1, Ordering::AcqRel);
        metrics::counter!("realtime_backplane_dropped_total").increment(1);
        return;
    }
    if queue.queue.send((Arc::from(topic), frame, false)).is_err() {
        queue.events.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Queues a control message for the other instances, whatever the queue holds.
fn forward_control(queue: &Forward, topic: &str, frame: Utf8Bytes) {
    let _ = queue.queue.send((Arc::from(topic), frame, true));
}

/// The frame that tells a connection its subscription to `topic` ended.
fn unsubscribed_frame(topic: &str) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::json!({"type": "unsubscribed", "topic": topic}).to_string())
}

/// Decides who may subscribe to the topics under one prefix (`chat.room.`, `user.` …).
#[async_trait::async_trait]
pub trait TopicAuthorizer: Send + Sync {
    /// True when `user` may receive the events of `topic`.
    async fn authorize(&self, user: &AuthUser, topic: &str) -> Result<bool, ApiError>;

    /// A connection of `user` subscribed to `topic` (for presence).
    fn joined(&self, _user: Uuid, _topic: &str) {}

    /// A connection of `user` left `topic`, by unsubscribing or disconnecting.
    fn left(&self, _user: Uuid, _topic: &str) {}
}

/// `user.{id}`: only that user.
struct OwnUserTopic;

#[async_trait::async_trait]
impl TopicAuthorizer for OwnUserTopic {
    async fn authorize(&self, user: &AuthUser, topic: &str) -> Result<bool, ApiError> {
        Ok(topic.strip_prefix("user.") == Some(user.user_id.to_string().as_str()))
    }
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// No module owns this topic.
    #[error("unknown topic")]
    UnknownTopic,
    /// The owner said no (or the topic does not exist for this user).
    #[error("forbidden")]
    Forbidden,
    /// The owner could not answer.
    #[error("{0}")]
    Failed(ApiError),
}

struct Subscriber {
    inlet: Inlet,
    missed: Arc<AtomicU64>,
    /// The user the subscription was authorised for.
    user: Uuid,
}

/// A topic's connections on this instance ([`Hub::local_load`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalLoad {
    /// Connections subscribed.
    pub subscribers: usize,
    /// Those with frames queued, or taken and not yet written.
    pub behind: usize,
}

/// Sessions whose connections must close (logout, revocation, password change, deletion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// One session.
    Session(Uuid),
    /// Every session of a user, except possibly one (the one that changed the password).
    User {
        /// The user.
        user: Uuid,
        /// A session that stays.
        except: Option<Uuid>,
    },
}

impl Ended {
    fn covers(&self, user: Uuid, session: Uuid) -> bool {
        match *self {
            Ended::Session(s) => s == session,
            Ended::User { user: u, except } => u == user && except != Some(session),
        }
    }
}

/// The reserved topic on which instances tell each other about ended sessions.
pub(super) const CONTROL_TOPIC: &str = "ferrobase.sessions.ended";
/// The reserved topic on which instances announce cache changes ([`crate::cache::Coherence`]).
pub(super) const CACHE_TOPIC: &str = "ferrobase.caches.changed";
/// The reserved topic of each instance's heartbeat to itself (see the backplane).
pub(super) const HEARTBEAT_TOPIC: &str = "ferrobase.heartbeat";
/// The reserved topic on which instances tell each other about revoked subscriptions.
pub(super) const REVOKE_TOPIC: &str = "ferrobase.subscriptions.revoked";

/// Subscriptions to end on a topic: one user's, or everyone's but the listed users'.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Revoked {
    pub topic: String,
    /// End this user's subscriptions.
    pub user: Option<Uuid>,
    /// End every subscription except these users'.
    pub keep: Option<Vec<Uuid>>,
}

impl Revoked {
    fn ends(&self, user: Uuid) -> bool {
        match (&self.user, &self.keep) {
            (Some(u), _) => *u == user,
            (None, Some(keep)) => !keep.contains(&user),
            (None, None) => false,
        }
    }
}

/// What an authenticated connection speaks for, and how to reach it.
struct Binding {
    user: Uuid,
    session: Uuid,
    /// Notified to close the connection.
    ended: Arc<tokio::sync::Notify>,
    /// Notified to re-check the session and every subscription.
    audit: Arc<tokio::sync::Notify>,
}

struct Inner {
    instance: Uuid,
    /// Authenticated connections by id.
    bound: RwLock<HashMap<u64, Binding>>,
    topics: RwLock<HashMap<Arc<str>, HashMap<u64, Subscriber>>>,
    authorizers: RwLock<Vec<(String, Arc<dyn TopicAuthorizer>)>>,
    next_id: AtomicU64,
    backplane: RwLock<Option<Forward>>,
    /// Turns for [`Hub::audit`].
    audits: tokio::sync::Semaphore,
}

/// The realtime hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("instance", &self.inner.instance).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct EventFrame<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    topic: &'a str,
    event: &'a str,
    data: &'a T,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with only local delivery and the built-in `user.{id}` topics.
    pub fn new() -> Self {
        let hub = Self {
            inner: Arc::new(Inner {
                instance: Uuid::now_v7(),
                topics: RwLock::default(),
                bound: RwLock::default(),
                authorizers: RwLock::default(),
                next_id: AtomicU64::new(1),
                backplane: RwLock::default(),
                audits: tokio::sync::Semaphore::new(AUDITS_AT_ONCE),
            }),
        };
        hub.register("user.", Arc::new(OwnUserTopic));
        hub
    }

    /// This instance's id (the backplane uses it to skip its own events).
    pub fn instance(&self) -> Uuid {
        self.inner.instance
    }

    /// Lets `authorizer` decide subscriptions to topics starting with `prefix`.
    pub fn register(&self, prefix: &str, authorizer: Arc<dyn TopicAuthorizer>) {
        self.inner.authorizers.write().unwrap_or_else(|p| p.into_inner()).push((prefix.to_string(), authorizer));
    }

    pub(super) fn set_backplane(&self, backplane: Forward) {
        *self.inner.backplane.write().unwrap_or_else(|p| p.into_inner()) = Some(backplane);
    }

    /// Opens a connection's queue.
    pub fn connect(&self) -> Connection {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let inlet = Inlet { tx, queued: Arc::default(), unwritten: Arc::default() };
        metrics::gauge!("realtime_connections").increment(1.0);
        Connection {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            rx,
            inlet,
            missed: Arc::default(),
            topics: HashSet::new(),
            user: None,
            ended: Arc::default(),
            audit: Arc::default(),
            hub: self.clone(),
        }
    }

    fn owner_of(&self, topic: &str) -> Option<Arc<dyn TopicAuthorizer>> {
        let list = self.inner.authorizers.read().unwrap_or_else(|p| p.into_inner());
        list.iter().find(|(prefix, _)| topic.starts_with(prefix.as_str())).map(|(_, a)| a.clone())
    }

    /// Records which session `conn` speaks for, so that ending the session closes it.
    pub fn bind(&self, conn: &Connection, user: &AuthUser) {
        let entry = Binding {
            user: user.user_id,
            session: user.session_id,
            ended: conn.ended.clone(),
            audit: conn.audit.clone(),
        };
        self.inner.bound.write().unwrap_or_else(|p| p.into_inner()).insert(conn.id, entry);
    }

    /// Closes the connections of ended sessions, here and (with a backplane) on every instance.
    pub fn end_sessions(&self, ended: Ended) {
        self.end_local(ended);
        let backplane = self.inner.backplane.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(backplane), Ok(text)) = (backplane, serde_json::to_string(&ended)) {
            forward_control(&backplane, CONTROL_TOPIC, Utf8Bytes::from(text));
        }
    }

    pub(super) fn end_local(&self, ended: Ended) {
        let bound = self.inner.bound.read().unwrap_or_else(|p| p.into_inner());
        for b in bound.values() {
            if ended.covers(b.user, b.session) {
                b.ended.notify_one();
            }
        }
    }

    /// Subscribes `conn` to `topic` if the topic's owner allows `user`.
    pub async fn subscribe(&self, conn: &mut Connection, user: &AuthUser, topic: &str) -> Result<(), SubscribeError> {
        let authorizer = self.owner_of(topic).ok_or(SubscribeError::UnknownTopic)?;
        if !authorizer.authorize(user, topic).await.map_err(SubscribeError::Failed)? {
            return Err(SubscribeError::Forbidden);
        }
        let topic: Arc<str> = Arc::from(topic);
        let added = {
            let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
            let subscribers = topics.entry(topic.clone()).or_default();
            let subscriber = Subscriber { inlet: conn.inlet.clone(), missed: conn.missed.clone(), user: user.user_id };
            subscribers.insert(conn.id, subscriber).is_none()
        };
        conn.user = Some(user.user_id);
        conn.topics.insert(topic.clone());
        if added {
            metrics::gauge!("realtime_subscriptions").increment(1.0);
            authorizer.joined(user.user_id, &topic);
        }
        Ok(())
    }

    /// Ends one subscription.
    pub fn unsubscribe(&self, conn: &mut Connection, topic: &str) {
        if let Some(topic) = conn.topics.take(topic) {
            self.remove(conn.id, conn.user, &HashSet::from([topic]));
        }
    }

    fn remove(&self, id: u64, user: Option<Uuid>, topics: &HashSet<Arc<str>>) {
        if topics.is_empty() {
            return;
        }
        let mut removed = Vec::new();
        {
            let mut map = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
            for topic in topics {
                if let Some(subscribers) = map.get_mut(topic) {
                    if subscribers.remove(&id).is_some() {
                        metrics::gauge!("realtime_subscriptions").decrement(1.0);
                        removed.push(topic.clone());
                    }
                    if subscribers.is_empty() {
                        map.remove(topic);
                    }
                }
            }
        }
        // Owners are told after the lock is released: they may publish (presence).
        if let Some(user) = user {
            for topic in removed {
                if let Some(owner) = self.owner_of(&topic) {
                    owner.left(user, &topic);
                }
            }
        }
    }

    /// Ends every subscription of `user` to `topic`, here and (with a backplane) on every
    /// instance, after telling those connections with an `unsubscribed` frame. Owners call it
    /// when a user loses access (removed from a room or project), so that sockets opened before
    /// stop receiving at once rather than when they reconnect.
    pub fn revoke(&self, topic: &str, user: Uuid) {
        self.send_revocation(Revoked { topic: topic.to_string(), user: Some(user), keep: None });
    }

    /// Like [`Hub::revoke`] for everyone subscribed to `topic` except the users in `keep` (a
    /// topic that was open to all became members-only).
    pub fn revoke_all_but(&self, topic: &str, keep: Vec<Uuid>) {
        self.send_revocation(Revoked { topic: topic.to_string(), user: None, keep: Some(keep) });
    }

    fn send_revocation(&self, revoked: Revoked) {
        self.revoke_local(&revoked);
        let backplane = self.inner.backplane.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(backplane), Ok(text)) = (backplane, serde_json::to_string(&revoked)) {
            forward_control(&backplane, REVOKE_TOPIC, Utf8Bytes::from(text));
        }
    }

    pub(super) fn revoke_local(&self, revoked: &Revoked) {
        let frame: Frames = Arc::from([unsubscribed_frame(&revoked.topic)]);
        let removed = {
            let mut map = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
            let Some(subscribers) = map.get_mut(revoked.topic.as_str()) else { return };
            let mut removed = Vec::new();
            subscribers.retain(|_, sub| {
                if !revoked.ends(sub.user) {
                    return true;
                }
                let _ = sub.inlet.offer(&frame);
                removed.push(sub.user);
                false
            });
            if subscribers.is_empty() {
                map.remove(revoked.topic.as_str());
            }
            removed
        };
        if !removed.is_empty() {
            metrics::gauge!("realtime_subscriptions").decrement(removed.len() as f64);
            if let Some(owner) = self.owner_of(&revoked.topic) {
                for user in removed {
                    owner.left(user, &revoked.topic);
                }
            }
        }
    }

    /// Publishes `event` with `data` on `topic`, here and (with a backplane) on every instance.
    pub fn publish<T: Serialize>(&self, topic: &str, event: &str, data: &T) {
        self.publish_each(topic, event, std::slice::from_ref(data));
    }

    /// Publishes one `event` per item of `data`, in order, on `topic`: like calling
    /// [`Hub::publish`] for each, except that this instance's subscribers receive them as one
    /// queue entry (a burst of messages stored together costs each connection one wake-up and
    /// one write instead of one per message).
    pub fn publish_each<T: Serialize>(&self, topic: &str, event: &str, data: &[T]) {
        let frames: Vec<Utf8Bytes> = data
            .iter()
            .filter_map(|data| match serde_json::to_string(&EventFrame { kind: "event", topic, event, data }) {
                Ok(text) => Some(Utf8Bytes::from(text)),
                Err(e) => {
                    tracing::error!(error = %e, topic, event, "event not serialisable");
                    None
                }
            })
            .collect();
        if frames.is_empty() {
            return;
        }
        metrics::counter!("realtime_published_total").increment(frames.len() as u64);
        for entry in frames.chunks(ENTRY_FRAMES) {
            self.deliver_local(topic, Arc::from(entry));
        }
        let backplane = self.inner.backplane.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(backplane) = backplane {
            for frame in frames {
                forward(&backplane, topic, frame);
            }
        }
    }

    /// Hands ready frames to this instance's subscribers of `topic`, as one queue entry each.
    pub(super) fn deliver_local(&self, topic: &str, frames: Frames) {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        let Some(subscribers) = topics.get(topic) else { return };
        let count = frames.len() as u64;
        let (mut delivered, mut dropped) = (0u64, 0u64);
        for sub in subscribers.values() {
            match sub.inlet.offer(&frames) {
                Ok(()) => delivered += count,
                Err(Refused::Full) => {
                    sub.missed.fetch_add(count, Ordering::AcqRel);
                    dropped += count;
                }
                // The connection is closing; its Drop removes it.
                Err(Refused::Closed) => {}
            }
        }
        metrics::counter!("realtime_delivered_total").increment(delivered);
        if dropped > 0 {
            metrics::counter!("realtime_dropped_total").increment(dropped);
        }
    }

    /// Connections subscribed to `topic` on this instance.
    pub fn local_subscribers(&self, topic: &str) -> usize {
        self.inner.topics.read().unwrap_or_else(|p| p.into_inner()).get(topic).map_or(0, HashMap::len)
    }

    /// This instance's connections subscribed to `topic`, and how many of them are behind:
    /// frames queued for them, or taken and not yet written (on any of their topics). Reads
    /// two counters per connection, so it is for wide topics now and then, not for every
    /// event; nothing is locked but the topic map, for reading.
    pub fn local_load(&self, topic: &str) -> LocalLoad {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        let Some(subscribers) = topics.get(topic) else { return LocalLoad::default() };
        let behind = subscribers
            .values()
            .filter(|sub| {
                sub.inlet.queued.load(Ordering::Relaxed) > 0 || sub.inlet.unwritten.load(Ordering::Relaxed) > 0
            })
            .count();
        LocalLoad { subscribers: subscribers.len(), behind }
    }
}

#[cfg(test)]
mod tests;
