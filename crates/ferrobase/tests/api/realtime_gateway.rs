//! The native WebSocket gateway with a real client: the three ways to authenticate, authorised
//! subscriptions, frames that are wrong but survivable, limits that close, token expiry, slow
//! clients, and delivery across instances through Redis.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::{Value, json};
use std::time::Duration;
use testkit::{Backend, Ended, Session, TestApp};

const PATH: &str = "/api/v1/realtime";

fn topic(s: &Session) -> String {
    format!("user.{}", s.user_id)
}

async fn three_ways_to_authenticate(app: TestApp) {
    let s = app.register("ws-auth@example.com").await;
    let mut by_header = app.ws(PATH, Some(&s.access)).await.unwrap();
    assert_eq!(by_header.request(json!({"type": "subscribe", "topic": topic(&s)}), "1").await["type"], "ack");
    let mut by_query = app.ws(&format!("{PATH}?token={}", s.access), None).await.unwrap();
    assert_eq!(by_query.request(json!({"type": "subscribe", "topic": topic(&s)}), "1").await["type"], "ack");
    let mut by_frame = app.ws(PATH, None).await.unwrap();
    let refused = by_frame.request(json!({"type": "subscribe", "topic": topic(&s)}), "1").await;
    assert_eq!(refused["code"], "unauthenticated");
    let bad = by_frame.request(json!({"type": "auth", "token": "nope"}), "2").await;
    assert_eq!((bad["type"].as_str(), bad["code"].as_str()), (Some("error"), Some("invalid_token")));
    assert_eq!(by_frame.request(json!({"type": "auth", "token": s.access}), "3").await["type"], "ack");
    assert_eq!(by_frame.request(json!({"type": "subscribe", "topic": topic(&s)}), "4").await["type"], "ack");

    app.hub.publish(&topic(&s), "hello", &json!({"n": 7}));
    for ws in [&mut by_header, &mut by_query, &mut by_frame] {
        let event = ws.recv_type("event").await;
        assert_eq!(event, json!({"type": "event", "topic": topic(&s), "event": "hello", "data": {"n": 7}}));
    }
    // A bad token in the query is refused before the upgrade.
    let err = app.ws(&format!("{PATH}?token=forged"), None).await.err().unwrap();
    assert!(err.to_string().contains("401"), "{err}");
    // A revoked session cannot open a socket.
    app.post("/api/v1/auth/logout", Some(&s.access), json!({})).await.expect(204);
    assert!(app.ws(PATH, Some(&s.access)).await.is_err());
}

async fn subscriptions_are_authorised(app: TestApp) {
    let a = app.register("ws-a@example.com").await;
    let b = app.register("ws-b@example.com").await;
    let mut ws = app.ws(PATH, Some(&a.access)).await.unwrap();
    let other = ws.request(json!({"type": "subscribe", "topic": topic(&b)}), "1").await;
    assert_eq!((other["type"].as_str(), other["code"].as_str()), (Some("error"), Some("forbidden")));
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": "no.such.thing"}), "2").await["code"], "unknown_topic");
    assert_eq!(ws.request(json!({"type": "subscribe"}), "3").await["code"], "malformed_frame");
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": topic(&a)}), "4").await["type"], "ack");
    app.hub.publish(&topic(&b), "secret", &json!({}));
    app.hub.publish(&topic(&a), "mine", &json!({}));
    assert_eq!(ws.recv_type("event").await["event"], "mine", "nothing of b's topic arrives");
    assert_eq!(ws.request(json!({"type": "unsubscribe", "topic": topic(&a)}), "5").await["type"], "ack");
    app.hub.publish(&topic(&a), "after", &json!({}));
    assert!(ws.next_within(Duration::from_millis(300)).await.is_none());
}

