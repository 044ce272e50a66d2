//! The Prometheus recorder behind every metric.
//!
//! The `metrics` facade keeps one recorder per process (its design, not ours); the handle is
//! created once and shared by every app in the process, which only matters in tests.
//!
//! The recorder keeps every histogram sample until it is folded into the buckets, which
//! happens on a scrape or in [`crate::housekeeping`]: without that, an instance nobody
//! scrapes would grow by about 8 bytes per request for as long as it runs.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install_metrics() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours just stays unused.
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            handle
        })
        .clone()
}

/// The metrics without labels, with their help text. Each is registered at zero, so that a
/// fresh instance already shows every series a dashboard or an alert asks for: a counter that
/// appears only at its first increment reads as "no data", not as "none happened".
pub const METRICS: &[(&str, Kind, &str)] = &[
    ("realtime_connections", Kind::Gauge, "Open realtime connections (gateway, room sockets, socket.io)."),
    ("realtime_subscriptions", Kind::Gauge, "Topic subscriptions of the open connections."),
    (
        "realtime_paced_connections",
        Kind::Gauge,
        "Gateway and room-socket connections whose writes are paced: they receive 200 frames a second or more \
         while the instance's firehose load keeps it busy (from FERROBASE_WS_PACING_FROM until 2 s below four fifths of it).",
    ),
    (
        "realtime_firehose_frames_per_second",
        Kind::Gauge,
        "Frames per second to gateway and room-socket connections that each receive 200 or more, summed: \
         the firehose load that FERROBASE_WS_PACING_FROM is compared with.",
    ),
    ("realtime_published_total", Kind::Counter, "Events published on topics."),
    ("realtime_delivered_total", Kind::Counter, "Event deliveries queued for connections."),
    (
        "realtime_dropped_total",
        Kind::Counter,
        "Deliveries dropped because a connection's queue was full (it is told to resync).",
    ),
    (
        "realtime_backplane_dropped_total",
        Kind::Counter,
        "Events that could not be sent to or through the Redis backplane.",
    ),
    (
        "cache_announcements_dropped_total",
        Kind::Counter,
        "Cache invalidations that could not be announced to other instances.",
    ),
    ("events_delivered_total", Kind::Counter, "Domain events the broker confirmed."),
    ("events_broker_failures_total", Kind::Counter, "Failed attempts to publish domain events to the broker."),
    ("mail_withheld_total", Kind::Counter, "Mails not sent because a recipient's or sender's limit was reached."),
    ("chat_message_batches_total", Kind::Counter, "Transactions that stored chat messages."),
    ("chat_message_inserts_total", Kind::Counter, "Statements that inserted chat messages."),
    ("chat_message_batch_messages_total", Kind::Counter, "Chat messages stored."),
];

/// What kind of metric an entry of [`METRICS`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

fn describe_metrics() {
    for &(name, kind, help) in METRICS {
        match kind {
            Kind::Counter => {
                metrics::describe_counter!(name, help);
                metrics::counter!(name).increment(0);
            }
            Kind::Gauge => {
                metrics::describe_gauge!(name, help);
                metrics::gauge!(name).increment(0.0);
            }
        }
    }
    metrics::describe_counter!("http_requests_total", "HTTP requests answered, by method, route and status.");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer HTTP requests, by method, route and status."
    );
    metrics::describe_counter!("outbox_delivered_total", "Outbox rows delivered, by kind.");
    metrics::describe_counter!("outbox_failed_total", "Outbox delivery attempts that failed, by kind.");
    metrics::describe_gauge!(
        "outbox_rows",
        "Outbox rows waiting, by status: pending (to be delivered) or parked (given up)."
    );
    metrics::describe_counter!(
        "jobs_runs_total",
        "Scheduled job runs on this instance, by job and outcome (ok, failed)."
    );
}
