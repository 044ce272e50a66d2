//! Domain events on RabbitMQ: a real consumer receives `chat.message.created` and
//! `work.task.created` with the documented body after the REST calls; with the broker cut off
//! (through a TCP proxy this test controls) the REST calls still succeed, the events wait in the
//! outbox, and they arrive once the broker is back, none lost and none twice. And scheduled jobs:
//! two instances sharing a database run a job once.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use testkit::{Backend, Proxy, TestApp};
use tokio::sync::mpsc;

/// A consumer bound to `keys` on the events exchange; what it receives arrives on the channel
/// as (AMQP message id, body).
pub(crate) async fn consume(url: &str, keys: &[&str]) -> (Connection, mpsc::UnboundedReceiver<(String, Value)>) {
    let conn = Connection::connect(url, ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare("ferrobase.events".into(), ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .unwrap();
    let exclusive = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare("".into(), exclusive, FieldTable::default()).await.unwrap();
    for key in keys {
        channel
            .queue_bind(
                queue.name().clone(),
                "ferrobase.events".into(),
                (*key).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let auto_ack = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
    let mut consumer = channel
        .basic_consume(queue.name().clone(), "events-test".into(), auto_ack, FieldTable::default())
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            assert_eq!(delivery.properties.delivery_mode(), &Some(2), "events are persistent");
            let id = delivery.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
            let body: Value = serde_json::from_slice(&delivery.data).unwrap();
            if tx.send((id, body)).is_err() {
                break;
            }
        }
    });
    (conn, rx)
}

/// Waits for the events `want` accepts until there are `n` of them or `wait` passes.
pub(crate) async fn gather(
    rx: &mut mpsc::UnboundedReceiver<(String, Value)>,
    want: impl Fn(&Value) -> bool,
    n: usize,
    wait: Duration,
) -> Vec<(String, Value)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) if want(&event.1) => got.push(event),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    got
}

fn the_event(kind: &'static str, field: &'static str, content: String) -> impl Fn(&Value) -> bool {
    move |body| body["type"] == kind && body["data"].pointer(field).and_then(Value::as_str) == Some(content.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_amqp), ignore = "needs FERROBASE_TEST_AMQP_URL")]
async fn events_reach_rabbitmq_in_order_and_survive_an_outage() {
    let Some(amqp) = testkit::service_url("FERROBASE_TEST_AMQP_URL") else { return };
    let broker = url::Url::parse(&amqp).unwrap();
    let target = format!("{}:{}", broker.host_str().unwrap(), broker.port().unwrap_or(5672));
    let proxy = Proxy::to(target).await;
    let mut through_proxy = broker.clone();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    let (_conn, mut rx) = consume(&amqp, &["chat.message.created", "work.task.created"]).await;
    let app =
        TestApp::spawn_with(Backend::Sqlite, |c| c.amqp_url = platform::secret::Secret::new(through_proxy.as_str()))
            .await
            .unwrap();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let a = app.register(&format!("events-{tag}@example.com")).await;
    let room = app.post("/api/v1/chat/rooms", Some(&a.access), json!({"name": "ev", "visibility": "private"})).await;
    let room = room.expect(201).json["id"].as_str().unwrap().to_string();
    let say = |text: String| {
        let (app, room, access) = (&app, room.clone(), a.access.clone());
        async move {
            app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&access), json!({"content": text}))
                .await
                .expect(201)
        }
    };

    // Up: the message's event arrives with the documented body.
    let first = say(format!("before {tag}")).await.json;
    let got = gather(
        &mut rx,
        the_event("chat.message.created", "/content", format!("before {tag}")),
        1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(got.len(), 1, "the event did not arrive");
    let (message_id, body) = &got[0];
    assert_eq!(body["id"].as_str(), Some(message_id.as_str()), "the AMQP message id is the event id");
    assert!(uuid::Uuid::parse_str(message_id).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap()).is_ok());
    assert_eq!(body["data"]["id"], first["id"]);
    assert_eq!(body["data"]["room_id"], room.as_str());
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");

    // Down: the REST calls still succeed; the events wait in the outbox.
    proxy.cut();
    for i in 0..3 {
        say(format!("during {tag} {i}")).await;
    }
    let project =
        app.post("/api/v1/work/projects", Some(&a.access), json!({"name": "P", "visibility": "private"})).await;
    let project = project.expect(201).json["id"].as_str().unwrap().to_string();
    app.post("/api/v1/work/tasks", Some(&a.access), json!({"project_id": project, "title": format!("task {tag}")}))
        .await
        .expect(201);
    let during = |body: &Value| {
        (body["type"] == "chat.message.created"
            && body["data"]["content"].as_str().is_some_and(|c| c.starts_with(&format!("during {tag}"))))
            || (body["type"] == "work.task.created" && body["data"]["task"]["title"] == format!("task {tag}").as_str())
    };
    assert!(gather(&mut rx, during, 1, Duration::from_secs(2)).await.is_empty(), "nothing passes a cut broker");
    let waiting = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE kind = 'domain.event'");
    let waiting = match app.db().await {
        platform::db::Db::Sqlite(pool, _) => waiting.fetch_one(&pool).await.unwrap(),
        platform::db::Db::Postgres(_) => unreachable!("this test runs on SQLite"),
    };
    assert!(waiting >= 4, "{waiting} events wait in the outbox");

    // Back: every event arrives once, the messages in the order they were written.
    proxy.restore();
    let mut got = gather(&mut rx, during, 4, Duration::from_secs(60)).await;
    got.extend(gather(&mut rx, during, 1, Duration::from_secs(2)).await);
    let messages: Vec<&str> = got
        .iter()
        .filter(|(_, b)| b["type"] == "chat.message.created")
        .map(|(_, b)| b["data"]["content"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..3).map(|i| format!("during {tag} {i}")).collect();
    assert_eq!(messages, expected, "each message once, in order");
    assert_eq!(got.iter().filter(|(_, b)| b["type"] == "work.task.created").count(), 1);
    let ids: std::collections::HashSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), got.len(), "no event twice");
}

