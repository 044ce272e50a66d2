//! Group commit of plain messages. Posting is the busiest write, and one insert at a time
//! waited on its round trips to the database (several thread hand-offs each on SQLite) while
//! the cores idled. Messages that are the only row of their write (no mention, no domain event
//! wanted) queue here instead; one task takes what is queued and inserts it (up to [`BATCH`])
//! in one statement under the writer turn, then answers each poster. At low load a batch is one
//! message and costs what it did; under load the round trips are shared.
//!
//! A room with many open sockets here (the caller's `wide` rule) has its messages gathered on
//! their own: the room's first message waits for more of the room's until [`GATHERING`]`.wait`
//! passes with none, [`GATHERING`]`.most` in all, or [`BATCH`] came. Posters tend to send at
//! once (a burst), and a room's messages of one batch are broadcast as one delivery: written
//! apart, each part of a burst made every socket of the room write once more, and the posters
//! of the later parts were read only after those writes (a whole round later; measured in
//! `docs/benchmarks.md`). When the sockets are busy the posts of a burst arrive spread out,
//! so the window waits for a few milliseconds of quiet, which is little beside writing to
//! hundreds of sockets. A gathering whose wait is over still takes its room's messages until
//! it is written (while it waits for the writer turn, or for a turn of its own when the batch
//! before it was full), as long as its window is open.
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
    /// How long it waits for the room's next message: each one that comes starts the wait
    /// again.
    wait: Duration,
    /// How long it waits in all, at most.
    most: Duration,
}

/// 3 ms after the room's last message, 25 ms at most. On a busy two-core machine the posts of
/// one burst were read up to a few milliseconds apart, and a 1 ms wait (3 ms at most) split
/// many bursts into four or five broadcasts (`docs/benchmarks.md`, seventeenth session).
const GATHERING: Gathering = Gathering { wait: Duration::from_millis(3), most: Duration::from_millis(25) };

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

/// Whether a room has so many sockets here that its messages are worth gathering.
type Wide = Box<dyn Fn(Uuid) -> bool + Send + Sync>;

fn gone() -> ChatError {
    ChatError::Db(DbError::Unavailable(sqlx::Error::PoolClosed))
}

impl Batcher {
    /// Starts the inserting task (it ends when the last handle is dropped); `wide` tells the
    /// rooms whose messages are gathered (see the module's doc); `stored` runs after each
    /// batch is written, with the messages that were stored.
    pub(super) fn start(
        db: Db,
        wide: impl Fn(Uuid) -> bool + Send + Sync + 'static,
        stored: impl Fn(&[&Message]) + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(db, GATHERING, Box::new(wide), Arc::new(stored))
    }

    fn start_with(db: Db, gathering: Gathering, wide: Wide, stored: Stored) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, pending, Held::new(gathering, wide), stored));
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
    wide: Wide,
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
    /// When its wait ends, unless another message of the room comes first.
    quiet: Instant,
    /// The end of its window.
    until: Instant,
    /// Its wait ended and it waits for the turn: what comes still joins it (within `until`)
    /// but no longer makes it wait.
    ended: bool,
}

