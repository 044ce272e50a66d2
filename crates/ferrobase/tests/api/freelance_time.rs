//! Freelance time tracking over HTTP, on SQLite and (in CI) PostgreSQL: one running timer even
//! under concurrent starts, entries that never overlap (also when sent at once), the rate
//! chain entry → project → client with half-even amounts, filters, pages, CSV, the weekly
//! summary across midnight and time zones, invoiced entries frozen, and nobody else's time.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use chrono::{Duration, Timelike, Utc};
use serde_json::{Value, json};
use testkit::{PASSWORD, Session, TestApp};

const ENTRIES: &str = "/api/v1/freelance/time-entries";

async fn entry(app: &TestApp, who: &Session, body: Value) -> Value {
    app.post(ENTRIES, Some(&who.access), body).await.expect(201).json
}

/// A span `hours_ago` hours back lasting `minutes`.
fn span(hours_ago: i64, minutes: i64) -> (String, String) {
    let start = Utc::now() - Duration::hours(hours_ago);
    ((start).to_rfc3339(), (start + Duration::minutes(minutes)).to_rfc3339())
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// Marks an entry invoiced the way invoicing will (no route does it yet).
async fn mark_invoiced(app: &TestApp, entry: &str) {
    let db = app.db().await;
    let entry = uuid::Uuid::parse_str(entry).unwrap();
    platform::execute!(
        &db,
        sqlx::query("UPDATE freelance_time_entries SET invoiced_at = $2, invoice_id = $1 WHERE id = $1")
            .bind(entry)
            .bind(platform::db::Ts::now())
    )
    .unwrap();
}

async fn the_timer_runs_once(app: TestApp) {
    let me = app.register("ft-timer@example.com").await;
    let idle = app.get("/api/v1/freelance/timer", Some(&me.access)).await.expect(200).json;
    assert_eq!((idle["running"].clone(), idle["entry"].clone()), (json!(false), Value::Null));
    app.post("/api/v1/freelance/timer/stop", Some(&me.access), json!({}))
        .await
        .expect_problem(409, "timer_not_running");

    // Ten starts at once: one timer.
    let starts = (0..10).map(|i| {
        let app = &app;
        let me = &me;
        async move {
            app.post("/api/v1/freelance/timer/start", Some(&me.access), json!({"description": format!("try {i}")}))
                .await
        }
    });
    let results = futures::future::join_all(starts).await;
    let started: Vec<&testkit::Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(started.len(), 1, "exactly one start wins");
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!((r.status, r.json["code"].as_str()), (409, Some("timer_running")));
    }
    let running = started[0].json.clone();
    assert_eq!((running["running"].clone(), running["ended_at"].clone()), (json!(true), Value::Null));
    assert_eq!(running["billable"], true);
    let state = app.get("/api/v1/freelance/timer", Some(&me.access)).await.expect(200).json;
    assert_eq!(state["entry"]["id"], running["id"]);

    // The running timer lasts until it is stopped: no manual time after its start.
    let (start, end) = (Utc::now() - Duration::minutes(30), Utc::now() + Duration::minutes(1));
    let during = app
        .post(ENTRIES, Some(&me.access), json!({"started_at": start.to_rfc3339(), "ended_at": end.to_rfc3339()}))
        .await
        .expect_problem(409, "time_overlap");
    assert_eq!(during.json["overlapping_entry_id"], running["id"]);
    let (before_start, before_end) = span(3, 60);
    entry(&app, &me, json!({"started_at": before_start, "ended_at": before_end})).await;

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let stopped = app.post("/api/v1/freelance/timer/stop", Some(&me.access), json!({})).await.expect(200).json;
    assert_eq!((stopped["id"].clone(), stopped["running"].clone()), (running["id"].clone(), json!(false)));
    assert!(stopped["duration_seconds"].as_i64().unwrap() >= 1);
    assert!(stopped["ended_at"].is_string());
    app.post("/api/v1/freelance/timer/stop", Some(&me.access), json!({}))
        .await
        .expect_problem(409, "timer_not_running");
    let idle = app.get("/api/v1/freelance/timer", Some(&me.access)).await.expect(200).json;
    assert_eq!(idle["running"], false);
    // A new timer may start now; the stopped one stays as an entry.
    app.post("/api/v1/freelance/timer/start", Some(&me.access), json!({})).await.expect(201);
    let page = app.get(ENTRIES, Some(&me.access)).await.expect(200).json;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["items"][0]["running"], true, "latest start first");
}

