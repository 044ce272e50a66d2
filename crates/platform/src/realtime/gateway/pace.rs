//! Write pacing for connections that receive a firehose, while the instance is busy with them.
//!
//! Each flush to a socket costs the server a system call and the loopback or network stack's
//! work, and costs the client a wake-up and a read, whatever the flush carries. A connection
//! that is written each time an event arrives pays those costs per event; when hundreds of events
//! a second reach each of thousands of sockets, the writes alone take most of a core on the
//! server and the reads as much again on the clients, and everything waits behind them
//! (docs/benchmarks.md, fourteenth session). Where the instance keeps up, though, holding events
//! only makes them late (fifteenth session). So a connection that has been receiving at least
//! [`FIREHOSE_RATE`] frames a second is a firehose, the rates of the instance's firehoses are
//! summed in its [`FirehoseLoad`], and while that load keeps the instance busy (see there)
//! each firehose flushes events at most once per [`FIREHOSE_EVERY`] unless a write batch fills:
//! what arrives in between is held and written with the next flush (answers to the client's
//! frames and pings are written as they come). Every other connection, and every firehose while
//! the instance is not busy, writes each event as soon as it arrives. A connection's rate counts
//! every frame it writes, held ones included; pacing delays a write by 100 ms at most and drops
//! none, so it does not lower the load that turned it on. Pacing never drops or reorders
//! anything, and a held batch that reaches the write batch is written at once, so it never
//! limits throughput either. While events are held, the client's own frames wait in the socket
//! until the flush (a Close read earlier would end the connection with the held events unsent);
//! after each flush they are read first until the next flush is due, so each waits through one
//! hold at most and events still get a turn every interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Frames per second from which a connection is a firehose.
pub const FIREHOSE_RATE: f64 = 200.0;

/// The shortest time between two flushes of a paced connection: the longest an event waits
/// for its batch. At [`FIREHOSE_RATE`] a flush carries about twenty frames.
pub const FIREHOSE_EVERY: Duration = Duration::from_millis(100);

/// The default threshold of [`FirehoseLoad`], per core: frames per second to firehose
/// connections, summed. On two cores shared with the load generator, 1 000 sockets at 400
/// frames a second each (400 000 in all) were written one event at a time with a p99 of 32–37
/// ms, and 2 000 at 400 (800 000) fell about a second behind (p99 0.76–1.05 s;
/// docs/benchmarks.md, thirteenth session).
pub const PACING_FROM_PER_CORE: u64 = 300_000;

/// The time over which a connection's rate is measured.
const WINDOW: Duration = Duration::from_millis(250);

/// How long the firehose load must stay below four fifths of the threshold before pacing
/// stops. A room's senders pause (a database write that takes a moment, a sender's client that
/// falls behind) and the rates measured over the next windows dip with them; pacing that stopped
/// at every dip would let the writes pile up again for a moment each time.
const CALM: Duration = Duration::from_secs(2);

/// The instance's firehose load: the last measured rates of its firehose connections, summed,
/// and whether that keeps the instance busy, so that they are paced. The instance becomes busy
/// when the load reaches the threshold and stops being busy once the load has stayed below four
/// fifths of it for [`CALM`], or at once when no firehose is left: a load near the threshold,
/// or one that dips for a moment, does not turn pacing on and off. Shared by every connection
/// of the gateway.
#[derive(Debug)]
pub struct FirehoseLoad {
    /// From this total on, the instance is busy.
    from: u64,
    /// Whether the instance is busy, as last decided: read for every event of a firehose.
    busy: AtomicBool,
    /// The total and the decision, changed together under this lock, so that the last decision
    /// always saw the last change. (Decided apart from its change, a connection paused between
    /// the two could store a stale "busy" after the last firehose left, and nothing would
    /// correct it.) Taken a few times a second per firehose, never per event.
    state: Mutex<LoadState>,
    /// `realtime_firehose_frames_per_second`.
    gauge: metrics::Gauge,
}

/// The state behind [`FirehoseLoad::busy`].
#[derive(Debug, Default)]
struct LoadState {
    /// Frames per second, summed over the connections measured at [`FIREHOSE_RATE`] or more.
    total: u64,
    busy: bool,
    /// Since when the total has been below four fifths of the threshold, as seen by the
    /// measures of connections still there.
    below_since: Option<Instant>,
}

impl FirehoseLoad {
    /// An instance with no firehose yet, busy from `from` frames a second in all (at least 1).
    pub fn new(from: u64) -> Self {
        FirehoseLoad {
            from: from.max(1),
            busy: AtomicBool::new(false),
            state: Mutex::new(LoadState::default()),
            gauge: metrics::gauge!("realtime_firehose_frames_per_second"),
        }
    }

