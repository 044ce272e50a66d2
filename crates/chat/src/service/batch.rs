//! Group commit of plain messages. Posting is the busiest write, and one insert at a time
//! waited on its round trips to the database (several thread hand-offs each on SQLite) while
//! the cores idled. Messages that are the only row of their write (no mention, no domain event
//! wanted) queue here instead; one task takes everything queued (up to [`BATCH`]) and inserts
//! it in one statement under the writer turn, then answers each poster. At low load a batch is
//! one message and costs what it did; under load the round trips are shared.
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
use uuid::Uuid;

/// Messages inserted by one statement at most.
const BATCH: usize = 64;
/// Messages waiting before posters wait to queue.
const QUEUE: usize = 4096;

struct Pending {
    message: Message,
    done: oneshot::Sender<Result<Message>>,
}

/// The queue to the inserting task. Cheap to clone.
#[derive(Clone)]
pub(super) struct Batcher {
    queue: mpsc::Sender<Pending>,
}

/// What follows each stored message (the cache announcement and the broadcast): done by the
/// task, so that a poster who went away meanwhile does not leave the caches stale.
type Stored = Arc<dyn Fn(&Message) + Send + Sync>;

fn gone() -> ChatError {
    ChatError::Db(DbError::Unavailable(sqlx::Error::PoolClosed))
}

impl Batcher {
    /// Starts the inserting task (it ends when the last handle is dropped); `stored` runs
    /// after each message is written.
    pub(super) fn start(db: Db, stored: impl Fn(&Message) + Send + Sync + 'static) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, pending, Arc::new(stored)));
        Self { queue }
    }

    /// Inserts `message` (its id and time are set when it is written) and answers it as stored.
    pub(super) async fn insert(&self, message: Message) -> Result<Message> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Pending { message, done }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(db: Db, mut pending: mpsc::Receiver<Pending>, stored: Stored) {
    let mut batch = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut batch, BATCH).await > 0 {
        // A panic fails this batch's posters (their answers are dropped: 503), not the task.
        let written = AssertUnwindSafe(write(&db, std::mem::take(&mut batch), &stored)).catch_unwind().await;
        if written.is_err() {
            tracing::error!("writing a batch of chat messages panicked");
        }
    }
}

async fn write(db: &Db, batch: Vec<Pending>, stored: &Stored) {
    let turn = match db.writer_turn().await {
        Ok(turn) => turn,
        Err(_) => {
            for p in batch {
                let _ = p.done.send(Err(ChatError::Db(DbError::Unavailable(sqlx::Error::PoolTimedOut))));
            }
            return;
        }
    };
    let (mut messages, answering): (Vec<Message>, Vec<_>) = batch.into_iter().map(|p| (p.message, p.done)).unzip();
    for message in &mut messages {
        message.id = Uuid::now_v7();
        message.created_at = Ts::now();
    }
    let mut answers = Vec::with_capacity(messages.len());
    if messages.len() > 1 && store::insert_messages_alone(db, &messages).await.is_ok() {
        answers.extend(answering.into_iter().zip(messages.into_iter().map(Ok)));
    } else {
        for (done, message) in answering.into_iter().zip(messages) {
            let written = store::insert_messages_alone(db, std::slice::from_ref(&message)).await.map(|()| message);
            answers.push((done, written.map_err(ChatError::from)));
        }
    }
    drop(turn);
    for (done, answer) in answers {
        if let Ok(message) = &answer {
            stored(message);
        }
        let _ = done.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewRoom;

    fn message(room: Uuid, content: &str) -> Message {
        Message {
            id: Uuid::nil(),
            room_id: room,
            sender_id: None,
            sender_name: "Ann".into(),
            content: content.into(),
            created_at: Ts::now(),
            edited_at: None,
            client_id: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_answers_each_poster_and_one_bad_message_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = platform::db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()), 4).await.unwrap();
        platform::db::migrate(&db, &[accounts::MIGRATIONS, crate::MIGRATIONS]).await.unwrap();
        let room = Uuid::now_v7();
        let mut tx = db.begin().await.unwrap();
        let new =
            NewRoom { id: room, name: "R", description: "", visibility: "public", owner_id: None, unique_key: None };
        store::insert_room(&mut tx, &new).await.unwrap();
        tx.commit().await.unwrap();

        // Many posters at once: batches form, and every poster gets its own stored message.
        let announced = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = announced.clone();
        let batcher = Batcher::start(db.clone(), move |m: &Message| seen.lock().unwrap().push(m.id));
        let posts = (0..200).map(|i| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.insert(message(room, &format!("m{i}"))).await })
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