async fn entries_are_checked_and_never_overlap(app: TestApp) {
    let me = app.register("ft-manual@example.com").await;
    // Whole seconds from one instant, so that durations are exact.
    let base = Utc::now().with_nanosecond(0).unwrap() - Duration::hours(30);
    let at = |minutes: i64| (base + Duration::minutes(minutes)).to_rfc3339();
    let (start, end) = (at(0), at(60));
    let first =
        entry(&app, &me, json!({"started_at": start, "ended_at": end, "description": "  Design review  "})).await;
    assert_eq!(first["duration_seconds"], 3600);
    assert_eq!(first["description"], "Design review");
    assert_eq!((first["hourly_rate"].clone(), first["amount"].clone()), (Value::Null, Value::Null), "no rate anywhere");

    // Half an hour into it: overlaps; starting where it ends: fine.
    let clash = app
        .post(ENTRIES, Some(&me.access), json!({"started_at": at(30), "ended_at": at(90)}))
        .await
        .expect_problem(409, "time_overlap");
    assert_eq!(clash.json["overlapping_entry_id"], first["id"]);
    app.post(ENTRIES, Some(&me.access), json!({"started_at": at(-30), "ended_at": at(61)}))
        .await
        .expect_problem(409, "time_overlap");
    let after = entry(&app, &me, json!({"started_at": end, "ended_at": at(120)})).await;
    assert_eq!(after["duration_seconds"], 3600, "touching ends do not overlap");

    // Every wrong field at once.
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let bad = app
        .post(
            ENTRIES,
            Some(&me.access),
            json!({"started_at": end, "ended_at": start, "description": "a\nb",
            "currency": "EUR", "project_id": uuid::Uuid::now_v7(), "client_id": uuid::Uuid::now_v7()}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["client_id", "currency", "description", "ended_at", "project_id"]);
    for (body, fields) in [
        (json!({}), vec!["ended_at", "started_at"]),
        (json!({"started_at": span(1, 0).0, "ended_at": future}), vec!["ended_at"]),
        (json!({"started_at": span(200, 0).0, "ended_at": span(1, 0).0}), vec!["ended_at"]),
        (json!({"started_at": span(5, 0).0, "ended_at": span(4, 0).0, "hourly_rate": "10"}), vec!["currency"]),
        (
            json!({"started_at": span(5, 0).0, "ended_at": span(4, 0).0, "hourly_rate": "1.5", "currency": "JPY"}),
            vec!["hourly_rate"],
        ),
        (
            json!({"started_at": span(5, 0).0, "ended_at": span(4, 0).0, "hourly_rate": "1000001", "currency": "EUR"}),
            vec!["hourly_rate"],
        ),
        (
            json!({"started_at": span(5, 0).0, "ended_at": span(4, 0).0, "description": "x".repeat(1001)}),
            vec!["description"],
        ),
    ] {
        let r = app.post(ENTRIES, Some(&me.access), body.clone()).await.expect_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), fields, "{body}");
    }
    for body in [
        json!({"started_at": "yesterday", "ended_at": end}),
        json!({"started_at": "99999-01-01T00:00:00Z", "ended_at": end}),
        json!({"started_at": start, "ended_at": end, "amount": "100"}),
        json!({"started_at": start, "ended_at": end, "duration_seconds": 1}),
    ] {
        app.post(ENTRIES, Some(&me.access), body).await.expect(422);
    }

    // Twenty overlapping entries sent at once: one lands.
    let (s, e) = span(50, 45);
    let sends = (0..20).map(|_| {
        let (app, me, s, e) = (&app, &me, s.clone(), e.clone());
        async move { app.post(ENTRIES, Some(&me.access), json!({"started_at": s, "ended_at": e})).await.status }
    });
    let statuses = futures::future::join_all(sends).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");

    // A change is checked like a new entry: moving onto another entry is refused.
    let path = format!("{ENTRIES}/{}", id(&after));
    app.patch(&path, Some(&me.access), json!({"started_at": start})).await.expect_problem(409, "time_overlap");
    let moved =
        app.patch(&path, Some(&me.access), json!({"ended_at": at(150), "billable": false})).await.expect(200).json;
    assert_eq!((moved["duration_seconds"].clone(), moved["billable"].clone()), (json!(5400), json!(false)));
    app.patch(&path, Some(&me.access), json!({"ended_at": at(-60)})).await.expect_problem(422, "validation_failed");

    // Invoiced time is frozen.
    mark_invoiced(&app, id(&first)).await;
    let first_path = format!("{ENTRIES}/{}", id(&first));
    app.patch(&first_path, Some(&me.access), json!({"description": "changed"}))
        .await
        .expect_problem(409, "entry_invoiced");
    app.delete(&first_path, Some(&me.access), None).await.expect_problem(409, "entry_invoiced");
    let kept = app.get(&first_path, Some(&me.access)).await.expect(200).json;
    assert_eq!((kept["invoiced"].clone(), kept["description"].clone()), (json!(true), json!("Design review")));
    app.delete(&path, Some(&me.access), None).await.expect(204);
    app.get(&path, Some(&me.access)).await.expect_problem(404, "not_found");
}

