//! Freelance over HTTP, on SQLite and (in CI) PostgreSQL: clients, their checks, search and
//! archive, each user's books closed to every other user (admins too), and an account's
//! export and deletion.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::ticketing_sales::make_admin;
use serde_json::{Value, json};
use testkit::{PASSWORD, Session, TestApp};

async fn add_client(app: &TestApp, who: &Session, body: Value) -> Value {
    app.post("/api/v1/freelance/clients", Some(&who.access), body).await.expect(201).json
}

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

async fn clients_are_checked_and_normalised(app: TestApp) {
    let me = app.register("fl-check@example.com").await;
    let full = add_client(
        &app,
        &me,
        json!({"name": "  Acme Corp  ", "email": " Billing@ACME.example ", "phone": "+41 44 668 18 00",
               "company": "Acme AG", "address": "Bahnhofstrasse 1\n8001 Zürich", "tax_id": "CHE-123.456.789",
               "currency": "chf", "hourly_rate": "120.5", "notes": "Pays on time.\nPrefers email."}),
    )
    .await;
    assert_eq!(full["name"], "Acme Corp");
    assert_eq!(full["email"], "billing@acme.example");
    assert_eq!(full["phone"], "+41446681800");
    assert_eq!(full["currency"], "CHF");
    assert_eq!(full["hourly_rate"], "120.50");
    assert_eq!(full["address"], "Bahnhofstrasse 1\n8001 Zürich");
    assert_eq!(full["archived"], false);
    let minimal = add_client(&app, &me, json!({"name": "Solo", "email": "  ", "company": ""})).await;
    assert_eq!(minimal["email"], Value::Null, "blank is left out");
    assert_eq!(minimal["company"], Value::Null);
    assert_eq!(minimal["hourly_rate"], Value::Null);

    // Every wrong field is reported at once, and nothing is stored.
    let bad = app
        .post(
            "/api/v1/freelance/clients",
            Some(&me.access),
            json!({"name": " ", "email": "not-an-email", "phone": "12", "currency": "ABC", "tax_id": "x".repeat(51),
                   "company": "line\nbreak", "notes": "n".repeat(5001)}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["company", "currency", "email", "name", "notes", "phone", "tax_id"]);
    for (body, field) in [
        (json!({"name": "R", "hourly_rate": "10"}), "hourly_rate"),
        (json!({"name": "R", "currency": "JPY", "hourly_rate": "10.5"}), "hourly_rate"),
        (json!({"name": "R", "currency": "EUR", "hourly_rate": "-1"}), "hourly_rate"),
        (json!({"name": "R", "currency": "EUR", "hourly_rate": "1000000.01"}), "hourly_rate"),
        (json!({"name": "R", "currency": "EUR", "hourly_rate": "99999999999999999999"}), "hourly_rate"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "tab\tname"}), "name"),
        (json!({"name": "invoice\u{202E}fdp.exe"}), "name"),
        (json!({"name": "R", "notes": "zero\u{200B}width"}), "notes"),
        (json!({"name": "R", "address": "bell\u{7}"}), "address"),
    ] {
        let r = app.post("/api/v1/freelance/clients", Some(&me.access), body.clone()).await;
        assert_eq!(r.expect_problem(422, "validation_failed").error_fields(), [field], "{body}");
    }
    app.post("/api/v1/freelance/clients", Some(&me.access), json!({"name": "R", "total": "1"})).await.expect(422);
    app.post("/api/v1/freelance/clients", Some(&me.access), json!({"name": "R", "email": 5})).await.expect(422);
    let page = app.get("/api/v1/freelance/clients", Some(&me.access)).await.expect(200).json;
    assert_eq!(names(&page), ["Solo", "Acme Corp"], "newest first, nothing else stored");

    // Changes: a field left out stays, null clears, a new currency needs a rate that fits it.
    let id = full["id"].as_str().unwrap();
    let path = format!("/api/v1/freelance/clients/{id}");
    let changed = app
        .patch(&path, Some(&me.access), json!({"notes": null, "company": "Acme Holding", "hourly_rate": "130"}))
        .await
        .expect(200)
        .json;
    assert_eq!(changed["notes"], Value::Null);
    assert_eq!(changed["company"], "Acme Holding");
    assert_eq!(changed["hourly_rate"], "130.00");
    assert_eq!(changed["email"], "billing@acme.example", "left out, kept");
    // A rate is an amount in its currency: 130 EUR does not become 130 USD or 130 JPY.
    for currency in ["JPY", "USD", "usd"] {
        let r = app.patch(&path, Some(&me.access), json!({"currency": currency})).await;
        assert_eq!(r.expect_problem(422, "validation_failed").error_fields(), ["hourly_rate"], "{currency}");
    }
    let r = app.patch(&path, Some(&me.access), json!({"currency": "USD", "email": "nope"})).await;
    let mut fields = r.expect_problem(422, "validation_failed").error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "hourly_rate"], "the currency rule is reported with the other fields");
    let same = app.patch(&path, Some(&me.access), json!({"currency": "chf", "notes": "same currency"})).await;
    assert_eq!(same.expect(200).json["hourly_rate"], "130.00", "the same currency, written otherwise, keeps the rate");
    let yen = app.patch(&path, Some(&me.access), json!({"currency": "JPY", "hourly_rate": "15000"})).await.expect(200);
    assert_eq!(yen.json["hourly_rate"], "15000");
    let r = app.patch(&path, Some(&me.access), json!({"name": null, "email": "nope"})).await;
    let mut fields = r.expect_problem(422, "validation_failed").error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "name"], "a client keeps a name; every wrong field is reported");
    app.patch(&path, Some(&me.access), json!({"currency": null})).await.expect_problem(422, "validation_failed");
    let cleared =
        app.patch(&path, Some(&me.access), json!({"currency": null, "hourly_rate": null})).await.expect(200).json;
    assert_eq!((cleared["currency"].clone(), cleared["hourly_rate"].clone()), (Value::Null, Value::Null));
    assert_eq!(app.get(&path, Some(&me.access)).await.expect(200).json["company"], "Acme Holding");
}

