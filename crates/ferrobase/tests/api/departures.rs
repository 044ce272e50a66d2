//! Issue #9 item 11: an account that goes (deleted by its owner, or purged unverified) takes
//! only what was its own. Others keep their conversations, shown as from a deleted user;
//! rooms and projects pass to the longest-standing admin or manager, else member; what only
//! the person used goes; an unverified account that left anything others see is not purged.

use serde_json::{Value, json};
use testkit::{PASSWORD, Session, TestApp};

async fn room(app: &TestApp, owner: &Session, name: &str, visibility: &str) -> String {
    let r = app.post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": name, "visibility": visibility}));
    r.await.expect(201).json["id"].as_str().unwrap().to_string()
}

async fn project(app: &TestApp, owner: &Session, name: &str) -> String {
    let r = app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": name, "visibility": "private"}));
    r.await.expect(201).json["id"].as_str().unwrap().to_string()
}

async fn add_to_project(app: &TestApp, by: &Session, project: &str, who: &Session, role: &str) {
    let body = json!({"user_id": who.user_id, "role": role});
    app.post(&format!("/api/v1/work/projects/{project}/members"), Some(&by.access), body).await.expect(201);
}

async fn say(app: &TestApp, who: &Session, room: &str, content: &str) {
    let path = format!("/api/v1/chat/rooms/{room}/messages");
    app.post(&path, Some(&who.access), json!({"content": content})).await.expect(201);
}

fn by_content<'a>(items: &'a Value, content: &str) -> &'a Value {
    items.as_array().unwrap().iter().find(|m| m["content"] == content).unwrap_or_else(|| panic!("{content} is gone"))
}

async fn a_deleted_account_leaves_others_their_conversations(app: TestApp) {
    let ann = app.register("ann@example.com").await;
    let bob = app.register("bob@example.com").await;
    let cat = app.register("cat@example.com").await;
    let dan = app.register("dan@example.com").await;

    // Chat: bob joined first, cat was made admin later: cat inherits.
    let shared = room(&app, &ann, "Shared", "private").await;
    for who in [&bob, &cat] {
        let body = json!({"user_id": who.user_id});
        app.post(&format!("/api/v1/chat/rooms/{shared}/members"), Some(&ann.access), body).await.expect(201);
    }
    let promote = format!("/api/v1/chat/rooms/{shared}/members/{}", cat.user_id);
    app.patch(&promote, Some(&ann.access), json!({"role": "admin"})).await.expect(200);
    say(&app, &ann, &shared, "from ann").await;
    say(&app, &bob, &shared, "from bob").await;
    let lonely = room(&app, &ann, "Ann alone", "public").await;
    say(&app, &ann, &lonely, "talking to myself").await;

    // Work: bob is a member since before cat became a manager: the manager inherits.
    let work = project(&app, &ann, "Shared project").await;
    add_to_project(&app, &ann, &work, &bob, "member").await;
    add_to_project(&app, &ann, &work, &cat, "manager").await;
    let task = app.post("/api/v1/work/tasks", Some(&bob.access), json!({"project_id": work, "title": "T"})).await;
    let task = task.expect(201).json["id"].as_str().unwrap().to_string();
    let comments = format!("/api/v1/work/tasks/{task}/comments");
    app.post(&comments, Some(&ann.access), json!({"content": "ann's note"})).await.expect(201);
    app.post(&comments, Some(&bob.access), json!({"content": "bob's note"})).await.expect(201);
    // Only a guest besides ann: nobody can own it, so it goes.
    let guested = project(&app, &ann, "Ann and a guest").await;
    add_to_project(&app, &ann, &guested, &dan, "guest").await;
    let mut dan_watching = app.ws("/api/v1/realtime", Some(&dan.access)).await.unwrap();
    let topic = format!("work.project.{guested}");
    assert_eq!(dan_watching.request(json!({"type": "subscribe", "topic": topic}), "s").await["type"], "ack");

    app.delete("/api/v1/users/me", Some(&ann.access), Some(json!({"password": PASSWORD}))).await.expect(204);

    let history = app.get(&format!("/api/v1/chat/rooms/{shared}/messages"), Some(&bob.access)).await.expect(200);
    let from_ann = by_content(&history.json["items"], "from ann");
    assert!(from_ann["sender_id"].is_null(), "{}", history.text);
    assert_eq!(from_ann["sender_name"], "Deleted user");
    assert_eq!(by_content(&history.json["items"], "from bob")["sender_id"], bob.user_id.as_str());
    let shared_room = app.get(&format!("/api/v1/chat/rooms/{shared}"), Some(&cat.access)).await.expect(200);
    assert_eq!(shared_room.json["owner_id"], cat.user_id.as_str(), "{}", shared_room.text);
    assert_eq!(shared_room.json["role"], "owner");
    assert_eq!(shared_room.json["member_count"], 2);
    // The heir can do what owners do.
    app.patch(&format!("/api/v1/chat/rooms/{shared}"), Some(&cat.access), json!({"name": "Ours"})).await.expect(200);
    app.get(&format!("/api/v1/chat/rooms/{lonely}"), Some(&bob.access)).await.expect(404);

    let project_now = app.get(&format!("/api/v1/work/projects/{work}"), Some(&cat.access)).await.expect(200);
    assert_eq!(project_now.json["owner_id"], cat.user_id.as_str(), "{}", project_now.text);
    assert_eq!(project_now.json["role"], "owner");
    let listed = app.get(&comments, Some(&bob.access)).await.expect(200);
    let ann_note = by_content(&listed.json["items"], "ann's note");
    assert!(ann_note["author_id"].is_null(), "{}", listed.text);
    assert_eq!(ann_note["author_name"], "Deleted user");
    assert_eq!(by_content(&listed.json["items"], "bob's note")["author_id"], bob.user_id.as_str());
    app.get(&format!("/api/v1/work/projects/{guested}"), Some(&dan.access)).await.expect(404);
    // The guest watching it is told, as when an owner deletes a project.
    loop {
        let frame = dan_watching.recv().await;
        if frame["topic"] == topic.as_str() && frame["event"] == "project:deleted" {
            break;
        }
    }
}