async fn rates_come_from_the_entry_the_project_or_the_client(app: TestApp) {
    let me = app.register("ft-rates@example.com").await;
    let client = app
        .post(
            "/api/v1/freelance/clients",
            Some(&me.access),
            json!({"name": "Rated", "currency": "EUR", "hourly_rate": "100"}),
        )
        .await
        .expect(201)
        .json;
    let project = app
        .post(
            "/api/v1/work/projects",
            Some(&me.access),
            json!({"name": "Site", "client_id": client["id"], "hourly_rate": "150", "currency": "EUR"}),
        )
        .await
        .expect(201)
        .json;
    let other = app.post("/api/v1/work/projects", Some(&me.access), json!({"name": "Other"})).await.expect(201).json;
    let task = app
        .post("/api/v1/work/tasks", Some(&me.access), json!({"project_id": project["id"], "title": "Build"}))
        .await
        .expect(201)
        .json;

    // The task names its project, and the project its client.
    let (s, e) = span(10, 90);
    let on_task = entry(&app, &me, json!({"task_id": task["id"], "started_at": s, "ended_at": e})).await;
    assert_eq!(
        (on_task["project_id"].clone(), on_task["client_id"].clone()),
        (project["id"].clone(), client["id"].clone())
    );
    assert_eq!((on_task["rate_source"].clone(), on_task["hourly_rate"].clone()), (json!("project"), json!("150.00")));
    assert_eq!((on_task["amount"].clone(), on_task["currency"].clone()), (json!("225.00"), json!("EUR")));

    let (s, e) = span(8, 60);
    let on_client = entry(&app, &me, json!({"client_id": client["id"], "started_at": s, "ended_at": e})).await;
    assert_eq!((on_client["rate_source"].clone(), on_client["amount"].clone()), (json!("client"), json!("100.00")));
    let (s, e) = span(7, 60);
    let own =
        entry(&app, &me, json!({"project_id": project["id"], "hourly_rate": "90", "started_at": s, "ended_at": e}))
            .await;
    assert_eq!(
        (own["rate_source"].clone(), own["amount"].clone(), own["currency"].clone()),
        (json!("entry"), json!("90.00"), json!("EUR"))
    );
    let (s, e) = span(6, 60);
    let free =
        entry(&app, &me, json!({"project_id": project["id"], "billable": false, "started_at": s, "ended_at": e})).await;
    assert_eq!(
        (free["hourly_rate"].clone(), free["amount"].clone()),
        (json!("150.00"), Value::Null),
        "not billable: no amount"
    );

    // A project's rate change applies to time not yet invoiced; clearing the entry's own rate
    // falls back to it.
    app.patch(&format!("/api/v1/work/projects/{}", id(&project)), Some(&me.access), json!({"hourly_rate": "120"}))
        .await
        .expect(200);
    let own = app
        .patch(&format!("{ENTRIES}/{}", id(&own)), Some(&me.access), json!({"hourly_rate": null}))
        .await
        .expect(200)
        .json;
    assert_eq!((own["rate_source"].clone(), own["amount"].clone()), (json!("project"), json!("120.00")));

    // Half to even at the minor unit: 1 800 JPY an hour is 0.5 yen a second.
    let yen = app
        .post(
            "/api/v1/freelance/clients",
            Some(&me.access),
            json!({"name": "Yen", "currency": "JPY", "hourly_rate": "1800"}),
        )
        .await
        .expect(201)
        .json;
    for (hours_ago, seconds, amount) in [(5, 1, "0"), (4, 3, "2"), (3, 5, "2"), (2, 7, "4")] {
        let start = Utc::now() - Duration::hours(hours_ago);
        let end = start + Duration::seconds(seconds);
        let e = entry(
            &app,
            &me,
            json!({"client_id": yen["id"], "started_at": start.to_rfc3339(), "ended_at": end.to_rfc3339()}),
        )
        .await;
        assert_eq!(e["amount"], amount, "{seconds} s at 1800 JPY/h");
    }

    // Links the caller may not use.
    let stranger = app.register("ft-rates-stranger@example.com").await;
    let theirs = app
        .post("/api/v1/work/projects", Some(&stranger.access), json!({"name": "Theirs", "visibility": "public"}))
        .await
        .expect(201)
        .json;
    let their_client =
        app.post("/api/v1/freelance/clients", Some(&stranger.access), json!({"name": "Theirs"})).await.expect(201).json;
    let (s, e) = span(20, 10);
    for (body, field) in [
        (json!({"project_id": theirs["id"]}), "project_id"),
        (json!({"client_id": their_client["id"]}), "client_id"),
        (json!({"project_id": other["id"], "task_id": task["id"]}), "task_id"),
    ] {
        let mut body = body;
        body["started_at"] = json!(s);
        body["ended_at"] = json!(e);
        let r = app.post(ENTRIES, Some(&me.access), body.clone()).await.expect_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), [field], "{body}");
    }

    // Deleting the project leaves the time, without it.
    app.delete(&format!("/api/v1/work/projects/{}", id(&project)), Some(&me.access), None).await.expect(204);
    let kept = app.get(&format!("{ENTRIES}/{}", id(&on_task)), Some(&me.access)).await.expect(200).json;
    assert_eq!((kept["project_id"].clone(), kept["task_id"].clone()), (Value::Null, Value::Null));
    assert_eq!((kept["rate_source"].clone(), kept["amount"].clone()), (json!("client"), json!("150.00")));
}