async fn wrong_frames_get_errors_and_the_connection_stays(app: TestApp) {
    let s = app.register("ws-frames@example.com").await;
    let mut ws = app.ws(PATH, Some(&s.access)).await.unwrap();
    ws.send_text("this is not json").await;
    assert_eq!(ws.recv().await["code"], "malformed_frame");
    ws.send(json!({"no_type": true})).await;
    assert_eq!(ws.recv().await["code"], "malformed_frame");
    assert_eq!(ws.request(json!({"type": "launch.rockets"}), "u").await["code"], "unknown_type");
    ws.stream.send(tokio_tungstenite::tungstenite::Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(ws.recv().await["code"], "unsupported_frame");
    assert_eq!(ws.request(json!({"type": "ping"}), "p").await, json!({"type": "pong", "ref": "p"}));
}

async fn oversized_frames_close_the_connection(app: TestApp) {
    let s = app.register("ws-big@example.com").await;
    let mut ws = app.ws(PATH, Some(&s.access)).await.unwrap();
    let big = format!("{{\"type\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let _ = ws.stream.send(Message::Text(big.into())).await;
    let ended = ws.ended_within(Duration::from_secs(5)).await;
    assert!(matches!(ended, Some(Ended::Closed(1009)) | Some(Ended::Dropped)), "{ended:?}");
}

async fn ending_a_session_closes_its_sockets(app: TestApp) {
    let first = app.register("ws-end@example.com").await;
    let second = Session::from_json(&app.login("ws-end@example.com", testkit::PASSWORD).await.expect(200).json);
    let mut one = app.ws(PATH, Some(&first.access)).await.unwrap();
    let mut two = app.ws(PATH, None).await.unwrap();
    assert_eq!(two.request(json!({"type": "auth", "token": second.access}), "a").await["type"], "ack");
    app.post("/api/v1/auth/logout", Some(&first.access), json!({})).await.expect(204);
    assert_eq!(one.ended_within(Duration::from_secs(3)).await, Some(Ended::Closed(4001)));
    assert_eq!(two.request(json!({"type": "ping"}), "p").await["type"], "pong", "the other session stays");
    app.post("/api/v1/auth/logout-all", Some(&second.access), json!({})).await.expect(204);
    assert_eq!(two.ended_within(Duration::from_secs(3)).await, Some(Ended::Closed(4001)));
}

testkit::api_tests!(
    ending_a_session_closes_its_sockets,
    three_ways_to_authenticate,
    subscriptions_are_authorised,
    wrong_frames_get_errors_and_the_connection_stays,
    oversized_frames_close_the_connection,
);

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_rate_limit_closes_with_1008() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.ws_messages_per_sec = 5.0;
        c.ws_message_burst = 10.0;
    })
    .await
    .unwrap();
    let s = app.register("ws-rate@example.com").await;
    let mut ws = app.ws(PATH, Some(&s.access)).await.unwrap();
    for _ in 0..30 {
        let _ = ws.stream.send(Message::Text(r#"{"type":"ping"}"#.into())).await;
    }
    assert_eq!(ws.ended_within(Duration::from_secs(5)).await, Some(Ended::Closed(1008)));
    // Binary and ping frames count against the same budget.
    use tokio_tungstenite::tungstenite::Message;
    for flood in [Message::Binary(vec![1u8; 16].into()), Message::Ping(vec![1u8; 8].into())] {
        let mut ws = app.ws(PATH, Some(&s.access)).await.unwrap();
        for _ in 0..30 {
            let _ = ws.stream.send(flood.clone()).await;
        }
        assert_eq!(ws.ended_within(Duration::from_secs(5)).await, Some(Ended::Closed(1008)), "{flood:?}");
    }
}

/// A client that closes gets the server's Close back, with its own code, on the native gateway
/// and on the chat room socket (the same loop): the closing handshake completes, which is what
/// a browser calls a clean close. Without the answer the client sees the connection dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_gets_its_close_answered() {
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let s = app.register("ws-bye@example.com").await;
    let rooms = app.get("/api/v1/chat/rooms?scope=public", Some(&s.access)).await.expect(200).json;
    let general = rooms["items"].as_array().unwrap().iter().find(|r| r["name"] == "General").unwrap()["id"].clone();
    let general = general.as_str().unwrap();
    app.post(&format!("/api/v1/chat/rooms/{general}/join"), Some(&s.access), json!({})).await.expect(200);
    let room_socket = format!("/api/v1/chat/rooms/{general}/ws?token={}", s.access);
    for (path, code) in [(PATH, CloseCode::Normal), (room_socket.as_str(), CloseCode::Away)] {
        let mut ws = app.ws(path, Some(&s.access)).await.unwrap();
        ws.stream.close(Some(CloseFrame { code, reason: "bye".into() })).await.unwrap();
        assert_eq!(ws.ended_within(Duration::from_secs(3)).await, Some(Ended::Closed(u16::from(code))), "{path}");
    }
}

