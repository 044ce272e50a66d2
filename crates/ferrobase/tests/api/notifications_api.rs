//! Notifications end to end, on SQLite and (in CI) PostgreSQL + Redis: assignments and
//! mentions (task comments and chat) land in the inbox, are pushed live on `user.{id}` and
//! emailed (a real `.eml` per message) to verified addresses that want them; preferences;
//! read markers; the due-date job reminding once per task.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::{Value, json};
use std::time::Duration;
use testkit::{Backend, Session, TestApp, Ws, mails_to, read_mail};

async fn project_with(app: &TestApp, owner: &Session, members: &[&Session]) -> String {
    let r = app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "Launch"})).await.expect(201);
    let p = r.json["id"].as_str().unwrap().to_string();
    for m in members {
        app.post(&format!("/api/v1/work/projects/{p}/members"), Some(&owner.access), json!({"user_id": m.user_id}))
            .await
            .expect(201);
    }
    p
}

async fn inbox(app: &TestApp, s: &Session, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/notifications{query}"), Some(&s.access)).await.expect(200);
    r.json["items"].as_array().unwrap().clone()
}

async fn unread(app: &TestApp, s: &Session) -> i64 {
    app.get("/api/v1/notifications/unread-count", Some(&s.access)).await.expect(200).json["count"].as_i64().unwrap()
}

async fn user_socket(app: &TestApp, s: &Session) -> Ws {
    let mut ws = app.ws("/api/v1/realtime", Some(&s.access)).await.unwrap();
    let ack = ws.request(json!({"type": "subscribe", "topic": format!("user.{}", s.user_id)}), "u").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ws
}

async fn pushed(ws: &mut Ws) -> Value {
    loop {
        let frame = ws.recv_type("event").await;
        if frame["event"] == "notification.created" {
            return frame["data"].clone();
        }
    }
}

