//! The socket.io transport for task boards (`/socket.io/`, socket.io protocol v5).
//!
//! A client connects with `auth: {token}` (an access token; refused without a valid one), then
//! emits `join:project {projectId}` (ack `{ok: true}`, or `{ok: false, error}` when it may not
//! read the project) and `leave:project {projectId}`. It then receives the project's events
//! (`task:created`, `task:updated`, `task:deleted`, `comment:created`, `project:updated`,
//! `member:added`, `member:removed` …) exactly as the native gateway's topic
//! `work.project.{id}` carries them.
//!
//! socket.io is only an adapter over the [`Hub`]: each socket has one hub connection, joining
//! a project subscribes it to the project's topic (authorised by the work module like every
//! subscription), and events reach it through the hub, so they cross instances through the
//! same Redis backplane. The socket is also joined to the socket.io room `project:{id}`. It is
//! disconnected when its session ends (logout, revocation) or its access token expires, and
//! when it sends faster than the gateway's per-connection message rate. A socket whose queue
//! overflowed receives `resync {missed}`: reload the board. Sockets' connection loops run in
//! shared driver tasks rather than a task each (see [`Drivers`]).

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use platform::auth::AuthUser;
use platform::realtime::{Bucket, EntryMemo, Frames, Gateway, SubscribeError};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketError, SocketIo};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Largest socket.io packet accepted from a client.
const MAX_PAYLOAD: u64 = 64 * 1024;

/// The connection payload.
#[derive(Debug, Deserialize)]
struct ConnectAuth {
    token: String,
}

/// Why a connection was refused (sent to the client as the `connect_error` message).
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// What a socket's handlers ask of its connection loop.
enum Command {
    Join(Uuid, oneshot::Sender<Result<(), &'static str>>),
    Leave(Uuid),
    Disconnected,
}

/// The socket.io layer to put on the router, and the server handle.
pub fn layer(gateway: Gateway) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_PAYLOAD)
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .build_layer();
    // Everything happens in the middleware: socketioxide sends the client its CONNECT packet
    // before it runs the connect handler (in a task of its own), so handlers registered there
    // could miss an event the client emits right after connecting.
    let events = EntryMemo::<Events>::default();
    let drivers = Drivers::default();
    let authenticate = move |socket: SocketRef, TryData(data): TryData<ConnectAuth>| {
        let (gateway, events, drivers) = (gateway.clone(), events.clone(), drivers.clone());
        async move {
            let token = data.map_err(|_| Refused("authentication required: connect with auth {token}"))?.token;
            let user = gateway.auth.authenticate(&token).await.map_err(|_| Refused("invalid or expired token"))?;
            start(gateway, socket, user, events, &drivers);
            Ok::<(), Refused>(())
        }
    };
    let connected = async |_: SocketRef| {};
    io.ns("/", connected.with(authenticate));
    (layer, io)
}