impl Held {
    fn new(gathering: Gathering, wide: Wide) -> Self {
        Self { gathering, wide, gathering_rooms: HashMap::new(), ready: VecDeque::new(), len: 0 }
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
                    gather.quiet = (now + self.gathering.wait).min(gather.until);
                }
                if gather.messages.len() >= BATCH {
                    self.end(room);
                }
                return;
            }
            // Its window is over: it is written first, and this message after it.
            self.end(room);
        }
        if (self.wide)(room) {
            let gather = Gather {
                messages: vec![p],
                quiet: now + self.gathering.wait,
                until: now + self.gathering.most,
                ended: false,
            };
            self.gathering_rooms.insert(room, gather);
        } else {
            self.ready.push_back(vec![p]);
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
mod tests {
    use super::*;
    use crate::store::NewRoom;

    fn message(room: Uuid, content: &str) -> Message {
        Message::sample(room, content)
    }

    /// A database with one room.
    async fn db_with_room(dir: &tempfile::TempDir) -> (Db, Uuid) {
        let db = platform::db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()), 4).await.unwrap();
        platform::db::migrate(&db, &[accounts::MIGRATIONS, crate::MIGRATIONS]).await.unwrap();
        let room = add_room(&db).await;
        (db, room)
    }

    async fn add_room(db: &Db) -> Uuid {
        let room = Uuid::now_v7();
        let mut tx = db.begin().await.unwrap();
        let new =
            NewRoom { id: room, name: "R", description: "", visibility: "public", owner_id: None, unique_key: None };
        store::insert_room(&mut tx, &new).await.unwrap();
        tx.commit().await.unwrap();
        room
    }

    /// Windows far longer than an insert, so that what is asserted does not hang on timing.
    const SLOW: Gathering = Gathering { wait: Duration::from_millis(500), most: Duration::from_millis(1500) };

    /// A batcher that records the contents of each batch.
    fn recording(db: &Db, wide: Wide) -> (Batcher, Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
        let batches = Arc::new(std::sync::Mutex::new(Vec::<Vec<String>>::new()));
        let seen = batches.clone();
        let stored: Stored = Arc::new(move |m: &[&Message]| {
            seen.lock().unwrap().push(m.iter().map(|m| m.content.clone()).collect());
        });
        (Batcher::start_with(db.clone(), SLOW, wide, stored), batches)
    }

    /// Posts "a", then "b" 50 ms later, and waits for both.
    async fn burst(batcher: &Batcher, room: Uuid) {
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.insert(message(room, "a")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        batcher.insert(message(room, "b")).await.unwrap();
        first.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_wide_room_gathers_even_when_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let other = Uuid::now_v7();
        let (batcher, batches) = recording(&db, Box::new(move |r| r == room));
        burst(&batcher, room).await;
        assert_eq!(*batches.lock().unwrap(), [vec!["a".to_string(), "b".into()]]);
        // The rule is asked about each message's room: a room it does not name does not wait.
        let (batcher, _) = recording(&db, Box::new(move |r| r == other));
        let start = Instant::now();
        batcher.insert(message(room, "narrow")).await.unwrap();
        assert!(start.elapsed() < SLOW.wait);
    }

    /// Posts `content` in `room` from a task of its own.
    fn post(batcher: &Batcher, room: Uuid, content: &str) -> tokio::task::JoinHandle<Result<Message>> {
        let (batcher, content) = (batcher.clone(), content.to_string());
        tokio::spawn(async move { batcher.insert(message(room, &content)).await })
    }

    #[tokio::test]
    async fn what_comes_while_a_batch_waits_for_the_turn_joins_it_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let (batcher, batches) = recording(&db, Box::new(move |r| r == room));
        // The test holds the writer turn while it posts `first`, waits `gap`, posts `second`,
        // and lets the turn go 100 ms later; both posts then wait for it.
        let around_a_held_turn = async |first: &'static str, gap: Duration, second: &'static str| {
            let turn = db.writer_turn().await.unwrap();
            let first = post(&batcher, room, first);
            tokio::time::sleep(gap).await;
            let second = post(&batcher, room, second);
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(turn);
            first.await.unwrap().unwrap();
            second.await.unwrap().unwrap();
        };
        // "a" waits for the turn once its wait has ended (500 ms without another message);
        // "b" comes after that, but within a's window.
        let start = Instant::now();
        around_a_held_turn("a", SLOW.wait + Duration::from_millis(200), "b").await;
        assert!(start.elapsed() < SLOW.most, "the test ran within the window");
        assert_eq!(*batches.lock().unwrap(), [vec!["a".to_string(), "b".into()]]);
        // Past the window, what waits for the turn is a batch of its own.
        batches.lock().unwrap().clear();
        around_a_held_turn("c", SLOW.most + Duration::from_millis(100), "d").await;
        assert_eq!(*batches.lock().unwrap(), [vec!["c".to_string()], vec!["d".into()]]);
    }

    #[tokio::test]
    async fn a_trickle_into_a_wide_room_holds_back_no_other_room() {
        let dir = tempfile::tempdir().unwrap();
        let (db, trickled) = db_with_room(&dir).await;
        let (narrow, other_wide) = (add_room(&db).await, add_room(&db).await);
        let (batcher, batches) = recording(&db, Box::new(move |r| r == trickled || r == other_wide));
        // A post every 300 ms: each starts the room's wait (500 ms) again, so it gathers for
        // about 1 400 ms.
        let trickle = tokio::spawn({
            let batcher = batcher.clone();
            async move {
                let mut posts = Vec::new();
                for i in 0..4 {
                    posts.push(post(&batcher, trickled, &format!("t{i}")));
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                for p in posts {
                    p.await.unwrap().unwrap();
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // While the trickle gathers, a narrow room's post does not wait at all, and another
        // wide room's waits for its own window only (the trickle's ends about 1 300 ms later).
        let start = Instant::now();
        batcher.insert(message(narrow, "narrow")).await.unwrap();
        assert!(start.elapsed() < SLOW.wait, "a narrow room waited {:?}", start.elapsed());
        let start = Instant::now();
        batcher.insert(message(other_wide, "wide")).await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= SLOW.wait && waited < SLOW.wait + Duration::from_millis(300), "{waited:?}");
        trickle.await.unwrap();
        let batches = batches.lock().unwrap();
        let trickle: Vec<String> = (0..4).map(|i| format!("t{i}")).collect();
        assert_eq!(*batches, [vec!["narrow".to_string()], vec!["wide".into()], trickle]);
    }

    #[tokio::test]
    async fn a_flood_into_a_wide_room_goes_out_one_statement_of_at_most_a_batch_per_turn() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let (batcher, batches) = recording(&db, Box::new(move |r| r == room));
        // Everything queues while the turn is held, then comes within one window.
        let turn = db.writer_turn().await.unwrap();
        let posts: Vec<_> = (0..3 * BATCH + 10).map(|i| post(&batcher, room, &format!("f{i}"))).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(turn);
        // The batcher was waiting for the turn; the test asks for it next (turns are taken in
        // order), and gets it after the batcher's first turn, which wrote one batch.
        let turn = db.writer_turn().await.unwrap();
        assert_eq!(batches.lock().unwrap().len(), 1, "one batch per turn");
        drop(turn);
        for p in posts {
            p.await.unwrap().unwrap();
        }
        // Each turn announces once (`stored`): none holds more than a statement's worth, which
        // is also the most one delivery gives a socket.
        let sizes: Vec<usize> = batches.lock().unwrap().iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|n| *n <= BATCH), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 3 * BATCH + 10);
        assert_eq!(store::history(&db, room, None, 500).await.unwrap().len(), 3 * BATCH + 10);
    }

    #[tokio::test]
    async fn a_gathering_left_for_the_next_turn_still_takes_its_rooms_late_messages() {
        let dir = tempfile::tempdir().unwrap();
        let (db, first) = db_with_room(&dir).await;
        let second = add_room(&db).await;
        let (batcher, batches) = recording(&db, Box::new(|_| true));
        // Two wide rooms gather 40 messages each, 20 ms apart, while the turn is held, and both
        // waits end: only the first room's fit in the next batch.
        let turn = db.writer_turn().await.unwrap();
        let mut posts: Vec<_> = (0..40).map(|i| post(&batcher, first, &format!("a{i}"))).collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        posts.extend((0..40).map(|i| post(&batcher, second, &format!("b{i}"))));
        tokio::time::sleep(SLOW.wait + Duration::from_millis(100)).await;
        drop(turn);
        // The test takes the next turn, after the batcher's: the second room still waits, and
        // a message for it that comes now joins it (its window is open).
        let turn = db.writer_turn().await.unwrap();
        assert_eq!(batches.lock().unwrap().len(), 1);
        let late = post(&batcher, second, "late");
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(turn);
        late.await.unwrap().unwrap();
        for p in posts {
            p.await.unwrap().unwrap();
        }
        let batches = batches.lock().unwrap();
        let contents = |prefix: &str| (0..40).map(|i| format!("{prefix}{i}")).collect::<std::collections::HashSet<_>>();
        assert_eq!(batches.len(), 2, "{batches:?}");
        assert_eq!(batches[0].iter().cloned().collect::<std::collections::HashSet<_>>(), contents("a"));
        let mut with_late = contents("b");
        with_late.insert("late".into());
        assert_eq!(batches[1].iter().cloned().collect::<std::collections::HashSet<_>>(), with_late);
        assert_eq!(batches[1].last().map(String::as_str), Some("late"), "in queue order");
    }

    #[tokio::test]
    async fn a_room_keeps_its_order_when_it_stops_being_wide_while_it_gathers() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let wide = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let rule = wide.clone();
        let (batcher, batches) = recording(&db, Box::new(move |_| rule.load(std::sync::atomic::Ordering::Relaxed)));
        let first = post(&batcher, room, "1");
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The room's sockets went below the rule: its next message still joins the gathering
        // rather than being written ahead of the first.
        wide.store(false, std::sync::atomic::Ordering::Relaxed);
        let second = batcher.insert(message(room, "2")).await.unwrap();
        let first = first.await.unwrap().unwrap();
        assert!(first.id < second.id);
        assert_eq!(*batches.lock().unwrap(), [vec!["1".to_string(), "2".into()]]);
    }

    #[tokio::test]
    async fn what_gathers_is_written_when_the_last_handle_goes() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let (batcher, batches) = recording(&db, Box::new(|_| true));
        // A poster that gave up while its message gathered, then the service went away.
        let gave_up = tokio::time::timeout(Duration::from_millis(50), batcher.insert(message(room, "left"))).await;
        assert!(gave_up.is_err(), "still gathering");
        drop(batcher);
        let dropped = Instant::now();
        while batches.lock().unwrap().is_empty() && dropped.elapsed() < 4 * SLOW.most {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Written at once, not at the end of its wait (500 ms).
        assert!(dropped.elapsed() < SLOW.wait, "written {:?} after the last handle went", dropped.elapsed());
        assert_eq!(*batches.lock().unwrap(), [vec!["left".to_string()]]);
        assert_eq!(store::history(&db, room, None, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_narrow_room_never_waits_even_when_the_instance_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let (batcher, batches) = recording(&db, Box::new(|_| false));
        let start = Instant::now();
        batcher.insert(message(room, "quiet")).await.unwrap();
        // Right after a batch, a burst whose second message comes 50 ms after the first: the
        // first is not held back for it.
        burst(&batcher, room).await;
        assert!(start.elapsed() < SLOW.wait, "no message waited for another");
        assert_eq!(*batches.lock().unwrap(), [vec!["quiet".to_string()], vec!["a".into()], vec!["b".into()]]);
    }

    #[tokio::test]
    async fn a_gathering_goes_on_while_messages_come_until_its_most_or_a_full_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let (batcher, batches) = recording(&db, Box::new(|_| true));
        // Posts 300 ms apart: each restarts the wait, so the batch outlasts one wait (500 ms),
        // but not the most it may wait in all (1 500 ms).
        let spread = tokio::spawn({
            let batcher = batcher.clone();
            async move {
                let mut posts = Vec::new();
                for i in 0..8 {
                    let batcher = batcher.clone();
                    posts.push(tokio::spawn(async move { batcher.insert(message(room, &format!("s{i}"))).await }));
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                for post in posts {
                    post.await.unwrap().unwrap();
                }
            }
        });
        spread.await.unwrap();
        let first_spread = batches.lock().unwrap()[0].len();
        assert!((3..8).contains(&first_spread), "{:?}", batches.lock().unwrap());
        batches.lock().unwrap().clear();
        // A full batch does not wait out the window.
        let start = Instant::now();
        let posts: Vec<_> = (0..BATCH)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.insert(message(room, &format!("m{i}"))).await })
            })
            .collect();
        for post in posts {
            post.await.unwrap().unwrap();
        }
        assert!(start.elapsed() < SLOW.wait, "a full batch is written at once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_answers_each_poster_and_one_bad_message_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;

        // Many posters at once: batches form, and every poster gets its own stored message.
        let announced = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = announced.clone();
        let batcher = Batcher::start(
            db.clone(),
            |_| false,
            move |m: &[&Message]| seen.lock().unwrap().extend(m.iter().map(|m| m.id)),
        );
        let posts = (0..200).map(|i| {
            let (batcher, announced) = (batcher.clone(), announced.clone());
            tokio::spawn(async move {
                let stored = batcher.insert(message(room, &format!("m{i}"))).await;
                if let Ok(m) = &stored {
                    assert!(announced.lock().unwrap().contains(&m.id), "announced before its poster is answered");
                }
                stored
            })
        });
        let mut stored = Vec::new();
        for post in posts {
            stored.push(post.await.unwrap().unwrap());
        }
        let mut ids: Vec<Uuid> = stored.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200, "one distinct id per message");
        let history = store::history(&db, room, None, 500).await.unwrap();
        assert_eq!(history.len(), 200);
        assert_eq!(announced.lock().unwrap().len(), 200, "every stored message is announced once");
        for m in &stored {
            let kept = history.iter().find(|h| h.id == m.id).unwrap();
            assert_eq!(kept.content, m.content, "each poster is answered with its own message");
        }

        // A batch with a message for a room that does not exist: the others are stored. The
        // writer turn is held while a first message and then the three queue, so the three
        // are taken as one batch.
        let turn = db.writer_turn().await.unwrap();
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.insert(message(room, "first")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let three = tokio::spawn({
            let batcher = batcher.clone();
            async move {
                tokio::join!(
                    batcher.insert(message(room, "before")),
                    batcher.insert(message(Uuid::now_v7(), "nowhere")),
                    batcher.insert(message(room, "after")),
                )
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(turn);
        assert_eq!(first.await.unwrap().unwrap().content, "first");
        let (a, b, c) = three.await.unwrap();
        assert_eq!(a.unwrap().content, "before");
        assert!(matches!(b, Err(ChatError::NotFound)), "{b:?}");
        assert_eq!(c.unwrap().content, "after");
        assert_eq!(store::history(&db, room, None, 500).await.unwrap().len(), 203);
    }
}