/// A client that reads nothing while events keep coming is let go once a write has waited the
/// length of a heartbeat (30 s) for room in its socket (`gateway/write.rs`). Before, its loop
/// waited with the write for ever, and the connection kept its task, its queue and its buffers
/// (a cheap way for a stranger to hold memory, one socket at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_is_let_go_after_a_heartbeat() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let s = app.register("ws-stalled@example.com").await;
    let mut stalled = app.ws(PATH, Some(&s.access)).await.unwrap();
    assert_eq!(stalled.request(json!({"type": "subscribe", "topic": topic(&s)}), "s").await["type"], "ack");
    // 24 MB, far more than the two sockets' buffers hold while nothing is read (and fewer
    // frames than the queue holds, so nothing is dropped for being late).
    let pad = "x".repeat(60 * 1024);
    for i in 0..400 {
        app.hub.publish(&topic(&s), "big", &json!({"i": i, "pad": pad}));
    }
    let published = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(app.hub.local_subscribers(&topic(&s)), 1, "not let go before the heartbeat's length");
    assert_eq!(app.hub.local_load(&topic(&s)).behind, 1, "its writer is stuck, with frames still queued");
    let deadline = published + Duration::from_secs(30 + 15);
    while app.hub.local_subscribers(&topic(&s)) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "a client that reads nothing is held for ever");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_connections_close_after_ten_seconds() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut ws = app.ws(PATH, None).await.unwrap();
    assert_eq!(ws.request(json!({"type": "ping"}), "p").await["type"], "pong", "ping works before auth");
    assert_eq!(ws.ended_within(Duration::from_secs(8)).await, None, "not before the deadline");
    assert_eq!(ws.ended_within(Duration::from_secs(5)).await, Some(Ended::Closed(4001)));
}

