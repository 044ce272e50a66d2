//! One connection's life: authentication deadlines, the heartbeat, the order in which its loop
//! looks at what woke it, batched (and, for a firehose while the instance is busy, paced) writes
//! of queued events, and the client's frames. Every write is bounded (`write.rs`).

use super::gate::Gate;
use super::pace::Pace;
use super::write::{answer_close, bounded, close};
use super::{AUTH_TIMEOUT, Bucket, CLOSE_POLICY, CLOSE_UNAUTHORIZED, Gateway, HEARTBEAT, Mode, REAUTH_GRACE};
use crate::auth::AuthUser;
use crate::realtime::hub::{Connection, Frames, SubscribeError};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use serde_json::{Value, json};
use std::future::Future;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

struct Session {
    gateway: Gateway,
    conn: Connection,
    user: Option<AuthUser>,
    reauth_by: Option<Instant>,
    mode: Mode,
    pace: Pace,
    /// Entries taken from the queue and held for the next paced flush, oldest first.
    held: Vec<Frames>,
    /// Frames in `held`.
    held_frames: usize,
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// The instant of a token expiry given in Unix seconds.
fn expiry_instant(expires_at: i64) -> Instant {
    let left = expires_at - chrono::Utc::now().timestamp();
    Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

fn error_frame(reference: &Value, code: &str, message: &str) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": "error", "ref": reference, "code": code, "message": message}).to_string())
}

/// Runs one upgraded connection until it ends. A [`Mode::Topic`] socket must come with its
/// user, and is subscribed to its topic first (the owner authorises as usual).
pub async fn serve(gateway: Gateway, mut socket: WebSocket, user: Option<AuthUser>, mode: Mode) {
    let mut conn = gateway.hub.connect();
    if let (Mode::Topic(t), Some(u)) = (&mode, &user)
        && gateway.hub.subscribe(&mut conn, u, &t.topic).await.is_err()
    {
        close(&mut socket, CLOSE_UNAUTHORIZED, "not allowed on this topic").await;
        return;
    }
    let auth_by = if user.is_none() { Instant::now() + AUTH_TIMEOUT } else { far_future() };
    if let Some(u) = &user {
        // Ended meanwhile: the loop's first look closes it, as for any ended session.
        gateway.bind_live(&conn, u).await;
    }
    let ended = conn.ended.clone();
    let audit = conn.audit.clone();
    let pace = Pace::new(gateway.pacing.clone(), Instant::now());
    let mut s = Session { gateway, conn, user, reauth_by: None, mode, pace, held: Vec::new(), held_frames: 0 };
    let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    // Ticks missed while the loop was busy are not made up in a burst: that would count a
    // healthy client's pings as unanswered.
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut streak = 0u8;
    let mut unanswered_pings = 0u8;
    let mut bucket = Bucket::full(s.gateway.rate_burst);
    // The timers and notifications live across iterations and are reset only when what they
    // wait for changes (the token's expiry while no re-auth is pending; the re-auth deadline):
    // built afresh for every event, they cost a timer-wheel insert and removal and two
    // waiter-list updates per delivered frame, a tenth of a busy fan-out.
    let token_expiry = |s: &Session| s.user.as_ref().filter(|_| s.reauth_by.is_none()).map(|u| u.expires_at);
    let mut timed = (token_expiry(&s), s.reauth_by);
    let auth_timer = sleep_until(auth_by);
    let expiry_timer = sleep_until(timed.0.map_or_else(far_future, expiry_instant));
    let reauth_timer = sleep_until(s.reauth_by.unwrap_or_else(far_future));
    // Set when a paced connection starts holding events; looked at only while it holds some.
    let pace_timer = sleep_until(far_future());
    let ended_signal = ended.notified();
    let audit_signal = audit.notified();
    tokio::pin!(auth_timer, expiry_timer, reauth_timer, pace_timer, ended_signal, audit_signal);
    let gate = Gate::new();
    loop {
        let expiry = token_expiry(&s);
        if expiry != timed.0 {
            timed.0 = expiry;
            expiry_timer.as_mut().reset(expiry.map_or_else(far_future, expiry_instant));
            gate.open();
        }
        if s.reauth_by != timed.1 {
            timed.1 = s.reauth_by;
            reauth_timer.as_mut().reset(s.reauth_by.unwrap_or_else(far_future));
            gate.open();
        }
        // Polled in this order, the first ready branch wins: an ended session, an audit, the
        // token timers and the heartbeat first (they end or warn the socket and must not wait),
        // then a held batch that is due (it goes out before more events are taken), then queued
        // events, which wake this loop far more often than anything else, then the client's
        // frames, which get the first look after every [`EVENT_STREAK`] batches of events.
        // A paced connection changes the middle of that order ([`Look`]). The first branch is
        // polled only while its [`Gate`] is open.
        let look = s.look();
        let (unauthenticated, expires, reauthenticating) =
            (s.user.is_none(), s.user.is_some() && s.reauth_by.is_none(), s.reauth_by.is_some());
        tokio::select! {
            biased;
            control = gate.poll_if_open(|cx| {
                if ended_signal.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Control::Ended)
                } else if audit_signal.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Control::Audit)
                } else if unauthenticated && auth_timer.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Control::AuthDeadline)
                } else if expires && expiry_timer.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Control::Expired)
                } else if reauthenticating && reauth_timer.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Control::ReauthDeadline)
                } else if heartbeat.poll_tick(cx).is_ready() {
                    Poll::Ready(Control::Heartbeat)
                } else {
                    Poll::Pending
                }
            }) => {
                // The others may be ready as well and will not wake the task again, and the one
                // that was ready must be polled again to register (the heartbeat's next tick, a
                // new audit signal).
                gate.open();
                match control {
                    Control::Ended => {
                        close(&mut socket, CLOSE_UNAUTHORIZED, "session ended").await;
                        break;
                    }
                    Control::Audit => {
                        audit_signal.set(audit.notified());
                        if !s.audit().await {
                            close(&mut socket, CLOSE_UNAUTHORIZED, "session ended").await;
                            break;
                        }
                        if s.lost_its_topic() {
                            close(&mut socket, CLOSE_UNAUTHORIZED, "not allowed on this topic").await;
                            break;
                        }
                    }
                    Control::AuthDeadline => {
                        close(&mut socket, CLOSE_UNAUTHORIZED, "authentication required").await;
                        break;
                    }
                    Control::Expired => {
                        s.reauth_by = Some(Instant::now() + REAUTH_GRACE);
                        if bounded(socket.send(Message::Text(Utf8Bytes::from_static(r#"{"type":"reauth"}"#)))).await.is_err() { break }
                    }
                    Control::ReauthDeadline => {
                        close(&mut socket, CLOSE_UNAUTHORIZED, "access token expired").await;
                        break;
                    }
                    Control::Heartbeat => {
                        s.pace.measure(Instant::now());
                        if unanswered_pings >= 2 {
                            close(&mut socket, 1001, "heartbeat timeout").await;
                            break;
                        }
                        unanswered_pings += 1;
                        if bounded(socket.send(Message::Ping(Default::default()))).await.is_err() { break }
                    }
                }
            }
            _ = &mut pace_timer, if !s.held.is_empty() => {
                if s.forward(&mut socket).await.is_err() {
                    break;
                }
            }
            input = next_input(&mut socket, &mut s.conn, &mut streak, look) => match input {
                Input::Event(frame) => {
                    s.held_frames += frame.len();
                    s.held.push(frame);
                    s.conn.unwritten(s.held_frames);
                    if s.held_frames < WRITE_BATCH && let Some(due) = s.pace.hold_until(Instant::now) {
                        if s.held.len() == 1 {
                            pace_timer.as_mut().reset(due);
                        }
                        continue;
                    }
                    if s.forward(&mut socket).await.is_err() {
                        break;
                    }
                }
                Input::Client(incoming) => {
                    // Belt and braces: a frame that changes which wake-ups count (`auth`) also
                    // moves a deadline, which opens the gate at the loop's top.
                    gate.open();
                    // Every frame a client sends counts, whatever its kind: binary and ping frames
                    // cost the server as much to receive as text does.
                    if matches!(incoming, Some(Ok(ref m)) if !matches!(m, Message::Close(_)))
                        && !bucket.take(s.gateway.rate_per_sec, s.gateway.rate_burst)
                    {
                        close(&mut socket, CLOSE_POLICY, "message rate limit exceeded").await;
                        break;
                    }
                    let text = match incoming {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Binary(_))) => {
                            if bounded(socket.send(Message::Text(error_frame(&Value::Null, "unsupported_frame", "Send JSON text frames.")))).await.is_err() { break }
                            continue;
                        }
                        Some(Ok(Message::Pong(_))) => { unanswered_pings = 0; continue }
                        Some(Ok(Message::Ping(_))) => continue,
                        Some(Ok(Message::Close(_))) => {
                            answer_close(&mut socket).await;
                            break;
                        }
                        Some(Err(_)) | None => break,
                    };
                    if let Some(answer) = s.handle(&text).await
                        && bounded(socket.send(Message::Text(answer))).await.is_err()
                    {
                        break;
                    }
                    if s.lost_its_topic() {
                        close(&mut socket, CLOSE_UNAUTHORIZED, "not allowed on this topic").await;
                        break;
                    }
                }
            },
        }
    }
}

