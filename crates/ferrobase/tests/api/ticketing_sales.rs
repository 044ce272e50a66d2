//! Ticketing sales over HTTP, on SQLite and (in CI) PostgreSQL: purchases all or nothing with a
//! required idempotency key, 200 concurrent buyers for 50 seats, bundles racing single tickets,
//! tickets and their QR images (decoded back), giving tickets back, check-in, refunds with their
//! notifications and mail, an event's cancellation refunding everyone, the organiser's views
//! probed by a second organiser, the live seat count, and what leaving does.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::{Value, json};
use std::time::Duration;
use testkit::{PASSWORD, Session, TestApp};

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A published event of `org` with `capacity` seats at 12.50 EUR, starting in `day` days.
async fn on_sale(app: &TestApp, org: &Session, name: &str, capacity: i64, day: i64) -> String {
    let body = json!({"name": name, "venue": "Hall", "starts_at": in_days(day), "ends_at": in_days(day + 1),
                      "capacity": capacity, "price": "12.50", "currency": "EUR"});
    let id = app.post("/api/v1/ticketing/events", Some(&org.access), body).await.expect(201).json["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&format!("/api/v1/ticketing/events/{id}/publish"), Some(&org.access), json!({})).await.expect(200);
    id
}

async fn buy(app: &TestApp, by: &Session, what: Value) -> testkit::Resp {
    let key = uuid::Uuid::now_v7().to_string();
    app.post_idempotent("/api/v1/ticketing/purchases", &by.access, &key, what).await
}

async fn seats_left(app: &TestApp, event: &str) -> i64 {
    app.get(&format!("/api/v1/ticketing/events/{event}"), None).await.expect(200).json["seats_left"].as_i64().unwrap()
}

/// Runs `sql` with the id bound as `$1` (to put an event in the past, say).
async fn force(app: &TestApp, sql: &'static str, id: &str) {
    let db = app.db().await;
    let id = uuid::Uuid::parse_str(id).unwrap();
    platform::with_db!(&db, |pool| sqlx::query(sql).bind(id).execute(pool).await.map(|_| ())).unwrap();
}

/// How many valid tickets hold a seat at `event`, counted in the database.
async fn valid_seats(app: &TestApp, event: &str) -> i64 {
    let db = app.db().await;
    let id = uuid::Uuid::parse_str(event).unwrap();
    let (n,): (i64,) = platform::with_db!(&db, |pool| {
        sqlx::query_as(
            "SELECT COUNT(*) FROM ticketing_seats s JOIN ticketing_tickets t ON t.id = s.ticket_id
             WHERE s.event_id = $1 AND t.status = 'valid'",
        )
        .bind(id)
        .fetch_one(pool)
        .await
    })
    .unwrap();
    n
}

async fn make_admin(app: &TestApp, email: &str) -> Session {
    app.register_verified(email).await;
    let db = app.db().await;
    platform::with_db!(&db, |pool| {
        sqlx::query("UPDATE users SET role = 'admin' WHERE email = $1").bind(email).execute(pool).await.map(|_| ())
    })
    .unwrap();
    Session::from_json(&app.login(email, PASSWORD).await.expect(200).json)
}

/// The mail to `to` with `subject`, waited for.
async fn mail_titled(app: &TestApp, to: &str, subject: &str) -> testkit::files::ReadMail {
    for _ in 0..400 {
        if let Some(m) = testkit::files::mails_to(&app.mail_dir(), to).into_iter().find(|m| m.subject == subject) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no mail {subject:?} to {to}");
}

async fn inbox_titles(app: &TestApp, who: &Session) -> Vec<String> {
    let page = app.get("/api/v1/notifications", Some(&who.access)).await.expect(200).json;
    page["items"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap().to_string()).collect()
}

async fn purchases_are_all_or_nothing_and_keyed(app: TestApp) {
    let org = app.register_verified("sales-org@example.com").await;
    let buyer = app.register_verified("sales-buyer@example.com").await;
    let event = on_sale(&app, &org, "Keyed Gig", 5, 10).await;
    let what = json!({"event_id": event, "quantity": 3});

    app.post("/api/v1/ticketing/purchases", Some(&buyer.access), what.clone())
        .await
        .expect_problem(428, "idempotency_key_required");
    let unverified = app.register("sales-unverified@example.com").await;
    buy(&app, &unverified, what.clone()).await.expect_problem(403, "verification_required");
    let bought =
        app.post_idempotent("/api/v1/ticketing/purchases", &buyer.access, "k-1", what.clone()).await.expect(201);
    let tickets = bought.json["tickets"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), 3);
    assert_eq!(bought.json["purchase"]["amount"], "37.50");
    assert_eq!(bought.json["purchase"]["currency"], "EUR");
    let codes: std::collections::HashSet<&str> = tickets.iter().map(|t| t["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 3, "codes are distinct");
    for code in &codes {
        assert_eq!(code.len(), 22, "over 128 bits in letters and digits: {code}");
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
    }
    assert_eq!(tickets[0]["seats"][0]["event_id"], event.as_str());
    assert_eq!(tickets[0]["status"], "valid");
    assert_eq!(tickets[0]["price"], "12.50");

    // The same key: the same tickets, nothing bought twice.
    let again =
        app.post_idempotent("/api/v1/ticketing/purchases", &buyer.access, "k-1", what.clone()).await.expect(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json["tickets"], bought.json["tickets"]);
    assert_eq!(seats_left(&app, &event).await, 2);

    // All or nothing: three more do not fit, none is taken.
    let refused = buy(&app, &buyer, what.clone()).await.expect_problem(409, "sold_out");
    assert_eq!(refused.json["seats_left"], 2, "{}", refused.text);
    assert_eq!(seats_left(&app, &event).await, 2);
    buy(&app, &buyer, json!({"event_id": event, "quantity": 2})).await.expect(201);
    buy(&app, &buyer, json!({"event_id": event, "quantity": 1})).await.expect_problem(409, "sold_out");
    assert_eq!(valid_seats(&app, &event).await, 5);

    // Bad requests.
    for bad in [
        json!({"event_id": event, "quantity": 0}),
        json!({"event_id": event, "quantity": 11}),
        json!({"event_id": event, "bundle_id": event, "quantity": 1}),
        json!({"quantity": 1}),
    ] {
        buy(&app, &buyer, bad).await.expect_problem(422, "validation_failed");
    }
    buy(&app, &buyer, json!({"event_id": uuid::Uuid::now_v7(), "quantity": 1})).await.expect_problem(404, "not_found");
    let key = uuid::Uuid::now_v7().to_string();
    let anonymous = app.http.post(app.url("/api/v1/ticketing/purchases")).header("idempotency-key", key).json(&what);
    assert_eq!(anonymous.send().await.unwrap().status(), 401);

    // Drafts do not exist for buyers; they are not on sale for their owner; neither are
    // started or cancelled events.
    let draft_body = json!({"name": "Draft", "starts_at": in_days(3), "ends_at": in_days(4), "capacity": 5,
                            "price": "1", "currency": "EUR"});
    let draft = app.post("/api/v1/ticketing/events", Some(&org.access), draft_body).await.expect(201).json["id"]
        .as_str()
        .unwrap()
        .to_string();
    buy(&app, &buyer, json!({"event_id": draft, "quantity": 1})).await.expect_problem(404, "not_found");
    buy(&app, &org, json!({"event_id": draft, "quantity": 1})).await.expect_problem(409, "not_on_sale");
    let started = on_sale(&app, &org, "Started", 5, 2).await;
    force(&app, "UPDATE ticketing_events SET starts_at = '2020-01-01T00:00:00.000000Z' WHERE id = $1", &started).await;
    buy(&app, &buyer, json!({"event_id": started, "quantity": 1})).await.expect_problem(409, "not_on_sale");
    let called_off = on_sale(&app, &org, "Called off", 5, 2).await;
    app.post(&format!("/api/v1/ticketing/events/{called_off}/cancel"), Some(&org.access), json!({})).await.expect(200);
    buy(&app, &buyer, json!({"event_id": called_off, "quantity": 1})).await.expect_problem(409, "not_on_sale");

    // The event now has tickets: it is cancelled, not deleted; its currency stays.
    let path = format!("/api/v1/ticketing/events/{event}");
    app.delete(&path, Some(&org.access), None).await.expect_problem(409, "event_has_tickets");
    app.patch(&path, Some(&org.access), json!({"currency": "USD", "price": "10"}))
        .await
        .expect_problem(409, "event_has_tickets");
    app.patch(&path, Some(&org.access), json!({"capacity": 4})).await.expect_problem(409, "capacity_below_sold");
}

/// 200 buyers, each with their own account, buy at once for 50 seats: exactly 50 sold, the
/// rest told `sold_out`. (The buyers register from 200 addresses behind a trusted proxy, as
/// the sign-up limit per address would refuse so many from one.)
async fn two_hundred_buyers_never_oversell(backend: testkit::Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.trusted_proxies = "127.0.0.1".into()).await else { return };
    let org = app.register_verified("crowd-org@example.com").await;
    let event = on_sale(&app, &org, "Crowded", 50, 10).await;
    let mut buyers = Vec::new();
    for i in 0..200 {
        let email = format!("crowd-{i}@example.com");
        let req = app
            .http
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", format!("10.{}.{}.1", i / 100, i % 100))
            .json(&json!({"email": email, "password": PASSWORD, "name": format!("Buyer {i}")}));
        let resp = TestApp::read(req.send().await.unwrap()).await.expect(201);
        buyers.push(Session::from_json(&resp.json));
    }
    // Buying needs a verified address; 200 codes read from 200 mails would only slow the test.
    let db = app.db().await;
    platform::with_db!(&db, |pool| {
        sqlx::query("UPDATE users SET email_verified = TRUE WHERE email LIKE 'crowd-%'").execute(pool).await.map(|_| ())
    })
    .unwrap();
    let app = std::sync::Arc::new(app);
    let mut calls = Vec::new();
    for buyer in buyers {
        let (app, event) = (app.clone(), event.clone());
        calls.push(tokio::spawn(async move { buy(&app, &buyer, json!({"event_id": event, "quantity": 1})).await }));
    }
    let (mut sold, mut refused) = (0, 0);
    for call in calls {
        let resp = call.await.unwrap();
        match resp.status {
            201 => sold += 1,
            409 => {
                assert_eq!(resp.code(), "sold_out", "{}", resp.text);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", resp.text),
        }
    }
    assert_eq!((sold, refused), (50, 150));
    assert_eq!(seats_left(&app, &event).await, 0);
    assert_eq!(valid_seats(&app, &event).await, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_hundred_buyers_never_oversell() {
    two_hundred_buyers_never_oversell(testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_two_hundred_buyers_never_oversell() {
    two_hundred_buyers_never_oversell(testkit::Backend::Postgres).await;
}

/// A bundle of two events sells while both events sell alone, all at once: neither event ever
/// holds more valid seats than its capacity, and its count matches its tickets.
async fn bundles_racing_single_tickets_never_oversell(app: TestApp) {
    let org = app.register_verified("race-org@example.com").await;
    let a = on_sale(&app, &org, "Race A", 20, 10).await;
    let b = on_sale(&app, &org, "Race B", 15, 11).await;
    let bundle = app
        .post(
            "/api/v1/ticketing/bundles",
            Some(&org.access),
            json!({"name": "A and B", "price": "20", "currency": "EUR"}),
        )
        .await
        .expect(201)
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    for e in [&a, &b] {
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/ticketing/bundles/{bundle}/events/{e}"),
            Some(&org.access),
            None,
        )
        .await
        .expect(200);
    }
    let buyer = app.register_verified("race-buyer@example.com").await;
    let app = std::sync::Arc::new(app);
    let mut calls = Vec::new();
    for i in 0..90 {
        let what = match i % 3 {
            0 => json!({"event_id": a, "quantity": 1}),
            1 => json!({"event_id": b, "quantity": 1}),
            _ => json!({"bundle_id": bundle, "quantity": 1}),
        };
        let (app, buyer) = (app.clone(), buyer.clone());
        calls.push(tokio::spawn(async move { (i % 3, buy(&app, &buyer, what).await) }));
    }
    let mut sold = [0i64; 3];
    for call in calls {
        let (kind, resp) = call.await.unwrap();
        match resp.status {
            201 => sold[kind] += 1,
            409 => assert_eq!(resp.code(), "sold_out", "{}", resp.text),
            other => panic!("unexpected {other}: {}", resp.text),
        }
    }
    let (in_a, in_b) = (valid_seats(&app, &a).await, valid_seats(&app, &b).await);
    assert_eq!(in_a, sold[0] + sold[2]);
    assert_eq!(in_b, sold[1] + sold[2]);
    assert!(in_a <= 20 && in_b <= 15, "oversold: {in_a}/20, {in_b}/15");
    assert_eq!(in_b, 15, "B sold out: {sold:?}");
    assert_eq!(seats_left(&app, &a).await, 20 - in_a);
    let shown = app.get(&format!("/api/v1/ticketing/bundles/{bundle}"), None).await.expect(200).json;
    assert_eq!(shown["seats_left"], 0);
    // Sold: the bundle's events and currency no longer change, and it stays.
    let path = format!("/api/v1/ticketing/bundles/{bundle}");
    app.call(reqwest::Method::DELETE, &format!("{path}/events/{a}"), Some(&org.access), None)
        .await
        .expect_problem(409, "bundle_has_tickets");
    app.delete(&path, Some(&org.access), None).await.expect_problem(409, "bundle_has_tickets");
    app.patch(&path, Some(&org.access), json!({"currency": "USD", "price": "5"}))
        .await
        .expect_problem(409, "bundle_has_tickets");
}

async fn bundles_belong_to_their_owner(app: TestApp) {
    let org = app.register_verified("bundle-org@example.com").await;
    let other = app.register_verified("bundle-other@example.com").await;
    let mine = on_sale(&app, &org, "Mine", 10, 5).await;
    let theirs = on_sale(&app, &other, "Theirs", 10, 5).await;
    let unverified = app.register("bundle-new@example.com").await;
    let body = json!({"name": "Weekend", "price": "30", "currency": "EUR"});
    app.post("/api/v1/ticketing/bundles", Some(&unverified.access), body.clone())
        .await
        .expect_problem(403, "verification_required");
    let bundle = app.post("/api/v1/ticketing/bundles", Some(&org.access), body).await.expect(201).json;
    let id = bundle["id"].as_str().unwrap().to_string();
    assert_eq!((bundle["price"].as_str(), bundle["on_sale"].as_bool()), (Some("30.00"), Some(false)));
    let path = format!("/api/v1/ticketing/bundles/{id}");
    // Empty: only its owner sees it, and it is not sold.
    app.get(&path, None).await.expect_problem(404, "not_found");
    app.get(&path, Some(&other.access)).await.expect_problem(404, "not_found");
    buy(&app, &org, json!({"bundle_id": id, "quantity": 1})).await.expect_problem(409, "not_on_sale");
    let put = |event: &str| format!("{path}/events/{event}");
    app.call(reqwest::Method::PUT, &put(&theirs), Some(&org.access), None).await.expect_problem(403, "forbidden");
    app.call(reqwest::Method::PUT, &put(&mine), Some(&other.access), None).await.expect_problem(404, "not_found");
    let usd = app
        .post(
            "/api/v1/ticketing/events",
            Some(&org.access),
            json!({"name": "Dollar night", "starts_at": in_days(6),
            "ends_at": in_days(7), "capacity": 3, "price": "9", "currency": "USD"}),
        )
        .await
        .expect(201)
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.call(reqwest::Method::PUT, &put(&usd), Some(&org.access), None).await.expect_problem(409, "currency_mismatch");
    let with_one = app.call(reqwest::Method::PUT, &put(&mine), Some(&org.access), None).await.expect(200).json;
    assert_eq!(with_one["event_ids"], json!([mine]));
    assert_eq!((with_one["on_sale"].as_bool(), with_one["seats_left"].as_i64()), (Some(true), Some(10)));
    // Now public; listed for anyone.
    app.get(&path, None).await.expect(200);
    let listed = app.get("/api/v1/ticketing/bundles", None).await.expect(200).json;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    app.patch(&path, Some(&other.access), json!({"name": "Mine now"})).await.expect_problem(403, "forbidden");
    app.patch(&path, Some(&org.access), json!({"currency": "USD"})).await.expect_problem(422, "validation_failed");
    app.patch(&path, Some(&org.access), json!({"currency": "USD", "price": "3"}))
        .await
        .expect_problem(409, "currency_mismatch");
    // An event in a bundle keeps the bundle's currency.
    app.patch(&format!("/api/v1/ticketing/events/{mine}"), Some(&org.access), json!({"currency": "USD", "price": "3"}))
        .await
        .expect_problem(409, "currency_mismatch");
    let bought = buy(&app, &other, json!({"bundle_id": id, "quantity": 2})).await.expect(201).json;
    assert_eq!(bought["purchase"]["amount"], "60.00");
    assert_eq!(bought["tickets"][0]["bundle_id"], id.as_str());
    assert_eq!(seats_left(&app, &mine).await, 8);
    app.get("/api/v1/ticketing/bundles?cursor=nope", None).await.expect_problem(422, "validation_failed");
}

/// Decodes a PNG QR image back to its text.
fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).unwrap().to_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| image.get_pixel(x as u32, y as u32)[0]);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

async fn tickets_are_seen_by_their_people_only(app: TestApp) {
    let org = app.register_verified("qr-org@example.com").await;
    let buyer = app.register_verified("qr-buyer@example.com").await;
    let stranger = app.register("qr-stranger@example.com").await;
    let admin = make_admin(&app, "qr-admin@example.com").await;
    let event = on_sale(&app, &org, "Scanned", 10, 4).await;
    let bought = buy(&app, &buyer, json!({"event_id": event, "quantity": 2})).await.expect(201).json;
    let code = bought["tickets"][0]["code"].as_str().unwrap().to_string();

    let mine = app.get("/api/v1/ticketing/tickets?limit=1", Some(&buyer.access)).await.expect(200).json;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let rest = app
        .get(
            &format!("/api/v1/ticketing/tickets?limit=1&cursor={}", mine["next_cursor"].as_str().unwrap()),
            Some(&buyer.access),
        )
        .await
        .expect(200)
        .json;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_ne!(rest["items"][0]["code"], mine["items"][0]["code"]);
    let none = app.get("/api/v1/ticketing/tickets", Some(&stranger.access)).await.expect(200).json;
    assert!(none["items"].as_array().unwrap().is_empty());

    let path = format!("/api/v1/ticketing/tickets/{code}");
    for who in [&buyer, &org, &admin] {
        assert_eq!(app.get(&path, Some(&who.access)).await.expect(200).json["code"], code.as_str());
    }
    app.get(&path, Some(&stranger.access)).await.expect_problem(404, "not_found");
    app.get("/api/v1/ticketing/tickets/not-a-code", Some(&buyer.access)).await.expect_problem(404, "not_found");
    app.get(&format!("/api/v1/ticketing/tickets/{}", "x".repeat(300)), Some(&buyer.access)).await.expect(404);
    app.get(&path, None).await.expect(401);

    // The QR images carry the code.
    let png = app.http.get(app.url(&format!("{path}/qr.png"))).bearer_auth(&buyer.access).send().await.unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(png.headers()["cache-control"], "private, no-store");
    assert_eq!(decode_qr(&png.bytes().await.unwrap()), code);
    let svg = app.http.get(app.url(&format!("{path}/qr.svg"))).bearer_auth(&org.access).send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    let hidden = app.http.get(app.url(&format!("{path}/qr.png"))).bearer_auth(&stranger.access).send().await.unwrap();
    assert_eq!(hidden.status(), 404);
}

async fn tickets_are_given_back_before_the_event(app: TestApp) {
    let org = app.register_verified("back-org@example.com").await;
    let buyer = app.register_verified("back-buyer@example.com").await;
    let stranger = app.register("back-stranger@example.com").await;
    let event = on_sale(&app, &org, "Returnable", 3, 4).await;
    let bought = buy(&app, &buyer, json!({"event_id": event, "quantity": 2})).await.expect(201).json;
    let code = bought["tickets"][0]["code"].as_str().unwrap();
    let cancel = format!("/api/v1/ticketing/tickets/{code}/cancel");
    app.post(&cancel, Some(&stranger.access), json!({})).await.expect_problem(404, "not_found");
    app.post(&cancel, Some(&org.access), json!({})).await.expect_problem(403, "forbidden");
    let given_back = app.post(&cancel, Some(&buyer.access), json!({})).await.expect(200).json;
    assert_eq!(given_back["status"], "cancelled");
    assert!(given_back["voided_at"].is_string());
    assert_eq!(seats_left(&app, &event).await, 2);
    app.post(&cancel, Some(&buyer.access), json!({})).await.expect_problem(409, "ticket_void");
    // Once the event started, the other ticket stays.
    force(&app, "UPDATE ticketing_events SET starts_at = '2020-01-01T00:00:00.000000Z' WHERE id = $1", &event).await;
    let other = bought["tickets"][1]["code"].as_str().unwrap();
    app.post(&format!("/api/v1/ticketing/tickets/{other}/cancel"), Some(&buyer.access), json!({}))
        .await
        .expect_problem(409, "event_started");
}

async fn check_in_at_the_door(app: TestApp) {
    let org = app.register_verified("door-org@example.com").await;
    let rival = app.register_verified("door-rival@example.com").await;
    let buyer = app.register_verified("door-buyer@example.com").await;
    let event = on_sale(&app, &org, "Door", 10, 4).await;
    let elsewhere = on_sale(&app, &org, "Elsewhere", 10, 4).await;
    let bought = buy(&app, &buyer, json!({"event_id": event, "quantity": 2})).await.expect(201).json;
    let code = bought["tickets"][0]["code"].as_str().unwrap();
    let path = format!("/api/v1/ticketing/events/{event}/check-ins");

    let first = app.post(&path, Some(&org.access), json!({"code": code})).await.expect(200).json;
    assert_eq!(first["ticket"]["code"], code);
    let at = first["checked_in_at"].as_str().unwrap().to_string();
    assert_eq!(first["ticket"]["seats"][0]["checked_in_at"], at.as_str());
    let twice =
        app.post(&path, Some(&org.access), json!({"code": code})).await.expect_problem(409, "already_checked_in");
    assert_eq!(twice.json["checked_in_at"], at.as_str(), "{}", twice.text);
    app.post(&format!("/api/v1/ticketing/events/{elsewhere}/check-ins"), Some(&org.access), json!({"code": code}))
        .await
        .expect_problem(404, "not_found");
    app.post(&path, Some(&org.access), json!({"code": "no-such-code"})).await.expect_problem(404, "not_found");
    app.post(&path, Some(&rival.access), json!({"code": code})).await.expect_problem(403, "forbidden");
    app.post(&path, Some(&buyer.access), json!({"code": code})).await.expect_problem(403, "forbidden");
    // A used ticket is not given back: its holder is inside.
    let used = app.post(&format!("/api/v1/ticketing/tickets/{code}/cancel"), Some(&buyer.access), json!({})).await;
    assert_eq!(used.expect_problem(409, "already_checked_in").json["checked_in_at"], at.as_str());
    let second = bought["tickets"][1]["code"].as_str().unwrap();
    app.post(&format!("/api/v1/ticketing/tickets/{second}/cancel"), Some(&buyer.access), json!({})).await.expect(200);
    app.post(&path, Some(&org.access), json!({"code": second})).await.expect_problem(409, "ticket_void");
    app.post(&path, Some(&org.access), json!({"code": "abc\u{0}"})).await.expect_problem(422, "nul_character");
    app.get("/api/v1/ticketing/tickets/abc%00def", Some(&buyer.access)).await.expect(404);
}

async fn refunds_are_decided_and_told(app: TestApp) {
    let org = app.register_verified("refund-org@example.com").await;
    let rival = app.register_verified("refund-rival@example.com").await;
    let buyer = app.register_verified("refund-buyer@example.com").await;
    let event = on_sale(&app, &org, "Refundable", 10, 4).await;
    let bought = buy(&app, &buyer, json!({"event_id": event, "quantity": 2})).await.expect(201).json;
    let (one, two) = (bought["tickets"][0]["code"].as_str().unwrap(), bought["tickets"][1]["code"].as_str().unwrap());
    let ask = |code: &str| format!("/api/v1/ticketing/tickets/{code}/refund-request");

    app.post(&ask(one), Some(&rival.access), json!({"reason": "mine"})).await.expect_problem(404, "not_found");
    app.post(&ask(one), Some(&buyer.access), json!({"reason": ""})).await.expect_problem(422, "validation_failed");
    app.post(&ask(one), Some(&buyer.access), json!({"reason": "x".repeat(1001)}))
        .await
        .expect_problem(422, "validation_failed");
    let refund = app.post(&ask(one), Some(&buyer.access), json!({"reason": "I am ill"})).await.expect(202).json;
    assert_eq!(refund["status"], "pending");
    app.post(&ask(one), Some(&buyer.access), json!({"reason": "again"})).await.expect_problem(409, "refund_exists");
    let second = app.post(&ask(two), Some(&buyer.access), json!({"reason": "Also ill"})).await.expect(202).json;
    // While a request is pending the buyer does not also give the ticket back.
    app.post(&format!("/api/v1/ticketing/tickets/{two}/cancel"), Some(&buyer.access), json!({}))
        .await
        .expect_problem(409, "refund_exists");
    assert!(inbox_titles(&app, &org).await.contains(&"Refund requested".to_string()));
    mail_titled(&app, &org.email, "Refund requested").await;

    // Each side sees its own, nobody else anything.
    let listed = |who: &Session, query: &'static str| {
        let (app, token) = (&app, who.access.clone());
        async move { app.get(&format!("/api/v1/ticketing/refunds{query}"), Some(&token)).await.expect(200).json }
    };
    assert_eq!(listed(&org, "?role=organizer").await["items"].as_array().unwrap().len(), 2);
    assert_eq!(listed(&buyer, "").await["items"].as_array().unwrap().len(), 2);
    assert!(listed(&org, "").await["items"].as_array().unwrap().is_empty());
    assert!(listed(&rival, "?role=organizer").await["items"].as_array().unwrap().is_empty());
    assert!(listed(&rival, "?role=buyer").await["items"].as_array().unwrap().is_empty());
    app.get("/api/v1/ticketing/refunds?role=judge", Some(&org.access)).await.expect(400);

    let approve = format!("/api/v1/ticketing/refunds/{}/approve", refund["id"].as_str().unwrap());
    app.post(&approve, Some(&rival.access), json!({})).await.expect_problem(404, "not_found");
    app.post(&approve, Some(&buyer.access), json!({})).await.expect_problem(403, "forbidden");
    let approved = app.post(&approve, Some(&org.access), json!({})).await.expect(200).json;
    assert_eq!(approved["status"], "approved");
    app.post(&approve, Some(&org.access), json!({})).await.expect_problem(409, "refund_resolved");
    let ticket = app.get(&format!("/api/v1/ticketing/tickets/{one}"), Some(&buyer.access)).await.expect(200).json;
    assert_eq!(ticket["status"], "refunded");
    assert_eq!(seats_left(&app, &event).await, 9);
    mail_titled(&app, &buyer.email, "Refund Request Approved").await;

    let reject = format!("/api/v1/ticketing/refunds/{}/reject", second["id"].as_str().unwrap());
    app.post(&reject, Some(&org.access), json!({})).await.expect(422);
    let rejected =
        app.post(&reject, Some(&org.access), json!({"message": "No refunds this close"})).await.expect(200).json;
    assert_eq!(
        (rejected["status"].as_str(), rejected["message"].as_str()),
        (Some("rejected"), Some("No refunds this close"))
    );
    app.post(
        &format!("/api/v1/ticketing/refunds/{}/approve", second["id"].as_str().unwrap()),
        Some(&org.access),
        json!({}),
    )
    .await
    .expect_problem(409, "refund_resolved");
    let declined = mail_titled(&app, &buyer.email, "Refund Request Declined").await;
    assert!(declined.text.contains("No refunds this close"), "{}", declined.text);
    let titles = inbox_titles(&app, &buyer).await;
    assert!(
        titles.contains(&"Refund Request Approved".to_string())
            && titles.contains(&"Refund Request Declined".to_string())
    );
    let pending = listed(&org, "?role=organizer&status=pending").await;
    assert!(pending["items"].as_array().unwrap().is_empty());
    // A refunded ticket is void: no new request.
    app.post(&ask(one), Some(&buyer.access), json!({"reason": "more"})).await.expect_problem(409, "ticket_void");
}

async fn cancelling_an_event_refunds_every_ticket(app: TestApp) {
    let org = app.register_verified("off-org@example.com").await;
    let ann = app.register_verified("off-ann@example.com").await;
    let bob = app.register_verified("off-bob@example.com").await;
    let gala = on_sale(&app, &org, "Gala", 10, 4).await;
    let ball = on_sale(&app, &org, "Ball", 10, 5).await;
    let bundle = app
        .post("/api/v1/ticketing/bundles", Some(&org.access), json!({"name": "Both", "price": "20", "currency": "EUR"}))
        .await
        .expect(201)
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    for e in [&gala, &ball] {
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/ticketing/bundles/{bundle}/events/{e}"),
            Some(&org.access),
            None,
        )
        .await
        .expect(200);
    }
    let anns_bought = buy(&app, &ann, json!({"event_id": gala, "quantity": 2})).await.expect(201).json;
    let asked = app
        .post(
            &format!(
                "/api/v1/ticketing/tickets/{}/refund-request",
                anns_bought["tickets"][0]["code"].as_str().unwrap()
            ),
            Some(&ann.access),
            json!({"reason": "Cannot come"}),
        )
        .await
        .expect(202)
        .json;
    buy(&app, &bob, json!({"bundle_id": bundle, "quantity": 1})).await.expect(201);
    buy(&app, &bob, json!({"event_id": ball, "quantity": 1})).await.expect(201);
    assert_eq!((seats_left(&app, &gala).await, seats_left(&app, &ball).await), (7, 8));

    let cancelled =
        app.post(&format!("/api/v1/ticketing/events/{gala}/cancel"), Some(&org.access), json!({})).await.expect(200);
    assert_eq!(cancelled.json["seats_sold"], 0, "{}", cancelled.text);
    // The bundle ticket went with all its seats; Bob's own ticket to the ball stays.
    assert_eq!(seats_left(&app, &ball).await, 9);
    let anns = app.get("/api/v1/ticketing/tickets", Some(&ann.access)).await.expect(200).json;
    assert!(anns["items"].as_array().unwrap().iter().all(|t| t["status"] == "refunded"));
    let bobs = app.get("/api/v1/ticketing/tickets", Some(&bob.access)).await.expect(200).json;
    let statuses: Vec<&str> = bobs["items"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["valid", "refunded"], "newest first");
    assert_eq!(inbox_titles(&app, &ann).await, ["Event cancelled: Gala"], "one notice per buyer");
    let granted = app.get("/api/v1/ticketing/refunds", Some(&ann.access)).await.expect(200).json;
    assert_eq!(granted["items"][0]["id"], asked["id"]);
    assert_eq!(granted["items"][0]["status"], "approved", "the cancellation granted the pending request");
    assert_eq!(inbox_titles(&app, &bob).await, ["Event cancelled: Gala"]);
    mail_titled(&app, &ann.email, "Event cancelled: Gala").await;
    let stats = app.get(&format!("/api/v1/ticketing/events/{gala}/stats"), Some(&org.access)).await.expect(200).json;
    assert_eq!((stats["sold"].as_i64(), stats["refunded"].as_i64()), (Some(0), Some(3)));
}

async fn organisers_see_their_own_buyers_only(app: TestApp) {
    let org = app.register_verified("view-org@example.com").await;
    let rival = app.register_verified("view-rival@example.com").await;
    let open = app.register_verified("view-open@example.com").await;
    let shy = app.register_verified("view-shy@example.com").await;
    app.patch("/api/v1/users/me", Some(&open.access), json!({"name": "=HYPERLINK(\"x\")", "public_profile": true}))
        .await
        .expect(200);
    app.patch("/api/v1/users/me", Some(&shy.access), json!({"public_profile": false})).await.expect(200);
    let event = on_sale(&app, &org, "Listed", 10, 4).await;
    let open_bought = buy(&app, &open, json!({"event_id": event, "quantity": 2})).await.expect(201).json;
    buy(&app, &shy, json!({"event_id": event, "quantity": 1})).await.expect(201);
    let code = open_bought["tickets"][0]["code"].as_str().unwrap();
    app.post(&format!("/api/v1/ticketing/events/{event}/check-ins"), Some(&org.access), json!({"code": code}))
        .await
        .expect(200);

    let list = format!("/api/v1/ticketing/events/{event}/tickets");
    let page = app.get(&format!("{list}?limit=2"), Some(&org.access)).await.expect(200).json;
    let next = page["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("{list}?limit=2&cursor={next}"), Some(&org.access)).await.expect(200).json;
    let all: Vec<Value> =
        page["items"].as_array().unwrap().iter().chain(rest["items"].as_array().unwrap()).cloned().collect();
    assert_eq!(all.len(), 3);
    let shy_row = all.iter().find(|a| a["buyer_email"] == shy.email.as_str()).unwrap();
    assert!(shy_row["buyer_name"].is_null(), "a private profile's name is not shown: {shy_row}");
    let open_row = all.iter().find(|a| a["code"] == code).unwrap();
    assert_eq!(open_row["buyer_name"], "=HYPERLINK(\"x\")");
    assert!(open_row["checked_in_at"].is_string());

    let csv = app.http.get(app.url(&format!("{list}.csv"))).bearer_auth(&org.access).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("code,status,checked_in_at,buyer_email,buyer_name\n"), "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "formulas are neutralised: {csv}");
    assert_eq!(csv.lines().count(), 4);

    let stats = app.get(&format!("/api/v1/ticketing/events/{event}/stats"), Some(&org.access)).await.expect(200).json;
    assert_eq!((stats["sold"].as_i64(), stats["checked_in"].as_i64()), (Some(3), Some(1)));
    assert_eq!((stats["revenue"].as_str(), stats["currency"].as_str()), (Some("37.50"), Some("EUR")));
    assert_eq!(stats["sales_per_day"][0]["tickets"], 3);
    assert_eq!(stats["sales_per_day"][0]["day"].as_str().unwrap().len(), 10);

    // The rival organiser, and the buyers, see none of it.
    for who in [&rival, &open] {
        app.get(&list, Some(&who.access)).await.expect_problem(403, "forbidden");
        app.get(&format!("{list}.csv"), Some(&who.access)).await.expect_problem(403, "forbidden");
        app.get(&format!("/api/v1/ticketing/events/{event}/stats"), Some(&who.access))
            .await
            .expect_problem(403, "forbidden");
    }
    app.get(&format!("{list}?cursor=garbage"), Some(&org.access)).await.expect_problem(422, "validation_failed");
}

/// `seats.changed` on the event's topic: coalesced to at most ten a second, the last one exact.
async fn live_seats_are_coalesced(app: TestApp) {
    let org = app.register_verified("live-org@example.com").await;
    let watcher = app.register_verified("live-watcher@example.com").await;
    let event = on_sale(&app, &org, "Live", 100, 4).await;
    let mut ws = app.ws("/api/v1/realtime", Some(&watcher.access)).await.unwrap();
    let topic = format!("ticketing.event.{event}");
    assert_eq!(ws.request(json!({"type": "subscribe", "topic": topic}), "1").await["type"], "ack");
    let draft = app
        .post(
            "/api/v1/ticketing/events",
            Some(&org.access),
            json!({"name": "Hidden", "starts_at": in_days(3),
            "ends_at": in_days(4), "capacity": 5, "price": "1", "currency": "EUR"}),
        )
        .await
        .expect(201)
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = ws.request(json!({"type": "subscribe", "topic": format!("ticketing.event.{draft}")}), "2").await;
    assert_eq!(refused["type"], "error", "{refused}");

    let started = std::time::Instant::now();
    for _ in 0..30 {
        buy(&app, &watcher, json!({"event_id": event, "quantity": 1})).await.expect(201);
    }
    let buying = started.elapsed();
    let mut seen = Vec::new();
    while let Some(frame) = ws.next_within(Duration::from_millis(600)).await {
        if frame["type"] == "event" && frame["event"] == "seats.changed" {
            seen.push(frame["data"]["seats_left"].as_i64().unwrap());
        }
    }
    assert_eq!(seen.last(), Some(&70), "the last message is the count after the last sale: {seen:?}");
    let allowed = (buying.as_secs_f64() * 10.0).ceil() as usize + 2;
    assert!(seen.len() <= allowed, "{} messages in {buying:?}: {seen:?}", seen.len());
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "counts only go down: {seen:?}");
}

/// A buyer who leaves gives their seats back; an organiser who leaves calls their events off,
/// refunding and telling their buyers.
async fn leaving_returns_seats_and_refunds(app: TestApp) {
    let org = app.register_verified("leave-org@example.com").await;
    let buyer = app.register_verified("leave-buyer@example.com").await;
    let quitter = app.register_verified("leave-quitter@example.com").await;
    let event = on_sale(&app, &org, "Farewell", 10, 4).await;
    buy(&app, &quitter, json!({"event_id": event, "quantity": 3})).await.expect(201);
    buy(&app, &buyer, json!({"event_id": event, "quantity": 1})).await.expect(201);
    assert_eq!(seats_left(&app, &event).await, 6);
    app.delete("/api/v1/users/me", Some(&quitter.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    assert_eq!(seats_left(&app, &event).await, 9);
    let stats = app.get(&format!("/api/v1/ticketing/events/{event}/stats"), Some(&org.access)).await.expect(200).json;
    assert_eq!((stats["sold"].as_i64(), stats["cancelled"].as_i64()), (Some(1), Some(3)), "the records stay");

    app.delete("/api/v1/users/me", Some(&org.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    app.get(&format!("/api/v1/ticketing/events/{event}"), None).await.expect_problem(404, "not_found");
    assert_eq!(inbox_titles(&app, &buyer).await, ["Event cancelled: Farewell"]);
    let export = app.get("/api/v1/users/me/export", Some(&buyer.access)).await.expect(200).json;
    assert!(export["ticketing"]["tickets"].as_array().unwrap().is_empty(), "the event went with its organiser");
}

testkit::api_tests!(
    purchases_are_all_or_nothing_and_keyed,
    bundles_racing_single_tickets_never_oversell,
    bundles_belong_to_their_owner,
    tickets_are_seen_by_their_people_only,
    tickets_are_given_back_before_the_event,
    check_in_at_the_door,
    refunds_are_decided_and_told,
    cancelling_an_event_refunds_every_ticket,
    organisers_see_their_own_buyers_only,
    live_seats_are_coalesced,
    leaving_returns_seats_and_refunds,
);

/// Purchases, check-ins and refunds reach a real RabbitMQ consumer, in order, each once.
async fn sales_reach_the_broker(backend: testkit::Backend) {
    let Some(amqp) = testkit::service_url("FERROBASE_TEST_AMQP_URL") else { return };
    let (_conn, mut rx) = crate::events::consume(&amqp, &["ticketing.ticket.*", "ticketing.refund.*"]).await;
    let Some(app) = TestApp::spawn_with(backend, |c| c.amqp_url = platform::secret::Secret::new(&amqp)).await else {
        return;
    };
    let org = app.register_verified("broker-org@example.com").await;
    let buyer = app.register_verified("broker-buyer@example.com").await;
    let event = on_sale(&app, &org, "Brokered", 10, 4).await;
    let bought = buy(&app, &buyer, json!({"event_id": event, "quantity": 1})).await.expect(201).json;
    let ticket = bought["tickets"][0]["id"].as_str().unwrap().to_string();
    let code = bought["tickets"][0]["code"].as_str().unwrap();
    app.post(&format!("/api/v1/ticketing/events/{event}/check-ins"), Some(&org.access), json!({"code": code}))
        .await
        .expect(200);
    let refund = app
        .post(
            &format!("/api/v1/ticketing/tickets/{code}/refund-request"),
            Some(&buyer.access),
            json!({"reason": "Sorry"}),
        )
        .await
        .expect(202)
        .json;
    app.post(
        &format!("/api/v1/ticketing/refunds/{}/approve", refund["id"].as_str().unwrap()),
        Some(&org.access),
        json!({}),
    )
    .await
    .expect(200);
    let ours =
        |body: &Value| body["data"]["ticket_id"] == ticket.as_str() || body["data"]["ticket_ids"][0] == ticket.as_str();
    let got = crate::events::gather(&mut rx, ours, 4, Duration::from_secs(5)).await;
    let kinds: Vec<&str> = got.iter().map(|(_, body)| body["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ticketing.ticket.purchased",
            "ticketing.ticket.checked_in",
            "ticketing.refund.requested",
            "ticketing.refund.resolved"
        ],
        "{got:?}"
    );
    assert_eq!(got[0].1["data"]["amount"], "12.50");
    assert_eq!(got[0].1["data"]["event_ids"], json!([event]));
    assert_eq!(got[3].1["data"]["status"], "approved");
    assert!(got.iter().all(|(_, body)| !body.to_string().contains(code)), "codes admit; they stay off the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_amqp), ignore = "needs FERROBASE_TEST_AMQP_URL")]
async fn sqlite_sales_reach_the_broker() {
    sales_reach_the_broker(testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(ferrobase_amqp, ferrobase_postgres)),
    ignore = "needs FERROBASE_TEST_AMQP_URL and FERROBASE_TEST_POSTGRES_URL"
)]
async fn postgres_sales_reach_the_broker() {
    sales_reach_the_broker(testkit::Backend::Postgres).await;
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A door scanner checks a ticket in over gRPC, with the REST rules and codes.
async fn a_scanner_checks_in_over_grpc(backend: testkit::Backend) {
    use ticketing::grpc::pb::tickets_client::TicketsClient;
    use ticketing::grpc::pb::{CheckInRequest, GetTicketRequest};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let Some(app) = TestApp::spawn_with(backend, |c| c.grpc_bind = format!("127.0.0.1:{port}")).await else { return };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = endpoint.connect().await {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut client = TicketsClient::new(channel.expect("the gRPC server never answered"));
    let org = app.register_verified("scan-org@example.com").await;
    let buyer = app.register_verified("scan-buyer@example.com").await;
    let stranger = app.register("scan-stranger@example.com").await;
    let event = on_sale(&app, &org, "Scanned in", 10, 4).await;
    let code =
        buy(&app, &buyer, json!({"event_id": event, "quantity": 1})).await.expect(201).json["tickets"][0]["code"]
            .as_str()
            .unwrap()
            .to_string();

    let read = client.get_ticket(bearer(GetTicketRequest { code: code.clone() }, &org.access)).await.unwrap();
    let read = read.into_inner().ticket.unwrap();
    assert_eq!((read.status.as_str(), read.price.as_str(), read.seats.len()), ("valid", "12.50", 1));
    let hidden =
        client.get_ticket(bearer(GetTicketRequest { code: code.clone() }, &stranger.access)).await.unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);
    let anonymous = client.get_ticket(GetTicketRequest { code: code.clone() }).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);

    let scan = |token: &str| bearer(CheckInRequest { event_id: event.clone(), code: code.clone() }, token);
    let refused = client.check_in(scan(&buyer.access)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let first = client.check_in(scan(&org.access)).await.unwrap().into_inner();
    assert!(!first.checked_in_at.is_empty());
    assert_eq!(first.ticket.unwrap().seats[0].checked_in_at.as_deref(), Some(first.checked_in_at.as_str()));
    let twice = client.check_in(scan(&org.access)).await.unwrap_err();
    assert_eq!(twice.code(), tonic::Code::AlreadyExists);
    assert!(twice.message().starts_with("already_checked_in:"), "{}", twice.message());
    assert!(twice.message().contains(&first.checked_in_at), "{}", twice.message());
    let bad = client
        .check_in(bearer(CheckInRequest { event_id: "nope".into(), code: code.clone() }, &org.access))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    // The REST side sees the same check-in.
    let rest = app.get(&format!("/api/v1/ticketing/tickets/{code}"), Some(&buyer.access)).await.expect(200).json;
    assert_eq!(rest["seats"][0]["checked_in_at"], first.checked_in_at.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_scanner_checks_in_over_grpc() {
    a_scanner_checks_in_over_grpc(testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_a_scanner_checks_in_over_grpc() {
    a_scanner_checks_in_over_grpc(testkit::Backend::Postgres).await;
}

/// Ticket codes admit their holder: the request log names the route, never the code in the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_codes_stay_out_of_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FERROBASE_LOG_LEVEL", "info")];
    let (child, base, http) = crate::process::serve(dir.path(), &env, std::process::Stdio::piped).await;
    let secret = "Zq3SecretCodeXy7QwErTy";
    for path in ["", "/qr.png", "/qr.svg"] {
        let resp = http.get(format!("{base}/api/v1/ticketing/tickets/{secret}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let status = http.post(format!("{base}/api/v1/ticketing/tickets/{secret}/cancel")).send().await.unwrap().status();
    assert_eq!(status, 401);
    // SIGTERM: the server drains and flushes its log.
    let pid = child.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = crate::process::text(&out);
    assert!(log.contains("/api/v1/ticketing/tickets/{code}/qr.png"), "the route is logged: {log}");
    assert!(!log.contains(secret), "a ticket code reached the log: {log}");
}
