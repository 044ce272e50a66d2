//! The ticketing events contract over HTTP, on SQLite and (in CI) PostgreSQL: who may create,
//! see and change events, field rules with their codes, search that ignores case and accents,
//! filters, both orders and their cursors, publication and cancellation (with their domain
//! events, received from RabbitMQ), and deletion.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::ticketing_sales::make_admin;
use serde_json::{Value, json};
use testkit::{Session, TestApp};

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn event_body(name: &str, venue: &str, day: i64) -> Value {
    json!({"name": name, "venue": venue, "starts_at": in_days(day), "ends_at": in_days(day + 1),
           "capacity": 50, "price": "25.5", "currency": "eur"})
}

async fn create(app: &TestApp, by: &Session, body: Value) -> Value {
    app.post("/api/v1/ticketing/events", Some(&by.access), body).await.expect(201).json
}

async fn publish(app: &TestApp, by: &Session, id: &str) -> Value {
    app.post(&format!("/api/v1/ticketing/events/{id}/publish"), Some(&by.access), json!({})).await.expect(200).json
}

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect()
}

async fn who_creates_sees_and_changes_events(app: TestApp) {
    let unverified = app.register("fresh@example.com").await;
    app.post("/api/v1/ticketing/events", Some(&unverified.access), event_body("Gig", "Hall", 10))
        .await
        .expect_problem(403, "verification_required");
    app.post("/api/v1/ticketing/events", None, event_body("Gig", "Hall", 10)).await.expect(401);
    let org = app.register_verified("org@example.com").await;
    let other = app.register_verified("other@example.com").await;
    let admin = make_admin(&app, "admin@example.com").await;

    let draft = create(&app, &org, event_body("Spring Gala", "Main Hall", 10)).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!((draft["price"].as_str(), draft["currency"].as_str()), (Some("25.50"), Some("EUR")));
    assert_eq!((draft["seats_sold"].as_i64(), draft["seats_left"].as_i64()), (Some(0), Some(50)));
    assert_eq!(draft["owner_id"], org.user_id.as_str());
    let id = draft["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/ticketing/events/{id}");

    // A draft exists only for its owner and admins.
    app.get(&path, None).await.expect_problem(404, "not_found");
    app.get(&path, Some(&other.access)).await.expect_problem(404, "not_found");
    app.get(&path, Some(&org.access)).await.expect(200);
    app.get(&path, Some(&admin.access)).await.expect(200);
    app.get(&path, Some("not.a.token")).await.expect(401);
    app.patch(&path, Some(&other.access), json!({"name": "Mine now"})).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/publish"), Some(&other.access), json!({})).await.expect_problem(404, "not_found");
    let listed = app.get("/api/v1/ticketing/events", None).await.expect(200).json;
    assert!(names(&listed).is_empty(), "{listed}");
    let mine = app.get("/api/v1/ticketing/events", Some(&org.access)).await.expect(200).json;
    assert_eq!(names(&mine), ["Spring Gala"], "the owner lists their drafts");

    // Published: anyone reads it, only the owner and admins change it.
    let published = publish(&app, &org, &id).await;
    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_string());
    assert_eq!(publish(&app, &org, &id).await["published_at"], published["published_at"], "publishing twice");
    app.get(&path, None).await.expect(200);
    app.patch(&path, Some(&other.access), json!({"name": "Mine now"})).await.expect_problem(403, "forbidden");
    app.delete(&path, Some(&other.access), None).await.expect_problem(403, "forbidden");
    let renamed = app.patch(&path, Some(&admin.access), json!({"name": "Spring Gala 2"})).await.expect(200).json;
    assert_eq!(renamed["name"], "Spring Gala 2");
    let changed = app.patch(&path, Some(&org.access), json!({"capacity": 10, "price": "12"})).await.expect(200).json;
    assert_eq!((changed["capacity"].as_i64(), changed["price"].as_str()), (Some(10), Some("12.00")));
    app.patch(&path, Some(&org.access), json!({"currency": "JPY"})).await.expect_problem(422, "validation_failed");
    let yen = app.patch(&path, Some(&org.access), json!({"currency": "JPY", "price": "1500"})).await.expect(200);
    assert_eq!(yen.json["price"], "1500");

    // Cancelled: still readable (buyers look it up), no longer changed.
    let cancelled = app.post(&format!("{path}/cancel"), Some(&org.access), json!({})).await.expect(200).json;
    assert_eq!(cancelled["status"], "cancelled");
    app.get(&path, None).await.expect(200);
    app.patch(&path, Some(&org.access), json!({"name": "Back on"})).await.expect_problem(409, "event_cancelled");
    app.post(&format!("{path}/publish"), Some(&org.access), json!({})).await.expect_problem(409, "event_cancelled");
    app.post(&format!("{path}/cancel"), Some(&org.access), json!({})).await.expect(200);

    // Deleting: the owner, an event nobody bought into; then it is gone.
    let doomed = create(&app, &org, event_body("Doomed", "Cellar", 20)).await;
    let doomed_path = format!("/api/v1/ticketing/events/{}", doomed["id"].as_str().unwrap());
    app.delete(&doomed_path, Some(&org.access), None).await.expect(204);
    app.get(&doomed_path, Some(&org.access)).await.expect_problem(404, "not_found");
    app.delete(&doomed_path, Some(&org.access), None).await.expect_problem(404, "not_found");

    // The owner's data export carries their events.
    let export = app.get("/api/v1/users/me/export", Some(&org.access)).await.expect(200).json;
    assert_eq!(export["ticketing"]["events"][0]["id"], id.as_str(), "{export}");
}

