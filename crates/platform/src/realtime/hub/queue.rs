//! A connection's queue: entries of frames, bounded in frames, and the connection's end of it.

use super::Hub;
use axum::extract::ws::Utf8Bytes;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Frames a connection can hold before the hub starts dropping for it, however they are grouped
/// into entries.
pub const QUEUE_CAPACITY: usize = 512;

/// What one queue entry hands a connection: the frames of one publication, in order. Events
/// published together ([`Hub::publish_each`]) travel as one entry, so a connection of this
/// instance is woken once for them and writes them with one flush, and each subscriber's queue
/// is touched once per publication rather than once per event. Every subscriber shares the
/// same buffers. (They cross the backplane one message each, pipelined, and the receiving
/// instance groups what arrives at once for one topic into one entry again.)
pub type Frames = Arc<[Utf8Bytes]>;

/// Frames in one entry at most: a longer publication is split, so that a connection's writes
/// and its client's turn (which come between entries) stay bounded.
pub const ENTRY_FRAMES: usize = 64;

/// The sending end of a connection's queue. It counts the frames in the queue, so that the
/// bound is [`QUEUE_CAPACITY`] frames (and their memory), not that many entries.
#[derive(Clone)]
pub(super) struct Inlet {
    pub(super) tx: mpsc::Sender<Frames>,
    pub(super) queued: Arc<AtomicUsize>,
    /// Frames the connection took from its queue and has not written yet (held for a paced
    /// write, or being written), as its owner reports them ([`Connection::unwritten`]).
    pub(super) unwritten: Arc<AtomicUsize>,
}

/// Why frames were not queued.
pub(super) enum Refused {
    /// The queue holds too many frames already: dropped for this connection.
    Full,
    /// The connection is closing.
    Closed,
}

impl Inlet {
    /// Queues `frames` whole, or not at all when the queue would then hold more than
    /// [`QUEUE_CAPACITY`] frames.
    pub(super) fn offer(&self, frames: &Frames) -> Result<(), Refused> {
        let n = frames.len();
        if self.queued.fetch_add(n, Ordering::AcqRel) + n > QUEUE_CAPACITY {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        // Each entry holds at least one frame, so the channel (as many entries as frames) is
        // never the one that is full.
        self.tx.try_send(frames.clone()).map_err(|e| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => Refused::Full,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }
}

/// One connection's end of the hub: its queue and what it missed.
pub struct Connection {
    /// Hub-wide connection id.
    pub id: u64,
    /// Frames to send to the client (read them with the methods below, which keep the count).
    pub(super) rx: mpsc::Receiver<Frames>,
    pub(super) inlet: Inlet,
    /// Events dropped because the queue was full (reset by [`Connection::take_missed`]).
    pub(super) missed: Arc<AtomicU64>,
    /// Topics this connection is subscribed to.
    pub topics: HashSet<Arc<str>>,
    /// The user the subscriptions were made for.
    pub(super) user: Option<Uuid>,
    /// Notified when the connection's session ends.
    pub ended: Arc<tokio::sync::Notify>,
    /// Notified when control messages may have been missed (the backplane was cut): the
    /// connection's owner re-checks the session and calls [`Hub::reauthorize`].
    pub audit: Arc<tokio::sync::Notify>,
    pub(super) hub: Hub,
}

impl Connection {
    /// Polls for the next queued entry (None: the hub let the connection go).
    pub fn poll_frames(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Frames>> {
        self.rx.poll_recv(cx).map(|entry| entry.inspect(|frames| self.taken(frames)))
    }

    /// The next queued entry, if one is there now.
    pub fn try_frames(&mut self) -> Option<Frames> {
        let frames = self.rx.try_recv().ok()?;
        self.taken(&frames);
        Some(frames)
    }

    /// Waits for the next queued entry (None: the hub let the connection go).
    pub async fn frames(&mut self) -> Option<Frames> {
        std::future::poll_fn(|cx| self.poll_frames(cx)).await
    }

    fn taken(&self, frames: &Frames) {
        self.inlet.queued.fetch_sub(frames.len(), Ordering::AcqRel);
    }

    /// Tells the hub how many frames taken from the queue are not written yet (zero once they
    /// are): a connection busy with them is still behind ([`Hub::local_load`]).
    pub fn unwritten(&self, frames: usize) {
        self.inlet.unwritten.store(frames, Ordering::Relaxed);
    }

    /// How many events were dropped since the last call, resetting the count.
    pub fn take_missed(&self) -> u64 {
        self.missed.swap(0, Ordering::AcqRel)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.hub.remove(self.id, self.user, &self.topics);
        self.hub.inner.bound.write().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        metrics::gauge!("realtime_connections").decrement(1.0);
    }
}
