//! The batcher's rules, each with the timing it needs made long enough ([`SLOW`]) that what is
//! asserted does not hang on the machine's speed.

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
    let new = NewRoom { id: room, name: "R", description: "", visibility: "public", owner_id: None, unique_key: None };
    store::insert_room(&mut tx, &new).await.unwrap();
    tx.commit().await.unwrap();
    room
}

/// Windows far longer than an insert, so that what is asserted does not hang on timing.
const SLOW: Gathering =
    Gathering { idle: Duration::from_millis(100), busy: Duration::from_millis(500), most: Duration::from_millis(1500) };

/// A batcher that records the contents of each batch; the rooms `wide` names gather, as
/// rooms whose sockets are busy.
fn recording(
    db: &Db,
    wide: impl Fn(Uuid) -> bool + Send + Sync + 'static,
) -> (Batcher, Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    recording_by(db, Box::new(move |room| if wide(room) { Reach::Wide { busy: true } } else { Reach::Narrow }))
}

/// A batcher that records the contents of each batch, with the rule `reach`.
fn recording_by(db: &Db, reach: ReachRule) -> (Batcher, Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    let batches = Arc::new(std::sync::Mutex::new(Vec::<Vec<String>>::new()));
    let seen = batches.clone();
    let stored: Stored = Arc::new(move |m: &[&Message]| {
        seen.lock().unwrap().push(m.iter().map(|m| m.content.clone()).collect());
    });
    (Batcher::start_with(db.clone(), SLOW, reach, stored), batches)
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
    let (batcher, batches) = recording(&db, move |r| r == room);
    burst(&batcher, room).await;
    assert_eq!(*batches.lock().unwrap(), [vec!["a".to_string(), "b".into()]]);
    // The rule is asked about each message's room: a room it does not name does not wait.
    let (batcher, _) = recording(&db, move |r| r == other);
    let start = Instant::now();
    batcher.insert(message(room, "narrow")).await.unwrap();
    assert!(start.elapsed() < SLOW.busy);
}

#[tokio::test]
async fn a_wide_room_whose_sockets_caught_up_waits_the_shorter_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db, idle) = db_with_room(&dir).await;
    let busy = add_room(&db).await;
    let (batcher, batches) = recording_by(&db, Box::new(move |room| Reach::Wide { busy: room == busy }));
    // Two posts 300 ms apart in each room: past the idle wait (100 ms), within the busy one
    // (500 ms).
    for room in [idle, busy] {
        let first = post(&batcher, room, "1");
        tokio::time::sleep(Duration::from_millis(300)).await;
        batcher.insert(message(room, "2")).await.unwrap();
        first.await.unwrap().unwrap();
    }
    let batches = batches.lock().unwrap();
    assert_eq!(*batches, [vec!["1".to_string()], vec!["2".into()], vec!["1".into(), "2".into()]]);
}

#[tokio::test]
async fn a_gathering_keeps_the_wait_its_first_message_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let (db, room) = db_with_room(&dir).await;
    let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rule = busy.clone();
    let (batcher, batches) =
        recording_by(&db, Box::new(move |_| Reach::Wide { busy: rule.load(std::sync::atomic::Ordering::Relaxed) }));
    // Begun while the sockets had caught up: the idle wait (100 ms) holds for the whole
    // gathering, though they fall behind after its first message.
    let first = post(&batcher, room, "1");
    tokio::time::sleep(Duration::from_millis(20)).await;
    busy.store(true, std::sync::atomic::Ordering::Relaxed);
    let second = post(&batcher, room, "2");
    // The idle wait ends about 120 ms in; with the busy wait it would run to about 520 ms.
    tokio::time::sleep(Duration::from_millis(320)).await;
    let third = post(&batcher, room, "3");
    for p in [first, second, third] {
        p.await.unwrap().unwrap();
    }
    assert_eq!(*batches.lock().unwrap(), [vec!["1".to_string(), "2".into()], vec!["3".into()]]);
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
    let (batcher, batches) = recording(&db, move |r| r == room);
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
    around_a_held_turn("a", SLOW.busy + Duration::from_millis(200), "b").await;
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
    let (batcher, batches) = recording(&db, move |r| r == trickled || r == other_wide);
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
    assert!(start.elapsed() < SLOW.busy, "a narrow room waited {:?}", start.elapsed());
    let start = Instant::now();
    batcher.insert(message(other_wide, "wide")).await.unwrap();
    let waited = start.elapsed();
    assert!(waited >= SLOW.busy && waited < SLOW.busy + Duration::from_millis(300), "{waited:?}");
    trickle.await.unwrap();
    let batches = batches.lock().unwrap();
    let trickle: Vec<String> = (0..4).map(|i| format!("t{i}")).collect();
    assert_eq!(*batches, [vec!["narrow".to_string()], vec!["wide".into()], trickle]);
}

#[tokio::test]
async fn a_flood_into_a_wide_room_goes_out_one_statement_of_at_most_a_batch_per_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (db, room) = db_with_room(&dir).await;
    let (batcher, batches) = recording(&db, move |r| r == room);
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
    let (batcher, batches) = recording(&db, |_| true);
    // Two wide rooms gather 40 messages each, 20 ms apart, while the turn is held, and both
    // waits end: only the first room's fit in the next batch.
    let turn = db.writer_turn().await.unwrap();
    let mut posts: Vec<_> = (0..40).map(|i| post(&batcher, first, &format!("a{i}"))).collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    posts.extend((0..40).map(|i| post(&batcher, second, &format!("b{i}"))));
    tokio::time::sleep(SLOW.busy + Duration::from_millis(100)).await;
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
    let (batcher, batches) = recording(&db, move |_| rule.load(std::sync::atomic::Ordering::Relaxed));
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
    let (batcher, batches) = recording(&db, |_| true);
    // A poster that gave up while its message gathered, then the service went away.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), batcher.insert(message(room, "left"))).await;
    assert!(gave_up.is_err(), "still gathering");
    drop(batcher);
    let dropped = Instant::now();
    while batches.lock().unwrap().is_empty() && dropped.elapsed() < 4 * SLOW.most {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Written at once, not at the end of its wait (500 ms).
    assert!(dropped.elapsed() < SLOW.busy, "written {:?} after the last handle went", dropped.elapsed());
    assert_eq!(*batches.lock().unwrap(), [vec!["left".to_string()]]);
    assert_eq!(store::history(&db, room, None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_narrow_room_never_waits_even_when_the_instance_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let (db, room) = db_with_room(&dir).await;
    let (batcher, batches) = recording(&db, |_| false);
    let start = Instant::now();
    batcher.insert(message(room, "quiet")).await.unwrap();
    // Right after a batch, a burst whose second message comes 50 ms after the first: the
    // first is not held back for it.
    burst(&batcher, room).await;
    assert!(start.elapsed() < SLOW.busy, "no message waited for another");
    assert_eq!(*batches.lock().unwrap(), [vec!["quiet".to_string()], vec!["a".into()], vec!["b".into()]]);
}

#[tokio::test]
async fn a_gathering_goes_on_while_messages_come_until_its_most_or_a_full_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (db, room) = db_with_room(&dir).await;
    let (batcher, batches) = recording(&db, |_| true);
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
    assert!(start.elapsed() < SLOW.busy, "a full batch is written at once");
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
        |_| Reach::Narrow,
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
