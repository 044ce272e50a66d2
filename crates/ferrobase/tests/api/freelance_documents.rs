//! Freelance contracts and resumes over HTTP, on SQLite and (in CI) PostgreSQL: templates
//! filled from the client, the project and the user; only legal status moves; PDFs whose text
//! can be read back; resumes in five templates with everything escaped; nobody else's.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::{Value, json};
use testkit::{Session, TestApp};

const CONTRACTS: &str = "/api/v1/freelance/contracts";
const RESUMES: &str = "/api/v1/freelance/resumes";

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn pdf_text(app: &TestApp, who: &Session, path: &str) -> String {
    crate::freelance_invoices::pdf_text(&crate::freelance_invoices::pdf_bytes(app, who, path).await)
}

async fn contracts_are_filled_and_move_one_legal_step_at_a_time(app: TestApp) {
    let me = app.register("fd-contracts@example.com").await;
    let client = app
        .post("/api/v1/freelance/clients", Some(&me.access),
            json!({"name": "Acme GmbH", "company": "Acme Holding", "address": "Hauptstrasse 1\n10115 Berlin", "currency": "EUR"}))
        .await
        .expect(201)
        .json;
    let project = app
        .post(
            "/api/v1/work/projects",
            Some(&me.access),
            json!({"name": "Shop relaunch", "description": "A new online shop."}),
        )
        .await
        .expect(201)
        .json;
    let contract = app
        .post(
            CONTRACTS,
            Some(&me.access),
            json!({"template": "freelance", "client_id": client["id"], "project_id": project["id"],
            "value": "5000", "starts_on": "2027-01-04", "ends_on": "2027-03-31"}),
        )
        .await
        .expect(201)
        .json;
    assert_eq!((contract["title"].clone(), contract["status"].clone()), (json!("Freelance agreement"), json!("draft")));
    assert_eq!((contract["value"].clone(), contract["currency"].clone()), (json!("5000.00"), json!("EUR")));
    let body = contract["body"].as_str().unwrap();
    for needle in [
        "Acme GmbH",
        "Acme Holding",
        "Hauptstrasse 1, 10115 Berlin",
        "Shop relaunch",
        "A new online shop.",
        "5.000,00",
        "2027-01-04",
        "2027-03-31",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    assert!(!body.contains("{{"), "every placeholder filled");

    // Without a client or a project, their placeholders become lines to fill in by hand.
    let bare = app.post(CONTRACTS, Some(&me.access), json!({"template": "nda"})).await.expect(201).json;
    assert!(bare["body"].as_str().unwrap().contains("________"));
    assert_eq!(bare["title"], "Non-disclosure agreement");
    // A text of one's own is filled too; an unknown placeholder is refused.
    let own = app
        .post(
            CONTRACTS,
            Some(&me.access),
            json!({"template": "service", "client_id": client["id"],
            "body": "# Scope\nWork for {{client.name}} by {{freelancer.email}}."}),
        )
        .await
        .expect(201)
        .json;
    assert_eq!(own["body"], "# Scope\nWork for Acme GmbH by fd-contracts@example.com.");
    for (body, fields) in [
        (json!({"template": "service", "body": "Dear {{client.nmae}}"}), vec!["body"]),
        (json!({"template": "service", "value": "100"}), vec!["currency"]),
        (json!({"template": "service", "starts_on": "2027-02-01", "ends_on": "2027-01-01"}), vec!["ends_on"]),
        (json!({"template": "service", "title": " "}), vec!["title"]),
        (json!({"template": "service", "starts_on": "+10000-01-01"}), vec!["starts_on"]),
        (
            json!({"template": "service", "client_id": uuid::Uuid::now_v7(), "project_id": uuid::Uuid::now_v7()}),
            vec!["client_id", "project_id"],
        ),
    ] {
        let r = app.post(CONTRACTS, Some(&me.access), body.clone()).await.expect_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), fields, "{body}");
    }
    app.post(CONTRACTS, Some(&me.access), json!({"template": "lease"})).await.expect(422);
    // The limit holds for the text as stored: placeholders cannot blow it up.
    let long = app
        .post("/api/v1/work/projects", Some(&me.access), json!({"name": "Long", "description": "d".repeat(5000)}))
        .await
        .expect(201)
        .json;
    let r = app
        .post(
            CONTRACTS,
            Some(&me.access),
            json!({"template": "service", "project_id": long["id"],
            "body": "{{project.description}}".repeat(100)}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["body"]);

    // The status moves one legal step at a time; content changes only while a draft.
    let path = format!("{CONTRACTS}/{}", id(&contract));
    let edited = app.patch(&path, Some(&me.access), json!({"title": "Shop relaunch agreement"})).await.expect(200).json;
    assert_eq!(edited["title"], "Shop relaunch agreement");
    assert_eq!(edited["body"], contract["body"], "a kept text is not filled again");
    let skip =
        app.patch(&path, Some(&me.access), json!({"status": "signed"})).await.expect_problem(409, "invalid_transition");
    assert_eq!((skip.json["from"].clone(), skip.json["to"].clone()), (json!("draft"), json!("signed")));
    let sent = app.patch(&path, Some(&me.access), json!({"status": "sent"})).await.expect(200).json;
    assert!(sent["sent_at"].is_string());
    app.patch(&path, Some(&me.access), json!({"body": "changed"})).await.expect_problem(409, "contract_not_draft");
    app.patch(&path, Some(&me.access), json!({"title": "x", "status": "signed"}))
        .await
        .expect_problem(409, "contract_not_draft");
    app.delete(&path, Some(&me.access), None).await.expect_problem(409, "contract_not_draft");
    for step in ["signed", "active", "completed"] {
        let moved = app.patch(&path, Some(&me.access), json!({"status": step})).await.expect(200).json;
        assert_eq!(moved["status"], step);
    }
    app.patch(&path, Some(&me.access), json!({"status": "terminated"})).await.expect_problem(409, "invalid_transition");
    app.patch(&path, Some(&me.access), json!({"status": "draft"})).await.expect_problem(409, "invalid_transition");
    let done = app.get(&path, Some(&me.access)).await.expect(200).json;
    assert!(done["ended_at"].is_string() && done["activated_at"].is_string() && done["signed_at"].is_string());
    let other = format!("{CONTRACTS}/{}", id(&own));
    app.patch(&other, Some(&me.access), json!({"status": "sent"})).await.expect(200);
    let ended = app.patch(&other, Some(&me.access), json!({"status": "terminated"})).await.expect(200).json;
    assert_eq!(ended["status"], "terminated");
    app.delete(&format!("{CONTRACTS}/{}", id(&bare)), Some(&me.access), None).await.expect(204);

    let text = pdf_text(&app, &me, &format!("{path}/pdf")).await;
    for needle in ["Shop relaunch agreement", "Acme GmbH", "Work", "Payment", "page 1 of", "fd-contracts"] {
        assert!(text.contains(needle), "{needle} missing from the PDF:\n{text}");
    }
    let list = app.get(&format!("{CONTRACTS}?status=completed"), Some(&me.access)).await.expect(200).json;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Nobody else's.
    let stranger = app.register("fd-contracts-stranger@example.com").await;
    for (method, url) in
        [("GET", path.clone()), ("PATCH", path.clone()), ("DELETE", path.clone()), ("GET", format!("{path}/pdf"))]
    {
        let r = match method {
            "GET" => app.get(&url, Some(&stranger.access)).await,
            "PATCH" => app.patch(&url, Some(&stranger.access), json!({"status": "terminated"})).await,
            _ => app.delete(&url, Some(&stranger.access), None).await,
        };
        r.expect_problem(404, "not_found");
    }
    let r = app.post(CONTRACTS, Some(&stranger.access), json!({"template": "nda", "client_id": client["id"]})).await;
    assert_eq!(r.expect_problem(422, "validation_failed").error_fields(), ["client_id"]);
    assert_eq!(app.get(CONTRACTS, Some(&stranger.access)).await.expect(200).json["items"], json!([]));
}

