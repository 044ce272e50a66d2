//! The task board over socket.io, with a real socket.io client library (rust_socketio): token
//! auth at connect, `join:project` acks for members and refusals for outsiders, the board events
//! within a second of the REST calls, and (PostgreSQL + Redis) events crossing instances.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use futures::FutureExt;
use rust_socketio::Payload;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::time::Duration;
use testkit::{Backend, Session, TestApp};
use tokio::sync::mpsc;

/// What the REST calls must be visible within.
const WITHIN: Duration = Duration::from_secs(1);

struct Board {
    client: Client,
    events: mpsc::UnboundedReceiver<(String, Value)>,
}

#[allow(deprecated)] // Payload::String is how the library reports connect errors.
fn first_value(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.remove(0),
        Payload::String(text) => Value::String(text),
        _ => Value::Null,
    }
}

async fn connect(app: &TestApp, token: Option<&str>) -> Board {
    let (tx, events) = mpsc::unbounded_channel();
    let errors = tx.clone();
    let opened = tx.clone();
    let closed = tx.clone();
    let mut builder = ClientBuilder::new(app.base.clone())
        .namespace("/")
        .reconnect(false)
        .on_any(move |event, payload, _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((event.to_string(), first_value(payload)));
            }
            .boxed()
        })
        // "open" is the library's name for the namespace's CONNECT packet.
        .on("open", move |_, _| {
            let opened = opened.clone();
            async move {
                let _ = opened.send(("connect".to_string(), Value::Null));
            }
            .boxed()
        })
        .on("close", move |_, _| {
            let closed = closed.clone();
            async move {
                let _ = closed.send(("close".to_string(), Value::Null));
            }
            .boxed()
        })
        .on("error", move |payload, _| {
            let errors = errors.clone();
            async move {
                let _ = errors.send(("error".to_string(), first_value(payload)));
            }
            .boxed()
        });
    if let Some(token) = token {
        builder = builder.auth(json!({"token": token}));
    }
    let mut board = Board { client: builder.connect().await.expect("socket.io connect"), events };
    if token.is_some_and(|t| t.contains('.')) {
        // Emitting before the server accepted the namespace would be dropped by the protocol.
        board.expect_within("connect", Duration::from_secs(5)).await;
    }
    board
}

impl Board {
    /// The next event called `name` (others are skipped), within [`WITHIN`].
    async fn expect(&mut self, name: &str) -> Value {
        self.expect_within(name, WITHIN).await
    }

    async fn expect_within(&mut self, name: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match next {
                Ok(Some((event, data))) if event == name => return data,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("socket closed while waiting for {name}"),
                Err(_) => panic!("{name} did not arrive within {wait:?}"),
            }
        }
    }

    /// Emits `event` with `data` and returns the ack's first argument.
    async fn request(&mut self, event: &str, data: Value) -> Value {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.client
            .emit_with_ack(event, data, Duration::from_secs(5), move |payload, _| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(first_value(payload));
                }
                .boxed()
            })
            .await
            .unwrap();
        let ack = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("ack").unwrap();
        // The library hands acks over as the list of the ack's arguments.
        match ack {
            Value::Array(mut args) if !args.is_empty() => args.remove(0),
            other => other,
        }
    }

    /// Event names received so far, without waiting.
    fn drain(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        while let Ok((event, _)) = self.events.try_recv() {
            names.push(event);
        }
        names
    }
}

async fn setup(app: &TestApp) -> (Session, Session, String) {
    let owner = app.register("io-owner@example.com").await;
    let bob = app.register("io-bob@example.com").await;
    let p = app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "Sockets"})).await.expect(201);
    let p = p.json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/work/projects/{p}/members"), Some(&owner.access), json!({"user_id": bob.user_id}))
        .await
        .expect(201);
    (owner, bob, p)
}