/// A client that answers no ping is closed with 1001 at the third heartbeat (30 s apart; its
/// first two pings went unanswered), while one that answers stays. Nothing else happens on
/// either connection, so each heartbeat after the first is seen only because the loop looks at
/// its wake-ups again after one fired (they sit behind a gate; `gateway/gate.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_no_ping_is_closed_at_the_third_heartbeat() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let s = app.register("ws-heartbeat@example.com").await;
    let mut silent = app.ws(PATH, Some(&s.access)).await.unwrap();
    let mut answering = app.ws(PATH, Some(&s.access)).await.unwrap();
    // tungstenite answers each ping as it reads it.
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(95);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, answering.stream.next()).await {
            pings += usize::from(matches!(message, Message::Ping(_)));
        }
        let pong = answering.request(json!({"type": "ping"}), "p").await;
        (pings, pong["type"].clone())
    });
    // The silent one reads nothing until the third heartbeat has passed. Reading the pings then
    // answers them, to a server that has closed: the client may see the reset before the close
    // frame, but not a connection still open.
    tokio::time::sleep(Duration::from_secs(95)).await;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), silent.stream.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => seen.push("ping".to_string()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                let code = frame.map_or(0, |f| u16::from(f.code));
                assert_eq!(code, 1001, "closed for the heartbeat");
                break;
            }
            Ok(Some(Ok(other))) => seen.push(format!("{other:?}")),
            Ok(Some(Err(_)) | None) => break,
            Err(_) => panic!("still open after three heartbeats; saw {seen:?}"),
        }
    }
    assert_eq!(seen, ["ping", "ping"], "two pings went unanswered before the close");
    let (pings, pong) = reader.await.unwrap();
    assert_eq!((pings, pong), (3, json!("pong")), "the answering client got every ping and stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_asks_for_reauth_then_closes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.access_token_ttl_secs = 2).await.unwrap();
    let s = app.register("ws-exp@example.com").await;
    let mut renewed = app.ws(PATH, Some(&s.access)).await.unwrap();
    let mut stale = app.ws(PATH, Some(&s.access)).await.unwrap();
    assert_eq!(renewed.recv_type("reauth").await, json!({"type": "reauth"}));
    assert_eq!(stale.recv_type("reauth").await, json!({"type": "reauth"}));
    let fresh = Session::from_json(
        &app.post("/api/v1/auth/refresh", None, json!({"refresh_token": s.refresh})).await.expect(200).json,
    );
    assert_eq!(renewed.request(json!({"type": "auth", "token": fresh.access}), "r").await["type"], "ack");
    assert_eq!(stale.ended_within(Duration::from_secs(8)).await, Some(Ended::Closed(4001)));
    assert_eq!(renewed.request(json!({"type": "ping"}), "p").await["type"], "pong", "the renewed one stays");
    // Another user's token cannot take over a connection.
    let other = app.register("ws-other@example.com").await;
    let answer = renewed.request(json!({"type": "auth", "token": other.access}), "x").await;
    assert_eq!(answer["code"], "user_mismatch");
}