fn resume_content() -> Value {
    json!({
        "full_name": "Ada Example",
        "headline": "Backend engineer <Rust & PostgreSQL>",
        "email": "ada@example.com",
        "website": "https://ada.example",
        "summary": "Builds reliable services.\n<script>alert(1)</script>",
        "experience": [
            {"title": "Senior engineer", "organization": "Acme", "location": "Berlin", "start": "2021-03",
             "description": "Led the billing rewrite."},
            {"title": "Engineer", "organization": "Initech", "start": "2017", "end": "2021-02"}
        ],
        "education": [{"degree": "MSc Computer Science", "school": "TU Example", "start": "2012", "end": "2017"}],
        "skills": ["Rust", "PostgreSQL", "Distributed systems"],
        "languages": [{"name": "English", "level": "C2"}, {"name": "German"}]
    })
}

async fn resumes_in_five_templates(app: TestApp) {
    let me = app.register("fd-resumes@example.com").await;
    let resume = app
        .post(RESUMES, Some(&me.access), json!({"title": "Backend roles", "content": resume_content()}))
        .await
        .expect(201)
        .json;
    assert_eq!(
        (resume["template"].clone(), resume["content"]["experience"][1]["end"].clone()),
        (json!("modern"), json!("2021-02"))
    );
    let path = format!("{RESUMES}/{}", id(&resume));
    for template in ["modern", "classic", "creative", "minimal", "executive"] {
        app.patch(&path, Some(&me.access), json!({"template": template})).await.expect(200);
        let page = app.get(&format!("{path}/html"), Some(&me.access)).await.expect(200);
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(page.text.contains(&format!("template-{template}")));
        for needle in [
            "Ada Example",
            "Senior engineer",
            "2021-03 – present",
            "MSc Computer Science",
            "Rust",
            "English (C2)",
            "&lt;script&gt;",
            "Backend engineer &lt;Rust &amp; PostgreSQL&gt;",
            "href=\"https://ada.example\"",
        ] {
            assert!(page.text.contains(needle), "{template}: {needle} missing");
        }
        assert!(!page.text.contains("<script>"), "{template}: unescaped");
    }
    let text = pdf_text(&app, &me, &format!("{path}/pdf")).await;
    for needle in ["Ada Example", "Senior engineer", "Acme", "EXPERIENCE", "TU Example", "PostgreSQL"] {
        assert!(text.contains(needle), "{needle} missing from the PDF:\n{text}");
    }

    // The content is checked whole and replaced whole.
    let mut bad = resume_content();
    bad["website"] = json!("javascript:alert(1)");
    bad["email"] = json!("not-an-email");
    bad["experience"][0]["start"] = json!("March 2021");
    bad["experience"][1]["title"] = json!(" ");
    bad["skills"] = json!(["x".repeat(61)]);
    let r = app.patch(&path, Some(&me.access), json!({"content": bad})).await.expect_problem(422, "validation_failed");
    assert_eq!(
        r.error_fields(),
        [
            "content.email",
            "content.experience[0].start",
            "content.experience[1].title",
            "content.skills[0]",
            "content.website"
        ]
    );
    let mut unknown = resume_content();
    unknown["salary"] = json!("lots");
    app.patch(&path, Some(&me.access), json!({"content": unknown})).await.expect(422);
    app.post(RESUMES, Some(&me.access), json!({"title": "x", "template": "fancy", "content": resume_content()}))
        .await
        .expect(422);
    let smaller = app
        .patch(
            &path,
            Some(&me.access),
            json!({"title": "Short", "content": {"full_name": "Ada Example", "skills": ["Rust"]}}),
        )
        .await
        .expect(200)
        .json;
    assert_eq!((smaller["content"]["experience"].clone(), smaller["title"].clone()), (json!([]), json!("Short")));

    let stranger = app.register("fd-resumes-stranger@example.com").await;
    for url in [path.clone(), format!("{path}/html"), format!("{path}/pdf")] {
        app.get(&url, Some(&stranger.access)).await.expect_problem(404, "not_found");
    }
    app.patch(&path, Some(&stranger.access), json!({"title": "mine"})).await.expect_problem(404, "not_found");
    app.delete(&path, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    assert_eq!(app.get(RESUMES, Some(&stranger.access)).await.expect(200).json["items"], json!([]));
    let export = app.get("/api/v1/users/me/export", Some(&me.access)).await.expect(200).json;
    assert_eq!(export["freelance"]["resumes"][0]["title"], "Short");
    app.delete(&path, Some(&me.access), None).await.expect(204);
    app.get(&path, Some(&me.access)).await.expect_problem(404, "not_found");
}

testkit::api_tests!(contracts_are_filled_and_move_one_legal_step_at_a_time, resumes_in_five_templates);