/// What woke a connection's loop other than its events and its client's frames.
enum Control {
    Ended,
    Audit,
    AuthDeadline,
    Expired,
    ReauthDeadline,
    Heartbeat,
}

/// Frames written before one flush when events queue up for a connection (entries are written
/// whole, so a flush carries up to `WRITE_BATCH + ENTRY_FRAMES - 1`).
const WRITE_BATCH: usize = 64;

/// Batches of events written in a row before the client's frames are looked at first.
const EVENT_STREAK: u8 = 8;

/// What woke a socket's loop: an event to write, or what the client sent (None: it is gone).
enum Input {
    Event(Frames),
    Client(Option<Result<Message, axum::Error>>),
}

/// Which of its inputs a connection's loop looks at, and in which order.
#[derive(Clone, Copy)]
enum Look {
    /// Events first, except once every [`EVENT_STREAK`] batches of events, when the client's
    /// frames go first, so that a busy room cannot hold back what a client sends (its pongs,
    /// its messages, its close) for longer than that.
    EventsFirst,
    /// The client's frames first: a paced connection after a flush, until its next flush is
    /// due, so that the frames that waited through a hold are all answered (not one per hold),
    /// while events still get their turn at least once per interval. Answers may then overtake
    /// events queued in that interval, as they may after [`EVENT_STREAK`] batches.
    ClientFirst,
    /// Events only: while events are held, the client's frames wait for the flush (100 ms at
    /// most). Read earlier, a Close would end the connection with the held events unsent.
    EventsOnly,
}