async fn backdate(app: &TestApp) {
    let db = app.db().await;
    let long_ago = platform::db::Ts::now().minus(chrono::Duration::days(31));
    platform::with_db!(&db, |pool| {
        sqlx::query("UPDATE users SET created_at = $1").bind(long_ago).execute(pool).await.map(|_| ())
    })
    .unwrap();
}

async fn the_purge_keeps_unverified_accounts_that_others_see(app: TestApp) {
    let host = app.register_verified("host@example.com").await;
    let talker = app.register("talker@example.com").await;
    let sharer = app.register("sharer@example.com").await;
    let idle = app.register("idle@example.com").await;
    let open = room(&app, &host, "Open", "public").await;
    app.post(&format!("/api/v1/chat/rooms/{open}/join"), Some(&talker.access), json!({})).await.expect(200);
    say(&app, &talker, &open, "hello from an unverified account").await;
    let work = project(&app, &sharer, "Shared by the unverified").await;
    add_to_project(&app, &sharer, &work, &host, "member").await;
    // Joining a room and owning a project nobody else is in is not activity.
    app.post(&format!("/api/v1/chat/rooms/{open}/join"), Some(&idle.access), json!({})).await.expect(200);
    project(&app, &idle, "Nobody else here").await;

    backdate(&app).await;
    let purged = app.accounts.purge_unverified(platform::db::Ts::now().minus(chrono::Duration::days(30))).await;
    assert_eq!(purged.unwrap(), 1);
    app.login("idle@example.com", PASSWORD).await.expect(401);
    app.login("talker@example.com", PASSWORD).await.expect(200);
    app.login("sharer@example.com", PASSWORD).await.expect(200);
    app.login("host@example.com", PASSWORD).await.expect(200);
    let history = app.get(&format!("/api/v1/chat/rooms/{open}/messages"), Some(&host.access)).await.expect(200);
    assert_eq!(
        by_content(&history.json["items"], "hello from an unverified account")["sender_id"],
        talker.user_id.as_str()
    );
    app.get(&format!("/api/v1/work/projects/{work}"), Some(&host.access)).await.expect(200);
}

testkit::api_tests!(
    a_deleted_account_leaves_others_their_conversations,
    the_purge_keeps_unverified_accounts_that_others_see
);
