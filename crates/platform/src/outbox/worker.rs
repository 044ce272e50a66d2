//! The background worker: delivers outbox rows, relays domain events, and runs scheduled jobs,
//! each in a loop of its own until shutdown, so a slow job never holds up mail.
//!
//! Several instances may run it at once: claims lock rows, the event relay and each job run
//! under a lease (one instance at a time), and delivery is at least once (each row's id goes
//! with it). Rows are delivered concurrently, up to [`Worker::concurrency`] at once and
//! [`Worker::per_kind`] of one kind, so one slow delivery does not hold up the others.

use super::{Outbox, PARKED, PENDING, lease, store};
use crate::db::{Db, Ts};
use crate::events::Relay;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

/// How long a claimed row stays reserved for the instance delivering it; renewed every third of
/// it while the delivery runs. An instance killed mid-delivery holds its rows no longer than this.
const CLAIM: chrono::Duration = chrono::Duration::seconds(30);

/// Delivers one kind of side effect.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Performs the effect; `id` is stable across redeliveries of the same row.
    async fn handle(&self, id: Uuid, payload: &str) -> Result<(), String>;
}

/// A scheduled job.
#[async_trait::async_trait]
pub trait Job: Send + Sync {
    /// Name for logs and the job's lease.
    fn name(&self) -> &'static str;
    /// Runs once. Only one instance runs a job at a time, but a run may repeat work a failed
    /// run began, so it must be idempotent.
    async fn run(&self) -> Result<(), String>;
}

/// Delivers outbox rows and runs jobs.
pub struct Worker {
    db: Db,
    outbox: Outbox,
    holder: String,
    handlers: HashMap<&'static str, (Arc<dyn Handler>, Arc<Semaphore>)>,
    jobs: Vec<Arc<dyn Job>>,
    relay: Option<Relay>,
    /// Attempts before a row is parked.
    pub max_attempts: i64,
    /// Backoff after the first failure; doubles per attempt, capped at one hour.
    pub backoff: Duration,
    /// How often the worker looks for rows committed by other instances.
    pub poll: Duration,
    /// How often scheduled jobs run.
    pub jobs_every: Duration,
    /// Rows delivered at once.
    pub concurrency: usize,
    /// Rows of one kind delivered at once.
    pub per_kind: usize,
}

impl Worker {
    /// A worker for the instance `holder` (its name in leases) with no handlers yet.
    pub fn new(db: Db, outbox: Outbox, holder: String, jobs_every: Duration) -> Self {
        Self {
            db,
            outbox,
            holder,
            handlers: HashMap::new(),
            jobs: Vec::new(),
            relay: None,
            max_attempts: 10,
            backoff: Duration::from_secs(2),
            poll: Duration::from_secs(1),
            jobs_every,
            concurrency: 16,
            per_kind: 8,
        }
    }

    /// Registers the handler for `kind`.
    pub fn handler(mut self, kind: &'static str, handler: Arc<dyn Handler>) -> Self {
        self.handlers.insert(kind, (handler, Arc::new(Semaphore::new(self.per_kind.max(1)))));
        self
    }

    /// Registers a scheduled job.
    pub fn job(mut self, job: Arc<dyn Job>) -> Self {
        self.jobs.push(job);
        self
    }

    /// Sets the domain-event relay.
    pub fn relay(mut self, relay: Relay) -> Self {
        self.relay = Some(relay);
        self
    }

