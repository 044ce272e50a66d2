//! Group commit of plain messages. Posting is the busiest write, and one insert at a time
//! waited on its round trips to the database (several thread hand-offs each on SQLite) while
//! the cores idled. Messages that are the only row of their write (no mention, no domain event
//! wanted) queue here instead; one task takes what is queued and inserts it (up to [`BATCH`])
//! in one statement under the writer turn, then answers each poster. At low load a batch is one
//! message and costs what it did; under load the round trips are shared.
//!
//! A room with many open sockets here (the caller's [`Reach`] rule) has its messages gathered
//! on their own: the room's first message waits for more of the room's until a wait passes
//! with none, [`GATHERING`]`.most` in all, or [`BATCH`] came. Posters tend to send at once (a
//! burst), and a room's messages of one batch are broadcast as one delivery: written apart,
//! each part of a burst made every socket of the room write once more, and the posters of the
//! later parts were read only after those writes (a whole round later; measured in
//! `docs/benchmarks.md`). The wait depends on the room's sockets when its first message comes.
//! While many of them are behind (an earlier delivery queued or not yet written), they read
//! their clients' posts only between writes and a burst arrives spread out, so the wait is a
//! few milliseconds of quiet ([`GATHERING`]`.busy`), little beside writing to hundreds of
//! sockets. When they have caught up, a burst's posts are read as they come and the wait is
//! shorter ([`GATHERING`]`.idle`): each millisecond of it is added to every delivery of a
//! quiet room. A gathering whose wait is over still takes its room's messages until it is
//! written (while it waits for the writer turn, or for a turn of its own when the batch before
//! it was full), as long as its window is open.
//!
//! The gathering is per room, so a trickle of posts into one wide room holds back only that
//! room's messages. Everything else is written as soon as the writer is free: what queued while
//! the last batch was written is the next batch, so batches grow with the load by themselves.
//! Each writer turn writes one statement of at most [`BATCH`] messages (or, if it fails, each
//! of them alone): a flood into a wide room neither keeps the turn that every other write of
//! the instance waits for nor gives a socket more than [`BATCH`] frames in one delivery (its
//! queue holds 512).
//!
//! Ids and times are taken inside the writer turn, in queue order, so ids still follow commit
//! order; a room's messages keep their queue order (a message for a room that is gathering
//! joins it, even if the room is no longer wide). A message with a mention does not queue
//! here, so one sent by another poster while a room gathers is written, and numbered, before
//! the gathered ones (one poster's messages over one socket are handled one after the other,
//! so their order holds). If a batch fails (a room deleted meanwhile),
//! its messages are inserted one by one so that each poster gets its own answer.

use super::{Result, store};
use crate::error::ChatError;
use crate::model::Message;
use futures::FutureExt;
use platform::db::{Db, DbError, Ts};
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Duration, Instant};
use uuid::Uuid;

/// Messages inserted by one statement at most.
const BATCH: usize = 64;
/// Messages waiting before posters wait to queue. The task takes no more from the queue while
/// it holds as many (gathering, or waiting for a turn), beyond what gathering rooms fill up to
/// [`BATCH`] each.
const QUEUE: usize = 4096;
/// When the first message of a wide room waits for others.
#[derive(Clone, Copy)]
struct Gathering {
    /// How long it waits for the room's next message when the room's sockets had caught up as
    /// its first message came: each message that comes starts the wait again.
    idle: Duration,
    /// The same wait when many of them were behind (frames queued or not yet written).
    busy: Duration,
    /// How long it waits in all, at most.
    most: Duration,
}

/// 1 ms or 3 ms after the room's last message, 25 ms at most. On a busy two-core machine the
/// posts of one burst were read up to a few milliseconds apart, and a 1 ms wait (3 ms at most)
/// split many bursts into four or five broadcasts (`docs/benchmarks.md`, seventeenth session);
/// into a room whose sockets had caught up, a burst of 10 posts was read within 1 ms, and
/// waiting 3 ms added 2 ms to its first deliveries and to its median (nineteenth session).
const GATHERING: Gathering =
    Gathering { idle: Duration::from_millis(1), busy: Duration::from_millis(3), most: Duration::from_millis(25) };

struct Pending {
    message: Message,
    done: oneshot::Sender<Result<Message>>,
}

/// The queue to the inserting task. Cheap to clone.
#[derive(Clone)]
pub(super) struct Batcher {
    queue: mpsc::Sender<Pending>,
}

/// What follows the stored messages of one batch, in commit order (the cache announcement and
/// the broadcast): done by the task before any poster is answered, so that a poster who went
/// away meanwhile does not leave the caches stale, and once per batch, so that a burst of
/// messages reaches each socket as one write.
type Stored = Arc<dyn Fn(&[&Message]) + Send + Sync>;

/// How a room's sockets here stand as one of its messages comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// Too few for its messages to be worth gathering.
    Narrow,
    /// Enough: its messages gather, waiting longer while many of its sockets are `busy`: behind
    /// with an earlier delivery, queued or not yet written. Asked once per gathering, as its
    /// first message comes.
    Wide { busy: bool },
}