/// The project id of a `{projectId}` payload.
fn project_id(data: &Value) -> Option<Uuid> {
    data.get("projectId")
        .or_else(|| data.get("project_id"))
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// A hub entry's frames as socket.io events: name and data (as JSON text), in order.
type Events = Arc<[(String, Box<RawValue>)]>;

/// The parts of a hub frame that socket.io sends.
#[derive(Deserialize)]
struct HubFrame {
    event: String,
    data: Option<Box<RawValue>>,
}

/// Parses a hub entry once for every socket that delivers it (see [`EntryMemo`]), keeping each
/// event's data as JSON text, which socketioxide copies into each socket's packet as it is.
/// Parsed per socket into a tree and encoded again, the frames of a thousand-socket board took
/// a third more of the server's CPU and five times its latency (docs/benchmarks.md).
fn events_of(entry: &Frames) -> Events {
    entry
        .iter()
        .filter_map(|frame| {
            let frame: HubFrame = serde_json::from_str(frame).ok()?;
            let data = frame.data.or_else(|| RawValue::from_string("null".into()).ok())?;
            Some((frame.event, data))
        })
        .collect()
}

/// Registers the socket's handlers and runs its connection loop on one of the drivers.
fn start(gateway: Gateway, socket: SocketRef, user: AuthUser, events: EntryMemo<Events>, drivers: &Drivers) {
    let (commands, inbox) = mpsc::channel::<Command>(16);
    let joins = commands.clone();
    socket.on("join:project", move |TryData(data): TryData<Value>, ack: AckSender| {
        let joins = joins.clone();
        async move {
            let answer = match data.ok().as_ref().and_then(project_id) {
                None => json!({"ok": false, "error": "send {projectId} with a project id"}),
                Some(project) => {
                    let (reply, answer) = oneshot::channel();
                    let _ = joins.send(Command::Join(project, reply)).await;
                    match answer.await {
                        Ok(Ok(())) => json!({"ok": true}),
                        Ok(Err(error)) => json!({"ok": false, "error": error}),
                        Err(_) => json!({"ok": false, "error": "disconnected"}),
                    }
                }
            };
            let _ = ack.send(&answer);
        }
    });
    let leaves = commands.clone();
    socket.on("leave:project", move |TryData(data): TryData<Value>, ack: AckSender| {
        let leaves = leaves.clone();
        async move {
            if let Some(project) = data.ok().as_ref().and_then(project_id) {
                let _ = leaves.send(Command::Leave(project)).await;
            }
            let _ = ack.send(&json!({"ok": true}));
        }
    });
    socket.on_disconnect(move || {
        let commands = commands.clone();
        async move {
            let _ = commands.send(Command::Disconnected).await;
        }
    });
    // However the loop ends (session ended or revoked, token expired, rate exceeded, an emit
    // failed because the send buffer was full, a panic, or dropped before it ever ran), the
    // socket no longer receives the board's events: closed, its client reconnects and reloads
    // the board, where a socket left connected would wait for them forever.
    let disconnects = Disconnects(socket.clone());
    let connection = connection_loop(gateway, socket, user, inbox, events);
    drivers.adopt(async move {
        let _disconnects = disconnects;
        connection.await;
    });
}

/// A socket's connection loop, as the drivers run it.
type Loop = BoxFuture<'static, ()>;

/// Connection loops one driver runs at most. A driver polls its woken loops one after the
/// other, so a board event with large frames holds it for the sum of their emits; small drivers
/// keep that short and let the runtime spread them over its workers.
const LOOPS_PER_DRIVER: usize = 128;

/// The tasks that run the sockets' connection loops on this instance, each up to
/// [`LOOPS_PER_DRIVER`] of them.
///
/// A board event wakes the loop of each socket on the board, and each loop hands the event to
/// socketioxide, whose own task per socket writes it. With a task per loop, a thousand-socket
/// board cost two thousand task hand-offs per event, and every delivery waited in the runtime's
/// queues twice (p50 36–105 ms, against 15–19 ms on the native gateway, whose task per socket
/// writes itself). In a driver, a woken loop is an entry in the driver's ready set, and the
/// driver is woken once for all of them (docs/benchmarks.md, twelfth session).
#[derive(Clone)]
struct Drivers(Arc<DriverParts>);

struct DriverParts {
    per_driver: usize,
    /// The drivers started so far (the first with the first socket).
    drivers: Mutex<Vec<Driver>>,
}

/// One driver: the queue it takes new loops from, and how many it runs.
struct Driver {
    queue: mpsc::UnboundedSender<Loop>,
    running: Arc<AtomicUsize>,
}

/// Counts a loop out of its driver when the loop ends, panics included.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Drivers {
    fn default() -> Self {
        Self::new(LOOPS_PER_DRIVER)
    }
}

impl Drivers {
    fn new(per_driver: usize) -> Self {
        Self(Arc::new(DriverParts { per_driver, drivers: Mutex::default() }))
    }

