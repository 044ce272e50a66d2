//! The relay: takes domain events from the outbox in the order they were written and hands
//! each to its in-process subscribers, then to the broker, then deletes it. It runs on one
//! instance at a time (the `events.relay` lease) and stops at the first failure, so a later
//! event never overtakes an earlier one. A subscriber that keeps failing has the event parked
//! after [`Relay::max_attempts`] (an operator revives it with `ferrobase outbox retry`); a
//! broker that is down never parks anything: the queue waits for it.

use super::{Broker, Envelope};
use crate::db::{Db, Ts, Tx};
use crate::outbox::OutboxRow;
use crate::outbox::{PARKED, PENDING, lease, store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Handles one type of domain event inside a transaction that also records it as handled, so
/// a redelivered event is handled once.
#[async_trait::async_trait]
pub trait Subscriber: Send + Sync {
    /// Reacts to `event`; failing rolls the transaction back and the event comes again.
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> anyhow::Result<()>;

    /// Runs after the transaction of [`Subscriber::handle`] committed: what must not be seen
    /// before the change is (cache invalidation, realtime announcements).
    async fn committed(&self, _event: &Envelope) {}
}

/// The name of the relay's lease.
const LEASE: &str = "events.relay";
/// How long the lease lasts without renewal (an instance that died hands over after this).
const LEASE_TTL: chrono::Duration = chrono::Duration::seconds(30);
/// How often a busy relay renews its lease: a third of its lifetime, so that one slow event
/// (its subscribers bounded by [`SUBSCRIBER_TIMEOUT`], the broker by its confirm timeout)
/// cannot outlast it.
const RENEW_AFTER: Duration = Duration::from_secs(10);
/// Longest a subscriber may take over one event before it counts as failed.
const SUBSCRIBER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where an event failed.
enum Failure {
    /// A subscriber: counts towards parking.
    Subscriber(String),
    /// The broker: waits.
    Broker(String),
}

/// A subscriber and the name its handled events are recorded under.
type Named = (String, Arc<dyn Subscriber>);

/// Delivers domain events in order.
pub struct Relay {
    db: Db,
    holder: String,
    broker: Option<Broker>,
    /// Subscribers by event type, each with its name.
    subscribers: HashMap<String, Vec<Named>>,
    /// Failed attempts of subscribers before an event is parked.
    pub max_attempts: i64,
    /// How often a busy relay renews its lease.
    pub renew_after: Duration,
}

impl Relay {
    /// A relay for the instance `holder`, publishing to `broker` when there is one.
    pub fn new(db: Db, holder: String, broker: Option<Broker>) -> Self {
        Self { db, holder, broker, subscribers: HashMap::new(), max_attempts: 10, renew_after: RENEW_AFTER }
    }

    /// Registers `subscriber` (a stable name, e.g. `work.invitations`) for events of `kind`.
    pub fn subscribe(&mut self, kind: &str, name: &str, subscriber: Arc<dyn Subscriber>) {
        self.subscribers.entry(kind.to_string()).or_default().push((name.to_string(), subscriber));
    }

    /// The event types some subscriber handles.
    pub fn subscribed_types(&self) -> impl Iterator<Item = &String> {
        self.subscribers.keys()
    }

    /// True when a broker is configured.
    pub fn has_broker(&self) -> bool {
        self.broker.is_some()
    }

    /// Delivers pending events until none is left or one fails; answers how many were
    /// delivered, or the failure (the caller waits before trying again).
    pub async fn drain_once(&self) -> Result<usize, String> {
        let mut delivered = 0;
        loop {
            let rows = store::pending_events(&self.db, 64).await.map_err(|e| e.to_string())?;
            if rows.is_empty() {
                return Ok(delivered);
            }
            let mut renewed: Option<std::time::Instant> = None;
            for row in rows {
                // Hold the lease for every event, renewing it well before it lapses: a batch
                // slower than the lease must not let a second instance deliver beside this one.
                if renewed.is_none_or(|at| at.elapsed() >= self.renew_after) {
                    let now = Ts::now();
                    if !lease::acquire(&self.db, LEASE, &self.holder, now, now.plus(LEASE_TTL))
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        return Ok(delivered);
                    }
                    renewed = Some(std::time::Instant::now());
                }
                match self.deliver(&row).await {
                    Ok(()) => {
                        store::delete(&self.db, row.id).await.map_err(|e| e.to_string())?;
                        metrics::counter!("events_delivered_total").increment(1);
                        delivered += 1;
                    }
                    Err(Failure::Broker(error)) => {
                        metrics::counter!("events_broker_failures_total").increment(1);
                        return Err(format!("broker: {error}"));
                    }
                    Err(Failure::Subscriber(error)) => {
                        let attempts = row.attempts + 1;
                        let parked = attempts >= self.max_attempts;
                        let status = if parked { PARKED } else { PENDING };
                        tracing::warn!(id = %row.id, attempts, parked, %error, "event subscriber failed");
                        store::fail(&self.db, row.id, status, attempts, Ts::now(), &error)
                            .await
                            .map_err(|e| e.to_string())?;
                        if !parked {
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<(), Failure> {
        let event: Envelope = match serde_json::from_str(&row.payload) {
            Ok(event) => event,
            Err(e) => return Err(Failure::Subscriber(format!("unreadable event: {e}"))),
        };
        for (name, subscriber) in self.subscribers.get(&event.kind).into_iter().flatten() {
            self.handle_once(name, subscriber.as_ref(), &event)
                .await
                .map_err(|e| Failure::Subscriber(format!("{name}: {e:#}")))?;
        }
        if let Some(broker) = &self.broker {
            broker.publish(&event).await.map_err(Failure::Broker)?;
        }
        Ok(())
    }

    async fn handle_once(&self, name: &str, subscriber: &dyn Subscriber, event: &Envelope) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !store::mark_handled(&mut tx, name, event.id).await? {
            return Ok(());
        }
        tokio::time::timeout(SUBSCRIBER_TIMEOUT, subscriber.handle(&mut tx, event))
            .await
            .map_err(|_| anyhow::anyhow!("the subscriber took longer than {SUBSCRIBER_TIMEOUT:?}"))??;
        tx.commit().await?;
        subscriber.committed(event).await;
        Ok(())
    }

    /// Gives the lease up (on shutdown), so another instance takes over at once.
    pub async fn release(&self) {
        let _ = lease::release(&self.db, LEASE, &self.holder).await;
    }

    /// Runs until `shutdown` turns true: drains when woken or every `poll`, and after a
    /// failure waits with exponential backoff (from `backoff`, at most 30 s).
    pub async fn run(
        self,
        wake: Arc<tokio::sync::Notify>,
        poll: Duration,
        backoff: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut failures: u32 = 0;
        loop {
            let wait = if failures == 0 {
                poll
            } else {
                backoff.saturating_mul(2u32.saturating_pow(failures.min(16) - 1)).min(Duration::from_secs(30))
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = wake.notified(), if failures == 0 => {}
                _ = tokio::time::sleep(wait) => {}
            }
            if *shutdown.borrow() {
                break;
            }
            match self.drain_once().await {
                Ok(_) => failures = 0,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, "event relay failed; retrying");
                }
            }
        }
        self.release().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Outbox, count_by_status};
    use std::sync::Mutex;

    /// Records the events it sees; fails while `fail` is set.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<String>>,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl Subscriber for Recorder {
        async fn handle(&self, _tx: &mut Tx, event: &Envelope) -> anyhow::Result<()> {
            anyhow::ensure!(!self.fail.load(std::sync::atomic::Ordering::SeqCst), "refusing");
            self.seen.lock().unwrap().push(event.data["n"].to_string());
            Ok(())
        }
    }

    async fn setup() -> (tempfile::TempDir, Db, Outbox, Arc<Recorder>, Relay) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()), 4).await.unwrap();
        crate::db::migrate(&db, &[crate::MIGRATIONS]).await.unwrap();
        let recorder = Arc::new(Recorder::default());
        let mut relay = Relay::new(db.clone(), "me".into(), None);
        relay.subscribe("test.happened", "test.recorder", recorder.clone());
        (dir, db, Outbox::new(), recorder, relay)
    }

    async fn emit(db: &Db, outbox: &Outbox, n: i64) -> Envelope {
        let mut tx = db.begin().await.unwrap();
        let id = outbox.event(&mut tx, "test.happened", &serde_json::json!({"n": n})).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        let row = store::pending_events(db, 100).await.unwrap().into_iter().find(|r| r.id == id).unwrap();
        serde_json::from_str(&row.payload).unwrap()
    }

    #[tokio::test]
    async fn subscribers_get_events_in_order_and_a_redelivery_once() {
        let (_dir, db, outbox, recorder, relay) = setup().await;
        let first = emit(&db, &outbox, 1).await;
        emit(&db, &outbox, 2).await;
        assert_eq!(relay.drain_once().await, Ok(2));
        // A crash after handling but before the row was deleted brings the same event again.
        let mut tx = db.begin().await.unwrap();
        store::insert(&mut tx, first.id, crate::outbox::DOMAIN_EVENT, &serde_json::to_string(&first).unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(relay.drain_once().await, Ok(1));
        assert_eq!(*recorder.seen.lock().unwrap(), ["1", "2"]);
    }

    #[tokio::test]
    async fn a_failing_subscriber_holds_later_events_then_parks_the_event() {
        let (_dir, db, outbox, recorder, mut relay) = setup().await;
        relay.max_attempts = 2;
        emit(&db, &outbox, 1).await;
        emit(&db, &outbox, 2).await;
        recorder.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(relay.drain_once().await.is_err());
        assert!(recorder.seen.lock().unwrap().is_empty(), "the second event did not overtake the first");
        recorder.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(relay.drain_once().await, Ok(2));
        assert_eq!(*recorder.seen.lock().unwrap(), ["1", "2"]);
        // A poison event is parked after its attempts, and the queue moves on.
        emit(&db, &outbox, 3).await;
        emit(&db, &outbox, 4).await;
        recorder.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(relay.drain_once().await.is_err());
        // The second failure parks 3; the relay moves on to 4, which fails its first attempt.
        assert!(relay.drain_once().await.is_err());
        recorder.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(relay.drain_once().await, Ok(1));
        assert_eq!(*recorder.seen.lock().unwrap(), ["1", "2", "4"]);
        assert_eq!(count_by_status(&db, PARKED).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn another_instance_waits_while_one_holds_the_relay() {
        let (_dir, db, outbox, recorder, relay) = setup().await;
        let mut other = Relay::new(db.clone(), "someone-else".into(), None);
        other.subscribe("test.happened", "test.recorder", recorder.clone());
        emit(&db, &outbox, 1).await;
        assert_eq!(relay.drain_once().await, Ok(1));
        emit(&db, &outbox, 2).await;
        assert_eq!(other.drain_once().await, Ok(0), "the lease is taken");
        relay.release().await;
        assert_eq!(other.drain_once().await, Ok(1));
    }

    /// Hands the relay's lease to another instance while it handles the first event (as if
    /// this one had stalled past the lease and another had taken over).
    struct Thief;

    #[async_trait::async_trait]
    impl Subscriber for Thief {
        async fn handle(&self, tx: &mut Tx, _event: &Envelope) -> anyhow::Result<()> {
            let until = Ts::now().plus(LEASE_TTL);
            crate::execute_tx!(
                tx,
                sqlx::query("UPDATE job_leases SET holder = 'thief', expires_at = $1 WHERE name = $2")
                    .bind(until)
                    .bind(LEASE)
            )?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_relay_that_lost_its_lease_stops_between_events() {
        let (_dir, db, outbox, _recorder, mut relay) = setup().await;
        relay.subscribe("test.happened", "test.thief", Arc::new(Thief));
        relay.renew_after = Duration::ZERO;
        emit(&db, &outbox, 1).await;
        emit(&db, &outbox, 2).await;
        assert_eq!(relay.drain_once().await, Ok(1), "the second event is left to the lease holder");
        assert_eq!(store::pending_events(&db, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn nothing_is_written_for_an_event_nobody_receives() {
        let (_dir, db, outbox, _recorder, _relay) = setup().await;
        outbox.set_wanted(crate::outbox::Wanted { all: false, types: ["test.happened".to_string()].into() });
        let mut tx = db.begin().await.unwrap();
        assert!(outbox.event(&mut tx, "test.ignored", &1).await.unwrap().is_none());
        assert!(outbox.event(&mut tx, "test.happened", &1).await.unwrap().is_some());
        tx.commit().await.unwrap();
        assert_eq!(store::pending_events(&db, 10).await.unwrap().len(), 1);
    }
}