/// Edits and deletions travel as events too, so a consumer that mirrors messages, tasks or
/// comments (a search index, an archive) stays exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_amqp), ignore = "needs FERROBASE_TEST_AMQP_URL")]
async fn edits_and_deletions_are_events_too() {
    let Some(amqp) = testkit::service_url("FERROBASE_TEST_AMQP_URL") else { return };
    let keys = [
        "chat.message.updated",
        "chat.message.deleted",
        "chat.room.deleted",
        "work.comment.updated",
        "work.comment.deleted",
        "work.task.deleted",
    ];
    let (_conn, mut rx) = consume(&amqp, &keys).await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.amqp_url = platform::secret::Secret::new(amqp.as_str()))
        .await
        .unwrap();
    let a = app.register(&format!("edits-{}@example.com", uuid::Uuid::now_v7().simple())).await;
    let token = Some(a.access.as_str());
    let room =
        app.post("/api/v1/chat/rooms", token, json!({"name": "edits", "visibility": "private"})).await.expect(201).json;
    let room = room["id"].as_str().unwrap().to_string();
    let message = app.post(&format!("/api/v1/chat/rooms/{room}/messages"), token, json!({"content": "v1"})).await;
    let message = message.expect(201).json["id"].as_str().unwrap().to_string();
    let at = format!("/api/v1/chat/rooms/{room}/messages/{message}");
    app.patch(&at, token, json!({"content": "v2"})).await.expect(200);
    app.delete(&at, token, None).await.expect(204);
    app.delete(&format!("/api/v1/chat/rooms/{room}"), token, None).await.expect(204);

    let project = app
        .post("/api/v1/work/projects", token, json!({"name": "Edits", "visibility": "private"}))
        .await
        .expect(201)
        .json;
    let task = app.post("/api/v1/work/tasks", token, json!({"project_id": project["id"], "title": "T"})).await;
    let task = task.expect(201).json["id"].as_str().unwrap().to_string();
    let comment = app.post(&format!("/api/v1/work/tasks/{task}/comments"), token, json!({"content": "c1"})).await;
    let comment = comment.expect(201).json["id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/work/comments/{comment}"), token, json!({"content": "c2"})).await.expect(200);
    app.delete(&format!("/api/v1/work/comments/{comment}"), token, None).await.expect(204);
    app.delete(&format!("/api/v1/work/tasks/{task}"), token, None).await.expect(204);

    let ours = |body: &Value| {
        let d = &body["data"];
        [&d["room_id"], &d["task_id"], &d["comment"]["task_id"]]
            .iter()
            .any(|v| **v == room.as_str() || **v == task.as_str())
    };
    let got = gather(&mut rx, ours, 6, Duration::from_secs(20)).await;
    let types: Vec<&str> = got.iter().map(|(_, b)| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, keys, "each change once, in the order it was made");
    assert_eq!(got[0].1["data"]["content"], "v2");
    assert_eq!(got[1].1["data"]["id"], message.as_str());
    assert_eq!(got[3].1["data"]["comment"]["content"], "c2");
    assert_eq!(got[4].1["data"]["comment_id"], comment.as_str());
    assert_eq!(got[5].1["data"]["project_id"], project["id"]);
}

// --- scheduled jobs ------------------------------------------------------------------------------

struct Counting(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl platform::outbox::Job for Counting {
    fn name(&self) -> &'static str {
        "test.counting"
    }

    async fn run(&self) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

async fn two_instances_run_a_job_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(config) = testkit::test_config(backend, dir.path().to_path_buf()).await else { return };
    let db = platform::db::connect(&config.database_url(), 4).await.unwrap();
    platform::db::migrate(&db, &ferrobase::migrations()).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let worker = |name: &str| {
        let outbox = platform::outbox::Outbox::new();
        platform::outbox::Worker::new(db.clone(), outbox, name.into(), Duration::from_secs(60))
            .job(Arc::new(Counting(runs.clone())))
    };
    let (one, two) = (worker("instance-one"), worker("instance-two"));
    let (a, b) = tokio::join!(one.run_jobs_once(), two.run_jobs_once());
    assert_eq!(a + b, 1, "exactly one instance ran the job");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Within the interval neither runs it again on the other's behalf; the holder keeps it.
    assert_eq!(two.run_jobs_once().await + one.run_jobs_once().await, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_instances_run_a_job_once() {
    two_instances_run_a_job_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_two_instances_run_a_job_once() {
    two_instances_run_a_job_once(Backend::Postgres).await;
}