/// A connection that receives a firehose, on an instance busy with firehoses (here the
/// threshold is set low; this also shows the setting reaches the gateway), has its writes
/// paced (events held up to 100 ms, then written together): it still gets every event, in
/// order, and what its client sends is answered after a hold all together, not one frame per
/// hold (which an earlier cut did: a client sending twenty messages a second fell further
/// behind every second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_firehose_loses_nothing_and_still_answers() {
    // Paced from the first firehose: by default an instance paces only once its firehoses
    // add up to 300 000 frames a second per core.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.ws_pacing_from = 1).await.unwrap();
    let s = app.register("ws-firehose@example.com").await;
    let public = app.get("/api/v1/chat/rooms?scope=public", Some(&s.access)).await.expect(200);
    let room = public.json["items"].as_array().unwrap().iter().find(|r| r["name"] == "General").unwrap()["id"].clone();
    app.post(&format!("/api/v1/chat/rooms/{}/join", room.as_str().unwrap()), Some(&s.access), json!({})).await;
    let mut ws = app.ws(PATH, Some(&s.access)).await.unwrap();
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": topic(&s)}), "s").await["type"], "ack");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (hub, topic, stop) = (app.hub.clone(), topic(&s), stop.clone());
        tokio::spawn(async move {
            let mut published = 0u64;
            // A few hundred events a second: a firehose (200 a second or more), and slow enough that
            // each hold lasts its full 100 ms rather than ending at a full write batch.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                hub.publish(&topic, "tick", &json!({"i": published}));
                published += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            published
        })
    };
    /// What the client saw: the next event expected, the pauses between events that show the
    /// writes were paced, and the runs of answers not interrupted by events.
    #[derive(Default)]
    struct Seen {
        next: u64,
        last_event: Option<std::time::Instant>,
        pauses: u32,
        answer_runs: u32,
        in_answers: bool,
    }
    impl Seen {
        fn take(&mut self, frame: &serde_json::Value) {
            assert_ne!(frame["type"], "error", "{frame}");
            if frame["type"] == "event" {
                assert_eq!(frame["data"]["i"], self.next, "events arrive whole and in order");
                self.next += 1;
                let now = std::time::Instant::now();
                if self.last_event.is_some_and(|t| now - t >= Duration::from_millis(50)) {
                    self.pauses += 1;
                }
                self.last_event = Some(now);
                self.in_answers = false;
            } else if frame["type"] == "ack" && !self.in_answers {
                self.answer_runs += 1;
                self.in_answers = true;
            }
        }
    }
    let mut seen = Seen::default();
    // Let the connection measure its rate and start pacing.
    let warm_until = std::time::Instant::now() + Duration::from_millis(800);
    while std::time::Instant::now() < warm_until {
        let frame = ws.next_within(Duration::from_secs(5)).await.expect("the firehose stalled");
        seen.take(&frame);
    }
    assert!(seen.pauses >= 3, "the firehose was not paced: {} pauses of 50 ms or more", seen.pauses);
    // While it holds events it took from its queue, the connection counts as behind (chat
    // gathers a burst longer into a room whose sockets are behind): sampled for 200 ms, it is
    // behind most of the time, though its queue is empty but for a moment after each event.
    let mut behind = 0;
    for _ in 0..100 {
        behind += app.hub.local_load(&topic(&s)).behind;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(behind >= 50, "behind in only {behind} of 100 samples while paced");
    // At least: API tests share one process, and so one recorder, when run by `cargo test`.
    let metrics = app.get("/metrics", None).await.expect(200).text;
    let paced = metrics.lines().find_map(|l| l.strip_prefix("realtime_paced_connections "));
    assert!(paced.and_then(|n| n.parse::<f64>().ok()).is_some_and(|n| n >= 1.0), "not counted: {paced:?}");
    // Forty chat messages at once (within the message burst). Each takes a database write to
    // answer, time in which more events queue up. Answered one per hold, the answers would come
    // in forty runs, with events between each.
    for n in 0..40 {
        ws.send(json!({"type": "chat.send", "room_id": room, "content": format!("m{n}"), "ref": format!("m{n}")}))
            .await;
    }
    let mut acks = 0;
    while acks < 40 {
        let frame = ws.next_within(Duration::from_secs(5)).await.expect("the firehose stalled");
        seen.take(&frame);
        if frame["type"] == "ack" {
            assert_eq!(frame["ref"], format!("m{acks}"), "answers come in order");
            acks += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let published = publisher.await.unwrap();
    while seen.next < published {
        let frame = ws.next_within(Duration::from_secs(5)).await.expect("held events were never written");
        seen.take(&frame);
    }
    assert!(seen.answer_runs <= 10, "forty answers came in {} runs", seen.answer_runs);
    // Everything written: no longer behind.
    let caught_up = std::time::Instant::now() + Duration::from_secs(1);
    while app.hub.local_load(&topic(&s)).behind > 0 {
        assert!(std::time::Instant::now() < caught_up, "still behind after writing everything");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_delay_others() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let s = app.register("ws-slow@example.com").await;
    let mut slow = app.ws(PATH, Some(&s.access)).await.unwrap();
    let mut fast = app.ws(PATH, Some(&s.access)).await.unwrap();
    for ws in [&mut slow, &mut fast] {
        assert_eq!(ws.request(json!({"type": "subscribe", "topic": topic(&s)}), "s").await["type"], "ack");
    }
    // The slow client reads nothing until the fast one has all 3 000: that must take less than
    // the 30 s a write may wait for room (`gateway/write.rs`), or the slow one is let go.
    let pad = "x".repeat(8 * 1024);
    let total = 3000;
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < total {
            let frame = fast.next_within(Duration::from_secs(5)).await.expect("the fast client stalled");
            assert_eq!(frame["type"], "event", "the fast client misses nothing: {frame}");
            got += 1;
        }
        got
    });
    for i in 0..total {
        app.hub.publish(&topic(&s), "tick", &json!({"i": i, "pad": pad}));
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(tokio::time::timeout(Duration::from_secs(20), reader).await.unwrap().unwrap(), total);
    // The slow client, reading at last, is told what it missed.
    let mut saw_resync = false;
    while let Some(frame) = slow.next_within(Duration::from_secs(2)).await {
        if frame["type"] == "resync" {
            assert!(frame["missed"].as_u64().unwrap() > 0);
            assert_eq!(frame["topics"], json!([topic(&s)]));
            saw_resync = true;
            break;
        }
    }
    assert!(saw_resync, "the slow client was told to resync");
    let metrics = app.get("/metrics", None).await.expect(200).text;
    for series in [
        "realtime_connections",
        "realtime_paced_connections",
        "realtime_firehose_frames_per_second",
        "realtime_subscriptions",
        "realtime_published_total",
        "realtime_delivered_total",
        "realtime_dropped_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn events_cross_instances_through_redis() {
    let Some((a, b)) = TestApp::pair_on_redis().await else { return };
    let s = a.register("ws-cross@example.com").await;
    let mut on_b = b.ws(PATH, Some(&s.access)).await.unwrap();
    assert_eq!(on_b.request(json!({"type": "subscribe", "topic": topic(&s)}), "s").await["type"], "ack");
    a.hub.publish(&topic(&s), "from_a", &json!({"ok": true}));
    let event: Value = on_b.recv_type("event").await;
    assert_eq!(event["event"], "from_a");
    assert_eq!(event["data"], json!({"ok": true}));
    // A logout on one instance closes the session's sockets on the other.
    a.post("/api/v1/auth/logout", Some(&s.access), json!({})).await.expect(204);
    assert_eq!(on_b.ended_within(Duration::from_secs(3)).await, Some(Ended::Closed(4001)));
}

/// Events published together on one instance (a batch of chat messages) reach the other
/// instance's connections in order, and together: Redis delivers them in one pipelined burst,
/// and the other instance hands what arrived at once to each connection as one queue entry, so
/// that each socket is woken and written once for them, as on the publishing instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn a_burst_crosses_instances_in_order_and_together() {
    let Some((a, b)) = TestApp::pair_on_redis().await else { return };
    let s = a.register("ws-burst@example.com").await;
    let user = platform::auth::AuthUser {
        user_id: s.user_id.parse().unwrap(),
        session_id: uuid::Uuid::now_v7(),
        role: "user".into(),
        expires_at: i64::MAX,
    };
    let mut on_b = b.hub.connect();
    b.hub.subscribe(&mut on_b, &user, &topic(&s)).await.unwrap();
    // "Together" is what reached the other instance at once: on a loaded machine its reader can
    // wake for each event of one burst as it arrives. So up to five bursts are sent; each must
    // arrive whole and in order, and one at least in fewer entries than events (were arrivals
    // never grouped, all five would come one event per entry).
    let mut entries_per_burst = Vec::new();
    for round in 0..5u32 {
        let burst: Vec<u32> = (round * 100..round * 100 + 40).collect();
        a.hub.publish_each(&topic(&s), "burst", &burst);
        let (mut seen, mut entries) = (Vec::new(), 0);
        while seen.len() < burst.len() {
            let entry =
                tokio::time::timeout(Duration::from_secs(5), on_b.frames()).await.expect("the burst arrives").unwrap();
            entries += 1;
            for frame in entry.iter() {
                let event: Value = serde_json::from_str(frame.as_str()).unwrap();
                seen.push(u32::try_from(event["data"].as_u64().unwrap()).unwrap());
            }
        }
        assert_eq!(seen, burst, "every event, in order");
        entries_per_burst.push(entries);
        if entries < burst.len() {
            return;
        }
    }
    panic!("entries per burst of 40 events: {entries_per_burst:?}; none arrived together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_get_is_told_to_upgrade() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.get(PATH, None).await.expect_problem(426, "websocket_required");
}
