//! The chat contract over HTTP and WebSockets with real clients, on SQLite and (in CI)
//! PostgreSQL + Redis: rooms and permissions, direct rooms, history, edits, read markers,
//! mentions, live delivery to members only, the seed-compatible room socket, and two instances.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use testkit::{Session, TestApp, Ws};

async fn room(app: &TestApp, owner: &Session, name: &str, visibility: &str) -> String {
    let r = app
        .post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": name, "visibility": visibility}))
        .await
        .expect(201);
    assert_eq!(r.json["role"], "owner");
    r.json["id"].as_str().unwrap().to_string()
}

async fn add(app: &TestApp, owner: &Session, room: &str, who: &Session) {
    app.post(&format!("/api/v1/chat/rooms/{room}/members"), Some(&owner.access), json!({"user_id": who.user_id}))
        .await
        .expect(201);
}

async fn send(app: &TestApp, s: &Session, room: &str, content: &str) -> Value {
    app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&s.access), json!({"content": content}))
        .await
        .expect(201)
        .json
}

async fn gateway(app: &TestApp, s: &Session, room: &str) -> Ws {
    let mut ws = app.ws("/api/v1/realtime", Some(&s.access)).await.unwrap();
    let ack = ws.request(json!({"type": "subscribe", "topic": format!("chat.room.{room}")}), "sub").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ws
}

/// The data of the next `event` frame with this event name (other events are skipped).
async fn event(ws: &mut Ws, name: &str) -> Value {
    event_where(ws, name, |_| true).await
}

/// The data of the next `event` frame with this name whose data satisfies `accept`.
async fn event_where(ws: &mut Ws, name: &str, accept: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = ws.recv_type("event").await;
        if frame["event"] == name && accept(&frame["data"]) {
            return frame["data"].clone();
        }
    }
}