/// Tells the [`Reach`] of a room.
type ReachRule = Box<dyn Fn(Uuid) -> Reach + Send + Sync>;

fn gone() -> ChatError {
    ChatError::Db(DbError::Unavailable(sqlx::Error::PoolClosed))
}

impl Batcher {
    /// Starts the inserting task (it ends when the last handle is dropped); `reach` tells the
    /// rooms whose messages are gathered and how long they wait (see the module's doc);
    /// `stored` runs after each batch is written, with the messages that were stored.
    pub(super) fn start(
        db: Db,
        reach: impl Fn(Uuid) -> Reach + Send + Sync + 'static,
        stored: impl Fn(&[&Message]) + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(db, GATHERING, Box::new(reach), Arc::new(stored))
    }

    fn start_with(db: Db, gathering: Gathering, reach: ReachRule, stored: Stored) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, pending, Held::new(gathering, reach), stored));
        Self { queue }
    }

    /// Inserts `message` (its id and time are set when it is written) and answers it as stored.
    pub(super) async fn insert(&self, message: Message) -> Result<Message> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Pending { message, done }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(db: Db, mut pending: mpsc::Receiver<Pending>, mut held: Held, stored: Stored) {
    let mut incoming = Vec::with_capacity(BATCH);
    let mut open = true;
    loop {
        // Until something may be written, take what comes.
        while !held.due(Instant::now()) {
            if !open {
                if held.is_empty() {
                    return;
                }
                held.end_all();
                continue;
            }
            let next = held.next_due();
            let received = pending.recv_many(&mut incoming, BATCH);
            let received = match next {
                None => received.await,
                Some(at) => match tokio::time::timeout_at(at, received).await {
                    Ok(received) => received,
                    Err(_) => continue,
                },
            };
            // Zero: every handle is gone and the queue is empty; what is held is still written.
            open = received > 0;
            let now = Instant::now();
            for p in incoming.drain(..) {
                held.add(p, now);
            }
        }
        let turn = db.writer_turn().await;
        // What came while the batch waited for the turn joins its room if the room's window is
        // still open (or is the next batch's).
        let now = Instant::now();
        while held.len < QUEUE {
            match pending.try_recv() {
                Ok(p) => held.add(p, now),
                Err(_) => break,
            }
        }
        let batch = held.take(now);
        // A panic while announcing or broadcasting fails this batch's posters (their answers
        // are dropped: 503), not the task.
        let written = AssertUnwindSafe(write(&db, turn, batch, &stored)).catch_unwind().await;
        if written.is_err() {
            tracing::error!("announcing or broadcasting a batch of chat messages panicked");
        }
    }
}

/// The messages the task holds: wide rooms' that are gathering, and those ready to be written.
struct Held {
    gathering: Gathering,
    reach: ReachRule,
    /// At most one gathering per room.
    gathering_rooms: HashMap<Uuid, Gather>,
    /// In the order they are to be written: a gathered room's messages stay together.
    ready: VecDeque<Vec<Pending>>,
    /// Messages held in all.
    len: usize,
}

/// One wide room's messages while they gather.
struct Gather {
    messages: Vec<Pending>,
    /// Its wait for the next message, set by its room's sockets as its first message came.
    wait: Duration,
    /// When its wait ends, unless another message of the room comes first.
    quiet: Instant,
    /// The end of its window.
    until: Instant,
    /// Its wait ended and it waits for the turn: what comes still joins it (within `until`)
    /// but no longer makes it wait.
    ended: bool,
}