    /// Delivers every row due now, concurrently within the limits; returns how many were attempted.
    pub async fn drain_once(&self) -> usize {
        let mut attempted = 0;
        loop {
            let now = Ts::now();
            let rows = match store::claim(&self.db, now, now.plus(CLAIM), 64).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox claim failed");
                    return attempted;
                }
            };
            if rows.is_empty() {
                return attempted;
            }
            attempted += rows.len();
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            let deliveries =
                futures::stream::iter(rows).for_each_concurrent(self.concurrency.max(1), |row| self.deliver(row));
            tokio::pin!(deliveries);
            // Claims are short so that the rows of an instance that died are free again soon;
            // the living renew theirs while a slow delivery runs.
            let every = (CLAIM / 3).to_std().unwrap_or(Duration::from_secs(10));
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tokio::select! {
                    () = &mut deliveries => break,
                    _ = renew.tick() => {
                        if let Err(e) = store::extend_claims(&self.db, &ids, Ts::now().plus(CLAIM)).await {
                            tracing::warn!(error = %e, "outbox claim renewal failed");
                        }
                    }
                }
            }
        }
    }

    async fn deliver(&self, row: store::OutboxRow) {
        let outcome = match self.handlers.get(row.kind.as_str()) {
            Some((handler, limit)) => {
                let _permit = limit.acquire().await;
                handler.handle(row.id, &row.payload).await
            }
            None => Err(format!("no handler for {}", row.kind)),
        };
        let result = match outcome {
            Ok(()) => {
                metrics::counter!("outbox_delivered_total", "kind" => row.kind.clone()).increment(1);
                store::delete(&self.db, row.id).await
            }
            Err(error) => {
                let attempts = row.attempts + 1;
                let parked = attempts >= self.max_attempts;
                let factor = 2u32.saturating_pow(u32::try_from(row.attempts).unwrap_or(u32::MAX).min(20));
                let delay = self.backoff.saturating_mul(factor).min(Duration::from_secs(3600));
                let next = Ts::now().plus(chrono::Duration::from_std(delay).unwrap_or_default());
                tracing::warn!(id = %row.id, kind = %row.kind, attempts, parked, %error, "outbox delivery failed");
                metrics::counter!("outbox_failed_total", "kind" => row.kind.clone()).increment(1);
                store::fail(&self.db, row.id, if parked { PARKED } else { PENDING }, attempts, next, &error).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "outbox bookkeeping failed; the row will be retried");
        }
    }

    /// Runs every job whose lease this instance gets; answers how many ran. A lease lasts two
    /// intervals and its holder renews it each time, so one instance runs each job per interval
    /// and another takes over when that one stops.
    pub async fn run_jobs_once(&self) -> usize {
        let mut ran = 0;
        let hold = chrono::Duration::from_std(self.jobs_every.saturating_mul(2)).unwrap_or(chrono::Duration::hours(1));
        for job in &self.jobs {
            let now = Ts::now();
            match lease::acquire(&self.db, &format!("job:{}", job.name()), &self.holder, now, now.plus(hold)).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(job = job.name(), error = %e, "job lease failed");
                    continue;
                }
            }
            ran += 1;
            let outcome = match job.run().await {
                Ok(()) => "ok",
                Err(e) => {
                    tracing::warn!(job = job.name(), error = %e, "scheduled job failed");
                    "failed"
                }
            };
            metrics::counter!("jobs_runs_total", "job" => job.name(), "outcome" => outcome).increment(1);
        }
        ran
    }

    /// Sets the `outbox_rows` gauge: rows waiting for delivery and rows given up, counted in the
    /// database (so every instance reports the same totals).
    pub async fn measure_backlog(&self) {
        for status in [PENDING, PARKED] {
            match store::count_by_status(&self.db, status).await {
                #[allow(clippy::cast_precision_loss)] // a gauge; exact below 2^53 rows
                Ok(n) => metrics::gauge!("outbox_rows", "status" => status).set(n as f64),
                Err(e) => tracing::warn!(error = %e, "counting the outbox failed"),
            }
        }
    }

    /// Registers this worker's per-kind and per-job series at zero, so they show before their
    /// first delivery or run (see `telemetry::METRICS`).
    fn register_metrics(&self) {
        for kind in self.handlers.keys() {
            metrics::counter!("outbox_delivered_total", "kind" => *kind).increment(0);
            metrics::counter!("outbox_failed_total", "kind" => *kind).increment(0);
        }
        for job in &self.jobs {
            for outcome in ["ok", "failed"] {
                metrics::counter!("jobs_runs_total", "job" => job.name(), "outcome" => outcome).increment(0);
            }
        }
    }

    /// Runs until `shutdown` turns true; attempts in progress are finished first, and leases
    /// are given up so another instance takes over at once.
    pub async fn run(mut self, shutdown: watch::Receiver<bool>) {
        self.register_metrics();
        let relay = self.relay.take().map(|relay| {
            let wake = self.outbox.events_wake();
            tokio::spawn(relay.run(wake, self.poll, self.backoff, shutdown.clone()))
        });
        let this = Arc::new(self);
        let jobs = tokio::spawn(Arc::clone(&this).jobs_loop(shutdown.clone()));
        this.delivery_loop(shutdown).await;
        let _ = jobs.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        for job in &this.jobs {
            let _ = lease::release(&this.db, &format!("job:{}", job.name()), &this.holder).await;
        }
        tracing::info!("worker stopped");
    }

    async fn delivery_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let mut poll = tokio::time::interval(self.poll);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = self.outbox.notified().notified() => { self.drain_once().await; }
                _ = poll.tick() => { self.drain_once().await; }
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    async fn jobs_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut jobs = tokio::time::interval(self.jobs_every);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = jobs.tick() => {
                    self.run_jobs_once().await;
                    self.measure_backlog().await;
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::count_by_status;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Flaky {
        fail_first: usize,
        calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Handler for Flaky {
        async fn handle(&self, _id: Uuid, _payload: &str) -> Result<(), String> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first { Err("boom".into()) } else { Ok(()) }
        }
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()), 4).await.unwrap();
        crate::db::migrate(&db, &[crate::MIGRATIONS]).await.unwrap();
        (dir, db)
    }

    async fn enqueue(db: &Db, outbox: &Outbox) {
        let mut tx = db.begin().await.unwrap();
        outbox.enqueue(&mut tx, "test", &serde_json::json!({"x": 1})).await.unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn rows_committed_before_a_worker_exists_are_delivered_later() {
        let (_dir, db) = db().await;
        let outbox = Outbox::new();
        enqueue(&db, &outbox).await;
        // "Crash": no worker ran. A new worker finds the row.
        let handler = Arc::new(Flaky { fail_first: 0, calls: AtomicUsize::new(0) });
        let worker =
            Worker::new(db.clone(), outbox, "test".into(), Duration::from_secs(60)).handler("test", handler.clone());
        assert_eq!(worker.drain_once().await, 1);
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
        assert_eq!(count_by_status(&db, PENDING).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn failures_retry_with_backoff_then_park() {
        let (_dir, db) = db().await;
        let outbox = Outbox::new();
        enqueue(&db, &outbox).await;
        let handler = Arc::new(Flaky { fail_first: usize::MAX, calls: AtomicUsize::new(0) });
        let mut worker =
            Worker::new(db.clone(), outbox, "test".into(), Duration::from_secs(60)).handler("test", handler.clone());
        worker.max_attempts = 3;
        worker.backoff = Duration::from_millis(20);
        worker.drain_once().await;
        // Backoff: not due again immediately.
        assert_eq!(worker.drain_once().await, 0);
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            worker.drain_once().await;
        }
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
        assert_eq!(count_by_status(&db, PARKED).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_it_succeeds() {
        let (_dir, db) = db().await;
        let outbox = Outbox::new();
        enqueue(&db, &outbox).await;
        let handler = Arc::new(Flaky { fail_first: 1, calls: AtomicUsize::new(0) });
        let mut worker =
            Worker::new(db.clone(), outbox, "test".into(), Duration::from_secs(60)).handler("test", handler.clone());
        worker.backoff = Duration::from_millis(10);
        worker.drain_once().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        worker.drain_once().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
        assert_eq!(count_by_status(&db, PENDING).await.unwrap(), 0);
        assert_eq!(count_by_status(&db, PARKED).await.unwrap(), 0);
    }
}