    /// Hands `connection_loop` to the first driver with room for it, starting a driver when
    /// none has. The loop is boxed here, once, together with its place in the driver's count.
    fn adopt(&self, connection_loop: impl Future<Output = ()> + Send + 'static) {
        let mut drivers = self.0.drivers.lock().unwrap_or_else(PoisonError::into_inner);
        // A driver whose task ended (it panicked outside a loop) takes no more.
        drivers.retain(|driver| !driver.queue.is_closed());
        let free = drivers.iter().position(|driver| driver.running.load(Ordering::Relaxed) < self.0.per_driver);
        let driver = match free {
            Some(at) => &drivers[at],
            None => {
                let (queue, loops) = mpsc::unbounded_channel();
                tokio::spawn(drive(loops));
                drivers.push(Driver { queue, running: Arc::default() });
                &drivers[drivers.len() - 1]
            }
        };
        driver.running.fetch_add(1, Ordering::Relaxed);
        let running = Running(driver.running.clone());
        let counted = async move {
            let _running = running;
            connection_loop.await;
        };
        if let Err(refused) = driver.queue.send(counted.boxed()) {
            tracing::warn!("a socket.io driver ended; this connection loop runs as a task of its own");
            tokio::spawn(refused.0);
        }
    }
}

/// One driver: takes new loops from `loops` and runs them until they end. A loop that panics
/// ends alone (its socket is disconnected as it is dropped, see [`Disconnects`]).
async fn drive(mut loops: mpsc::UnboundedReceiver<Loop>) {
    let mut running = FuturesUnordered::new();
    let ended = |result: std::thread::Result<()>| {
        if result.is_err() {
            tracing::error!("a socket.io connection loop panicked");
        }
    };
    loop {
        tokio::select! {
            connection_loop = loops.recv() => match connection_loop {
                Some(connection_loop) => running.push(AssertUnwindSafe(connection_loop).catch_unwind()),
                None => break,
            },
            Some(result) = running.next(), if !running.is_empty() => ended(result),
        }
    }
    while let Some(result) = running.next().await {
        ended(result);
    }
}

/// Disconnects its socket when dropped, so that a socket whose loop ended, however it ended
/// (a panic included), does not stay connected hearing nothing.
struct Disconnects(SocketRef);

impl Drop for Disconnects {
    fn drop(&mut self) {
        disconnect(self.0.clone());
    }
}

/// How often, and for how long at most, a socket whose send buffer is full is asked again to
/// take its DISCONNECT packet: longer than engine.io's heartbeat (25 + 20 s), which closes a
/// client that reads nothing at all.
const DISCONNECT_RETRY: Duration = Duration::from_millis(50);
const DISCONNECT_RETRIES: u32 = 1_200;

/// Disconnects `socket`. socketioxide refuses while the socket's send buffer is full (the
/// DISCONNECT packet has no room in it) and then leaves the socket open, so this asks again
/// until the client has read enough to make room or the socket is gone, for a minute at most.
fn disconnect(socket: SocketRef) {
    // A client that left needs none (and a DISCONNECT sent then could reach a socket it opened
    // since on the same engine.io connection).
    if !socket.connected() {
        return;
    }
    let refused = |socket: &SocketRef| matches!(socket.clone().disconnect(), Err(SocketError::InternalChannelFull));
    if !refused(&socket) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        for _ in 0..DISCONNECT_RETRIES {
            tokio::time::sleep(DISCONNECT_RETRY).await;
            if !socket.connected() || !refused(&socket) {
                return;
            }
        }
    });
}

