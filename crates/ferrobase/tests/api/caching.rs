//! Issue #10: the caches that keep sessions, users, memberships, history pages and room lists
//! out of the database never serve what a committed change made stale. On one instance a
//! change is seen by the very next request; across instances (PostgreSQL + Redis) within
//! 100 ms; and an instance whose backplane is cut off stops trusting its caches.

use platform::secret::Secret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::{Backend, Proxy, Resp, Session, TestApp};

/// How soon another instance must honour a change.
const ACROSS_INSTANCES: Duration = Duration::from_millis(100);

/// Repeats `request` until `done` holds; fails if that took longer than `within` (measured
/// from the call, which follows the change's answer).
async fn within<F, Fut>(within: Duration, what: &str, mut request: F, done: impl Fn(&Resp) -> bool)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    let started = Instant::now();
    loop {
        let r = request().await;
        if done(&r) {
            return;
        }
        assert!(started.elapsed() <= within, "{what}: still {} {} after {:?}", r.status, r.json, started.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn private_room(app: &TestApp, owner: &Session, member: &Session) -> String {
    let r = app.post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": "Cached", "visibility": "private"}));
    let room = r.await.expect(201).json["id"].as_str().unwrap().to_string();
    let body = json!({"user_id": member.user_id});
    app.post(&format!("/api/v1/chat/rooms/{room}/members"), Some(&owner.access), body).await.expect(201);
    room
}

async fn say(app: &TestApp, s: &Session, room: &str, content: &str) -> Value {
    let body = json!({"content": content});
    app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&s.access), body).await.expect(201).json
}

fn unread_in(list: &Value, room: &str) -> i64 {
    let rooms = list["items"].as_array().unwrap();
    rooms.iter().find(|r| r["id"] == room).map(|r| r["unread_count"].as_i64().unwrap()).unwrap_or(-1)
}