async fn lists_csv_and_the_week(app: TestApp) {
    let me = app.register("ft-report@example.com").await;
    let client = app
        .post(
            "/api/v1/freelance/clients",
            Some(&me.access),
            json!({"name": "Weekly", "currency": "EUR", "hourly_rate": "80"}),
        )
        .await
        .expect(201)
        .json;
    let a = app
        .post(
            "/api/v1/work/projects",
            Some(&me.access),
            json!({"name": "Alpha", "hourly_rate": "100", "currency": "USD"}),
        )
        .await
        .expect(201)
        .json;
    // ISO week 2026-W10: Monday 2 March to Sunday 8 March (Paris is UTC+1 then).
    let t = |day: u32, hour: u32, minute: u32| format!("2026-03-{day:02}T{hour:02}:{minute:02}:00Z");
    entry(
        &app,
        &me,
        json!({"project_id": a["id"], "started_at": t(2, 9, 0), "ended_at": t(2, 12, 0), "description": "=SUM(A1)"}),
    )
    .await;
    entry(&app, &me, json!({"client_id": client["id"], "started_at": t(3, 23, 0), "ended_at": t(4, 1, 0)})).await;
    entry(
        &app,
        &me,
        json!({"client_id": client["id"], "billable": false, "started_at": t(8, 22, 0), "ended_at": t(8, 23, 30)}),
    )
    .await;
    entry(&app, &me, json!({"started_at": t(9, 10, 0), "ended_at": t(9, 11, 0), "description": "next week"})).await;

    let week = app.get("/api/v1/freelance/time/summary?week=2026-W10", Some(&me.access)).await.expect(200).json;
    let day_hours: Vec<&str> = week["days"].as_array().unwrap().iter().map(|d| d["hours"].as_str().unwrap()).collect();
    assert_eq!(day_hours, ["3.00", "1.00", "1.00", "0.00", "0.00", "0.00", "1.50"], "split at midnight UTC");
    assert_eq!((week["seconds"].clone(), week["billable_seconds"].clone()), (json!(23400), json!(18000)));
    assert_eq!(week["days"][0]["date"], "2026-03-02");
    assert_eq!(
        week["amounts"],
        json!([{"currency": "EUR", "amount": "160.00"}, {"currency": "USD", "amount": "300.00"}])
    );
    // Most time first: 3.5 hours without a project, then Alpha's 3.
    assert_eq!(
        (week["projects"][0]["project_id"].clone(), week["projects"][0]["hours"].clone()),
        (Value::Null, json!("3.50"))
    );
    assert_eq!(week["projects"][0]["amounts"], json!([{"currency": "EUR", "amount": "160.00"}]));
    assert_eq!(week["projects"][1]["project_name"], "Alpha");
    assert_eq!(week["projects"][1]["amounts"], json!([{"currency": "USD", "amount": "300.00"}]));

    let paris = app
        .get("/api/v1/freelance/time/summary?week=2026-W10&time_zone=Europe/Paris", Some(&me.access))
        .await
        .expect(200)
        .json;
    let day_hours: Vec<&str> = paris["days"].as_array().unwrap().iter().map(|d| d["hours"].as_str().unwrap()).collect();
    assert_eq!(
        day_hours,
        ["3.00", "0.00", "2.00", "0.00", "0.00", "0.00", "1.00"],
        "in Paris, 23:00 UTC is already Wednesday, and Sunday's last half hour is next week's"
    );
    assert_eq!(paris["from"], "2026-03-01T23:00:00Z");
    for bad in ["week=2026-W54", "week=yesterday", "time_zone=Mars/Olympus", "week=99999-W01"] {
        app.get(&format!("/api/v1/freelance/time/summary?{bad}"), Some(&me.access))
            .await
            .expect_problem(422, "validation_failed");
    }
    let now = app.get("/api/v1/freelance/time/summary", Some(&me.access)).await.expect(200).json;
    assert_eq!(now["days"].as_array().unwrap().len(), 7, "the current week by default");

    // Filters and pages.
    let list = |query: String| {
        let (app, me) = (&app, &me);
        async move {
            app.get(&format!("{ENTRIES}?{query}"), Some(&me.access)).await.expect(200).json["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(list(String::new()).await, 4);
    assert_eq!(list("billable=false".into()).await, 1);
    assert_eq!(list(format!("project_id={}", id(&a))).await, 1);
    assert_eq!(list(format!("client_id={}", id(&client))).await, 2);
    assert_eq!(list("from=2026-03-03T00:00:00Z&to=2026-03-09T00:00:00Z".into()).await, 2);
    assert_eq!(list("invoiced=false".into()).await, 4);
    assert_eq!(list("invoiced=true".into()).await, 0);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("{ENTRIES}?limit=3&cursor={cursor}"), Some(&me.access)).await.expect(200).json;
        seen.extend(page["items"].as_array().unwrap().iter().map(|e| e["started_at"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!((seen.len(), seen.clone()), (4, sorted), "every entry once, latest first");
    app.get(&format!("{ENTRIES}?cursor={}", uuid::Uuid::now_v7()), Some(&me.access))
        .await
        .expect_problem(422, "validation_failed");
    app.get(&format!("{ENTRIES}?from=2026-03-09T00:00:00Z&to=2026-03-01T00:00:00Z"), Some(&me.access))
        .await
        .expect_problem(422, "validation_failed");
    app.get(&format!("{ENTRIES}?from=soon"), Some(&me.access)).await.expect_problem(400, "invalid_query");

    // CSV: a header, a row per entry, formulas defused, amounts as in the API.
    let csv = app
        .get(&format!("{ENTRIES}.csv?from=2026-03-01T00:00:00Z&to=2026-03-09T00:00:00Z"), Some(&me.access))
        .await
        .expect(200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let alpha = rows.iter().find(|r| &r[column("project")] == "Alpha").unwrap();
    assert_eq!(&alpha[column("description")], "'=SUM(A1)");
    assert_eq!(
        (&alpha[column("hours")], &alpha[column("amount")], &alpha[column("currency")]),
        ("3.00", "300.00", "USD")
    );
    let weekly: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[column("client")] == "Weekly").collect();
    assert_eq!(weekly.len(), 2);
}

async fn each_users_time_is_their_own(app: TestApp) {
    let me = app.register("ft-owner@example.com").await;
    let stranger = app.register("ft-stranger@example.com").await;
    let client =
        app.post("/api/v1/freelance/clients", Some(&me.access), json!({"name": "Mine"})).await.expect(201).json;
    let (s, e) = span(5, 60);
    let mine =
        entry(&app, &me, json!({"client_id": client["id"], "started_at": s, "ended_at": e, "description": "secret"}))
            .await;
    app.post("/api/v1/freelance/timer/start", Some(&me.access), json!({})).await.expect(201);
    let path = format!("{ENTRIES}/{}", id(&mine));

    app.get(&path, Some(&stranger.access)).await.expect_problem(404, "not_found");
    app.patch(&path, Some(&stranger.access), json!({"description": "mine now"})).await.expect_problem(404, "not_found");
    app.delete(&path, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    let theirs =
        app.get(&format!("{ENTRIES}?client_id={}", id(&client)), Some(&stranger.access)).await.expect(200).json;
    assert_eq!(theirs["items"], json!([]));
    app.get(&format!("{ENTRIES}?cursor={}", id(&mine)), Some(&stranger.access))
        .await
        .expect_problem(422, "validation_failed");
    let timer = app.get("/api/v1/freelance/timer", Some(&stranger.access)).await.expect(200).json;
    assert_eq!(timer["running"], false, "my timer is not theirs");
    app.post("/api/v1/freelance/timer/stop", Some(&stranger.access), json!({}))
        .await
        .expect_problem(409, "timer_not_running");
    // The same hours are free for them.
    entry(&app, &stranger, json!({"started_at": s, "ended_at": e})).await;
    let week = app.get("/api/v1/freelance/time/summary", Some(&stranger.access)).await.expect(200).json;
    assert!(week["seconds"].as_i64().unwrap() <= 3600, "only their own hour");
    let csv = app.get(&format!("{ENTRIES}.csv"), Some(&stranger.access)).await.expect(200).text;
    assert!(!csv.contains("secret"));
    for path in [ENTRIES, "/api/v1/freelance/timer", "/api/v1/freelance/time/summary"] {
        app.get(path, None).await.expect(401);
    }
    let untouched = app.get(&path, Some(&me.access)).await.expect(200).json;
    assert_eq!(untouched["description"], "secret");

    // Export and deletion.
    let export = app.get("/api/v1/users/me/export", Some(&me.access)).await.expect(200).json;
    assert_eq!(export["freelance"]["time_entries"].as_array().unwrap().len(), 2);
    app.delete("/api/v1/users/me", Some(&me.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    let db = app.db().await;
    let (n,): (i64,) = platform::with_db!(&db, |pool| {
        sqlx::query_as("SELECT COUNT(*) FROM freelance_time_entries WHERE owner_id = $1")
            .bind(uuid::Uuid::parse_str(&me.user_id).unwrap())
            .fetch_one(pool)
            .await
    })
    .unwrap();
    assert_eq!(n, 0, "the account's time went with it");
}

testkit::api_tests!(
    the_timer_runs_once,
    entries_are_checked_and_never_overlap,
    rates_come_from_the_entry_the_project_or_the_client,
    lists_csv_and_the_week,
    each_users_time_is_their_own,
);