async fn concurrent_changes_of_different_fields_all_land(app: TestApp) {
    let me = app.register("fl-race@example.com").await;
    let client = add_client(&app, &me, json!({"name": "Raced"})).await;
    let path = format!("/api/v1/freelance/clients/{}", client["id"].as_str().unwrap());
    let changes = [
        json!({"company": "Company"}),
        json!({"address": "Address"}),
        json!({"tax_id": "TAX-1"}),
        json!({"notes": "Notes"}),
        json!({"email": "raced@example.com"}),
        json!({"currency": "EUR", "hourly_rate": "50"}),
        json!({"archived": true}),
    ];
    // Each change once, all at once: a change that read the row before another wrote it would
    // write the old value of the other's field back (written again, a field would hide that).
    let calls = changes.iter().map(|body| app.patch(&path, Some(&me.access), body.clone()));
    for r in futures::future::join_all(calls).await {
        r.expect(200);
    }
    let now = app.get(&path, Some(&me.access)).await.expect(200).json;
    for (field, value) in [
        ("company", "Company"),
        ("address", "Address"),
        ("tax_id", "TAX-1"),
        ("notes", "Notes"),
        ("email", "raced@example.com"),
        ("hourly_rate", "50.00"),
    ] {
        assert_eq!(now[field], value, "{field} was lost to a concurrent change: {now}");
    }
    assert_eq!(now["archived"], true);
}