async fn fields_are_checked_with_their_codes(app: TestApp) {
    let org = app.register_verified("fields@example.com").await;
    let bad = |patch: Value| {
        let mut body = event_body("Fine name", "Hall", 5);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (patch, field) in [
        (json!({"name": "ab"}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"venue": "v".repeat(201)}), "venue"),
        (json!({"description": "d".repeat(5001)}), "description"),
        (json!({"starts_at": in_days(-1)}), "starts_at"),
        (json!({"ends_at": in_days(5)}), "ends_at"),
        (json!({"capacity": 0}), "capacity"),
        (json!({"capacity": 50_001}), "capacity"),
        (json!({"price": "-1"}), "price"),
        (json!({"price": "1.234"}), "price"),
        (json!({"price": "1e3"}), "price"),
        (json!({"currency": "XXX"}), "currency"),
        (json!({"currency": "ABC"}), "currency"),
        (json!({"name": "Tab\tname"}), "name"),
        (json!({"venue": "Two\nlines"}), "venue"),
    ] {
        let r = app.post("/api/v1/ticketing/events", Some(&org.access), bad(patch.clone())).await;
        assert!(r.status == 422 && r.text.contains(&format!("\"{field}\"")), "{patch}: {} {}", r.status, r.text);
    }
    // A NUL character anywhere is refused before the fields are looked at.
    let r = app.post("/api/v1/ticketing/events", Some(&org.access), bad(json!({"description": "nul \u{0} inside"})));
    assert_eq!(r.await.code(), "nul_character");
    let far = bad(json!({"starts_at": "9999-12-30T00:00:00Z", "ends_at": "9999-12-31T00:00:00Z"}));
    app.post("/api/v1/ticketing/events", Some(&org.access), far).await.expect(201);
    let r = app.post("/api/v1/ticketing/events", Some(&org.access), bad(json!({"starts_at": "10000-01-01T00:00:00Z"})));
    assert_eq!(r.await.status, 422);
    let r = app.post("/api/v1/ticketing/events", Some(&org.access), bad(json!({"capacity": 1e30}))).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = app.post("/api/v1/ticketing/events", Some(&org.access), bad(json!({"owner_id": org.user_id}))).await;
    assert_eq!(r.status, 422, "unknown fields are refused: {}", r.text);
    let e = create(&app, &org, event_body("Free talk", "Library", 3)).await;
    let path = format!("/api/v1/ticketing/events/{}", e["id"].as_str().unwrap());
    let r = app.patch(&path, Some(&org.access), json!({"ends_at": in_days(2)})).await;
    assert!(r.status == 422 && r.text.contains("ends_at"), "{}", r.text);
    let free = app.patch(&path, Some(&org.access), json!({"price": "0"})).await.expect(200).json;
    assert_eq!(free["price"], "0.00");
    // A start sent back unchanged is fine; a price past the cap is not.
    app.patch(&path, Some(&org.access), json!({"starts_at": free["starts_at"]})).await.expect(200);
    let r = app.patch(&path, Some(&org.access), json!({"price": "1000000.01"})).await;
    assert!(r.status == 422 && r.text.contains("price"), "{}", r.text);
    app.patch(&path, Some(&org.access), json!({"price": "1000000"})).await.expect(200);
    app.get("/api/v1/ticketing/events/not-an-id", None).await.expect_problem(404, "not_found");
}

