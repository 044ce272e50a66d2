//! The live seat count of events on `ticketing.event.{id}`: `seats.changed` after purchases,
//! cancellations and refunds, at most [`PER_SECOND`] a second per event and instance.
//!
//! A popular event sells many seats a second; its watchers need the count, not every step of
//! it. The first change of a quiet event is sent at once; changes within the next
//! [`INTERVAL`] are folded into one message sent when it ends, and so on while sales go on.
//! Each message reads the count when it is sent, so the last one is always the count after the
//! last change, whatever order the sales' commits announced themselves in. Each instance
//! coalesces the sales it made; with several instances a watcher may get that many times the
//! rate, each message still exact.

use crate::events::{SEATS_CHANGED, SeatsChanged, event_topic};
use crate::store;
use platform::Platform;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Messages per second and event, at most.
pub const PER_SECOND: u32 = 10;
/// The least time between two messages about one event.
pub const INTERVAL: Duration = Duration::from_millis(1000 / PER_SECOND as u64);

/// Sends the seat counts of events whose seats changed. Cheap to clone.
#[derive(Clone)]
pub struct SeatsFeed {
    platform: Platform,
    /// Events with a sender running: true when a change came after its last message. An event
    /// leaves the map one quiet interval after its last change, so the map holds only events
    /// selling right now.
    pending: Arc<Mutex<HashMap<Uuid, bool>>>,
}

impl SeatsFeed {
    /// A feed publishing on the platform's hub.
    pub fn new(platform: Platform) -> Self {
        Self { platform, pending: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// The seats of `events` changed (call after the commit).
    pub fn changed(&self, events: &[Uuid]) {
        for &event in events {
            {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(dirty) = pending.get_mut(&event) {
                    *dirty = true;
                    continue;
                }
                pending.insert(event, false);
            }
            let feed = self.clone();
            tokio::spawn(async move { feed.run(event).await });
        }
    }

    /// Sends now, then once per interval while changes keep coming. A count equal to the one
    /// last sent is not sent again: a change announced after the read it was already counted in
    /// (or a sale and a refund within one interval) tells watchers nothing new.
    async fn run(self, event: Uuid) {
        let mut last = None;
        loop {
            last = self.send(event, last).await.or(last);
            tokio::time::sleep(INTERVAL).await;
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.get_mut(&event) {
                Some(dirty) if *dirty => *dirty = false,
                _ => {
                    pending.remove(&event);
                    return;
                }
            }
        }
    }

    /// Publishes the event's count unless it is `last`; the count read, if any.
    async fn send(&self, event: Uuid, last: Option<i64>) -> Option<i64> {
        match store::event(&self.platform.db, event).await {
            Ok(Some(row)) => {
                let seats_left = (row.capacity - row.seats_sold).max(0);
                if last != Some(seats_left) {
                    self.platform.hub.publish(
                        &event_topic(event),
                        SEATS_CHANGED,
                        &SeatsChanged { event_id: event, seats_left },
                    );
                }
                Some(seats_left)
            }
            // Deleted meanwhile: nobody is left to tell.
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, %event, "could not read an event's seats for its live topic");
                None
            }
        }
    }
}