async fn clients_are_searched_archived_and_paged(app: TestApp) {
    let me = app.register("fl-list@example.com").await;
    let zurich = add_client(&app, &me, json!({"name": "Café Zürich", "company": "Gastro GmbH"})).await;
    add_client(&app, &me, json!({"name": "Bäckerei Müller", "email": "info@mueller.example"})).await;
    add_client(&app, &me, json!({"name": "100% Design_Lab"})).await;
    let list = |q: &str| {
        let app = &app;
        let token = me.access.clone();
        let q = q.to_string();
        async move { app.get(&format!("/api/v1/freelance/clients?{q}"), Some(&token)).await.expect(200).json }
    };
    assert_eq!(names(&list("q=cafe%20zurich").await), ["Café Zürich"], "accents and case folded");
    assert_eq!(names(&list("q=GASTRO").await), ["Café Zürich"], "the company is searched");
    assert_eq!(names(&list("q=mueller.example").await), ["Bäckerei Müller"], "the email is searched");
    assert_eq!(names(&list("q=%25").await), ["100% Design_Lab"], "% is taken literally, not as any text");
    assert_eq!(names(&list("q=_").await), ["100% Design_Lab"], "_ is taken literally");
    assert!(names(&list("q=nobody").await).is_empty());
    app.get(&format!("/api/v1/freelance/clients?q={}", "q".repeat(101)), Some(&me.access))
        .await
        .expect_problem(422, "validation_failed");

    // Archived clients leave the list and come back when asked for, or restored.
    let path = format!("/api/v1/freelance/clients/{}", zurich["id"].as_str().unwrap());
    let archived = app.patch(&path, Some(&me.access), json!({"archived": true})).await.expect(200).json;
    assert_eq!(archived["archived"], true);
    assert!(archived["archived_at"].is_string());
    assert_eq!(names(&list("").await), ["100% Design_Lab", "Bäckerei Müller"]);
    assert_eq!(names(&list("archived=true").await), ["Café Zürich"]);
    let again = app.patch(&path, Some(&me.access), json!({"archived": true, "notes": "closed"})).await.expect(200);
    assert_eq!(again.json["archived_at"], archived["archived_at"], "archiving twice keeps the first time");
    assert_eq!(again.json["notes"], "closed", "an archived client can still be changed");
    let restored = app.patch(&path, Some(&me.access), json!({"archived": false})).await.expect(200).json;
    assert_eq!((restored["archived"].clone(), restored["archived_at"].clone()), (json!(false), Value::Null));

    // Pages follow each other without gaps or repeats.
    for i in 0..4 {
        add_client(&app, &me, json!({"name": format!("Paged {i}")})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = list(&format!("limit=3{after}")).await;
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().collect::<std::collections::HashSet<_>>().len(), 7);
    app.get("/api/v1/freelance/clients?cursor=garbage", Some(&me.access))
        .await
        .expect_problem(422, "validation_failed");
    app.get("/api/v1/freelance/clients?limit=0", Some(&me.access)).await.expect_problem(422, "validation_failed");
}

async fn each_users_books_are_their_own(app: TestApp) {
    let me = app.register("fl-owner@example.com").await;
    let stranger = app.register("fl-stranger@example.com").await;
    let admin = make_admin(&app, "fl-admin@example.com").await;
    let mine = add_client(&app, &me, json!({"name": "Private Client", "email": "p@example.com"})).await;
    let path = format!("/api/v1/freelance/clients/{}", mine["id"].as_str().unwrap());

    for token in [&stranger.access, &admin.access] {
        app.get(&path, Some(token)).await.expect_problem(404, "not_found");
        app.patch(&path, Some(token), json!({"name": "Taken"})).await.expect_problem(404, "not_found");
        app.patch(&path, Some(token), json!({"archived": true})).await.expect_problem(404, "not_found");
        app.delete(&path, Some(token), None).await.expect_problem(404, "not_found");
        let theirs = app.get("/api/v1/freelance/clients", Some(token)).await.expect(200).json;
        assert!(names(&theirs).is_empty(), "another user's clients are not listed");
        let searched = app.get("/api/v1/freelance/clients?q=private", Some(token)).await.expect(200).json;
        assert!(names(&searched).is_empty());
    }
    app.get(&path, None).await.expect(401);
    app.get("/api/v1/freelance/clients", None).await.expect(401);
    app.get("/api/v1/freelance/clients/not-a-uuid", Some(&me.access)).await.expect(404);
    let untouched = app.get(&path, Some(&me.access)).await.expect(200).json;
    assert_eq!((untouched["name"].clone(), untouched["archived"].clone()), (json!("Private Client"), json!(false)));

    app.delete(&path, Some(&me.access), None).await.expect(204);
    app.get(&path, Some(&me.access)).await.expect_problem(404, "not_found");
    app.delete(&path, Some(&me.access), None).await.expect_problem(404, "not_found");
}

async fn leaving_takes_the_books_along(app: TestApp) {
    let me = app.register("fl-leaver@example.com").await;
    let other = app.register("fl-stays@example.com").await;
    add_client(&app, &me, json!({"name": "Exported", "currency": "EUR", "hourly_rate": "80"})).await;
    let kept = add_client(&app, &other, json!({"name": "Someone else's"})).await;
    let export = app.get("/api/v1/users/me/export", Some(&me.access)).await.expect(200).json;
    let clients = export["freelance"]["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!((clients[0]["name"].clone(), clients[0]["hourly_rate"].clone()), (json!("Exported"), json!("80.00")));

    let count_of = |owner: String| {
        let app = &app;
        async move {
            let db = app.db().await;
            let owner = uuid::Uuid::parse_str(&owner).unwrap();
            let (n,): (i64,) = platform::with_db!(&db, |pool| {
                sqlx::query_as("SELECT COUNT(*) FROM freelance_clients WHERE owner_id = $1")
                    .bind(owner)
                    .fetch_one(pool)
                    .await
            })
            .unwrap();
            n
        }
    };
    assert_eq!(count_of(me.user_id.to_string()).await, 1);
    app.delete("/api/v1/users/me", Some(&me.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    assert_eq!(count_of(me.user_id.to_string()).await, 0, "the account's clients went with it");
    let back = app.register("fl-leaver@example.com").await;
    let page = app.get("/api/v1/freelance/clients", Some(&back.access)).await.expect(200).json;
    assert!(names(&page).is_empty(), "a new account under the same address starts with empty books");
    let path = format!("/api/v1/freelance/clients/{}", kept["id"].as_str().unwrap());
    app.get(&path, Some(&other.access)).await.expect(200);
}

testkit::api_tests!(
    clients_are_checked_and_normalised,
    concurrent_changes_of_different_fields_all_land,
    clients_are_searched_archived_and_paged,
    each_users_books_are_their_own,
    leaving_takes_the_books_along,
);