async fn search_filters_orders_and_cursors(app: TestApp) {
    let org = app.register_verified("lists@example.com").await;
    let rival = app.register_verified("rival@example.com").await;
    let mut ids = Vec::new();
    for (i, (name, venue)) in [
        ("Café Concert", "Zürich Opera"),
        ("Jazz Night", "Blue Note"),
        ("Opera Gala", "La Scala"),
        ("100% Techno_", "Warehouse"),
        ("Poetry", "Café Müller"),
    ]
    .iter()
    .enumerate()
    {
        let e = create(&app, &org, event_body(name, venue, 30 - 5 * i as i64)).await;
        ids.push(e["id"].as_str().unwrap().to_string());
        publish(&app, &org, ids.last().unwrap()).await;
    }
    let theirs = create(&app, &rival, event_body("Rival Show", "Arena", 2)).await;
    publish(&app, &rival, theirs["id"].as_str().unwrap()).await;
    create(&app, &rival, event_body("Rival Draft", "Arena", 2)).await;

    let list = |query: &str| {
        let app = &app;
        let query = query.to_string();
        async move { app.get(&format!("/api/v1/ticketing/events?{query}"), None).await.expect(200).json }
    };
    // Soonest first by default; newest first on request.
    assert_eq!(
        names(&list("").await),
        ["Rival Show", "Poetry", "100% Techno_", "Opera Gala", "Jazz Night", "Café Concert"]
    );
    assert_eq!(names(&list("sort=created_at").await)[..2], ["Rival Show", "Poetry"]);
    // Case and accents do not matter; LIKE's wildcards are plain characters.
    assert_eq!(names(&list("q=CAFE").await), ["Poetry", "Café Concert"]);
    assert_eq!(names(&list("q=zurich").await), ["Café Concert"]);
    assert_eq!(names(&list("q=m%C3%BCller").await), ["Poetry"]);
    assert_eq!(names(&list("q=%25").await), ["100% Techno_"]);
    assert_eq!(names(&list("q=_").await), ["100% Techno_"]);
    assert!(names(&list("q=nothing%20like%20it").await).is_empty());
    // Organiser and time window.
    assert_eq!(names(&list(&format!("owner_id={}", rival.user_id)).await), ["Rival Show"]);
    let window = format!("starts_after={}&starts_before={}", in_days(12), in_days(27));
    assert_eq!(names(&list(&window.replace('+', "%2B")).await), ["100% Techno_", "Opera Gala", "Jazz Night"]);
    // Seats left: a cancelled event has none to sell.
    app.post(&format!("/api/v1/ticketing/events/{}/cancel", ids[1]), Some(&org.access), json!({})).await.expect(200);
    assert!(!names(&list("has_seats=true").await).contains(&"Jazz Night".to_string()));
    assert!(names(&list("").await).contains(&"Jazz Night".to_string()), "still listed, as cancelled");
    // Pages of two in both orders cover everything once.
    for sort in ["starts_at", "created_at"] {
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let c = cursor.as_ref().map(|c| format!("&cursor={}", c.replace('+', "%2B"))).unwrap_or_default();
            let page = list(&format!("sort={sort}&limit=2{c}")).await;
            seen.extend(names(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6, "{sort}: {seen:?}");
        assert_eq!(seen, names(&list(&format!("sort={sort}&limit=100")).await), "{sort}");
    }
    // Bad input answers 400/422 with its field, never 500.
    for (query, status) in [
        ("limit=0", 422),
        ("limit=101", 422),
        ("cursor=garbage", 422),
        ("sort=price", 400),
        ("owner_id=nope", 400),
        ("starts_after=yesterday", 400),
        ("has_seats=maybe", 400),
        ("q=a%00b", 400),
        ("cursor=2026-01-01T00:00:00Z~%00", 400),
    ] {
        let r = app.get(&format!("/api/v1/ticketing/events?{query}"), None).await;
        assert_eq!(r.status, status, "{query}: {}", r.text);
    }
    let long = "q=".to_string() + &"a".repeat(101);
    assert_eq!(app.get(&format!("/api/v1/ticketing/events?{long}"), None).await.status, 422);
}

/// Publication and cancellation reach a real RabbitMQ consumer, each once, with the event's id.
async fn publication_and_cancellation_reach_the_broker(backend: testkit::Backend) {
    let Some(amqp) = testkit::service_url("FERROBASE_TEST_AMQP_URL") else { return };
    let (_conn, mut rx) = crate::events::consume(&amqp, &["ticketing.event.*"]).await;
    let Some(app) = TestApp::spawn_with(backend, |c| c.amqp_url = platform::secret::Secret::new(&amqp)).await else {
        return;
    };
    let org = app.register_verified("announce@example.com").await;
    let e = create(&app, &org, event_body("Announced", "Square", 4)).await;
    let id = e["id"].as_str().unwrap().to_string();
    publish(&app, &org, &id).await;
    publish(&app, &org, &id).await;
    app.post(&format!("/api/v1/ticketing/events/{id}/cancel"), Some(&org.access), json!({})).await.expect(200);
    let ours = |body: &Value| body["data"]["event_id"] == id.as_str();
    let got = crate::events::gather(&mut rx, ours, 3, std::time::Duration::from_secs(3)).await;
    let kinds: Vec<&str> = got.iter().map(|(_, body)| body["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ticketing.event.published", "ticketing.event.cancelled"], "{got:?}");
    assert_eq!(got[0].1["data"]["owner_id"], org.user_id.as_str());
    assert_eq!(got[0].1["data"]["name"], "Announced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_amqp), ignore = "needs FERROBASE_TEST_AMQP_URL")]
async fn sqlite_publication_and_cancellation_reach_the_broker() {
    publication_and_cancellation_reach_the_broker(testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(ferrobase_amqp, ferrobase_postgres)),
    ignore = "needs FERROBASE_TEST_AMQP_URL and FERROBASE_TEST_POSTGRES_URL"
)]
async fn postgres_publication_and_cancellation_reach_the_broker() {
    publication_and_cancellation_reach_the_broker(testkit::Backend::Postgres).await;
}

/// Runs `sql` with `id` as `$1` on the app's database (for states only purchases will make).
async fn force(app: &TestApp, sql: &'static str, id: &str) {
    let db = app.db().await;
    let id = uuid::Uuid::parse_str(id).unwrap();
    platform::with_db!(&db, |pool| sqlx::query(sql).bind(id).execute(pool).await.map(|_| ())).unwrap();
}

/// The names of the events on sale.
async fn on_sale(app: &TestApp) -> Vec<String> {
    names(&app.get("/api/v1/ticketing/events?has_seats=true", None).await.expect(200).json)
}

async fn sold_seats_bound_capacity_deletion_and_sales(app: TestApp) {
    let org = app.register_verified("seats@example.com").await;
    let e = create(&app, &org, event_body("Busy", "Stadium", 6)).await;
    let id = e["id"].as_str().unwrap().to_string();
    publish(&app, &org, &id).await;
    force(&app, "UPDATE ticketing_events SET seats_sold = 20 WHERE id = $1", &id).await;
    let path = format!("/api/v1/ticketing/events/{id}");
    let seen = app.get(&path, None).await.expect(200).json;
    assert_eq!((seen["seats_sold"].as_i64(), seen["seats_left"].as_i64()), (Some(20), Some(30)));
    app.patch(&path, Some(&org.access), json!({"capacity": 19})).await.expect_problem(409, "capacity_below_sold");
    let exact = app.patch(&path, Some(&org.access), json!({"capacity": 20})).await.expect(200).json;
    assert_eq!(exact["seats_left"], 0);
    app.delete(&path, Some(&org.access), None).await.expect_problem(409, "event_has_tickets");
    // Sold out, or started: not on sale, so not listed as having seats.
    assert!(on_sale(&app).await.is_empty());
    let other = create(&app, &org, event_body("Started", "Field", 6)).await;
    let other_id = other["id"].as_str().unwrap().to_string();
    publish(&app, &org, &other_id).await;
    assert_eq!(on_sale(&app).await, ["Started"]);
    force(&app, "UPDATE ticketing_events SET starts_at = '2020-01-01T00:00:00.000000Z' WHERE id = $1", &other_id).await;
    assert!(on_sale(&app).await.is_empty(), "an event that has started is not on sale");
    // An event cancelled before it was published stays private.
    let quiet = create(&app, &org, event_body("Never shown", "Attic", 6)).await;
    let quiet_path = format!("/api/v1/ticketing/events/{}", quiet["id"].as_str().unwrap());
    app.post(&format!("{quiet_path}/cancel"), Some(&org.access), json!({})).await.expect(200);
    app.get(&quiet_path, None).await.expect_problem(404, "not_found");
}

async fn equal_start_times_page_without_loss_or_repeat(app: TestApp) {
    let org = app.register_verified("ties@example.com").await;
    let (start, end) = (in_days(9), in_days(10));
    for i in 0..5 {
        let body = json!({"name": format!("Tie {i}"), "starts_at": start, "ends_at": end, "capacity": 5,
                          "price": "1", "currency": "USD"});
        let e = create(&app, &org, body).await;
        publish(&app, &org, e["id"].as_str().unwrap()).await;
    }
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let c = cursor.as_ref().map(|c| format!("&cursor={}", c.replace('+', "%2B"))).unwrap_or_default();
        let page = app.get(&format!("/api/v1/ticketing/events?limit=2{c}"), None).await.expect(200).json;
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["Tie 0", "Tie 1", "Tie 2", "Tie 3", "Tie 4"]);
}

async fn a_phone_verified_user_creates_events(app: TestApp) {
    app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "+14155550123"})).await.expect(202);
    let sms = testkit::read_sms(&app.sms_dir(), "+14155550123", 1).await;
    let signed = app
        .post("/api/v1/auth/phone/verify", None, json!({"phone": "+14155550123", "code": testkit::code_in(&sms)}))
        .await
        .expect(200);
    let token = signed.json["access_token"].as_str().unwrap();
    app.post("/api/v1/ticketing/events", Some(token), event_body("By phone", "Kiosk", 3)).await.expect(201);
}