async fn socketio_board_follows_rest_changes(app: TestApp) {
    let (owner, bob, p) = setup(&app).await;
    let outsider = app.register("io-out@example.com").await;
    let mut board = connect(&app, Some(&bob.access)).await;
    assert_eq!(board.request("join:project", json!({"projectId": p})).await, json!({"ok": true}));
    let mut spy = connect(&app, Some(&outsider.access)).await;
    let refused = spy.request("join:project", json!({"projectId": p})).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(refused["error"].is_string());
    assert_eq!(spy.request("join:project", json!({"nope": 1})).await["ok"], false);

    let t = app
        .post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "Live task"}))
        .await
        .expect(201);
    let id = t.json["id"].as_str().unwrap().to_string();
    let created = board.expect("task:created").await;
    assert_eq!(created["task"]["id"], json!(id));
    assert_eq!(created["task"]["title"], "Live task");

    app.patch(&format!("/api/v1/work/tasks/{id}"), Some(&owner.access), json!({"status": "in_progress"}))
        .await
        .expect(200);
    assert_eq!(board.expect("task:updated").await["task"]["status"], "in_progress");

    app.post(&format!("/api/v1/work/tasks/{id}/comments"), Some(&owner.access), json!({"content": "On it"}))
        .await
        .expect(201);
    let comment = board.expect("comment:created").await;
    assert_eq!(comment["comment"]["content"], "On it");
    assert_eq!(comment["comment"]["task_id"], json!(id));

    app.patch(&format!("/api/v1/work/projects/{p}"), Some(&owner.access), json!({"name": "Sockets v2"}))
        .await
        .expect(200);
    assert_eq!(board.expect("project:updated").await["project"]["name"], "Sockets v2");

    app.post(&format!("/api/v1/work/projects/{p}/members"), Some(&owner.access), json!({"user_id": outsider.user_id}))
        .await
        .expect(201);
    assert_eq!(board.expect("member:added").await["member"]["user_id"], json!(outsider.user_id));
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", outsider.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    assert_eq!(board.expect("member:removed").await["userId"], json!(outsider.user_id));

    app.delete(&format!("/api/v1/work/tasks/{id}"), Some(&owner.access), None).await.expect(204);
    assert_eq!(board.expect("task:deleted").await, json!({"taskId": id}));

    // The refused socket saw none of it.
    let leaked: Vec<String> = spy.drain().into_iter().filter(|e| e.contains(':')).collect();
    assert!(leaked.is_empty(), "an outsider received {leaked:?}");

    // After leaving, nothing more arrives.
    assert_eq!(board.request("leave:project", json!({"projectId": p})).await["ok"], true);
    app.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "Quiet"})).await.expect(201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!board.drain().iter().any(|e| e == "task:created"), "events after leave:project");
    board.client.disconnect().await.unwrap();
    spy.client.disconnect().await.unwrap();
}

async fn socketio_refuses_connections_without_a_valid_token(app: TestApp) {
    let (_, _, p) = setup(&app).await;
    for token in [None, Some("not-a-token")] {
        let mut board = connect(&app, token).await;
        let error = board.expect("error").await;
        assert!(error.to_string().contains("token") || error.to_string().contains("auth"), "{error}");
        let _ = board.client.emit("join:project", json!({"projectId": p})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!board.drain().iter().any(|e| e.contains(':')), "a refused socket got events");
    }
}

async fn socketio_sockets_close_when_the_session_ends(app: TestApp) {
    let (owner, bob, p) = setup(&app).await;
    let mut board = connect(&app, Some(&bob.access)).await;
    assert_eq!(board.request("join:project", json!({"projectId": p})).await["ok"], true);
    app.post("/api/v1/auth/logout", Some(&bob.access), json!({})).await.expect(204);
    board.expect_within("close", Duration::from_secs(3)).await;
    app.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "After logout"}))
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!board.drain().iter().any(|e| e == "task:created"), "a logged-out socket still receives the board");
}

/// Removing a member ends its socket's subscription at once: the next task is not delivered to
/// it, while another member's socket on the same board receives it.
async fn socketio_a_removed_member_receives_nothing_more(app: TestApp) {
    let (owner, bob, p) = setup(&app).await;
    let mut bobs = connect(&app, Some(&bob.access)).await;
    assert_eq!(bobs.request("join:project", json!({"projectId": p})).await["ok"], true);
    let mut owners = connect(&app, Some(&owner.access)).await;
    assert_eq!(owners.request("join:project", json!({"projectId": p})).await["ok"], true);
    app.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "Shared"})).await.expect(201);
    bobs.expect("task:created").await;
    owners.expect("task:created").await;
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", bob.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    let hidden = app
        .post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "Members only"}))
        .await
        .expect(201);
    assert_eq!(owners.expect("task:created").await["task"]["id"], hidden.json["id"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!bobs.drain().iter().any(|e| e == "task:created"), "a removed member's socket still receives tasks");
}

testkit::api_tests!(
    socketio_a_removed_member_receives_nothing_more,
    socketio_board_follows_rest_changes,
    socketio_refuses_connections_without_a_valid_token,
    socketio_sockets_close_when_the_session_ends,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_sockets_close_when_the_access_token_expires() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.access_token_ttl_secs = 2).await.unwrap();
    let (_, bob, p) = setup(&app).await;
    let mut board = connect(&app, Some(&bob.access)).await;
    assert_eq!(board.request("join:project", json!({"projectId": p})).await["ok"], true);
    board.expect_within("close", Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_sockets_that_flood_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.ws_messages_per_sec = 1.0;
        c.ws_message_burst = 3.0;
    })
    .await
    .unwrap();
    let (_, bob, p) = setup(&app).await;
    let mut board = connect(&app, Some(&bob.access)).await;
    for _ in 0..10 {
        let _ = board.client.emit("join:project", json!({"projectId": p})).await;
    }
    board.expect_within("close", Duration::from_secs(3)).await;
}

