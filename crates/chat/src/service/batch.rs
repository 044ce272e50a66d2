//! Group commit of plain messages. Posting is the busiest write, and one insert at a time
//! waited on its round trips to the database (several thread hand-offs each on SQLite) while
//! the cores idled. Messages that are the only row of their write (no mention, no domain event
//! wanted) queue here instead; one task takes everything queued (up to [`BATCH`]) and inserts
//! it in one statement under the writer turn, then answers each poster. At low load a batch is
//! one message and costs what it did; under load the round trips are shared.
//!
//! When a message is for a room with many open sockets here (the caller's `wide` rule), the
//! first message of a batch waits for others: until [`GATHERING`]`.wait` passes with none, or
//! [`GATHERING`]`.most` in all. Posters tend to send at once (a burst), and a batch is
//! broadcast as one delivery: written alone, the first message of a burst made every socket of
//! the room write once for it and once more for the rest, and the rest waited behind that first
//! round (measured in `docs/benchmarks.md`). A few milliseconds are little beside writing to
//! hundreds of sockets. What arrives while a gathered batch is being written (within its
//! window) is written in the same writer turn and broadcast with it.
//!
//! A batch of other rooms' messages alone never waits: what queued while the last batch was
//! written is the next batch, so batches grow with the load by themselves. They used to wait
//! too whenever the instance had written a batch in the last quarter second, and under a
//! steady stream of posts from a few clients that wait (up to 3 ms) was most of a post's
//! 4.4 ms median; on PostgreSQL, where the write itself is slower, the soak's posts then fell
//! behind (docs/benchmarks.md, soak).
//!
//! Ids and times are taken inside the writer turn, in queue order, so ids still follow commit
//! order. If a batch fails (a room deleted meanwhile), its messages are inserted one by one so
//! that each poster gets its own answer.

use super::{Result, store};
use crate::error::ChatError;
use crate::model::Message;
use futures::FutureExt;
use platform::db::{Db, DbError, Ts};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Duration, Instant};
use uuid::Uuid;

/// Messages inserted by one statement at most.
const BATCH: usize = 64;
/// Messages waiting before posters wait to queue.
const QUEUE: usize = 4096;
/// When the first message of a batch waits for others.
#[derive(Clone, Copy)]
struct Gathering {
    /// How long it waits for the next message: each one that comes starts the wait again.
    wait: Duration,
    /// How long it waits in all, at most.
    most: Duration,
}

/// A millisecond after the last message that came, 3 at most. A burst whose posts arrive
/// spread out (a client or a server that is still warming up) is still gathered whole, and the
/// wait ends as soon as the posts stop.
const GATHERING: Gathering = Gathering { wait: Duration::from_millis(1), most: Duration::from_millis(3) };

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
    /// rooms whose messages are gathered even when they are quiet; `stored` runs after each
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
        tokio::spawn(run(db, pending, gathering, wide, stored));
        Self { queue }
    }

    /// Inserts `message` (its id and time are set when it is written) and answers it as stored.
    pub(super) async fn insert(&self, message: Message) -> Result<Message> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Pending { message, done }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(db: Db, mut pending: mpsc::Receiver<Pending>, gathering: Gathering, wide: Wide, stored: Stored) {
    let mut batch = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut batch, BATCH).await > 0 {
        let until = Instant::now() + gathering.most;
        let gathered = batch.iter().any(|p| wide(p.message.room_id));
        if gathered {
            gather(&mut pending, &mut batch, gathering.wait, until).await;
        }
        let late = gathered.then_some(Late { pending: &mut pending, until });
        // A panic while announcing or broadcasting fails this batch's posters (their answers
        // are dropped: 503), not the task.
        let written = AssertUnwindSafe(write(&db, std::mem::take(&mut batch), late, &stored)).catch_unwind().await;
        if written.is_err() {
            tracing::error!("announcing or broadcasting a batch of chat messages panicked");
        }
    }
}

