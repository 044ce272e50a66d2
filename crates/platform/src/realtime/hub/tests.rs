//! The hub's delivery, authorisation, revocation and back-pressure rules.

use super::*;

fn user(id: Uuid) -> AuthUser {
    AuthUser { user_id: id, session_id: Uuid::now_v7(), role: "user".into(), expires_at: i64::MAX }
}

/// A hub with one connection subscribed to a user's own topic: the hub, the user, the topic, the
/// connection.
async fn one_subscriber() -> (Hub, Uuid, String, Connection) {
    let hub = Hub::new();
    let a = Uuid::now_v7();
    let topic = format!("user.{a}");
    let mut c = hub.connect();
    hub.subscribe(&mut c, &user(a), &topic).await.unwrap();
    (hub, a, topic, c)
}

#[tokio::test]
async fn delivers_to_subscribers_only() {
    let hub = Hub::new();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ca = hub.connect();
    let mut cb = hub.connect();
    hub.subscribe(&mut ca, &user(a), &format!("user.{a}")).await.unwrap();
    hub.subscribe(&mut cb, &user(b), &format!("user.{b}")).await.unwrap();
    hub.publish(&format!("user.{a}"), "hello", &serde_json::json!({"n": 1}));
    let frames = ca.frames().await.unwrap();
    assert_eq!(frames.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"type": "event", "topic": format!("user.{a}"), "event": "hello", "data": {"n": 1}})
    );
    assert!(cb.try_frames().is_none());
}