/// A socket that fell so far behind that its send buffer filled is disconnected once its client
/// reads again. socketioxide refuses a DISCONNECT packet while the buffer is full and leaves the
/// socket open; the socket's loop has ended by then, so it would hear nothing more, ever. A raw
/// engine.io client (rust_socketio always reads) with a small receive buffer stops reading while
/// the board takes large tasks (well within engine.io's heartbeat: the first ping is answered,
/// the next comes 25 s later), then reads on, answering pings, until the DISCONNECT comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_a_socket_that_fell_behind_is_disconnected_when_it_reads_again() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (owner, bob, p) = setup(&app).await;
    let addr = app.base.trim_start_matches("http://").parse::<std::net::SocketAddr>().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    type Raw = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;
    /// The next text frame before `until` (None when none came), answering engine.io's pings on
    /// the way (the first comes with the open packet).
    async fn text(ws: &mut Raw, until: tokio::time::Instant) -> Option<String> {
        loop {
            match tokio::time::timeout_at(until, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => {
                    ws.send(Message::Text("3".into())).await.unwrap()
                }
                Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
                Ok(Some(Ok(_))) => {}
                Ok(ended) => panic!("closed without a DISCONNECT packet: {ended:?}"),
                Err(_) => return None,
            }
        }
    }
    let soon = || tokio::time::Instant::now() + Duration::from_secs(5);
    let open = text(&mut ws, soon()).await.expect("engine.io open");
    assert!(open.starts_with('0'), "engine.io open: {open}");
    ws.send(Message::Text(format!(r#"40{{"token":"{}"}}"#, bob.access).into())).await.unwrap();
    let connected = text(&mut ws, soon()).await.expect("socket.io connect");
    assert!(connected.starts_with("40"), "socket.io connect: {connected}");
    ws.send(Message::Text(format!(r#"421["join:project",{{"projectId":"{p}"}}]"#).into())).await.unwrap();
    assert_eq!(text(&mut ws, soon()).await.as_deref(), Some(r#"431[{"ok":true}]"#));

    // About 5 MB of events while nothing is read: more than the kernel's buffers and
    // socketioxide's 128 packets hold.
    let description = "x".repeat(8_000);
    for i in 0..600 {
        let task = json!({"project_id": p, "title": format!("Large {i}"), "description": description});
        app.post("/api/v1/work/tasks", Some(&owner.access), task).await.expect(201);
    }

    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match text(&mut ws, until).await {
            Some(t) if t.starts_with("41") => break,
            Some(_) => {}
            None => panic!("a socket that fell behind stayed open after its client read everything"),
        }
    }
}

/// Two instances sharing PostgreSQL and Redis: a socket on one sees changes made on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn socketio_events_cross_instances() {
    let Some((a, b)) = TestApp::pair_on_redis().await else { return };
    let (owner, bob, p) = setup(&a).await;
    let mut board = connect(&b, Some(&bob.access)).await;
    assert_eq!(board.request("join:project", json!({"projectId": p})).await["ok"], true);
    let t = a
        .post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "From instance A"}))
        .await
        .expect(201);
    assert_eq!(board.expect("task:created").await["task"]["id"], t.json["id"]);
    // Removing the member on instance A ends the subscription on instance B.
    a.delete(&format!("/api/v1/work/projects/{p}/members/{}", bob.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    board.expect("member:removed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "Private again"}))
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!board.drain().iter().any(|e| e == "task:created"), "a removed member's socket still receives tasks");
}

/// A socket.io socket on an instance whose backplane was cut re-checks its subscriptions once
/// it is back: a membership that ended meanwhile (here without any revocation at all) ends on
/// the socket too, while the owner's socket keeps receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn socketio_sockets_recheck_after_a_backplane_gap() {
    let Some(redis) = testkit::service_url("FERROBASE_TEST_REDIS_URL") else { return };
    let (proxy, through) = testkit::Proxy::for_url(&redis, 6379).await;
    let secret = platform::secret::Secret::new(through);
    let Some(a) = TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = secret).await else { return };
    let b = a.sibling().await;
    let (owner, bob, p) = setup(&a).await;
    let mut bobs = connect(&b, Some(&bob.access)).await;
    assert_eq!(bobs.request("join:project", json!({"projectId": p})).await["ok"], true);
    let mut owners = connect(&b, Some(&owner.access)).await;
    assert_eq!(owners.request("join:project", json!({"projectId": p})).await["ok"], true);

    proxy.cut();
    let db = a.db().await;
    let (project, user) = (uuid::Uuid::parse_str(&p).unwrap(), uuid::Uuid::parse_str(&bob.user_id).unwrap());
    platform::with_db!(&db, |pool| {
        sqlx::query("DELETE FROM work_members WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .execute(pool)
            .await
            .map(|_| ())
    })
    .unwrap();
    proxy.restore();

    // Wait until events cross again, then give the re-checks a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "cross-instance delivery did not resume");
        a.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "probe"})).await.expect(201);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if owners.drain().iter().any(|e| e == "task:created") {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    bobs.drain();
    a.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": p, "title": "members only"}))
        .await
        .expect(201);
    owners.expect_within("task:created", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!bobs.drain().iter().any(|e| e == "task:created"), "a removed member's socket.io socket still receives");
}