/// One socket's connection loop: subscriptions, forwarding hub events, closing when the
/// session ends or the token expires.
async fn connection_loop(
    gateway: Gateway,
    socket: SocketRef,
    user: AuthUser,
    mut inbox: mpsc::Receiver<Command>,
    events: EntryMemo<Events>,
) {
    let hub = &gateway.hub;
    let mut budget = Bucket::full(gateway.rate_burst);
    let mut conn = hub.connect();
    // Ended meanwhile: the loop below sees it as any end.
    gateway.bind_live(&conn, &user).await;
    let ended = conn.ended.clone();
    let audit = conn.audit.clone();
    let expires_in = Duration::from_secs(u64::try_from(user.expires_at - chrono::Utc::now().timestamp()).unwrap_or(0));
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            command = inbox.recv() => match command {
                Some(Command::Join(..) | Command::Leave(..)) if !budget.take(gateway.rate_per_sec, gateway.rate_burst) => {
                    tracing::info!(user = %user.user_id, "socket.io message rate exceeded; disconnecting");
                    break;
                }
                Some(Command::Join(project, reply)) => {
                    let topic = crate::model::project_topic(project);
                    let result = match hub.subscribe(&mut conn, &user, &topic).await {
                        Ok(()) => {
                            socket.join(format!("project:{project}"));
                            Ok(())
                        }
                        Err(SubscribeError::Failed(e)) => {
                            tracing::error!(error = %e.detail, "socket.io join failed");
                            Err("could not join now; try again")
                        }
                        Err(_) => Err("not a member of this project"),
                    };
                    let _ = reply.send(result);
                }
                Some(Command::Leave(project)) => {
                    hub.unsubscribe(&mut conn, &crate::model::project_topic(project));
                    socket.leave(format!("project:{project}"));
                }
                Some(Command::Disconnected) | None => break,
            },
            Some(frames) = conn.frames() => {
                if !emit_all(&socket, &events.get(&frames, events_of)) {
                    break;
                }
                let missed = conn.take_missed();
                if missed > 0 && socket.emit("resync", &json!({"missed": missed})).is_err() {
                    break;
                }
            }
            _ = ended.notified() => break,
            // Control messages may have been missed (the backplane was cut): re-check.
            _ = audit.notified() => {
                match hub.audit(&mut conn, &user, gateway.auth.sessions.as_ref()).await {
                    None => break,
                    Some(lost) => {
                        for topic in lost {
                            if let Some(project) = topic.strip_prefix("work.project.") {
                                socket.leave(format!("project:{project}"));
                            }
                        }
                    }
                }
            }
            _ = &mut expiry => break,
        }
    }
}

/// Emits each event; false when the socket is gone or its send buffer is full.
fn emit_all(socket: &SocketRef, events: &[(String, Box<RawValue>)]) -> bool {
    events.iter().all(|(event, data)| socket.emit(event.as_str(), data).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_loop_that_panics_leaves_the_other_loops_of_its_driver_running() {
        let drivers = Drivers::new(2);
        let (fail, failing) = oneshot::channel::<()>();
        drivers.adopt(async move {
            let _ = failing.await;
            panic!("a connection loop fails");
        });
        let (go, going) = oneshot::channel::<()>();
        let (done, finished) = oneshot::channel::<()>();
        drivers.adopt(async move {
            if going.await.is_ok() {
                let _ = done.send(());
            }
        });
        assert_eq!(drivers.0.drivers.lock().unwrap().len(), 1, "two loops fit one driver");
        fail.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = go.send(());
        let finished = tokio::time::timeout(Duration::from_secs(5), finished).await;
        assert!(matches!(finished, Ok(Ok(()))), "the neighbour of a panicking loop was dropped: {finished:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drivers_take_a_bounded_number_of_loops_and_reuse_the_places_of_ended_ones() {
        let drivers = Drivers::new(2);
        let running = |drivers: &Drivers| {
            let list = drivers.0.drivers.lock().unwrap();
            list.iter().map(|driver| driver.running.load(Ordering::Relaxed)).collect::<Vec<_>>()
        };
        let mut stops = Vec::new();
        for _ in 0..3 {
            let (stop, stopped) = oneshot::channel::<()>();
            drivers.adopt(async move {
                let _ = stopped.await;
            });
            stops.push(stop);
        }
        assert_eq!(running(&drivers), [2, 1]);
        stops.remove(0).send(()).unwrap();
        for _ in 0..200 {
            if running(&drivers) == [1, 1] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(running(&drivers), [1, 1], "an ended loop leaves its driver's count");
        drivers.adopt(std::future::pending::<()>());
        assert_eq!(running(&drivers), [2, 1], "a freed place is taken before another driver starts");
    }
}