#[tokio::test]
async fn events_published_together_arrive_as_one_entry_in_order_and_drop_together() {
    let (hub, _, topic, mut c) = one_subscriber().await;
    hub.publish_each(&topic, "n", &[1, 2, 3]);
    let frames = c.try_frames().unwrap();
    let numbers: Vec<i64> = frames
        .iter()
        .map(|f| serde_json::from_str::<serde_json::Value>(f).unwrap()["data"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(c.try_frames().is_none(), "one entry for the three events");
    // An empty batch publishes nothing.
    hub.publish_each::<i64>(&topic, "n", &[]);
    assert!(c.try_frames().is_none());
    // A full queue drops a whole entry and counts each of its events as missed.
    for i in 0..QUEUE_CAPACITY {
        hub.publish(&topic, "n", &i);
    }
    hub.publish_each(&topic, "n", &[1, 2, 3, 4]);
    assert_eq!(c.take_missed(), 4);
    let mut queued = 0;
    while let Some(frames) = c.try_frames() {
        assert_eq!(frames.len(), 1, "the dropped entry is not in the queue");
        queued += 1;
    }
    assert_eq!(queued, QUEUE_CAPACITY);
}

#[tokio::test]
async fn the_queue_is_bounded_in_frames_not_entries() {
    let (hub, _, topic, mut c) = one_subscriber().await;
    // A long publication is split into entries of at most ENTRY_FRAMES.
    let many: Vec<usize> = (0..QUEUE_CAPACITY + ENTRY_FRAMES).collect();
    hub.publish_each(&topic, "n", &many);
    assert_eq!(c.take_missed(), ENTRY_FRAMES as u64, "the entry past QUEUE_CAPACITY frames is dropped");
    let mut frames = 0;
    while let Some(entry) = c.try_frames() {
        assert!(entry.len() <= ENTRY_FRAMES);
        frames += entry.len();
    }
    assert_eq!(frames, QUEUE_CAPACITY);
    // Taking entries frees their room: the queue takes as many frames again.
    hub.publish_each(&topic, "n", &many[..QUEUE_CAPACITY]);
    assert_eq!(c.take_missed(), 0);
}

#[tokio::test]
async fn subscriptions_are_authorised_by_the_owner() {
    let hub = Hub::new();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ca = hub.connect();
    assert!(matches!(hub.subscribe(&mut ca, &user(a), &format!("user.{b}")).await, Err(SubscribeError::Forbidden)));
    assert!(matches!(hub.subscribe(&mut ca, &user(a), "nobody.owns.this").await, Err(SubscribeError::UnknownTopic)));
}

#[tokio::test]
async fn a_full_queue_drops_for_that_connection_only_and_counts() {
    let hub = Hub::new();
    let a = Uuid::now_v7();
    let topic = format!("user.{a}");
    let mut slow = hub.connect();
    let mut fast = hub.connect();
    hub.subscribe(&mut slow, &user(a), &topic).await.unwrap();
    hub.subscribe(&mut fast, &user(a), &topic).await.unwrap();
    let extra = 10;
    for i in 0..QUEUE_CAPACITY + extra {
        hub.publish(&topic, "n", &i);
        // The fast connection keeps up.
        fast.frames().await.unwrap();
    }
    assert_eq!(slow.take_missed(), extra as u64);
    assert_eq!(slow.take_missed(), 0);
    let mut received = 0;
    while slow.try_frames().is_some() {
        received += 1;
    }
    assert_eq!(received, QUEUE_CAPACITY);
}

#[tokio::test]
async fn ending_a_session_signals_its_connections_only() {
    let hub = Hub::new();
    let (a, b) = (user(Uuid::now_v7()), user(Uuid::now_v7()));
    let (ca, cb) = (hub.connect(), hub.connect());
    hub.bind(&ca, &a);
    hub.bind(&cb, &b);
    hub.end_sessions(Ended::User { user: a.user_id, except: None });
    tokio::time::timeout(std::time::Duration::from_secs(1), ca.ended.notified()).await.unwrap();
    assert!(tokio::time::timeout(std::time::Duration::from_millis(50), cb.ended.notified()).await.is_err());
    hub.end_sessions(Ended::User { user: b.user_id, except: Some(b.session_id) });
    assert!(tokio::time::timeout(std::time::Duration::from_millis(50), cb.ended.notified()).await.is_err());
    hub.end_sessions(Ended::Session(b.session_id));
    tokio::time::timeout(std::time::Duration::from_secs(1), cb.ended.notified()).await.unwrap();
}

#[tokio::test]
async fn dropping_a_connection_unsubscribes_it() {
    let (hub, a, topic, c) = one_subscriber().await;
    assert_eq!(hub.local_subscribers(&topic), 1);
    drop(c);
    assert_eq!(hub.local_subscribers(&topic), 0);
    let mut c = hub.connect();
    hub.subscribe(&mut c, &user(a), &topic).await.unwrap();
    hub.unsubscribe(&mut c, &topic);
    assert_eq!(hub.local_subscribers(&topic), 0);
}

#[tokio::test]
async fn local_load_counts_the_subscribers_still_behind_until_they_have_written_their_frames() {
    let hub = Hub::new();
    assert_eq!(hub.local_load("user.nobody"), LocalLoad::default(), "no one subscribed");
    // Two connections of one user on the user's own topic, and a third user's connection on
    // theirs.
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let (topic_a, topic_b) = (format!("user.{a}"), format!("user.{b}"));
    let (mut c1, mut c2, mut c3) = (hub.connect(), hub.connect(), hub.connect());
    hub.subscribe(&mut c1, &user(a), &topic_a).await.unwrap();
    hub.subscribe(&mut c2, &user(a), &topic_a).await.unwrap();
    hub.subscribe(&mut c3, &user(b), &topic_b).await.unwrap();
    assert_eq!(hub.local_load(&topic_a), LocalLoad { subscribers: 2, behind: 0 });
    hub.publish_each(&topic_a, "n", &[1, 2]);
    hub.publish(&topic_b, "n", &1);
    assert_eq!(hub.local_load(&topic_a), LocalLoad { subscribers: 2, behind: 2 });
    // Taken but not yet written (held for a paced write): still behind, until written.
    let taken = c1.try_frames().unwrap();
    c1.unwritten(taken.len());
    assert_eq!(hub.local_load(&topic_a), LocalLoad { subscribers: 2, behind: 2 });
    c1.unwritten(0);
    assert_eq!(hub.local_load(&topic_a), LocalLoad { subscribers: 2, behind: 1 }, "only the one still queued");
    c2.frames().await.unwrap();
    assert_eq!(hub.local_load(&topic_a), LocalLoad { subscribers: 2, behind: 0 });
    assert_eq!(hub.local_load(&topic_b), LocalLoad { subscribers: 1, behind: 1 }, "another topic's stays behind");
    c3.try_frames().unwrap();
    assert_eq!(hub.local_load(&topic_b).behind, 0);
}