/// The next queued event or client frame, looked at as `look` says.
fn next_input<'a>(
    socket: &'a mut WebSocket,
    events: &'a mut Connection,
    streak: &'a mut u8,
    look: Look,
) -> impl std::future::Future<Output = Input> + 'a {
    use futures::StreamExt as _;
    use std::task::Poll;
    let client = !matches!(look, Look::EventsOnly);
    std::future::poll_fn(move |cx| {
        let client_first = matches!(look, Look::ClientFirst) || (client && *streak >= EVENT_STREAK);
        if client_first {
            *streak = 0;
            if let Poll::Ready(incoming) = socket.poll_next_unpin(cx) {
                return Poll::Ready(Input::Client(incoming));
            }
        }
        // A closed queue (the hub let the connection go) is simply never ready again.
        if let Poll::Ready(Some(frame)) = events.poll_frames(cx) {
            *streak = streak.saturating_add(1);
            return Poll::Ready(Input::Event(frame));
        }
        if client
            && !client_first
            && let Poll::Ready(incoming) = socket.poll_next_unpin(cx)
        {
            *streak = 0;
            return Poll::Ready(Input::Client(incoming));
        }
        Poll::Pending
    })
}

impl Session {
    fn look(&self) -> Look {
        if !self.held.is_empty() {
            Look::EventsOnly
        } else if self.pace.hold_until(Instant::now).is_some() {
            Look::ClientFirst
        } else {
            Look::EventsFirst
        }
    }

