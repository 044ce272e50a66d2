//! Ticketing after the sale, over HTTP and gRPC, on SQLite and (in CI) PostgreSQL: tickets and
//! their QR images (decoded back), giving tickets back, check-in at the door (also by a gRPC
//! scanner), refunds with their notifications and mail, an event's cancellation refunding
//! everyone, the organiser's views probed by a second organiser, what leaving does, and codes
//! kept out of the logs.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::ticketing_sales::{bundle_of, buy, force, inbox_titles, mail_titled, make_admin, on_sale, seats_left};
use serde_json::{Value, json};
use std::time::Duration;
use testkit::{PASSWORD, Session, TestApp};

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
    let bundle = bundle_of(&app, &org, "Both", &[&gala, &ball]).await;
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

testkit::api_tests!(
    tickets_are_seen_by_their_people_only,
    tickets_are_given_back_before_the_event,
    check_in_at_the_door,
    refunds_are_decided_and_told,
    cancelling_an_event_refunds_every_ticket,
    organisers_see_their_own_buyers_only,
    leaving_returns_seats_and_refunds,
);
