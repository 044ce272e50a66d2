//! Issue #9 item 14: losing access is never lost. A revocation reaches the other instances
//! even behind a flood of events that fills the backplane queue, and a socket that
//! re-authenticates has every subscription asked again (so a membership that ended while its
//! revocation went missing ends on the socket too).

use serde_json::json;
use std::time::Duration;
use testkit::{Session, TestApp, Ws};

const PATH: &str = "/api/v1/realtime";

/// A private room of `owner` with `member` in it.
async fn room_with(app: &TestApp, owner: &Session, member: &Session) -> String {
    let r = app.post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": "Inner", "visibility": "private"}));
    let room = r.await.expect(201).json["id"].as_str().unwrap().to_string();
    let body = json!({"user_id": member.user_id});
    app.post(&format!("/api/v1/chat/rooms/{room}/members"), Some(&owner.access), body).await.expect(201);
    room
}

async fn subscribed(app: &TestApp, who: &Session, topic: &str) -> Ws {
    let mut ws = app.ws(PATH, Some(&who.access)).await.unwrap();
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": topic}), "s").await["type"], "ack");
    ws
}

/// Waits for the `unsubscribed` frame of `topic`, then checks nothing of the topic follows.
async fn cut_off(ws: &mut Ws, app: &TestApp, owner: &Session, room: &str, topic: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws.next_within(left).await.expect("no unsubscribed frame arrived");
        if frame["type"] == "unsubscribed" {
            assert_eq!(frame["topic"], topic);
            break;
        }
    }
    let body = json!({"content": "members only"});
    app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&owner.access), body).await.expect(201);
    while let Some(frame) = ws.next_within(Duration::from_millis(500)).await {
        assert_ne!(frame["topic"], topic, "a removed member still receives the room: {frame}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn a_revocation_is_not_lost_behind_a_flood_of_events() {
    let Some((a, b)) = TestApp::pair_on_redis().await else { return };
    let owner = a.register("owner@example.com").await;
    let bob = a.register("bob@example.com").await;
    let room = room_with(&a, &owner, &bob).await;
    let topic = format!("chat.room.{room}");
    let mut ws = subscribed(&b, &bob, &topic).await;
    // Events faster than Redis takes them keep the backplane queue full while bob is removed.
    let elsewhere = format!("chat.room.{}", uuid::Uuid::now_v7());
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let (hub, flooding) = (a.hub.clone(), flooding.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                hub.publish(&elsewhere, "flood", &json!({"i": i}));
                i += 1;
                if i.is_multiple_of(512) {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let remove = format!("/api/v1/chat/rooms/{room}/members/{}", bob.user_id);
    a.delete(&remove, Some(&owner.access), None).await.expect(204);
    tokio::time::sleep(Duration::from_millis(100)).await;
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    flood.await.unwrap();
    cut_off(&mut ws, &a, &owner, &room, &topic).await;
}

async fn reauthenticating_asks_every_subscription_again(app: TestApp) {
    let owner = app.register("owner@example.com").await;
    let bob = app.register("bob@example.com").await;
    let room = room_with(&app, &owner, &bob).await;
    let topic = format!("chat.room.{room}");
    let mut ws = subscribed(&app, &bob, &topic).await;
    let own = format!("user.{}", bob.user_id);
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": own}), "own").await["type"], "ack");
    // The membership ends without a revocation reaching the socket (as when one is lost).
    let db = app.db().await;
    let (room_id, user_id) = (uuid::Uuid::parse_str(&room).unwrap(), uuid::Uuid::parse_str(&bob.user_id).unwrap());
    platform::with_db!(&db, |pool| {
        sqlx::query("DELETE FROM chat_members WHERE room_id = $1 AND user_id = $2")
            .bind(room_id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|_| ())
    })
    .unwrap();
    assert_eq!(ws.request(json!({"type": "auth", "token": bob.access}), "again").await["type"], "ack");
    cut_off(&mut ws, &app, &owner, &room, &topic).await;
    // What is still allowed stays.
    app.hub.publish(&own, "still.here", &json!({}));
    let frame = ws.recv().await;
    assert_eq!(frame["event"], "still.here", "{frame}");
}

testkit::api_tests!(reauthenticating_asks_every_subscription_again);