    /// A one-topic socket whose topic was taken away by a re-authorisation has nothing left.
    fn lost_its_topic(&self) -> bool {
        matches!(self.mode, Mode::Topic(_)) && self.user.is_some() && self.conn.topics.is_empty()
    }

    /// Re-checks the session and every subscription after control messages may have been
    /// missed ([`Hub::audit`]); false when the session has ended.
    async fn audit(&mut self) -> bool {
        let Some(user) = self.user.clone() else { return true };
        let hub = self.gateway.hub.clone();
        hub.audit(&mut self.conn, &user, self.gateway.auth.sessions.as_ref()).await.is_some()
    }

    /// Writes the held entries and whatever else is already queued (up to [`WRITE_BATCH`]
    /// frames, and always whole entries) with one flush, then a `resync` notice if events were
    /// dropped for this connection. Each step is [`bounded`]: the client must keep taking what
    /// is written, not take the whole batch within the bound.
    async fn forward(&mut self, socket: &mut WebSocket) -> Result<(), axum::Error> {
        use futures::SinkExt;
        let mut held = std::mem::take(&mut self.held);
        self.held_frames = 0;
        let mut written = 0;
        for entry in held.drain(..) {
            written += self.feed(socket, &entry).await?;
        }
        // The emptied list keeps its capacity for the next hold.
        self.held = held;
        while written < WRITE_BATCH
            && let Some(entry) = self.conn.try_frames()
        {
            written += self.feed(socket, &entry).await?;
        }
        let missed = self.conn.take_missed();
        if missed > 0 {
            let topics: Vec<&str> = self.conn.topics.iter().map(|t| t.as_ref()).collect();
            let resync = json!({"type": "resync", "missed": missed, "topics": topics});
            bounded(socket.feed(Message::Text(Utf8Bytes::from(resync.to_string())))).await?;
            written += 1;
        }
        self.pace.flushed(Instant::now(), written);
        bounded(socket.flush()).await?;
        self.conn.unwritten(0);
        Ok(())
    }

    /// Buffers one queue entry's frames (translated for a topic socket) without flushing; the
    /// number of frames it buffered.
    async fn feed(&self, socket: &mut WebSocket, entry: &Frames) -> Result<usize, axum::Error> {
        use futures::SinkExt;
        let frames = match &self.mode {
            Mode::Native => entry.clone(),
            Mode::Topic(t) => (t.outbound)(entry),
        };
        for frame in frames.iter() {
            // Waits only when the socket's write buffer is full and is being written out.
            bounded(socket.feed(Message::Text(frame.clone()))).await?;
        }
        Ok(frames.len())
    }