/// Partial changes made at once each land: one renames, the other moves, and neither undoes
/// the other (each rewrites the row from what it read, so the read must be locked).
async fn concurrent_partial_changes_both_land(app: TestApp) {
    let org = app.register_verified("racing@example.com").await;
    let mut rounds = Vec::new();
    for i in 0..20 {
        let e = create(&app, &org, event_body(&format!("Race {i}"), "Old hall", 8)).await;
        let path = format!("/api/v1/ticketing/events/{}", e["id"].as_str().unwrap());
        let rename = app.patch(&path, Some(&org.access), json!({"name": format!("Renamed {i}")}));
        let moved = app.patch(&path, Some(&org.access), json!({"venue": "New hall"}));
        let (a, b) = tokio::join!(rename, moved);
        a.expect(200);
        b.expect(200);
        rounds.push((i, path));
    }
    for (i, path) in rounds {
        let e = app.get(&path, Some(&org.access)).await.expect(200).json;
        assert_eq!(
            (e["name"].as_str(), e["venue"].as_str()),
            (Some(format!("Renamed {i}").as_str()), Some("New hall"))
        );
    }
}

testkit::api_tests!(
    who_creates_sees_and_changes_events,
    fields_are_checked_with_their_codes,
    search_filters_orders_and_cursors,
    sold_seats_bound_capacity_deletion_and_sales,
    equal_start_times_page_without_loss_or_repeat,
    a_phone_verified_user_creates_events,
    concurrent_partial_changes_both_land,
);
