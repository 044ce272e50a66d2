//! Write pacing for a connection that receives a firehose.
//!
//! Each flush to a socket costs the server a system call and the loopback or network stack's
//! work, and costs the client a wake-up and a read, whatever the flush carries. A connection
//! that is written each time an event arrives pays those costs per event; when hundreds of events
//! a second reach each of thousands of sockets, the writes alone take most of a core on the
//! server and the reads as much again on the clients, and everything waits behind them
//! (docs/benchmarks.md, fourteenth session). So a connection that has been receiving at least
//! [`FIREHOSE_RATE`] frames a second flushes events at most once per [`FIREHOSE_EVERY`] unless
//! a write batch fills: what arrives in between is held and written with the next flush
//! (answers to the client's frames and pings are written as they come). A connection below that rate, which is
//! every ordinary one, writes each event as soon as it arrives, as before. Pacing never drops
//! or reorders anything, and a held batch that reaches the write batch is written at once, so
//! it never limits throughput either. While events are held, the client's own frames wait in
//! the socket until the flush (a Close read earlier would end the connection with the held
//! events unsent); after each flush they are read first until the next flush is due, so each
//! waits through one hold at most and events still get a turn every interval.

use std::time::Duration;
use tokio::time::Instant;

/// Frames per second from which a connection's writes are paced.
pub const FIREHOSE_RATE: f64 = 200.0;

/// The shortest time between two flushes of a paced connection: the longest an event waits
/// for its batch. At [`FIREHOSE_RATE`] a flush carries about twenty frames.
pub const FIREHOSE_EVERY: Duration = Duration::from_millis(100);

/// The time over which the rate is measured.
const WINDOW: Duration = Duration::from_millis(250);

/// A connection's recent write rate and last flush.
#[derive(Debug)]
pub struct Pace {
    last_flush: Option<Instant>,
    window_start: Instant,
    window_frames: u32,
    /// Frames per second over the last full window.
    rate: f64,
}

impl Pace {
    /// A connection that has written nothing yet.
    pub fn new(now: Instant) -> Self {
        Pace { last_flush: None, window_start: now, window_frames: 0, rate: 0.0 }
    }

    /// When an event arriving now may be written: `None` for at once, or the instant its held
    /// batch is due. `now` is called only for a paced connection, so that ordinary ones, which
    /// are almost all, do not read the clock for every event.
    pub fn hold_until(&self, now: impl FnOnce() -> Instant) -> Option<Instant> {
        if !self.paced() {
            return None;
        }
        let due = self.last_flush? + FIREHOSE_EVERY;
        (due > now()).then_some(due)
    }

    /// Records a flush of `frames` frames at `now`.
    pub fn flushed(&mut self, now: Instant, frames: usize) {
        self.last_flush = Some(now);
        self.window_frames = self.window_frames.saturating_add(u32::try_from(frames).unwrap_or(u32::MAX));
        self.measure(now);
    }

    /// Ends the window if it is over: measures the rate, and counts the connection in or out
    /// of `realtime_paced_connections`. Called at every flush, and at the connection's
    /// heartbeat, so that one that falls quiet (and so flushes no more) leaves the count
    /// within a heartbeat.
    pub fn measure(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= WINDOW {
            let was_paced = self.paced();
            self.rate = f64::from(self.window_frames) / elapsed.as_secs_f64();
            self.window_frames = 0;
            self.window_start = now;
            if self.paced() != was_paced {
                let gauge = metrics::gauge!("realtime_paced_connections");
                if was_paced { gauge.decrement(1.0) } else { gauge.increment(1.0) }
            }
        }
    }

    fn paced(&self) -> bool {
        self.rate >= FIREHOSE_RATE
    }
}

/// A connection that ends while paced leaves the count of paced connections.
impl Drop for Pace {
    fn drop(&mut self) {
        if self.paced() {
            metrics::gauge!("realtime_paced_connections").decrement(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flushes `per_flush` frames every `gap` for `flushes` times from `start`; returns the
    /// instant of the last flush.
    fn feed(pace: &mut Pace, start: Instant, gap: Duration, per_flush: usize, flushes: u32) -> Instant {
        let mut now = start;
        for _ in 0..flushes {
            now += gap;
            pace.flushed(now, per_flush);
        }
        now
    }

    #[test]
    fn an_ordinary_connection_is_never_held() {
        let start = Instant::now();
        let mut pace = Pace::new(start);
        // 100 frames a second, in bursts of ten: a busy chat room.
        let last = feed(&mut pace, start, Duration::from_millis(100), 10, 20);
        assert_eq!(pace.hold_until(|| last + Duration::from_millis(1)), None);
        // A first event is never held.
        assert_eq!(Pace::new(start).hold_until(|| start), None);
    }

    /// A connection that received 400 frames a second for half a second, written one flush per
    /// event; and the instant of its last flush.
    fn firehose() -> (Pace, Instant) {
        let start = Instant::now();
        let mut pace = Pace::new(start);
        let last = feed(&mut pace, start, Duration::from_micros(2500), 1, 200);
        (pace, last)
    }

    #[test]
    fn a_firehose_writes_at_most_once_per_interval() {
        let (pace, last) = firehose();
        let soon = last + Duration::from_millis(10);
        assert_eq!(pace.hold_until(|| soon), Some(last + FIREHOSE_EVERY));
        // Once the interval has passed, the next event goes out at once.
        assert_eq!(pace.hold_until(|| last + FIREHOSE_EVERY), None);
    }

    #[test]
    fn paced_connections_are_counted_until_they_slow_down_fall_quiet_or_end() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let counted = || {
            let text = handle.render();
            text.lines().find_map(|l| l.strip_prefix("realtime_paced_connections ")).map(str::to_owned)
        };
        metrics::with_local_recorder(&recorder, || {
            let (mut slowed, last) = firehose();
            let (mut quiet, _) = firehose();
            let (ended, _) = firehose();
            assert_eq!(counted().as_deref(), Some("3"));
            // Ten frames a second from now on.
            feed(&mut slowed, last, Duration::from_millis(100), 1, 3);
            assert_eq!(counted().as_deref(), Some("2"), "a connection that slowed down");
            // No flush at all, then its heartbeat.
            quiet.measure(last + Duration::from_secs(30));
            assert_eq!(counted().as_deref(), Some("1"), "a connection that fell quiet");
            drop(ended);
            assert_eq!(counted().as_deref(), Some("0"), "a connection that ended");
            drop((slowed, quiet));
            assert_eq!(counted().as_deref(), Some("0"), "counted out once only");
        });
    }

    #[test]
    fn a_firehose_that_stops_is_not_held_when_it_resumes() {
        let (mut pace, last) = firehose();
        // A quiet second, then one event: written at once, and the rate measured again.
        let later = last + Duration::from_secs(1);
        assert_eq!(pace.hold_until(|| later), None);
        pace.flushed(later, 1);
        assert_eq!(pace.hold_until(|| later + Duration::from_millis(1)), None, "one frame in a second is no firehose");
    }
}