    /// A connection's share was `old` frames a second and is now `new`: measured at `now`, at
    /// the end of each of its windows while either is not 0 (so that a load that stays below
    /// the threshold is seen to stay there even when no share changes), or `None` when the
    /// connection ended.
    fn update(&self, old: u64, new: u64, now: Option<Instant>) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Every share is added before it is taken back, so the total never goes below 0.
        state.total = (state.total + new).saturating_sub(old);
        let total = state.total;
        #[allow(clippy::cast_precision_loss)] // a gauge; frames a second fit an f64's 53 bits
        self.gauge.set(total as f64);
        if total >= self.from {
            state.below_since = None;
            state.busy = true;
        } else if total == 0 {
            // No firehose left, so none to pace: the next one starts on a calm instance.
            *state = LoadState::default();
        } else if total < self.from - self.from / 5 {
            // The calm is timed by the measures of connections that are still there.
            if let Some(now) = now {
                let since = *state.below_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= CALM {
                    state.busy = false;
                }
            }
        } else {
            state.below_since = None;
        }
        if self.busy.load(Ordering::Relaxed) != state.busy {
            self.busy.store(state.busy, Ordering::Relaxed);
        }
    }

    /// True while the instance's firehoses are paced.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

/// A connection's recent write rate and last flush.
#[derive(Debug)]
pub struct Pace {
    load: Arc<FirehoseLoad>,
    last_flush: Option<Instant>,
    window_start: Instant,
    window_frames: u32,
    /// Frames per second over the last full window.
    rate: f64,
    /// This connection's part of `load`: its rate while it is a firehose, else 0.
    share: u64,
    /// Whether `realtime_paced_connections` counts this connection.
    counted: bool,
}

