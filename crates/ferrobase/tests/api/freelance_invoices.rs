//! Freelance invoices over HTTP, on SQLite and (in CI) PostgreSQL: amounts computed only by the
//! server (half to even in JPY, EUR and KWD; the discount before each tax), numbers without
//! gaps or duplicates under 50 concurrent sends, the mail with its PDF, the PDF's text over
//! several pages, payments moving the status, time invoiced once under concurrent calls, and
//! nobody else's invoices.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use chrono::{Duration, Timelike, Utc};
use serde_json::{Value, json};
use testkit::{Backend, Session, TestApp};

const INVOICES: &str = "/api/v1/freelance/invoices";

async fn client(app: &TestApp, who: &Session, body: Value) -> Value {
    app.post("/api/v1/freelance/clients", Some(&who.access), body).await.expect(201).json
}

async fn draft(app: &TestApp, who: &Session, body: Value) -> Value {
    app.post(INVOICES, Some(&who.access), body).await.expect(201).json
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// The raw bytes of a PDF route.
pub(crate) async fn pdf_bytes(app: &TestApp, who: &Session, path: &str) -> Vec<u8> {
    let resp = reqwest::Client::new().get(app.url(path)).bearer_auth(&who.access).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    resp.bytes().await.unwrap().to_vec()
}

/// The text of a PDF, as a reader extracts it.
pub(crate) fn pdf_text(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    pdf_extract::extract_text_from_mem(pdf).unwrap()
}

async fn amounts_are_the_servers_and_round_half_to_even(app: TestApp) {
    let me = app.register("fi-math@example.com").await;
    let c = client(&app, &me, json!({"name": "Math Client", "currency": "EUR"})).await;
    // (currency, quantity, unit price, line amount)
    let table = [
        ("EUR", "0.5", "0.01", "0.00"),
        ("EUR", "1.5", "0.01", "0.02"),
        ("EUR", "2.5", "0.01", "0.02"),
        ("EUR", "3.5", "0.01", "0.04"),
        ("JPY", "0.5", "1", "0"),
        ("JPY", "1.5", "1", "2"),
        ("JPY", "2.5", "3", "8"),
        ("KWD", "1.001", "1.234", "1.235"),
        ("KWD", "0.001", "0.500", "0.000"),
        ("KWD", "0.003", "0.500", "0.002"),
    ];
    for (currency, quantity, price, amount) in table {
        let inv = draft(
            &app,
            &me,
            json!({"client_id": c["id"], "currency": currency,
            "lines": [{"description": "x", "quantity": quantity, "unit_price": price}]}),
        )
        .await;
        assert_eq!(inv["lines"][0]["amount"], amount, "{quantity} × {price} {currency}");
        assert_eq!((inv["total"].clone(), inv["currency"].clone()), (json!(amount), json!(currency)));
    }

    // Discount first, then each tax on what is left: 99.99 − 10 % (10.00) = 89.99; 7.7 % = 6.93,
    // 2.5 % = 2.25; total 99.17.
    let inv = draft(
        &app,
        &me,
        json!({"client_id": c["id"], "terms": "net_15", "discount_percent": "10",
        "lines": [{"description": "Consulting", "quantity": "3", "unit_price": "33.33"}],
        "taxes": [{"name": "VAT", "rate": "7.7"}, {"name": "City", "rate": "2.5"}]}),
    )
    .await;
    assert_eq!(inv["currency"], "EUR", "the client's currency by default");
    assert_eq!(
        (inv["subtotal"].clone(), inv["discount_total"].clone(), inv["tax_total"].clone(), inv["total"].clone()),
        (json!("99.99"), json!("10.00"), json!("9.18"), json!("99.17"))
    );
    assert_eq!(
        inv["taxes"],
        json!([{"name": "VAT", "rate": "7.7", "amount": "6.93"}, {"name": "City", "rate": "2.5", "amount": "2.25"}])
    );
    assert_eq!(
        (inv["status"].clone(), inv["number"].clone(), inv["terms"].clone()),
        (json!("draft"), Value::Null, json!("net_15"))
    );
    assert_eq!(inv["lines"][0]["quantity"], "3");

    // A fixed discount, then a change recomputes everything.
    let path = format!("{INVOICES}/{}", id(&inv));
    let changed = app
        .patch(&path, Some(&me.access), json!({"discount_percent": null, "discount_amount": "9.99", "taxes": []}))
        .await
        .expect(200)
        .json;
    assert_eq!((changed["discount_total"].clone(), changed["total"].clone()), (json!("9.99"), json!("90.00")));

    // Totals and amounts a client sends are refused, whatever they say.
    for body in [
        json!({"client_id": c["id"], "total": "1.00", "lines": []}),
        json!({"client_id": c["id"], "lines": [{"description": "x", "quantity": "1", "unit_price": "1", "amount": "0.01"}]}),
        json!({"client_id": c["id"], "subtotal": "5"}),
    ] {
        app.post(INVOICES, Some(&me.access), body).await.expect(422);
    }
    app.patch(&path, Some(&me.access), json!({"total": "1"})).await.expect(422);
    let bad = app
        .post(INVOICES, Some(&me.access), json!({"client_id": c["id"], "currency": "JPY", "discount_percent": "5", "discount_amount": "1",
            "lines": [{"description": " ", "quantity": "0", "unit_price": "1.5"}, {"description": "ok", "quantity": "1.0001", "unit_price": "-1"}],
            "taxes": [{"name": "VAT", "rate": "101"}]}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        bad.error_fields(),
        [
            "discount_amount",
            "lines[0].description",
            "lines[0].quantity",
            "lines[0].unit_price",
            "lines[1].quantity",
            "lines[1].unit_price",
            "taxes[0].rate"
        ]
    );
    let over = app
        .post(
            INVOICES,
            Some(&me.access),
            json!({"client_id": c["id"], "discount_amount": "10.01",
            "lines": [{"description": "x", "quantity": "1", "unit_price": "10"}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(over.error_fields(), ["discount_amount"]);
    let huge = app
        .post(
            INVOICES,
            Some(&me.access),
            json!({"client_id": c["id"],
            "lines": [{"description": "x", "quantity": "1000000", "unit_price": "99999999999999"}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(huge.error_fields(), ["lines"]);
    let no_currency = client(&app, &me, json!({"name": "No currency"})).await;
    let r = app
        .post(INVOICES, Some(&me.access), json!({"client_id": no_currency["id"]}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["currency"]);
    let r = app.post(INVOICES, Some(&me.access), json!({"lines": []})).await.expect_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["client_id"]);
}

async fn numbers_have_no_gaps_or_duplicates(app: TestApp) {
    let me = app.register("fi-numbers@example.com").await;
    let c = client(&app, &me, json!({"name": "Numbered Ltd", "email": "ap@numbered.example", "currency": "USD"})).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let inv = draft(&app, &me, json!({"client_id": c["id"], "lines": [{"description": format!("Job {i}"), "quantity": "1", "unit_price": "100"}]})).await;
        ids.push(id(&inv).to_string());
    }
    let sends = ids.iter().map(|id| {
        let (app, me) = (&app, &me);
        async move { app.post(&format!("{INVOICES}/{id}/send"), Some(&me.access), json!({})).await }
    });
    let results = futures::future::join_all(sends).await;
    let mut numbers: Vec<String> =
        results.iter().map(|r| r.json["number"].as_str().unwrap_or_else(|| panic!("{}", r.text)).to_string()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("INV-{n:05}")).collect();
    assert_eq!(numbers, expected, "50 distinct consecutive numbers");
    for r in &results {
        assert_eq!(r.json["status"], "sent");
        assert_eq!(
            r.json["due_on"],
            r.json["issued_on"]
                .as_str()
                .map(|d| (chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap() + Duration::days(30)).to_string())
                .unwrap()
        );
    }
    // Sent is final: no second number, no changes, no deletion.
    let first = format!("{INVOICES}/{}", ids[0]);
    app.post(&format!("{first}/send"), Some(&me.access), json!({})).await.expect_problem(409, "invoice_not_draft");
    app.patch(&first, Some(&me.access), json!({"notes": "late edit"})).await.expect_problem(409, "invoice_not_draft");
    app.delete(&first, Some(&me.access), None).await.expect_problem(409, "invoice_not_draft");
    // A draft without lines, or to a client without an address, is not sent and takes no number.
    let empty = draft(&app, &me, json!({"client_id": c["id"]})).await;
    let r = app
        .post(&format!("{INVOICES}/{}/send", id(&empty)), Some(&me.access), json!({}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["lines"]);
    let silent = client(&app, &me, json!({"name": "No address", "currency": "USD"})).await;
    let unsendable = draft(
        &app,
        &me,
        json!({"client_id": silent["id"], "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}),
    )
    .await;
    let r = app
        .post(&format!("{INVOICES}/{}/send", id(&unsendable)), Some(&me.access), json!({}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["client_id"]);
    app.patch(
        &format!("{INVOICES}/{}", id(&empty)),
        Some(&me.access),
        json!({"lines": [{"description": "Late", "quantity": "2", "unit_price": "5"}]}),
    )
    .await
    .expect(200);
    let next = app.post(&format!("{INVOICES}/{}/send", id(&empty)), Some(&me.access), json!({})).await.expect(200).json;
    assert_eq!(next["number"], "INV-00051", "the refused sends took no number");

    // Each went out once, with its PDF.
    let mail = testkit::read_mail(&app.mail_dir(), "ap@numbered.example", 51).await;
    assert_eq!(testkit::mails_to(&app.mail_dir(), "ap@numbered.example").len(), 51);
    assert!(mail.subject.contains("INV-00051"), "{}", mail.subject);
    assert!(mail.text.contains("$10.00"), "{}", mail.text);
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].0, "INV-00051.pdf");
    let text = pdf_text(&mail.attachments[0].1);
    for needle in ["INV-00051", "Numbered Ltd", "Late", "$10.00", "fi-numbers@example.com"] {
        assert!(text.contains(needle), "{needle} missing from the mailed PDF:\n{text}");
    }
    // The list shows the numbers and filters by status.
    let sent = app.get(&format!("{INVOICES}?status=sent&limit=100"), Some(&me.access)).await.expect(200).json;
    assert_eq!(sent["items"].as_array().unwrap().len(), 51);
    let drafts = app.get(&format!("{INVOICES}?status=draft"), Some(&me.access)).await.expect(200).json;
    assert_eq!(drafts["items"].as_array().unwrap().len(), 1);
    assert_eq!(drafts["items"][0]["client_name"], "No address");
}

async fn the_pdf_holds_the_invoice_as_text(app: TestApp) {
    let me = app.register("fi-pdf@example.com").await;
    let c = client(
        &app,
        &me,
        json!({"name": "Zürich Bücher AG", "company": "Bücher Holding", "email": "books@example.com",
        "address": "Bahnhofstrasse 1\n8001 Zürich", "currency": "EUR", "tax_id": "CHE-123.456.789"}),
    )
    .await;
    let lines: Vec<Value> = (1..=60)
        .map(|i| json!({"description": format!("Line item number {i} with a description long enough to wrap onto a second line of the table"),
            "quantity": "1", "unit_price": "20.5"}))
        .collect();
    let inv = draft(
        &app,
        &me,
        json!({"client_id": c["id"], "lines": lines, "taxes": [{"name": "MwSt", "rate": "19"}],
        "notes": "Payable by bank transfer."}),
    )
    .await;
    assert_eq!(inv["total"], "1463.70");
    let draft_pdf = pdf_bytes(&app, &me, &format!("{INVOICES}/{}/pdf", id(&inv))).await;
    let sent = app.post(&format!("{INVOICES}/{}/send", id(&inv)), Some(&me.access), json!({})).await.expect(200).json;
    let text = pdf_text(&pdf_bytes(&app, &me, &format!("{INVOICES}/{}/pdf", id(&inv))).await);
    let number = sent["number"].as_str().unwrap();
    for needle in [
        number,
        "Zürich Bücher AG",
        "Bücher Holding",
        "8001 Zürich",
        "CHE-123.456.789",
        "1.463,70",
        "1.230,00",
        "233,70",
        "20,50",
        "MwSt (19 %)",
        "Payable by bank transfer.",
        "page 1 of",
        "page 2 of",
    ] {
        assert!(text.contains(needle), "{needle} missing from the PDF:\n{text}");
    }
    for i in 1..=60 {
        assert!(text.contains(&format!("Line item number {i} with")), "line {i} missing");
    }
    assert!(!text.contains("Draft invoice"));
    let draft_text = pdf_text(&draft_pdf);
    assert!(draft_text.contains("Draft invoice"), "{draft_text}");
}

async fn payments_move_the_status(app: TestApp) {
    let me = app.register("fi-pay@example.com").await;
    let c = client(&app, &me, json!({"name": "Payer", "email": "payer@example.com", "currency": "EUR"})).await;
    let inv = draft(
        &app,
        &me,
        json!({"client_id": c["id"], "lines": [{"description": "Work", "quantity": "1", "unit_price": "100"}]}),
    )
    .await;
    let path = format!("{INVOICES}/{}", id(&inv));
    let pay = format!("{path}/payments");
    app.post(&pay, Some(&me.access), json!({"amount": "10"})).await.expect_problem(409, "invoice_not_open");
    app.post(&format!("{path}/void"), Some(&me.access), json!({})).await.expect_problem(409, "invoice_not_open");
    app.post(&format!("{path}/send"), Some(&me.access), json!({})).await.expect(200);

    let part = app
        .post(&pay, Some(&me.access), json!({"amount": "30", "method": "bank_transfer", "paid_on": "2026-11-30"}))
        .await
        .expect(201)
        .json;
    assert_eq!(
        (part["status"].clone(), part["paid"].clone(), part["balance"].clone()),
        (json!("partially_paid"), json!("30.00"), json!("70.00"))
    );
    for (body, field) in [
        (json!({"amount": "70.01"}), "amount"),
        (json!({"amount": "0"}), "amount"),
        (json!({"amount": "1.001"}), "amount"),
        (json!({"amount": "1", "paid_on": "2999-01-01"}), "paid_on"),
    ] {
        let r = app.post(&pay, Some(&me.access), body.clone()).await.expect_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), [field], "{body}");
    }
    app.post(&pay, Some(&me.access), json!({"amount": "1", "method": "barter"})).await.expect(422);
    // Payments at once never exceed the total: of five payments of 20 against a balance of 70,
    // three land.
    let sends = (0..5).map(|_| {
        let (app, me, pay) = (&app, &me, pay.clone());
        async move { app.post(&pay, Some(&me.access), json!({"amount": "20"})).await.status }
    });
    let statuses = futures::future::join_all(sends).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    let now = app.get(&path, Some(&me.access)).await.expect(200).json;
    assert_eq!((now["paid"].clone(), now["status"].clone()), (json!("90.00"), json!("partially_paid")));
    app.post(&pay, Some(&me.access), json!({"amount": 10})).await.expect(422);
    let full = app.post(&pay, Some(&me.access), json!({"amount": "10"})).await.expect(201).json;
    assert_eq!((full["status"].clone(), full["balance"].clone()), (json!("paid"), json!("0.00")));
    assert!(full["paid_at"].is_string());
    app.post(&pay, Some(&me.access), json!({"amount": "1"})).await.expect_problem(409, "invoice_not_open");
    app.post(&format!("{path}/void"), Some(&me.access), json!({})).await.expect_problem(409, "invoice_not_open");

    // Deleting payments moves it back.
    let payments = full["payments"].as_array().unwrap().clone();
    assert_eq!(payments.len(), 5);
    let back = app.delete(&format!("{pay}/{}", id(&payments[0])), Some(&me.access), None).await.expect(200).json;
    assert_eq!((back["status"].clone(), back["paid"].clone()), (json!("partially_paid"), json!("70.00")));
    app.delete(&format!("{pay}/{}", id(&payments[0])), Some(&me.access), None).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/void"), Some(&me.access), json!({})).await.expect_problem(409, "invoice_has_payments");
    for p in &payments[1..] {
        app.delete(&format!("{pay}/{}", id(p)), Some(&me.access), None).await.expect(200);
    }
    let sent = app.get(&path, Some(&me.access)).await.expect(200).json;
    assert_eq!((sent["status"].clone(), sent["paid"].clone()), (json!("sent"), json!("0.00")));
    let today = Utc::now().date_naive().to_string();
    app.post(&format!("{path}/recurrence"), Some(&me.access), json!({"every": "quarter", "next_on": today}))
        .await
        .expect(200);
    let void = app.post(&format!("{path}/void"), Some(&me.access), json!({})).await.expect(200).json;
    assert_eq!((void["status"].clone(), void["number"].clone()), (json!("void"), json!("INV-00001")));
    assert_eq!(void["recurrence"], Value::Null, "voiding ends the recurrence");
    app.post(&format!("{path}/recurrence"), Some(&me.access), json!({"every": "quarter", "next_on": today}))
        .await
        .expect_problem(409, "invoice_not_open");
    // A draft does not recur; an invoice of nothing is paid as it is sent.
    let free = draft(
        &app,
        &me,
        json!({"client_id": c["id"], "discount_percent": "100",
        "lines": [{"description": "Goodwill", "quantity": "1", "unit_price": "100"}]}),
    )
    .await;
    let free_path = format!("{INVOICES}/{}", id(&free));
    app.post(&format!("{free_path}/recurrence"), Some(&me.access), json!({"every": "month", "next_on": today}))
        .await
        .expect_problem(409, "invoice_not_sent");
    let free = app.post(&format!("{free_path}/send"), Some(&me.access), json!({})).await.expect(200).json;
    assert_eq!((free["total"].clone(), free["status"].clone()), (json!("0.00"), json!("paid")));
    app.post(&pay, Some(&me.access), json!({"amount": "1"})).await.expect_problem(409, "invoice_not_open");

    // A client with invoices is archived, not deleted.
    let client_path = format!("/api/v1/freelance/clients/{}", id(&c));
    app.delete(&client_path, Some(&me.access), None).await.expect_problem(409, "client_has_invoices");
    app.patch(&client_path, Some(&me.access), json!({"archived": true})).await.expect(200);
}

async fn time_is_invoiced_once(app: TestApp) {
    let me = app.register("fi-time@example.com").await;
    let c = client(
        &app,
        &me,
        json!({"name": "Hourly", "email": "hourly@example.com", "currency": "EUR", "hourly_rate": "80"}),
    )
    .await;
    let project = app
        .post(
            "/api/v1/work/projects",
            Some(&me.access),
            json!({"name": "Portal", "client_id": c["id"], "hourly_rate": "100", "currency": "EUR"}),
        )
        .await
        .expect(201)
        .json;
    let task = app
        .post("/api/v1/work/tasks", Some(&me.access), json!({"project_id": project["id"], "title": "Login page"}))
        .await
        .expect(201)
        .json;
    let base = Utc::now().with_nanosecond(0).unwrap() - Duration::hours(20);
    let at = |m: i64| (base + Duration::minutes(m)).to_rfc3339();
    let entries = [
        json!({"task_id": task["id"], "started_at": at(0), "ended_at": at(90)}),
        json!({"task_id": task["id"], "started_at": at(100), "ended_at": at(130)}),
        json!({"project_id": project["id"], "started_at": at(200), "ended_at": at(260), "description": "Meeting"}),
        json!({"project_id": project["id"], "started_at": at(300), "ended_at": at(330), "hourly_rate": "120"}),
        json!({"project_id": project["id"], "started_at": at(400), "ended_at": at(460), "billable": false}),
    ];
    let mut entry_ids = Vec::new();
    for body in entries {
        let e = app.post("/api/v1/freelance/time-entries", Some(&me.access), body).await.expect(201).json;
        entry_ids.push(id(&e).to_string());
    }
    let body = json!({"project_id": project["id"]});
    let calls = (0..2).map(|_| {
        let (app, me, body) = (&app, &me, body.clone());
        async move { app.post(&format!("{INVOICES}/from-time"), Some(&me.access), body).await }
    });
    let results = futures::future::join_all(calls).await;
    let made: Vec<&testkit::Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(made.len(), 1, "one of two concurrent calls invoices the time");
    assert!(results.iter().any(|r| r.status == 409 && r.json["code"] == "no_billable_time"));
    let inv = made[0].json.clone();
    // Login page: 2 h at 100; the project's other time: 1 h at 100; the entry's own rate: 0.5 h at 120.
    let lines: Vec<(String, String, String)> = inv["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["description"].as_str().unwrap().into(),
                l["quantity"].as_str().unwrap().into(),
                l["amount"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Login page".into(), "2".into(), "200.00".into()),
            ("Work on Portal".into(), "1".into(), "100.00".into()),
            ("Work on Portal".into(), "0.5".into(), "60.00".into())
        ]
    );
    assert_eq!((inv["total"].clone(), inv["client_id"].clone()), (json!("360.00"), c["id"].clone()));
    for (i, entry) in entry_ids.iter().enumerate() {
        let e = app.get(&format!("/api/v1/freelance/time-entries/{entry}"), Some(&me.access)).await.expect(200).json;
        assert_eq!(e["invoiced"], i < 4, "entry {i}: billable ones only");
        if i < 4 {
            assert_eq!(e["invoice_id"], inv["id"]);
        }
    }
    app.patch(
        &format!("/api/v1/freelance/time-entries/{}", entry_ids[0]),
        Some(&me.access),
        json!({"description": "x"}),
    )
    .await
    .expect_problem(409, "entry_invoiced");
    // Deleting the draft gives the time back; invoicing again takes it again.
    app.delete(&format!("{INVOICES}/{}", id(&inv)), Some(&me.access), None).await.expect(204);
    let e =
        app.get(&format!("/api/v1/freelance/time-entries/{}", entry_ids[0]), Some(&me.access)).await.expect(200).json;
    assert_eq!(e["invoiced"], false);
    let again = app.post(&format!("{INVOICES}/from-time"), Some(&me.access), body.clone()).await.expect(201).json;
    assert_eq!(again["total"], "360.00");
    app.post(&format!("{INVOICES}/from-time"), Some(&me.access), body).await.expect_problem(409, "no_billable_time");
    let stranger = app.register("fi-time-stranger@example.com").await;
    let r =
        app.post(&format!("{INVOICES}/from-time"), Some(&stranger.access), json!({"project_id": project["id"]})).await;
    assert_eq!(r.expect_problem(422, "validation_failed").error_fields(), ["project_id"]);
}

async fn invoices_are_their_owners_alone(app: TestApp) {
    let me = app.register("fi-owner@example.com").await;
    let stranger = app.register("fi-stranger@example.com").await;
    let c = client(&app, &me, json!({"name": "Mine", "email": "mine@example.com", "currency": "EUR"})).await;
    let inv = draft(
        &app,
        &me,
        json!({"client_id": c["id"], "lines": [{"description": "Secret work", "quantity": "1", "unit_price": "5"}]}),
    )
    .await;
    let path = format!("{INVOICES}/{}", id(&inv));
    let r = app
        .post(INVOICES, Some(&stranger.access), json!({"client_id": c["id"]}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["client_id"], "my client is not theirs to bill");
    app.get(&path, Some(&stranger.access)).await.expect_problem(404, "not_found");
    app.patch(&path, Some(&stranger.access), json!({"notes": "x"})).await.expect_problem(404, "not_found");
    app.delete(&path, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/send"), Some(&stranger.access), json!({})).await.expect_problem(404, "not_found");
    app.get(&format!("{path}/pdf"), Some(&stranger.access)).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/void"), Some(&stranger.access), json!({})).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/payments"), Some(&stranger.access), json!({"amount": "1"}))
        .await
        .expect_problem(404, "not_found");
    let theirs = app.get(INVOICES, Some(&stranger.access)).await.expect(200).json;
    assert_eq!(theirs["items"], json!([]));
    app.get(INVOICES, None).await.expect(401);
    app.get(&format!("{path}/pdf"), None).await.expect(401);
    app.post(&format!("{path}/send"), Some(&me.access), json!({})).await.expect(200);
    let sent = app.post(&format!("{path}/payments"), Some(&me.access), json!({"amount": "1"})).await.expect(201).json;
    let payment = format!("{path}/payments/{}", id(&sent["payments"][0]));
    app.delete(&payment, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    let export = app.get("/api/v1/users/me/export", Some(&me.access)).await.expect(200).json;
    assert_eq!(export["freelance"]["invoices"][0]["number"], "INV-00001");
    let theirs = app.get("/api/v1/users/me/export", Some(&stranger.access)).await.expect(200).json;
    assert_eq!(theirs["freelance"]["invoices"], json!([]));
}

async fn public_links_open_one_invoice_until_revoked(app: TestApp) {
    let me = app.register("fi-public@example.com").await;
    let c = client(
        &app,
        &me,
        json!({"name": "Public <Client>", "email": "pub@example.com", "currency": "GBP",
        "notes": "internal: slow payer"}),
    )
    .await;
    let inv = draft(
        &app,
        &me,
        json!({"client_id": c["id"], "notes": "Thanks!",
        "lines": [{"description": "Logo design", "quantity": "2", "unit_price": "150"}]}),
    )
    .await;
    let link = format!("{INVOICES}/{}/public-link", id(&inv));
    app.post(&link, Some(&me.access), json!({})).await.expect_problem(409, "invoice_not_sent");
    let sent = app.post(&format!("{INVOICES}/{}/send", id(&inv)), Some(&me.access), json!({})).await.expect(200).json;
    let first = app.post(&link, Some(&me.access), json!({})).await.expect(201).json;
    let token = first["token"].as_str().unwrap().to_string();
    assert!(first["url"].as_str().unwrap().ends_with(&format!("/api/v1/freelance/public/invoices/{token}")));
    let public = format!("/api/v1/freelance/public/invoices/{token}");
    let page = app.get(&public, None).await.expect(200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(page.headers["cache-control"], "private, no-store");
    for needle in [
        sent["number"].as_str().unwrap(),
        "Public &lt;Client&gt;",
        "Logo design",
        "£300.00",
        "Thanks!",
        "fi-public@example.com",
    ] {
        assert!(page.text.contains(needle), "{needle} missing:\n{}", page.text);
    }
    for secret in [id(&c), id(&inv), "slow payer", &me.user_id] {
        assert!(!page.text.contains(secret), "the page shows {secret}");
    }
    let pdf = reqwest::get(app.url(&format!("{public}?format=pdf"))).await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf_text(&pdf.bytes().await.unwrap()).contains(sent["number"].as_str().unwrap()));
    let shown = app.get(&format!("{INVOICES}/{}", id(&inv)), Some(&me.access)).await.expect(200).json;
    assert_eq!(shown["public_link"], true);

    // Unknown, malformed and revoked tokens all answer 404; a new link retires the old one.
    for bad in [crate_token(), "short".to_string(), format!("{}%00", &token[..40])] {
        app.get(&format!("/api/v1/freelance/public/invoices/{bad}"), None).await.expect_problem(404, "not_found");
    }
    let stranger = app.register("fi-public-stranger@example.com").await;
    app.post(&link, Some(&stranger.access), json!({})).await.expect_problem(404, "not_found");
    let recurrence = format!("{INVOICES}/{}/recurrence", id(&inv));
    let today = Utc::now().date_naive().to_string();
    app.post(&recurrence, Some(&stranger.access), json!({"every": "month", "next_on": today}))
        .await
        .expect_problem(404, "not_found");
    app.delete(&recurrence, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    app.delete(&link, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    app.get(&public, None).await.expect(200);
    let second = app.post(&link, Some(&me.access), json!({})).await.expect(201).json;
    app.get(&public, None).await.expect_problem(404, "not_found");
    let newer = format!("/api/v1/freelance/public/invoices/{}", second["token"].as_str().unwrap());
    app.get(&newer, None).await.expect(200);
    // A link is viewed at most 60 times a minute (each view is rendered).
    let mut statuses = Vec::new();
    for _ in 0..62 {
        statuses.push(app.get(&newer, None).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    app.delete(&link, Some(&me.access), None).await.expect(204);
    app.get(&newer, None).await.expect_problem(404, "not_found");
}

/// A token of the right shape that no invoice has.
fn crate_token() -> String {
    "A".repeat(43)
}

async fn the_dashboard_never_adds_currencies(app: TestApp) {
    let me = app.register("fi-dash@example.com").await;
    let eur = client(&app, &me, json!({"name": "Euro", "email": "eur@example.com", "currency": "EUR"})).await;
    let usd = client(&app, &me, json!({"name": "Dollar", "email": "usd@example.com", "currency": "USD"})).await;
    let send = |c: &Value, price: &str| {
        let body = json!({"client_id": c["id"], "lines": [{"description": "x", "quantity": "1", "unit_price": price}]});
        let (app, me) = (&app, &me);
        async move {
            let inv = draft(app, me, body).await;
            app.post(&format!("{INVOICES}/{}/send", id(&inv)), Some(&me.access), json!({})).await.expect(200).json
        }
    };
    let a = send(&eur, "100").await;
    send(&eur, "50").await;
    let b = send(&usd, "70").await;
    draft(
        &app,
        &me,
        json!({"client_id": eur["id"], "lines": [{"description": "draft", "quantity": "1", "unit_price": "999"}]}),
    )
    .await;
    app.post(&format!("{INVOICES}/{}/payments", id(&a)), Some(&me.access), json!({"amount": "40"})).await.expect(201);
    app.post(&format!("{INVOICES}/{}/payments", id(&b)), Some(&me.access), json!({"amount": "70"})).await.expect(201);
    let now = Utc::now().with_nanosecond(0).unwrap();
    app.post(
        "/api/v1/freelance/time-entries",
        Some(&me.access),
        json!({"started_at": (now - Duration::minutes(30)).to_rfc3339(), "ended_at": now.to_rfc3339()}),
    )
    .await
    .expect(201);

    let all = app.get("/api/v1/freelance/summary", Some(&me.access)).await.expect(200).json;
    let by: std::collections::HashMap<String, Value> = all["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["currency"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(by.len(), 2);
    assert_eq!(
        (by["EUR"]["outstanding"].clone(), by["EUR"]["paid_this_month"].clone()),
        (json!("110.00"), json!("40.00"))
    );
    assert_eq!(
        (by["USD"]["outstanding"].clone(), by["USD"]["paid_this_month"].clone()),
        (json!("0.00"), json!("70.00"))
    );
    assert_eq!(by["EUR"]["overdue"], "0.00");
    let months = by["USD"]["revenue_by_month"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(months[11]["month"], Utc::now().format("%Y-%m").to_string());
    assert_eq!(months[11]["amount"], "70.00");
    assert_eq!(months[0]["amount"], "0.00");
    assert!(all["seconds_this_week"].as_i64().unwrap() <= 1800);
    let usd_only = app.get("/api/v1/freelance/summary?currency=usd", Some(&me.access)).await.expect(200).json;
    assert_eq!(usd_only["currencies"].as_array().unwrap().len(), 1);
    let none = app.get("/api/v1/freelance/summary?currency=JPY", Some(&me.access)).await.expect(200).json;
    assert_eq!(none["currencies"][0]["outstanding"], "0");
    app.get("/api/v1/freelance/summary?currency=XYZ1", Some(&me.access)).await.expect_problem(422, "validation_failed");
    let stranger = app.register("fi-dash-stranger@example.com").await;
    let theirs = app.get("/api/v1/freelance/summary", Some(&stranger.access)).await.expect(200).json;
    assert_eq!(theirs["currencies"], json!([]));
}

/// Moves an invoice's due date into the past, as time would.
async fn make_due_yesterday(app: &TestApp, invoice: &str) {
    let db = app.db().await;
    let yesterday = (Utc::now() - Duration::days(1)).date_naive();
    platform::execute!(
        &db,
        sqlx::query("UPDATE freelance_invoices SET due_on = $2 WHERE id = $1")
            .bind(uuid::Uuid::parse_str(invoice).unwrap())
            .bind(yesterday)
    )
    .unwrap();
}

/// Every mail to `to` that either instance delivered.
fn mails_on_both(one: &TestApp, two: &TestApp, to: &str) -> Vec<testkit::ReadMail> {
    let mut all = testkit::mails_to(&one.mail_dir(), to);
    all.extend(testkit::mails_to(&two.mail_dir(), to));
    all
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn jobs_mark_overdue_and_recur_once(one: TestApp) {
    let two = one.sibling().await;
    let me = one.register("fi-jobs@example.com").await;
    let c = client(&one, &me, json!({"name": "Late Payer", "email": "late@example.com", "currency": "EUR"})).await;
    let inv = draft(
        &one,
        &me,
        json!({"client_id": c["id"], "lines": [{"description": "Hosting", "quantity": "1", "unit_price": "100"}]}),
    )
    .await;
    let path = format!("{INVOICES}/{}", id(&inv));
    one.post(&format!("{path}/send"), Some(&me.access), json!({})).await.expect(200);
    one.post(&format!("{path}/payments"), Some(&me.access), json!({"amount": "25"})).await.expect(201);
    make_due_yesterday(&one, id(&inv)).await;

    // Both instances run the job every second: the invoice turns overdue once, one reminder.
    wait_for("the overdue mark", async || {
        one.get(&path, Some(&me.access)).await.expect(200).json["status"] == "overdue"
    })
    .await;
    wait_for("the reminder", async || {
        mails_on_both(&one, &two, "late@example.com").iter().any(|m| m.subject.starts_with("Reminder"))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mails = mails_on_both(&one, &two, "late@example.com");
    let reminders: Vec<&testkit::ReadMail> = mails.iter().filter(|m| m.subject.starts_with("Reminder")).collect();
    assert_eq!(reminders.len(), 1, "one reminder a week, however many instances and runs");
    assert!(reminders[0].text.contains("75,00"), "{}", reminders[0].text);
    assert_eq!(reminders[0].attachments.len(), 1);
    // A partial payment keeps it overdue; paying the rest settles it.
    let partial =
        one.post(&format!("{path}/payments"), Some(&me.access), json!({"amount": "25"})).await.expect(201).json;
    assert_eq!(partial["status"], "overdue");
    let paid = one.post(&format!("{path}/payments"), Some(&me.access), json!({"amount": "50"})).await.expect(201).json;
    assert_eq!(paid["status"], "paid");

    // Recurrence: a copy today, numbered and sent once, and the next date a month on.
    let today = Utc::now().date_naive();
    let bad = one
        .post(
            &format!("{path}/recurrence"),
            Some(&me.access),
            json!({"every": "month", "next_on": (today - Duration::days(1)).to_string()}),
        )
        .await;
    assert_eq!(bad.expect_problem(422, "validation_failed").error_fields(), ["next_on"]);
    one.post(
        &format!("{path}/recurrence"),
        Some(&me.access),
        json!({"every": "fortnight", "next_on": today.to_string()}),
    )
    .await
    .expect(422);
    let set = one
        .post(&format!("{path}/recurrence"), Some(&me.access), json!({"every": "month", "next_on": today.to_string()}))
        .await
        .expect(200)
        .json;
    assert_eq!(set["recurrence"], json!({"every": "month", "next_on": today.to_string()}));
    wait_for("the copy", async || {
        one.get(INVOICES, Some(&me.access)).await.expect(200).json["items"].as_array().unwrap().len() == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let list = one.get(INVOICES, Some(&me.access)).await.expect(200).json;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "one copy per period");
    let copy = one
        .get(&format!("{INVOICES}/{}", list["items"][0]["id"].as_str().unwrap()), Some(&me.access))
        .await
        .expect(200)
        .json;
    assert_eq!(
        (copy["number"].clone(), copy["status"].clone(), copy["total"].clone()),
        (json!("INV-00002"), json!("sent"), json!("100.00"))
    );
    assert_eq!(copy["recurred_from"], inv["id"]);
    let template = one.get(&path, Some(&me.access)).await.expect(200).json;
    let next = today.checked_add_months(chrono::Months::new(1)).unwrap();
    assert_eq!(template["recurrence"]["next_on"], next.to_string());
    let sent: Vec<testkit::ReadMail> = mails_on_both(&one, &two, "late@example.com");
    assert_eq!(sent.iter().filter(|m| m.subject.contains("INV-00002")).count(), 1);
    let stopped = one.delete(&format!("{path}/recurrence"), Some(&me.access), None).await.expect(200).json;
    assert_eq!(stopped["recurrence"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_jobs_mark_overdue_and_recur_once() {
    jobs_mark_overdue_and_recur_once(TestApp::spawn_with(Backend::Sqlite, |c| c.jobs_interval_secs = 1).await.unwrap())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_jobs_mark_overdue_and_recur_once() {
    if let Some(app) = TestApp::spawn_with(Backend::Postgres, |c| c.jobs_interval_secs = 1).await {
        jobs_mark_overdue_and_recur_once(app).await;
    }
}

testkit::api_tests!(
    public_links_open_one_invoice_until_revoked,
    the_dashboard_never_adds_currencies,
    amounts_are_the_servers_and_round_half_to_even,
    numbers_have_no_gaps_or_duplicates,
    the_pdf_holds_the_invoice_as_text,
    payments_move_the_status,
    time_is_invoiced_once,
    invoices_are_their_owners_alone,
);