async fn default_rooms_exist(app: TestApp) {
    let a = app.register("chat-defaults@example.com").await;
    let public = app.get("/api/v1/chat/rooms?scope=public", Some(&a.access)).await.expect(200);
    let names: HashSet<&str> =
        public.json["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(names.is_superset(&HashSet::from(["General", "Random", "Tech Talk"])), "{names:?}");
    let general = public.json["items"].as_array().unwrap().iter().find(|r| r["name"] == "General").unwrap().clone();
    assert_eq!(general["role"], Value::Null);
    assert_eq!(general["last_message"], Value::Null);
    // A second start on the same database does not duplicate them.
    let again = app.sibling().await;
    let public = again.get("/api/v1/chat/rooms?scope=public", Some(&a.access)).await.expect(200);
    let generals = public.json["items"].as_array().unwrap().iter().filter(|r| r["name"] == "General").count();
    assert_eq!(generals, 1);
}

async fn rooms_and_roles(app: TestApp) {
    let a = app.register("chat-owner@example.com").await;
    let b = app.register("chat-bee@example.com").await;
    let c = app.register("chat-sea@example.com").await;
    let private = room(&app, &a, "Secret", "private").await;
    let open = room(&app, &a, "Open", "public").await;
    let path = format!("/api/v1/chat/rooms/{private}");

    app.get(&path, Some(&b.access)).await.expect_problem(404, "not_found");
    app.patch(&path, Some(&b.access), json!({"name": "Mine"})).await.expect_problem(404, "not_found");
    let public_list = app.get("/api/v1/chat/rooms?scope=public", Some(&b.access)).await.expect(200);
    assert!(!public_list.text.contains(&private), "private rooms are not listed");
    assert!(public_list.text.contains(&open));
    app.get(&format!("/api/v1/chat/rooms/{open}"), Some(&b.access)).await.expect(200);
    app.get(&format!("/api/v1/chat/rooms/{open}/members"), Some(&b.access)).await.expect_problem(403, "forbidden");

    add(&app, &a, &private, &b).await;
    app.post(&format!("{path}/members"), Some(&a.access), json!({"user_id": b.user_id}))
        .await
        .expect_problem(409, "already_member");
    app.post(&format!("{path}/members"), Some(&a.access), json!({"user_id": uuid::Uuid::now_v7()})).await.expect(422);
    let seen = app.get(&path, Some(&b.access)).await.expect(200);
    assert_eq!((seen.json["role"].as_str(), seen.json["member_count"].as_i64()), (Some("member"), Some(2)));
    app.patch(&path, Some(&b.access), json!({"name": "Mine"})).await.expect_problem(403, "forbidden");
    app.post(&format!("{path}/members"), Some(&b.access), json!({"user_id": c.user_id})).await.expect(403);
    let promoted = app
        .patch(&format!("{path}/members/{}", b.user_id), Some(&a.access), json!({"role": "admin"}))
        .await
        .expect(200);
    assert_eq!(promoted.json["role"], "admin");
    let renamed = app.patch(&path, Some(&b.access), json!({"name": "Renamed"})).await.expect(200);
    assert_eq!(renamed.json["name"], "Renamed");
    app.post(&format!("{path}/members"), Some(&b.access), json!({"user_id": c.user_id, "role": "admin"}))
        .await
        .expect(403);
    add(&app, &b, &private, &c).await;
    app.delete(&format!("{path}/members/{}", a.user_id), Some(&b.access), None).await.expect_problem(403, "forbidden");
    app.delete(&path, Some(&b.access), None).await.expect_problem(403, "forbidden");
    app.delete(&format!("{path}/members/{}", c.user_id), Some(&b.access), None).await.expect(204);
    app.get(&path, Some(&c.access)).await.expect(404);
    let members = app.get(&format!("{path}/members"), Some(&b.access)).await.expect(200);
    assert_eq!(members.json["items"].as_array().unwrap().len(), 2);
    assert!(!members.text.contains("@example.com"), "members never show emails");
    app.delete(&path, Some(&a.access), None).await.expect(204);
    app.get(&path, Some(&b.access)).await.expect(404);

    app.post("/api/v1/chat/rooms", Some(&a.access), json!({"name": "", "visibility": "public"})).await.expect(422);
    app.post("/api/v1/chat/rooms", Some(&a.access), json!({"name": "D", "visibility": "direct"})).await.expect(422);
    app.post(
        "/api/v1/chat/rooms",
        Some(&a.access),
        json!({"name": "X", "visibility": "public", "owner_id": b.user_id}),
    )
    .await
    .expect_problem(422, "invalid_body");
}

async fn join_and_leave(app: TestApp) {
    let a = app.register("chat-j1@example.com").await;
    let b = app.register("chat-j2@example.com").await;
    let open = room(&app, &a, "Lobby", "public").await;
    let private = room(&app, &a, "Closed", "private").await;
    let joined = app.post(&format!("/api/v1/chat/rooms/{open}/join"), Some(&b.access), json!({})).await.expect(200);
    assert_eq!(joined.json["role"], "member");
    app.post(&format!("/api/v1/chat/rooms/{open}/join"), Some(&b.access), json!({}))
        .await
        .expect_problem(409, "already_member");
    app.post(&format!("/api/v1/chat/rooms/{private}/join"), Some(&b.access), json!({}))
        .await
        .expect_problem(404, "not_found");
    app.post(&format!("/api/v1/chat/rooms/{open}/leave"), Some(&a.access), json!({}))
        .await
        .expect_problem(409, "owner_cannot_leave");
    let mine = app.get("/api/v1/chat/rooms", Some(&b.access)).await.expect(200);
    assert!(mine.text.contains(&open));
    app.post(&format!("/api/v1/chat/rooms/{open}/leave"), Some(&b.access), json!({})).await.expect(204);
    app.get(&format!("/api/v1/chat/rooms/{open}/messages"), Some(&b.access)).await.expect_problem(403, "forbidden");
    send(&app, &a, &open, "members only").await;
    app.post(&format!("/api/v1/chat/rooms/{open}/messages"), Some(&b.access), json!({"content": "hi"}))
        .await
        .expect(403);
    app.post(&format!("/api/v1/chat/rooms/{private}/messages"), Some(&b.access), json!({"content": "hi"}))
        .await
        .expect(404);
}

async fn direct_rooms_are_one_per_pair(app: TestApp) {
    let a = app.register("dm-a@example.com").await;
    let b = app.register("dm-b@example.com").await;
    let c = app.register("dm-c@example.com").await;
    let first = app.post("/api/v1/chat/dms", Some(&a.access), json!({"user_id": b.user_id})).await.expect(201);
    let id = first.json["id"].as_str().unwrap().to_string();
    assert_eq!(first.json["visibility"], "direct");
    assert_eq!(first.json["member_count"], 2);
    let again = app.post("/api/v1/chat/dms", Some(&a.access), json!({"user_id": b.user_id})).await.expect(200);
    assert_eq!(again.json["id"], id.as_str());
    let other_side = app.post("/api/v1/chat/dms", Some(&b.access), json!({"user_id": a.user_id})).await.expect(200);
    assert_eq!(other_side.json["id"], id.as_str());
    app.post("/api/v1/chat/dms", Some(&a.access), json!({"user_id": a.user_id})).await.expect(422);
    app.post("/api/v1/chat/dms", Some(&a.access), json!({"user_id": uuid::Uuid::now_v7()})).await.expect(422);
    app.get(&format!("/api/v1/chat/rooms/{id}"), Some(&c.access)).await.expect(404);
    app.post(&format!("/api/v1/chat/rooms/{id}/leave"), Some(&a.access), json!({}))
        .await
        .expect_problem(409, "direct_room");
    send(&app, &a, &id, "just us").await;
    let history = app.get(&format!("/api/v1/chat/rooms/{id}/messages"), Some(&b.access)).await.expect(200);
    assert_eq!(history.json["items"][0]["content"], "just us");
}

async fn history_edits_and_deletes(app: TestApp) {
    let a = app.register("hist-a@example.com").await;
    let b = app.register("hist-b@example.com").await;
    let r = room(&app, &a, "History", "private").await;
    add(&app, &a, &r, &b).await;
    let mut sent = Vec::new();
    for i in 0..25 {
        sent.push(
            send(&app, if i % 2 == 0 { &a } else { &b }, &r, &format!("message {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/chat/rooms/{r}/messages?limit=10&before={c}"),
            None => format!("/api/v1/chat/rooms/{r}/messages?limit=10"),
        };
        let page = app.get(&path, Some(&a.access)).await.expect(200);
        for m in page.json["items"].as_array().unwrap() {
            seen.push(m["id"].as_str().unwrap().to_string());
            assert!(m.get("sender_email").is_none() && !m.to_string().contains("@example.com"));
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    sent.reverse();
    assert_eq!(seen, sent, "newest first, every message once");

    let mid = sent[0].clone();
    let path = format!("/api/v1/chat/rooms/{r}/messages/{mid}");
    // sent[0] is message 24, from a.
    app.patch(&path, Some(&b.access), json!({"content": "hijack"})).await.expect_problem(403, "forbidden");
    let edited = app.patch(&path, Some(&a.access), json!({"content": "edited"})).await.expect(200);
    assert_eq!(edited.json["content"], "edited");
    assert!(edited.json["edited_at"].is_string());
    // The first page, read before, shows the edit and then a new message at once.
    let first = format!("/api/v1/chat/rooms/{r}/messages?limit=5");
    assert_eq!(app.get(&first, Some(&b.access)).await.expect(200).json["items"][0]["content"], "edited");
    let newest = send(&app, &b, &r, "newest").await;
    assert_eq!(app.get(&first, Some(&a.access)).await.expect(200).json["items"][0]["id"], newest["id"]);
    app.delete(&format!("/api/v1/chat/rooms/{r}/messages/{}", newest["id"].as_str().unwrap()), Some(&b.access), None)
        .await
        .expect(204);
    app.delete(&path, Some(&b.access), None).await.expect_problem(403, "forbidden");
    let from_b = format!("/api/v1/chat/rooms/{r}/messages/{}", sent[1]);
    app.delete(&from_b, Some(&a.access), None).await.expect(204);
    app.delete(&path, Some(&a.access), None).await.expect(204);
    app.delete(&path, Some(&a.access), None).await.expect(404);
    let page = app.get(&format!("/api/v1/chat/rooms/{r}/messages?limit=100"), Some(&b.access)).await.expect(200);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 23);
    app.post(&format!("/api/v1/chat/rooms/{r}/messages"), Some(&a.access), json!({"content": "   "})).await.expect(422);
    app.post(&format!("/api/v1/chat/rooms/{r}/messages"), Some(&a.access), json!({"content": "x".repeat(4001)}))
        .await
        .expect(422);
    app.get(&format!("/api/v1/chat/rooms/{r}/messages?before=garbage"), Some(&a.access)).await.expect(422);
}

async fn read_markers_and_unread_counts(app: TestApp) {
    let a = app.register("read-a@example.com").await;
    let b = app.register("read-b@example.com").await;
    let r = room(&app, &a, "Reading", "private").await;
    add(&app, &a, &r, &b).await;
    let m1 = send(&app, &a, &r, "one").await;
    let m2 = send(&app, &a, &r, "two").await;
    send(&app, &a, &r, "three").await;
    send(&app, &b, &r, "my own").await;
    let unread = |v: &Value| -> i64 {
        v["items"].as_array().unwrap().iter().find(|x| x["id"] == r.as_str()).unwrap()["unread_count"].as_i64().unwrap()
    };
    let list = app.get("/api/v1/chat/rooms", Some(&b.access)).await.expect(200);
    assert_eq!(unread(&list.json), 3, "one's own messages are not unread");
    let mine = list.json["items"].as_array().unwrap().iter().find(|x| x["id"] == r.as_str()).unwrap().clone();
    assert_eq!(mine["last_message"]["content"], "my own");
    app.post(&format!("/api/v1/chat/rooms/{r}/read"), Some(&b.access), json!({"message_id": m2["id"]}))
        .await
        .expect(204);
    assert_eq!(unread(&app.get("/api/v1/chat/rooms", Some(&b.access)).await.json), 1);
    app.post(&format!("/api/v1/chat/rooms/{r}/read"), Some(&b.access), json!({"message_id": m1["id"]}))
        .await
        .expect(204);
    assert_eq!(unread(&app.get("/api/v1/chat/rooms", Some(&b.access)).await.json), 1, "markers never move back");
    app.post(&format!("/api/v1/chat/rooms/{r}/read"), Some(&b.access), json!({"message_id": uuid::Uuid::now_v7()}))
        .await
        .expect(404);
    assert_eq!(unread(&app.get("/api/v1/chat/rooms", Some(&a.access)).await.json), 1, "b's message is unread for a");
}

async fn mentions_are_recorded(app: TestApp) {
    let a = app.register("ann@example.com").await;
    let b = app.register("bob@example.com").await;
    let outsider = app.register("carl@example.com").await;
    let r = room(&app, &a, "Mentions", "private").await;
    add(&app, &a, &r, &b).await;
    let m = send(&app, &a, &r, "hello @Bob and @carl, see ann@example.com").await;
    let mentions = app
        .get(&format!("/api/v1/chat/rooms/{r}/messages/{}/mentions", m["id"].as_str().unwrap()), Some(&a.access))
        .await;
    assert_eq!(mentions.expect(200).json, json!([b.user_id]), "members only; {} is not one", outsider.user_id);
}

async fn live_delivery_to_members_only(app: TestApp) {
    let a = app.register("live-a@example.com").await;
    let b = app.register("live-b@example.com").await;
    let c = app.register("live-c@example.com").await;
    let r = room(&app, &a, "Live", "private").await;
    add(&app, &a, &r, &b).await;
    let mut wa = gateway(&app, &a, &r).await;
    let mut wb = gateway(&app, &b, &r).await;
    let mut wc = app.ws("/api/v1/realtime", Some(&c.access)).await.unwrap();
    let refused = wc.request(json!({"type": "subscribe", "topic": format!("chat.room.{r}")}), "s").await;
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(
        wc.request(json!({"type": "subscribe", "topic": format!("user.{}", c.user_id)}), "u").await["type"],
        "ack"
    );
    // Presence: b came online after a subscribed.
    let presence = event_where(&mut wa, "chat.presence", |d| d["user_id"] == b.user_id.as_str()).await;
    assert_eq!(presence["status"], "online");

    let rest = send(&app, &a, &r, "over REST").await;
    for ws in [&mut wa, &mut wb] {
        let data = event(ws, "chat.message.created").await;
        assert_eq!(data["id"], rest["id"]);
        assert_eq!(data["sender_name"], "live-a");
        assert!(!data.to_string().contains("@example.com"), "broadcasts never carry emails");
    }
    let ack = wb
        .request(json!({"type": "chat.send", "room_id": r, "content": "over the gateway", "client_id": "c-1"}), "m")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let data = event(&mut wa, "chat.message.created").await;
    assert_eq!((data["content"].as_str(), data["client_id"].as_str()), (Some("over the gateway"), Some("c-1")));
    assert_eq!(data["id"], ack["data"]["id"]);
    let bad = wb.request(json!({"type": "chat.send", "room_id": r, "content": ""}), "e").await;
    assert_eq!(bad["code"], "validation_failed");
    let denied = wc.request(json!({"type": "chat.send", "room_id": r, "content": "let me in"}), "x").await;
    assert_eq!(denied["code"], "not_found");

    assert_eq!(wb.request(json!({"type": "chat.typing", "room_id": r}), "t").await["type"], "ack");
    assert_eq!(event(&mut wa, "chat.typing").await["user_id"], b.user_id.as_str());
    let mid = rest["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/chat/rooms/{r}/messages/{mid}"), Some(&a.access), json!({"content": "changed"}))
        .await
        .expect(200);
    assert_eq!(event(&mut wb, "chat.message.updated").await["content"], "changed");
    app.delete(&format!("/api/v1/chat/rooms/{r}/messages/{mid}"), Some(&a.access), None).await.expect(204);
    assert_eq!(event(&mut wb, "chat.message.deleted").await["id"], mid);
    // Removed from the room, b's open socket is told and receives nothing more of it.
    app.delete(&format!("/api/v1/chat/rooms/{r}/members/{}", b.user_id), Some(&a.access), None).await.expect(204);
    assert_eq!(wb.recv_type("unsubscribed").await["topic"], format!("chat.room.{r}"));
    let gone = event_where(&mut wa, "chat.presence", |d| d["user_id"] == b.user_id.as_str()).await;
    assert_eq!(gone["status"], "offline");
    send(&app, &a, &r, "members only again").await;
    event_where(&mut wa, "chat.message.created", |d| d["content"] == "members only again").await;
    while let Some(frame) = wb.next_within(Duration::from_millis(200)).await {
        assert_ne!(frame["event"], "chat.message.created", "a removed member still receives messages");
    }
    assert!(wc.next_within(Duration::from_millis(300)).await.is_none(), "the outsider received nothing");
}

async fn the_seed_room_socket(app: TestApp) {
    let a = app.register("seed-a@example.com").await;
    let b = app.register("seed-b@example.com").await;
    let c = app.register("seed-c@example.com").await;
    let r = room(&app, &a, "Seed", "public").await;
    app.post(&format!("/api/v1/chat/rooms/{r}/join"), Some(&b.access), json!({})).await.expect(200);
    let mut native = gateway(&app, &a, &r).await;
    let mut seed = app.ws(&format!("/api/v1/chat/rooms/{r}/ws?token={}", b.access), None).await.unwrap();
    let refused = app.ws(&format!("/api/v1/chat/rooms/{r}/ws?token={}", c.access), None).await.err().unwrap();
    assert!(refused.to_string().contains("403"), "{refused}");
    let private = room(&app, &a, "Hidden", "private").await;
    let hidden = app.ws(&format!("/api/v1/chat/rooms/{private}/ws?token={}", c.access), None).await.err().unwrap();
    assert!(hidden.to_string().contains("404"), "{hidden}");
    assert!(app.ws(&format!("/api/v1/chat/rooms/{r}/ws"), None).await.is_err(), "a token is required");

    seed.send(json!({"type": "message", "content": "from the seed client"})).await;
    let mine = seed.recv().await;
    assert_eq!(mine["type"], "message");
    assert_eq!(mine["content"], "from the seed client");
    assert_eq!(mine["sender_name"], "seed-b");
    for key in ["id", "room_id", "sender_id", "created_at"] {
        assert!(mine[key].is_string(), "{key} in {mine}");
    }
    assert_eq!(event(&mut native, "chat.message.created").await["content"], "from the seed client");
    let ack = native.request(json!({"type": "chat.send", "room_id": r, "content": "from the gateway"}), "g").await;
    assert_eq!(ack["type"], "ack");
    let theirs = seed.recv().await;
    assert_eq!((theirs["type"].as_str(), theirs["content"].as_str()), (Some("message"), Some("from the gateway")));
    seed.send(json!({"type": "message", "content": ""})).await;
    assert_eq!(seed.recv().await["type"], "error");
}

async fn history_pages_have_no_gaps_or_duplicates_while_sending(app: TestApp) {
    let a = app.register("page-a@example.com").await;
    let r = room(&app, &a, "Busy", "private").await;
    let mut before = HashSet::new();
    for i in 0..40 {
        before.insert(send(&app, &a, &r, &format!("old {i}")).await["id"].as_str().unwrap().to_string());
    }
    let writer = {
        let base = app.base.clone();
        let http = app.http.clone();
        let token = a.access.clone();
        let r = r.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let url = format!("{base}/api/v1/chat/rooms/{r}/messages");
                let resp = http
                    .post(url)
                    .bearer_auth(&token)
                    .json(&json!({"content": format!("new {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/chat/rooms/{r}/messages?limit=7&before={c}"),
            None => format!("/api/v1/chat/rooms/{r}/messages?limit=7"),
        };
        let page = app.get(&path, Some(&a.access)).await.expect(200);
        seen.extend(page.json["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()));
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    writer.await.unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert!(before.iter().all(|id| unique.contains(id)), "no message that existed is missing");
    let mut sorted = seen.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(seen, sorted, "strictly newest first");
}

testkit::api_tests!(
    default_rooms_exist,
    rooms_and_roles,
    join_and_leave,
    direct_rooms_are_one_per_pair,
    history_edits_and_deletes,
    read_markers_and_unread_counts,
    mentions_are_recorded,
    live_delivery_to_members_only,
    the_seed_room_socket,
    history_pages_have_no_gaps_or_duplicates_while_sending,
);

/// Two instances on one PostgreSQL and Redis: a user on the native gateway of one and a user on
/// the seed room socket of the other chat in real time; a third, not a member, gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn two_instances_chat_through_redis() {
    let Some((one, two)) = TestApp::pair_on_redis().await else { return };
    let a = one.register("x-a@example.com").await;
    let b = one.register("x-b@example.com").await;
    let c = one.register("x-c@example.com").await;
    let r = room(&one, &a, "Across", "private").await;
    add(&one, &a, &r, &b).await;
    let mut on_one = gateway(&one, &a, &r).await;
    let mut on_two = two.ws(&format!("/api/v1/chat/rooms/{r}/ws?token={}", b.access), None).await.unwrap();
    let mut outsider = two.ws("/api/v1/realtime", Some(&c.access)).await.unwrap();
    assert_eq!(
        outsider.request(json!({"type": "subscribe", "topic": format!("chat.room.{r}")}), "s").await["code"],
        "forbidden"
    );
    assert!(two.ws(&format!("/api/v1/chat/rooms/{r}/ws?token={}", c.access), None).await.is_err());
    // The room socket subscribes after the upgrade (the seed protocol has no ack): wait for it.
    for _ in 0..100 {
        if two.hub.local_subscribers(&format!("chat.room.{r}")) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    on_one.request(json!({"type": "chat.send", "room_id": r, "content": "hello from one"}), "1").await;
    let got = on_two.recv().await;
    assert_eq!((got["type"].as_str(), got["content"].as_str()), (Some("message"), Some("hello from one")));
    on_two.send(json!({"type": "message", "content": "hello from two"})).await;
    let reply = event_where(&mut on_one, "chat.message.created", |d| d["sender_id"] == b.user_id.as_str()).await;
    assert_eq!(reply["content"], "hello from two");
    assert!(outsider.next_within(Duration::from_millis(300)).await.is_none());
}