    /// Handles one client frame and returns the answer frame, if it has one.
    async fn handle(&mut self, text: &str) -> Option<Utf8Bytes> {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return Some(error_frame(&Value::Null, "malformed_frame", "Frames are JSON objects with a `type`."));
        };
        let reference = frame.get("ref").cloned().unwrap_or(Value::Null);
        // As at the HTTP edge: no text column of PostgreSQL holds a NUL character.
        if crate::extract::escapes_nul(text.as_bytes()) {
            return Some(error_frame(&reference, "nul_character", "Text must not contain NUL characters (\\u0000)."));
        }
        let Some(kind) = frame.get("type").and_then(Value::as_str) else {
            return Some(error_frame(&reference, "malformed_frame", "Frames are JSON objects with a `type`."));
        };
        if let (Mode::Topic(t), false) = (&self.mode, matches!(kind, "auth" | "ping")) {
            let Some(command) = (t.inbound)(&frame) else {
                return Some(error_frame(&reference, "unknown_type", "Unknown frame type."));
            };
            // Accepted commands answer through the topic (the sender sees its own message).
            return self.run_command(&command, &reference).await.err();
        }
        let kind = kind.to_string();
        Some(self.handle_native(&frame, &kind, reference).await)
    }

    async fn run_command(&self, frame: &Value, reference: &Value) -> Result<Value, Utf8Bytes> {
        let kind = frame.get("type").and_then(Value::as_str).unwrap_or_default();
        let Some(user) = self.user.clone() else {
            return Err(error_frame(reference, "unauthenticated", "Send an `auth` frame first."));
        };
        let Some(handler) = self.gateway.commands.get(kind).cloned() else {
            return Err(error_frame(reference, "unknown_type", "Unknown frame type."));
        };
        handler.handle(&user, frame).await.map_err(|e| {
            let message = e.errors.first().map_or(e.detail.clone(), |f| format!("{}: {}", f.field, f.message));
            error_frame(reference, e.code, &message)
        })
    }

    async fn handle_native(&mut self, frame: &Value, kind: &str, reference: Value) -> Utf8Bytes {
        let ack = |data: Option<Value>| {
            let mut v = json!({"type": "ack", "ref": reference});
            if let Some(d) = data {
                v["data"] = d;
            }
            Utf8Bytes::from(v.to_string())
        };
        match kind {
            "ping" => Utf8Bytes::from(json!({"type": "pong", "ref": reference}).to_string()),
            "auth" => {
                let Some(token) = frame.get("token").and_then(Value::as_str) else {
                    return error_frame(&reference, "malformed_frame", "`auth` needs a `token`.");
                };
                match self.gateway.auth.authenticate(token).await {
                    Ok(user) if self.user.as_ref().is_some_and(|u| u.user_id != user.user_id) => {
                        error_frame(&reference, "user_mismatch", "A connection stays with one user.")
                    }
                    Ok(user) => {
                        if !self.gateway.bind_live(&self.conn, &user).await {
                            // The connection closes next, as for any ended session.
                            return error_frame(&reference, "session_revoked", "The session has ended; sign in again.");
                        }
                        // A fresh token may carry less (a role taken away, a membership ended
                        // while a revocation was lost): every subscription is asked again.
                        if self.user.is_some() {
                            self.gateway.hub.reauthorize(&mut self.conn, &user).await;
                        }
                        self.user = Some(user);
                        self.reauth_by = None;
                        ack(None)
                    }
                    Err(e) => error_frame(&reference, e.code, &e.detail),
                }
            }
            _ => {
                let Some(user) = self.user.clone() else {
                    return error_frame(&reference, "unauthenticated", "Send an `auth` frame first.");
                };
                match kind {
                    "subscribe" | "unsubscribe" => {
                        let Some(topic) = frame.get("topic").and_then(Value::as_str) else {
                            return error_frame(&reference, "malformed_frame", "Name a `topic`.");
                        };
                        if kind == "unsubscribe" {
                            self.gateway.hub.unsubscribe(&mut self.conn, topic);
                            return ack(None);
                        }
                        match self.gateway.hub.subscribe(&mut self.conn, &user, topic).await {
                            Ok(()) => ack(None),
                            Err(SubscribeError::UnknownTopic) => {
                                error_frame(&reference, "unknown_topic", "No such topic.")
                            }
                            Err(SubscribeError::Forbidden) => {
                                error_frame(&reference, "forbidden", "You may not subscribe to this topic.")
                            }
                            Err(SubscribeError::Failed(e)) => error_frame(&reference, e.code, &e.detail),
                        }
                    }
                    _ => match self.run_command(frame, &reference).await {
                        Ok(data) => ack(Some(data)),
                        Err(error) => error,
                    },
                }
            }
        }
    }
}