/// On one instance (either backend), every cached thing changes with the very next request.
async fn the_next_request_sees_every_change(app: TestApp) {
    let owner = app.register("owner@example.com").await;
    let bob = app.register("bob@example.com").await;
    let room = private_room(&app, &owner, &bob).await;
    let history = format!("/api/v1/chat/rooms/{room}/messages?limit=50");

    // A renamed user's next message carries the new name.
    assert_eq!(say(&app, &bob, &room, "one").await["sender_name"], "bob");
    app.patch("/api/v1/users/me", Some(&bob.access), json!({"name": "Robert"})).await.expect(200);
    assert_eq!(say(&app, &bob, &room, "two").await["sender_name"], "Robert");
    assert_eq!(app.get("/api/v1/users/me", Some(&bob.access)).await.expect(200).json["name"], "Robert");

    // History pages follow new, edited and deleted messages.
    let page = app.get(&history, Some(&bob.access)).await.expect(200).json;
    assert_eq!(page["items"][0]["content"], "two");
    let three = say(&app, &owner, &room, "three").await;
    // (Written by the chat's group commit, which brings the cached newest messages up to date.)
    let items = app.get(&history, Some(&bob.access)).await.json["items"].clone();
    let contents: Vec<&str> = items.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["three", "two", "one"]);
    let edit = format!("/api/v1/chat/rooms/{room}/messages/{}", three["id"].as_str().unwrap());
    app.patch(&edit, Some(&owner.access), json!({"content": "three!"})).await.expect(200);
    assert_eq!(app.get(&history, Some(&bob.access)).await.json["items"][0]["content"], "three!");

    // Room lists: unread counts are exact after a message and after a read marker.
    let joined = "/api/v1/chat/rooms?scope=joined";
    let before = unread_in(&app.get(joined, Some(&bob.access)).await.expect(200).json, &room);
    say(&app, &owner, &room, "four").await;
    let after = app.get(joined, Some(&bob.access)).await.json;
    assert_eq!(unread_in(&after, &room), before + 1, "{after}");
    assert_eq!(
        after["items"].as_array().unwrap().iter().find(|r| r["id"] == room).unwrap()["last_message"]["content"],
        "four"
    );
    let newest = app.get(&history, Some(&bob.access)).await.json["items"][0]["id"].as_str().unwrap().to_string();
    let read = format!("/api/v1/chat/rooms/{room}/read");
    app.post(&read, Some(&bob.access), json!({"message_id": newest})).await.expect(204);
    assert_eq!(unread_in(&app.get(joined, Some(&bob.access)).await.json, &room), 0);
    // A new public room appears in everyone's public list at once.
    let public = "/api/v1/chat/rooms?scope=public";
    let count = app.get(public, Some(&bob.access)).await.json["items"].as_array().unwrap().len();
    app.post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": "New", "visibility": "public"}))
        .await
        .expect(201);
    assert_eq!(app.get(public, Some(&bob.access)).await.json["items"].as_array().unwrap().len(), count + 1);

    // A removed member's reads are refused at once, and their room leaves their list.
    app.delete(&format!("/api/v1/chat/rooms/{room}/members/{}", bob.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    app.get(&history, Some(&bob.access)).await.expect(404);
    assert_eq!(unread_in(&app.get(joined, Some(&bob.access)).await.json, &room), -1);

    // A revoked session is refused at once.
    app.get("/api/v1/users/me", Some(&bob.access)).await.expect(200);
    app.post("/api/v1/auth/logout", Some(&bob.access), json!({})).await.expect(204);
    app.get("/api/v1/users/me", Some(&bob.access)).await.expect_problem(401, "session_revoked");
}

testkit::api_tests!(the_next_request_sees_every_change);

/// Two instances: a change made on one is honoured by the other within 100 ms, for every cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn the_other_instance_sees_every_change_within_100_ms() {
    let Some((a, b)) = TestApp::pair_on_redis().await else { return };
    // Both instances are on the backplane, so both answer from their caches below.
    assert!(a.caches.is_live() && b.caches.is_live(), "caches on with Redis");
    let owner = a.register("owner@example.com").await;
    let bob = a.register("bob@example.com").await;
    let room = private_room(&a, &owner, &bob).await;
    let history = format!("/api/v1/chat/rooms/{room}/messages?limit=50");
    // Everything below is read on B first, so B holds it in its caches.
    say(&b, &bob, &room, "warm").await;
    b.get(&history, Some(&bob.access)).await.expect(200);
    b.get("/api/v1/chat/rooms?scope=joined", Some(&bob.access)).await.expect(200);

    // A rename on A: Bob's next message on B carries the new name.
    a.patch("/api/v1/users/me", Some(&bob.access), json!({"name": "Robert"})).await.expect(200);
    within(ACROSS_INSTANCES, "rename", || b.get("/api/v1/users/me", Some(&bob.access)), |r| r.json["name"] == "Robert")
        .await;
    assert_eq!(say(&b, &bob, &room, "renamed").await["sender_name"], "Robert");

    // A message sent on A is on B's first history page and in B's unread count.
    let before = unread_in(&b.get("/api/v1/chat/rooms?scope=joined", Some(&bob.access)).await.json, &room);
    say(&a, &owner, &room, "from a").await;
    within(
        ACROSS_INSTANCES,
        "history",
        || b.get(&history, Some(&bob.access)),
        |r| r.json["items"][0]["content"] == "from a",
    )
    .await;
    let joined = || b.get("/api/v1/chat/rooms?scope=joined", Some(&bob.access));
    within(ACROSS_INSTANCES, "unread count", joined, |r| unread_in(&r.json, &room) == before + 1).await;

    // Bob removed on A: his reads on B are refused.
    a.delete(&format!("/api/v1/chat/rooms/{room}/members/{}", bob.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    within(ACROSS_INSTANCES, "removed member", || b.get(&history, Some(&bob.access)), |r| r.status == 404).await;

    // A session revoked on A is refused on B; so are the sessions a password change ends.
    b.get("/api/v1/users/me", Some(&bob.access)).await.expect(200);
    a.post("/api/v1/auth/logout", Some(&bob.access), json!({})).await.expect(204);
    within(ACROSS_INSTANCES, "logout", || b.get("/api/v1/users/me", Some(&bob.access)), |r| r.status == 401).await;
    let other = Session::from_json(&a.login("owner@example.com", testkit::PASSWORD).await.expect(200).json);
    b.get("/api/v1/users/me", Some(&other.access)).await.expect(200);
    let change = json!({"current_password": testkit::PASSWORD, "new_password": "another long passphrase"});
    a.post("/api/v1/auth/password/change", Some(&owner.access), change).await.expect(204);
    within(ACROSS_INSTANCES, "password change", || b.get("/api/v1/users/me", Some(&other.access)), |r| r.status == 401)
        .await;
}

/// An instance cut off from Redis cannot hear the others' changes, so it stops answering from
/// its caches: a session revoked elsewhere meanwhile is refused there at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn an_instance_cut_off_from_the_backplane_stops_trusting_its_caches() {
    let Some(redis) = testkit::service_url("FERROBASE_TEST_REDIS_URL") else { return };
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let (proxy, through) = Proxy::for_url(&redis, 6379).await;
    let b = a.sibling_with(|c| c.redis_url = Secret::new(through.clone())).await;
    let bob = a.register("bob@example.com").await;
    b.get("/api/v1/users/me", Some(&bob.access)).await.expect(200);
    assert!(b.caches.is_live(), "B caches while it hears the backplane");

    proxy.cut();
    // The cut closes B's subscription; give B a moment to notice.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!b.caches.is_live(), "B stops trusting its caches once cut off");
    a.post("/api/v1/auth/logout", Some(&bob.access), json!({})).await.expect(204);
    b.get("/api/v1/users/me", Some(&bob.access)).await.expect_problem(401, "session_revoked");

    proxy.restore();
    // Back on the backplane, B caches again and still hears A's changes.
    let carol = a.register("carol@example.com").await;
    let resubscribed = Instant::now() + Duration::from_secs(20);
    while !b.caches.is_live() {
        assert!(Instant::now() < resubscribed, "B never came back to the backplane");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.get("/api/v1/users/me", Some(&carol.access)).await.expect(200);
    a.post("/api/v1/auth/logout", Some(&carol.access), json!({})).await.expect(204);
    within(
        ACROSS_INSTANCES,
        "logout after the gap",
        || b.get("/api/v1/users/me", Some(&carol.access)),
        |r| r.status == 401,
    )
    .await;
}