async fn assignment_and_mentions_reach_inbox_socket_and_mail(app: TestApp) {
    let owner = app.register_verified("boss@example.com").await;
    let bob = app.register_verified("bob@example.com").await;
    let carol = app.register_verified("carol@example.com").await;
    let dave = app.register("dave@example.com").await; // never verified
    let p = project_with(&app, &owner, &[&bob, &carol, &dave]).await;
    // Being added is itself a notification.
    assert_eq!(inbox(&app, &bob, "").await[0]["kind"], "project_invitation");
    app.post("/api/v1/notifications/read-all", Some(&bob.access), json!({})).await.expect(200);
    assert_eq!(unread(&app, &bob).await, 0);

    let mut live = user_socket(&app, &bob).await;
    let t = app
        .post(
            "/api/v1/work/tasks",
            Some(&owner.access),
            json!({"project_id": p, "title": "Write the launch post", "assignee_id": bob.user_id}),
        )
        .await
        .expect(201);
    let task_id = t.json["id"].as_str().unwrap();
    let note = pushed(&mut live).await;
    assert_eq!(note["kind"], "task_assigned");
    assert_eq!(note["data"]["task_id"], json!(task_id));
    assert!(note["title"].as_str().unwrap().contains("Write the launch post"));
    let items = inbox(&app, &bob, "?unread_only=true").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], note["id"]);
    assert_eq!(unread(&app, &bob).await, 1);
    // Bob's mail: the verification code, being added to the project, then this assignment.
    let mail = read_mail(&app.mail_dir(), "bob@example.com", 3).await;
    assert!(mail.subject.contains("Write the launch post"), "{}", mail.subject);
    assert!(mail.html.contains("Write the launch post"));

    // A mention in a comment: carol is notified (live too), the author is not.
    let mut carol_live = user_socket(&app, &carol).await;
    app.post(
        &format!("/api/v1/work/tasks/{task_id}/comments"),
        Some(&bob.access),
        json!({"content": "@carol can you review? cc @bob"}),
    )
    .await
    .expect(201);
    let live_mention = pushed(&mut carol_live).await;
    assert_eq!(live_mention["kind"], "comment_mention");
    let carols = inbox(&app, &carol, "").await;
    assert_eq!(carols[0]["id"], live_mention["id"]);
    assert_eq!(carols[0]["kind"], "comment_mention", "{carols:?}");
    assert_eq!(carols[0]["data"]["task_id"], json!(task_id));
    let mention_mail = read_mail(&app.mail_dir(), "carol@example.com", 3).await;
    assert!(mention_mail.text.contains("can you review"), "{}", mention_mail.text);
    assert_eq!(inbox(&app, &bob, "?unread_only=true").await.len(), 1, "no notification for mentioning oneself");

    // An unverified address gets the inbox entry but no mail.
    app.patch(&format!("/api/v1/work/tasks/{task_id}"), Some(&owner.access), json!({"assignee_id": dave.user_id}))
        .await
        .expect(200);
    assert_eq!(inbox(&app, &dave, "").await[0]["kind"], "task_assigned");
    // Sequence the check behind a later mail: the outbox delivers in order.
    app.patch(&format!("/api/v1/work/tasks/{task_id}"), Some(&owner.access), json!({"assignee_id": carol.user_id}))
        .await
        .expect(200);
    read_mail(&app.mail_dir(), "carol@example.com", 4).await;
    assert_eq!(mails_to(&app.mail_dir(), "dave@example.com").len(), 1, "only the verification code");

    // Reading: one, then all; only one's own.
    let first = &inbox(&app, &bob, "").await[0];
    let id = first["id"].as_str().unwrap();
    app.post(&format!("/api/v1/notifications/{id}/read"), Some(&carol.access), json!({}))
        .await
        .expect_problem(404, "not_found");
    let read = app.post(&format!("/api/v1/notifications/{id}/read"), Some(&bob.access), json!({})).await.expect(200);
    assert!(read.json["read_at"].is_string());
    assert_eq!(unread(&app, &bob).await, 0);
    assert!(unread(&app, &carol).await >= 2);
    let all = app.post("/api/v1/notifications/read-all", Some(&carol.access), json!({})).await.expect(200);
    assert!(all.json["marked"].as_u64().unwrap() >= 2);
    assert_eq!(unread(&app, &carol).await, 0);
    assert!(inbox(&app, &carol, "?unread_only=true").await.is_empty());

    // Pages: newest first, cursor continues.
    let page = app.get("/api/v1/notifications?limit=1", Some(&carol.access)).await.expect(200);
    let next = page.json["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/api/v1/notifications?cursor={next}"), Some(&carol.access)).await.expect(200);
    assert!(rest.json["items"][0]["id"].as_str().unwrap() < page.json["items"][0]["id"].as_str().unwrap());
}

async fn preferences_turn_email_off_per_kind(app: TestApp) {
    let owner = app.register_verified("chief@example.com").await;
    let erin = app.register_verified("erin@example.com").await;
    let p = project_with(&app, &owner, &[&erin]).await;
    read_mail(&app.mail_dir(), "erin@example.com", 2).await; // added to the project
    let prefs = app.get("/api/v1/notifications/preferences", Some(&erin.access)).await.expect(200);
    assert_eq!(prefs.json["comment_mention"], json!({"in_app": true, "email": true}));
    let changed = app
        .patch("/api/v1/notifications/preferences", Some(&erin.access), json!({"comment_mention": {"email": false}}))
        .await
        .expect(200);
    assert_eq!(changed.json["comment_mention"]["email"], false);
    assert_eq!(changed.json["task_assigned"]["email"], true);
    app.patch("/api/v1/notifications/preferences", Some(&erin.access), json!({"task_due": {"in_app": false}}))
        .await
        .expect_problem(422, "validation_failed");
    app.patch("/api/v1/notifications/preferences", Some(&erin.access), json!({"fax": {"email": true}}))
        .await
        .expect(422);

    let t = app
        .post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "Budget"}))
        .await
        .expect(201);
    let task_id = t.json["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/work/tasks/{task_id}/comments"),
        Some(&owner.access),
        json!({"content": "@erin numbers?"}),
    )
    .await
    .expect(201);
    assert_eq!(inbox(&app, &erin, "").await[0]["kind"], "comment_mention", "in-app is always on");
    app.patch(&format!("/api/v1/work/tasks/{task_id}"), Some(&owner.access), json!({"assignee_id": erin.user_id}))
        .await
        .expect(200);
    let third = read_mail(&app.mail_dir(), "erin@example.com", 3).await;
    assert!(third.subject.contains("assigned you"), "the mention was not emailed: {}", third.subject);
    assert_eq!(mails_to(&app.mail_dir(), "erin@example.com").len(), 3);
}