impl Pace {
    /// A connection of an instance with `load` that has written nothing yet.
    pub fn new(load: Arc<FirehoseLoad>, now: Instant) -> Self {
        Pace { load, last_flush: None, window_start: now, window_frames: 0, rate: 0.0, share: 0, counted: false }
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

    /// Ends the window if it is over: measures the rate, gives the instance's load this
    /// connection's new share, and counts the connection in or out of
    /// `realtime_paced_connections`. Called at every flush, and at the connection's heartbeat,
    /// so that one that falls quiet (and so flushes no more) leaves both within a heartbeat.
    pub fn measure(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= WINDOW {
            self.rate = f64::from(self.window_frames) / elapsed.as_secs_f64();
            self.window_frames = 0;
            self.window_start = now;
            // Whole frames a second; a rate is finite and not negative.
            let share = if self.firehose() { self.rate.round() as u64 } else { 0 };
            if share != 0 || self.share != 0 {
                self.load.update(self.share, share, Some(now));
                self.share = share;
            }
        }
        self.count(self.paced());
    }

    fn firehose(&self) -> bool {
        self.rate >= FIREHOSE_RATE
    }

    fn paced(&self) -> bool {
        self.firehose() && self.load.busy()
    }

    fn count(&mut self, paced: bool) {
        if paced != self.counted {
            self.counted = paced;
            let gauge = metrics::gauge!("realtime_paced_connections");
            if paced { gauge.increment(1.0) } else { gauge.decrement(1.0) }
        }
    }
}

/// A connection that ends leaves the instance's load and the count of paced connections.
impl Drop for Pace {
    fn drop(&mut self) {
        if self.share > 0 {
            self.load.update(self.share, 0, None);
        }
        self.count(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instance whose firehoses are paced as soon as there is one.
    fn eager() -> Arc<FirehoseLoad> {
        Arc::new(FirehoseLoad::new(1))
    }

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
        let mut pace = Pace::new(eager(), start);
        // 100 frames a second, in bursts of ten: a busy chat room.
        let last = feed(&mut pace, start, Duration::from_millis(100), 10, 20);
        assert_eq!(pace.hold_until(|| last + Duration::from_millis(1)), None);
        // A first event is never held.
        assert_eq!(Pace::new(eager(), start).hold_until(|| start), None);
    }

    /// A connection of an instance with `load`, opened at `start`, that received 400 frames a
    /// second for half a second, written one flush per event; and the instant of its last flush.
    fn firehose_from(load: &Arc<FirehoseLoad>, start: Instant) -> (Pace, Instant) {
        let mut pace = Pace::new(load.clone(), start);
        let last = feed(&mut pace, start, Duration::from_micros(2500), 1, 200);
        (pace, last)
    }

    fn firehose(load: &Arc<FirehoseLoad>) -> (Pace, Instant) {
        firehose_from(load, Instant::now())
    }

    #[test]
    fn a_firehose_writes_at_most_once_per_interval() {
        let (pace, last) = firehose(&eager());
        let soon = last + Duration::from_millis(10);
        assert_eq!(pace.hold_until(|| soon), Some(last + FIREHOSE_EVERY));
        // Once the interval has passed, the next event goes out at once.
        assert_eq!(pace.hold_until(|| last + FIREHOSE_EVERY), None);
    }

    #[test]
    fn firehoses_are_paced_only_while_the_instance_is_busy_with_them() {
        // Busy from 2 000 frames a second in all: five sockets at 400 a second. One clock for
        // the whole test; `now` is the latest instant any socket has seen.
        let load = Arc::new(FirehoseLoad::new(2000));
        let held = |pace: &Pace, last: Instant| pace.hold_until(|| last + Duration::from_millis(10)).is_some();
        let start = Instant::now();
        let mut sockets: Vec<(Pace, Instant)> = (0..4).map(|_| firehose_from(&load, start)).collect();
        assert!(sockets.iter().all(|(p, last)| !held(p, *last)), "1 600 frames a second: written as they come");
        sockets.push(firehose_from(&load, start));
        assert!(sockets.iter().all(|(p, last)| held(p, *last)), "2 000 a second: every firehose is paced");
        // Pacing does not lower the load it is measured by: a paced socket's windows still
        // count what arrived, one flush of forty frames every 100 ms.
        let (mut paced, now) = sockets.pop().unwrap_or_else(|| unreachable!());
        let mut paced_for = |flushes: u32, from: Instant| feed(&mut paced, from, FIREHOSE_EVERY, 40, flushes);
        let now = paced_for(5, now);
        // Two sockets end: 1 200 a second, below four fifths of the threshold. A second of that
        // is a dip and pacing goes on; more than two seconds of it, and it stops.
        sockets.truncate(2);
        let now = paced_for(10, now);
        assert!(load.busy(), "1 200 frames a second for a second: still paced");
        let now = paced_for(15, now);
        assert!(!load.busy(), "1 200 a second for 2.5 s: written as they come again");
        // Between four fifths and the threshold it stays as it was, however long.
        sockets.push(firehose_from(&load, now));
        let now = paced_for(30, now + Duration::from_millis(500));
        assert!(!load.busy(), "1 600 a second for 3 s, having been below: still not paced");
        sockets.push(firehose_from(&load, now));
        assert!(load.busy(), "2 000 a second again");
        sockets.pop();
        let now = paced_for(30, now + Duration::from_millis(500));
        assert!(load.busy(), "1 600 a second for 3 s, having been above: still paced");
        // Going above the threshold starts the calm again: 1.5 s below, a moment above (one
        // socket at 800 a second, straight from below to above), and 1.5 s below again is not
        // 2 s of calm.
        sockets.pop();
        let now = paced_for(15, now);
        let mut burst = Pace::new(load.clone(), now);
        feed(&mut burst, now, Duration::from_micros(1250), 1, 400);
        assert!(load.busy(), "2 000 a second");
        drop(burst);
        let now = paced_for(15, now + Duration::from_millis(500));
        assert!(load.busy(), "1 200 a second for 1.5 s since it was last above: still paced");
        paced_for(10, now);
        assert!(!load.busy(), "and 2.5 s: not");
        drop((sockets, paced));
        let total = load.state.lock().map(|state| state.total).unwrap_or(u64::MAX);
        assert_eq!(total, 0, "every connection took its share back");
        // A stale "busy" would pace the next firehose of an idle instance.
        let (next, last) = firehose(&load);
        assert!(!held(&next, last), "no firehose left: the next one is not paced");
    }

    /// A Prometheus recorder of the test's own (`cargo test` shares the global one between
    /// tests), and a reader of one series' value from it.
    fn recorder() -> (metrics_exporter_prometheus::PrometheusRecorder, impl Fn(&str) -> Option<String>) {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let read = move |series: &str| {
            let text = handle.render();
            text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')).map(str::to_owned)
        };
        (recorder, read)
    }

    #[test]
    fn the_load_is_shown_as_a_gauge() {
        let (recorder, read) = recorder();
        let shown = || {
            let value = read("realtime_firehose_frames_per_second");
            value.and_then(|n| n.parse::<f64>().ok()).unwrap_or(-1.0)
        };
        metrics::with_local_recorder(&recorder, || {
            let load = Arc::new(FirehoseLoad::new(1_000_000));
            let start = Instant::now();
            let first = firehose_from(&load, start);
            let second = firehose_from(&load, start);
            assert!((790.0..=810.0).contains(&shown()), "two firehoses at 400 a second: {}", shown());
            drop(first);
            assert!((395.0..=405.0).contains(&shown()), "one: {}", shown());
            drop(second);
            assert!(shown().abs() < f64::EPSILON, "none: {}", shown());
        });
    }

    #[test]
    fn paced_connections_are_counted_until_they_slow_down_fall_quiet_or_end() {
        let (recorder, read) = recorder();
        let counted = || read("realtime_paced_connections");
        metrics::with_local_recorder(&recorder, || {
            let load = eager();
            let (mut slowed, last) = firehose(&load);
            let (mut quiet, _) = firehose(&load);
            let (ended, _) = firehose(&load);
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
            // A firehose of an instance that is not busy with firehoses is not paced.
            let (idle, _) = firehose(&Arc::new(FirehoseLoad::new(1_000_000)));
            assert_eq!(counted().as_deref(), Some("0"), "a firehose that is not paced");
            drop(idle);
            assert_eq!(counted().as_deref(), Some("0"));
        });
    }

    #[test]
    fn a_firehose_that_stops_is_not_held_when_it_resumes() {
        let (mut pace, last) = firehose(&eager());
        // A quiet second, then one event: written at once, and the rate measured again.
        let later = last + Duration::from_secs(1);
        assert_eq!(pace.hold_until(|| later), None);
        pace.flushed(later, 1);
        assert_eq!(pace.hold_until(|| later + Duration::from_millis(1)), None, "one frame in a second is no firehose");
    }
}