impl Held {
    fn new(gathering: Gathering, reach: ReachRule) -> Self {
        Self { gathering, reach, gathering_rooms: HashMap::new(), ready: VecDeque::new(), len: 0 }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a message that came at `now`: to its room's gathering, to a new one if the room is
    /// wide, or to those ready.
    fn add(&mut self, p: Pending, now: Instant) {
        self.len += 1;
        let room = p.message.room_id;
        if let Some(gather) = self.gathering_rooms.get_mut(&room) {
            if now < gather.until {
                gather.messages.push(p);
                if !gather.ended {
                    gather.quiet = (now + gather.wait).min(gather.until);
                }
                if gather.messages.len() >= BATCH {
                    self.end(room);
                }
                return;
            }
            // Its window is over: it is written first, and this message after it.
            self.end(room);
        }
        match (self.reach)(room) {
            Reach::Wide { busy } => {
                let wait = if busy { self.gathering.busy } else { self.gathering.idle };
                let until = now + self.gathering.most;
                let gather = Gather { messages: vec![p], wait, quiet: (now + wait).min(until), until, ended: false };
                self.gathering_rooms.insert(room, gather);
            }
            Reach::Narrow => self.ready.push_back(vec![p]),
        }
    }

    /// Moves a room's gathering to those ready.
    fn end(&mut self, room: Uuid) {
        if let Some(gather) = self.gathering_rooms.remove(&room) {
            self.ready.push_back(gather.messages);
        }
    }

    /// Ends every gathering (the queue is closed: nothing more will come).
    fn end_all(&mut self) {
        for gather in self.gathering_rooms.values_mut() {
            gather.ended = true;
        }
    }

    /// Whether anything may be written at `now`; marks the gatherings whose wait is over.
    fn due(&mut self, now: Instant) -> bool {
        let mut due = !self.ready.is_empty();
        for gather in self.gathering_rooms.values_mut() {
            gather.ended |= gather.quiet <= now;
            due |= gather.ended;
        }
        due
    }

    /// When the first wait ends.
    fn next_due(&self) -> Option<Instant> {
        self.gathering_rooms.values().map(|g| g.quiet).min()
    }

    /// The next batch at `now`, up to [`BATCH`] messages (one group at least): first the
    /// groups ready, in order, then the gatherings whose wait is over, soonest window end first.
    /// A gathering that does not fit stays where it is, so what comes for its room still joins
    /// it until its window ends; one whose window has ended joins those ready, behind them (a
    /// backlog of other rooms' messages cannot hold it back for ever). A room's gathering is
    /// taken only once nothing is ready, as an older group of the room may be.
    fn take(&mut self, now: Instant) -> Vec<Pending> {
        self.due(now);
        let over: Vec<Uuid> =
            self.gathering_rooms.iter().filter(|(_, g)| g.until <= now).map(|(room, _)| *room).collect();
        for room in over {
            self.end(room);
        }
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(group) = self.ready.front() {
            if !batch.is_empty() && batch.len() + group.len() > BATCH {
                break;
            }
            batch.extend(self.ready.pop_front().into_iter().flatten());
        }
        if self.ready.is_empty() {
            let mut ended: Vec<(Instant, Uuid)> =
                self.gathering_rooms.iter().filter(|(_, g)| g.ended).map(|(room, g)| (g.until, *room)).collect();
            ended.sort_unstable();
            for (_, room) in ended {
                let size = self.gathering_rooms[&room].messages.len();
                if batch.is_empty() || batch.len() + size <= BATCH {
                    batch.extend(self.gathering_rooms.remove(&room).into_iter().flat_map(|g| g.messages));
                }
            }
        }
        self.len -= batch.len();
        batch
    }
}

type Turn = std::result::Result<Option<tokio::sync::OwnedSemaphorePermit>, DbError>;

/// Writes `batch` under the writer `turn` and announces and broadcasts it before answering the
/// posters.
async fn write(db: &Db, turn: Turn, batch: Vec<Pending>, stored: &Stored) {
    let Ok(turn) = turn else {
        for p in batch {
            let _ = p.done.send(Err(ChatError::Db(DbError::Unavailable(sqlx::Error::PoolTimedOut))));
        }
        return;
    };
    // One batch per broadcast; `chat_message_inserts_total` counts its statements.
    metrics::counter!("chat_message_batches_total").increment(1);
    let mut answers = Vec::with_capacity(batch.len());
    // A panic fails the posters of this insert (their answers are dropped: 503); what it wrote
    // before (one by one) is still announced, broadcast and answered.
    if AssertUnwindSafe(insert(db, batch, &mut answers)).catch_unwind().await.is_err() {
        tracing::error!("writing a batch of chat messages panicked");
    }
    // Announced and broadcast before the turn is let go: a message written after this batch
    // (one with a mention, in its own transaction) is then broadcast after it too, so a room's
    // sockets see messages in id order. Broadcasting only queues; it never waits.
    let written: Vec<&Message> = answers.iter().filter_map(|(_, answer)| answer.as_ref().ok()).collect();
    if !written.is_empty() {
        stored(&written);
    }
    drop(turn);
    for (done, answer) in answers {
        let _ = done.send(answer);
    }
}

/// Inserts `batch` in one statement (one by one if that fails, so that each poster gets its
/// own answer) and adds each poster's answer to `answers`.
async fn insert(db: &Db, batch: Vec<Pending>, answers: &mut Vec<(oneshot::Sender<Result<Message>>, Result<Message>)>) {
    metrics::counter!("chat_message_inserts_total").increment(1);
    metrics::counter!("chat_message_batch_messages_total").increment(batch.len() as u64);
    let (mut messages, answering): (Vec<Message>, Vec<_>) = batch.into_iter().map(|p| (p.message, p.done)).unzip();
    for message in &mut messages {
        message.id = Uuid::now_v7();
        message.created_at = Ts::now();
    }
    if messages.len() > 1 && store::insert_messages_alone(db, &messages).await.is_ok() {
        answers.extend(answering.into_iter().zip(messages.into_iter().map(Ok)));
    } else {
        for (done, message) in answering.into_iter().zip(messages) {
            let written = store::insert_messages_alone(db, std::slice::from_ref(&message)).await.map(|()| message);
            answers.push((done, written.map_err(ChatError::from)));
        }
    }
}

#[cfg(test)]
mod tests;