async fn chat_mentions_notify(app: TestApp) {
    let ann = app.register("ann@example.com").await;
    let ben = app.register("ben@example.com").await;
    let room = app
        .post("/api/v1/chat/rooms", Some(&ann.access), json!({"name": "Standup", "visibility": "private"}))
        .await
        .expect(201);
    let room = room.json["id"].as_str().unwrap();
    app.post(&format!("/api/v1/chat/rooms/{room}/members"), Some(&ann.access), json!({"user_id": ben.user_id}))
        .await
        .expect(201);
    let mut live = user_socket(&app, &ben).await;
    app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&ann.access), json!({"content": "@ben you're up"}))
        .await
        .expect(201);
    let note = pushed(&mut live).await;
    assert_eq!(note["kind"], "chat_mention");
    assert_eq!(note["data"]["room_id"], json!(room));
    assert_eq!(note["body"], "@ben you're up");
    assert!(inbox(&app, &ann, "").await.is_empty());
}

/// Waits until `s` has `n` notifications of `kind`.
async fn wait_for_kind(app: &TestApp, s: &Session, kind: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let found: Vec<Value> = inbox(app, s, "?limit=100").await.into_iter().filter(|i| i["kind"] == kind).collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{kind} ×{n} never arrived");
}

async fn due_date_job_reminds_once(app: TestApp) {
    let owner = app.register("sched@example.com").await;
    let fay = app.register("fay@example.com").await;
    let p = project_with(&app, &owner, &[&fay]).await;
    let soon = chrono::Utc::now() + chrono::Duration::hours(2);
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    let due = app
        .post(
            "/api/v1/work/tasks",
            Some(&owner.access),
            json!({"project_id": p, "title": "Renew certificate", "assignee_id": fay.user_id, "due_date": soon}),
        )
        .await
        .expect(201);
    app.post(
        "/api/v1/work/tasks",
        Some(&owner.access),
        json!({"project_id": p, "title": "Far away", "assignee_id": fay.user_id, "due_date": later}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/work/tasks",
        Some(&owner.access),
        json!({"project_id": p, "title": "Done already", "assignee_id": fay.user_id, "due_date": soon, "status": "done"}),
    )
    .await
    .expect(201);
    let reminders = wait_for_kind(&app, &fay, "task_due", 1).await;
    assert!(reminders[0]["title"].as_str().unwrap().contains("Renew certificate"));
    // The job runs every second: several more runs send nothing new.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(wait_for_kind(&app, &fay, "task_due", 1).await.len(), 1);
    // A new due date re-arms the reminder.
    let path = format!("/api/v1/work/tasks/{}", due.json["id"].as_str().unwrap());
    let sooner = chrono::Utc::now() + chrono::Duration::hours(1);
    app.patch(&path, Some(&owner.access), json!({"due_date": sooner})).await.expect(200);
    assert_eq!(wait_for_kind(&app, &fay, "task_due", 2).await.len(), 2);
}

async fn with_fast_jobs(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| c.jobs_interval_secs = 1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_due_date_job_reminds_once() {
    due_date_job_reminds_once(with_fast_jobs(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_due_date_job_reminds_once() {
    if let Some(app) = with_fast_jobs(Backend::Postgres).await {
        due_date_job_reminds_once(app).await;
    }
}

testkit::api_tests!(
    assignment_and_mentions_reach_inbox_socket_and_mail,
    preferences_turn_email_off_per_kind,
    chat_mentions_notify,
);
