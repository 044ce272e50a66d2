//! Issue #9 item 16: a dependency cut off (through a TCP proxy the test controls, never by
//! stopping the machine's service) and brought back. PostgreSQL: requests answer 503
//! `unavailable` within two seconds, not a hang, and the pool recovers by itself. Redis: REST
//! keeps working, rate limits fall back to in-process counters, realtime keeps working within
//! an instance, and cross-instance delivery (and a revocation made meanwhile) resumes on its
//! own. RabbitMQ's cut is in `events.rs`.

use platform::secret::Secret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::{Backend, PASSWORD, Proxy, Session, TestApp, Ws};

/// Polls `check` every 100 ms for up to `within`; true once it held.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_cut_off_answers_503_quickly_and_the_pool_recovers() {
    let Some(base) = testkit::service_url("FERROBASE_TEST_POSTGRES_URL") else { return };
    let (proxy, _) = Proxy::for_url(&base, 5432).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        let mut url = url::Url::parse(&c.database_url()).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        c.database_url = Secret::new(url.to_string());
    })
    .await
    .unwrap();
    let s = app.register("pat@example.com").await;
    app.get("/api/v1/users/me", Some(&s.access)).await.expect(200);

    proxy.cut();
    let token = Some(s.access.as_str());
    // (`/users/me` was read above, so its answer is cached and still served: caches only
    // answer what no committed change has made stale, and nothing commits without the database.)
    app.get("/api/v1/users/me", token).await.expect(200);
    for path in ["/api/v1/auth/sessions", "/api/v1/chat/rooms", "/api/v1/work/projects", "/api/v1/notifications"] {
        let started = Instant::now();
        let r = app.get(path, token).await.expect_problem(503, "unavailable");
        assert!(started.elapsed() < Duration::from_millis(2500), "{path} took {:?}", started.elapsed());
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(!r.text.contains("127.0.0.1"), "the driver's words stay in the log: {}", r.text);
    }
    let started = Instant::now();
    let body = json!({"name": "Lost?", "visibility": "public"});
    app.post("/api/v1/chat/rooms", token, body).await.expect_problem(503, "unavailable");
    assert!(started.elapsed() < Duration::from_millis(2500), "a write took {:?}", started.elapsed());
    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    proxy.restore();
    let back = eventually(Duration::from_secs(10), || async {
        app.http.get(app.url("/api/v1/auth/sessions")).bearer_auth(&s.access).send().await.unwrap().status() == 200
    })
    .await;
    assert!(back, "the pool did not recover within 10 s");
    let body = json!({"name": "After the outage", "visibility": "public"});
    app.post("/api/v1/chat/rooms", token, body).await.expect(201);
    // Nothing half-written: the refused write never happened.
    let rooms = app.get("/api/v1/chat/rooms?scope=public", token).await.expect(200);
    assert!(!rooms.text.contains("Lost?"), "{}", rooms.text);
}

async fn subscribed(app: &TestApp, who: &Session, topic: &str) -> Ws {
    let mut ws = app.ws("/api/v1/realtime", Some(&who.access)).await.unwrap();
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": topic}), "s").await["type"], "ack");
    ws
}

/// The next frame on `topic` within `wait` that `pick` accepts, skipping others.
async fn frame_on(ws: &mut Ws, topic: &str, wait: Duration, pick: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws.next_within(left).await?;
        if frame["topic"] == topic && pick(&frame) {
            return Some(frame);
        }
    }
}

async fn say(app: &TestApp, who: &Session, room: &str, content: &str) {
    let path = format!("/api/v1/chat/rooms/{room}/messages");
    app.post(&path, Some(&who.access), json!({"content": content})).await.expect(201);
}

fn says(content: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f["data"]["content"] == content
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn redis_cut_off_degrades_to_one_instance_and_recovers() {
    let Some(redis) = testkit::service_url("FERROBASE_TEST_REDIS_URL") else { return };
    let (proxy, through) = Proxy::for_url(&redis, 6379).await;
    let a = TestApp::spawn_with(Backend::Postgres, |c| c.redis_url = Secret::new(through.clone())).await.unwrap();
    let b = a.sibling().await;
    let owner = a.register("owner@example.com").await;
    let bob = a.register("bob@example.com").await;
    let room = a.post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": "R", "visibility": "private"}));
    let room = room.await.expect(201).json["id"].as_str().unwrap().to_string();
    let body = json!({"user_id": bob.user_id});
    a.post(&format!("/api/v1/chat/rooms/{room}/members"), Some(&owner.access), body).await.expect(201);
    let topic = format!("chat.room.{room}");
    let mut bob_on_a = subscribed(&a, &bob, &topic).await;
    let mut bob_on_b = subscribed(&b, &bob, &topic).await;
    say(&a, &owner, &room, "before").await;
    assert!(frame_on(&mut bob_on_b, &topic, Duration::from_secs(5), says("before")).await.is_some());

    proxy.cut();
    // REST keeps working on both instances, without waiting on Redis.
    for (i, app) in [&a, &b].into_iter().enumerate() {
        let started = Instant::now();
        app.get("/api/v1/users/me", Some(&bob.access)).await.expect(200);
        app.register(&format!("during-{i}@example.com")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "REST waited on Redis: {:?}", started.elapsed());
    }
    // An instance started during the outage starts and serves.
    let c = a.sibling().await;
    c.get("/api/v1/users/me", Some(&bob.access)).await.expect(200);
    // Rate limits still hold, counted in this process.
    for _ in 0..10 {
        a.login("owner@example.com", "wrong password").await.expect(401);
    }
    a.login("owner@example.com", PASSWORD).await.expect_problem(429, "rate_limited");
    // Realtime keeps working within the instance.
    say(&a, &owner, &room, "during").await;
    assert!(frame_on(&mut bob_on_a, &topic, Duration::from_secs(5), says("during")).await.is_some());
    // Bob loses the room while the instances cannot talk: here at once.
    a.delete(&format!("/api/v1/chat/rooms/{room}/members/{}", bob.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    let unsubscribed = |f: &Value| f["type"] == "unsubscribed";
    assert!(frame_on(&mut bob_on_a, &topic, Duration::from_secs(5), unsubscribed).await.is_some());

    proxy.restore();
    // On the other instance once Redis is back, with nothing more happening.
    let gone = frame_on(&mut bob_on_b, &topic, Duration::from_secs(20), unsubscribed).await;
    assert!(gone.is_some(), "the revocation made during the outage never reached the other instance");
    // Cross-instance delivery resumes on its own.
    let own = format!("user.{}", bob.user_id);
    assert_eq!(bob_on_b.request(json!({"type": "subscribe", "topic": own}), "own").await["type"], "ack");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut resumed = false;
    for n in 0.. {
        if Instant::now() > deadline {
            break;
        }
        a.hub.publish(&own, "ping", &json!({"n": n}));
        if frame_on(&mut bob_on_b, &own, Duration::from_millis(300), |f| f["event"] == "ping").await.is_some() {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "cross-instance delivery did not resume");
}
