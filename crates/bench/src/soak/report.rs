//! What the soak measures and prints: a [`Meter`] per kind of request, whose [`Minute`]s
//! become the rows of the report, with the server's memory and the database's size.

use crate::server::Server;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The latency and failures of one kind of request, for the current minute.
pub(super) struct Meter {
    minute: Mutex<Minute>,
    pub(super) errors: AtomicU64,
}

/// One minute of a [`Meter`].
pub(super) struct Minute {
    /// From each request's scheduled time.
    pub(super) hist: Histogram<u64>,
    /// From the moment the request was handed to its connection. The difference from `hist` is
    /// the time it waited to be sent: behind the connection's previous request, for this
    /// process's own threads, or for a new connection; it tells the server's tail from the
    /// load generator's.
    pub(super) sent: Histogram<u64>,
    pub(super) errors: u64,
}

impl Meter {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self { minute: Mutex::new(Minute::new()), errors: AtomicU64::new(0) })
    }

    /// A request's latency counted from its scheduled time only (what has no sending time).
    pub(super) fn record(&self, micros: u64) {
        let _ = self.minute.lock().expect("meter lock").hist.record(micros.max(1));
    }

    /// A request's latency from its scheduled time and from its sending.
    pub(super) fn record_both(&self, from_due: u64, from_sent: u64) {
        let mut minute = self.minute.lock().expect("meter lock");
        let _ = minute.hist.record(from_due.max(1));
        let _ = minute.sent.record(from_sent.max(1));
    }

    /// This minute's histograms and errors; starts the next minute.
    pub(super) fn take(&self) -> Minute {
        let mut minute = std::mem::replace(&mut *self.minute.lock().expect("meter lock"), Minute::new());
        minute.errors = self.errors.swap(0, Ordering::Relaxed);
        minute
    }
}

impl Minute {
    pub(super) fn new() -> Self {
        Self { hist: histogram(), sent: histogram(), errors: 0 }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// One minute's row of the report.
pub(super) struct Row {
    pub(super) minute: u64,
    pub(super) rss_mib: f64,
    pub(super) anon_mib: f64,
    pub(super) db_mib: Option<f64>,
    pub(super) wal_mib: Option<f64>,
    pub(super) post: Minute,
    pub(super) read: Minute,
    pub(super) task: Minute,
    pub(super) login: Minute,
    pub(super) delivery: Histogram<u64>,
    pub(super) delivered: u64,
    pub(super) reconnects: u64,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Row {
    pub(super) fn markdown(&self) -> String {
        let size = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0}"));
        let errors = self.post.errors + self.read.errors + self.task.errors + self.login.errors;
        format!(
            "| {} | {:.1} | {:.1} | {} | {} | {:.1} / {:.1} / {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {} ({:.1}) | {} | {} |",
            self.minute,
            self.rss_mib,
            self.anon_mib,
            size(self.db_mib),
            size(self.wal_mib),
            ms(self.post.hist.value_at_quantile(0.5)),
            ms(self.post.hist.value_at_quantile(0.99)),
            ms(self.post.hist.max()),
            ms(self.post.sent.value_at_quantile(0.99)),
            ms(self.read.hist.value_at_quantile(0.99)),
            ms(self.task.hist.value_at_quantile(0.99)),
            ms(self.login.hist.value_at_quantile(0.99)),
            self.delivered,
            ms(self.delivery.value_at_quantile(0.99)),
            self.reconnects,
            errors,
        )
    }
}

pub(super) const HEADER: &str = "| min | RSS MiB | anon MiB | DB MiB | WAL MiB | post p50 / p99 / max ms | post p99 ms from sending | \
                      read p99 ms | task p99 ms | login p99 ms | deliveries (p99 ms) | reconnects | errors |\n\
                      |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The database's size in MiB: the SQLite file and its WAL, or PostgreSQL's `pg_database_size`
/// (read with `psql`; none if that fails).
pub(super) fn db_size(server: &Server) -> (Option<f64>, Option<f64>) {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    if let Ok(url) = std::env::var("FERROBASE_DATABASE_URL")
        && url.starts_with("postgres")
    {
        let out = std::process::Command::new("psql")
            .args([url.as_str(), "-Atc", "SELECT pg_database_size(current_database())"])
            .output();
        let size = out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u64>().ok());
        return (size.map(mib), None);
    }
    let file = |suffix: &str| {
        std::fs::read_dir(server.data_dir())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    (Some(mib(file(".db"))), Some(mib(file(".db-wal"))))
}