/// Adds to `batch` what arrives within `wait` of the last message, until it is full or `until`.
async fn gather(pending: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, wait: Duration, until: Instant) {
    let mut next = Instant::now() + wait;
    while batch.len() < BATCH {
        match tokio::time::timeout_at(next.min(until), pending.recv_many(batch, BATCH - batch.len())).await {
            Ok(0) | Err(_) => break,
            Ok(_) => next = Instant::now() + wait,
        }
    }
}

/// Where a gathered batch looks for messages that came while it was being written.
struct Late<'a> {
    pending: &'a mut mpsc::Receiver<Pending>,
    /// The end of the batch's gathering window.
    until: Instant,
}

impl Late<'_> {
    /// What is queued now, without waiting, if the window is still open.
    fn take(&mut self) -> Vec<Pending> {
        let mut more = Vec::new();
        while more.len() < BATCH && Instant::now() < self.until {
            match self.pending.try_recv() {
                Ok(p) => more.push(p),
                Err(_) => break,
            }
        }
        more
    }
}

/// Writes `batch`, then (when it was gathered) whatever came meanwhile within its window, all
/// under one writer turn, and broadcasts them together before answering the posters.
async fn write(db: &Db, batch: Vec<Pending>, mut late: Option<Late<'_>>, stored: &Stored) {
    let turn = match db.writer_turn().await {
        Ok(turn) => turn,
        Err(_) => {
            for p in batch {
                let _ = p.done.send(Err(ChatError::Db(DbError::Unavailable(sqlx::Error::PoolTimedOut))));
            }
            return;
        }
    };
    // One batch per broadcast; `chat_message_inserts_total` counts its statements.
    metrics::counter!("chat_message_batches_total").increment(1);
    let mut answers = Vec::with_capacity(batch.len());
    let mut next = batch;
    // The rest of a burst whose first part the gathering window cut off arrives while that
    // part is written: broadcast apart, it made every socket of the room write twice, and
    // once the first part's writes were queued, the rest's posters were read only after them
    // (a whole round later). Written in the same turn and broadcast together, the burst stays
    // one write per socket; the broadcast waits until the window ends, plus one insert.
    while !next.is_empty() {
        // A panic fails the posters of this insert (their answers are dropped: 503); what the
        // turn wrote before it is still announced, broadcast and answered.
        if AssertUnwindSafe(insert(db, next, &mut answers)).catch_unwind().await.is_err() {
            tracing::error!("writing a batch of chat messages panicked");
            break;
        }
        next = late.as_mut().map(Late::take).unwrap_or_default();
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
        let room = Uuid::now_v7();
        let mut tx = db.begin().await.unwrap();
        let new =
            NewRoom { id: room, name: "R", description: "", visibility: "public", owner_id: None, unique_key: None };
        store::insert_room(&mut tx, &new).await.unwrap();
        tx.commit().await.unwrap();
        (db, room)
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
        // The rule is asked about the rooms of the batch: another quiet room does not wait.
        let (batcher, _) = recording(&db, Box::new(move |r| r == other));
        let start = Instant::now();
        batcher.insert(message(room, "narrow")).await.unwrap();
        assert!(start.elapsed() < SLOW.wait);
    }

    #[tokio::test]
    async fn what_comes_while_a_gathered_batch_is_written_is_broadcast_with_it_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (db, room) = db_with_room(&dir).await;
        let (batcher, batches) = recording(&db, Box::new(move |r| r == room));
        let post = |content: &'static str| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.insert(message(room, content)).await })
        };
        // The test holds the writer turn while it posts `first`, waits `gap`, posts `second`,
        // and lets the turn go 100 ms later; both posts then wait for it.
        let around_a_held_turn = async |first: &'static str, gap: Duration, second: &'static str| {
            let turn = db.writer_turn().await.unwrap();
            let first = post(first);
            tokio::time::sleep(gap).await;
            let second = post(second);
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(turn);
            first.await.unwrap().unwrap();
            second.await.unwrap().unwrap();
        };
        // "a" waits for the turn once its gathering has ended (500 ms without another
        // message); "b" comes after that, but within a's window.
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
