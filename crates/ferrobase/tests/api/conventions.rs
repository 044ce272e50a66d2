//! Rules every route keeps alike, checked over every operation of the OpenAPI document: a path
//! id that cannot name anything (not a UUID) answers 404 `not_found`, and a `cursor` that no
//! page gave answers 422 `validation_failed` on the field `cursor`, never the first page.

use serde_json::{Value, json};
use testkit::TestApp;

use crate::ticketing_sales::make_admin;

/// The operations of the served document: (method, path template, operation).
async fn operations(app: &TestApp) -> Vec<(String, String, Value)> {
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200).json;
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                found.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    found
}

fn parameters<'a>(op: &'a Value, place: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    op["parameters"].as_array().into_iter().flatten().filter(move |p| p["in"] == place)
}

async fn malformed_path_ids_answer_not_found(app: TestApp) {
    // An administrator passes every role check, so only the id decides.
    let admin = make_admin(&app, "conventions-admin@example.com").await;
    let mut checked = 0;
    for (method, path, op) in operations(&app).await {
        let ids: Vec<String> = parameters(&op, "path")
            .filter(|p| p["schema"]["format"] == "uuid")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let mut url = path.clone();
        for name in &ids {
            url = url.replace(&format!("{{{name}}}"), "not-an-id");
        }
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = app.http.request(method.clone(), app.url(&url)).bearer_auth(&admin.access);
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            req = req.json(&json!({}));
        }
        let r = TestApp::read(req.send().await.unwrap()).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{method} {url}: {}", r.text);
        checked += 1;
    }
    assert!(checked > 80, "only {checked} operations take ids");
}

async fn garbage_cursors_are_refused_by_every_list(app: TestApp) {
    let ann = make_admin(&app, "conventions-lists@example.com").await;
    let rooms = app.get("/api/v1/chat/rooms?scope=public", Some(&ann.access)).await.expect(200).json;
    let room = rooms["items"].as_array().unwrap().iter().find(|r| r["name"] == "General").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let joined = app.post(&format!("/api/v1/chat/rooms/{room}/join"), Some(&ann.access), json!({})).await;
    assert!(joined.status == 200 || joined.status == 409, "{}", joined.text);
    let project = app.post("/api/v1/work/projects", Some(&ann.access), json!({"name": "Lists"})).await.expect(201).json;
    let project = project["id"].as_str().unwrap().to_string();
    let task = app
        .post("/api/v1/work/tasks", Some(&ann.access), json!({"project_id": project, "title": "T"}))
        .await
        .expect(201)
        .json;
    let starts = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let ends = (chrono::Utc::now() + chrono::Duration::days(4)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = app
        .post(
            "/api/v1/ticketing/events",
            Some(&ann.access),
            json!({"name": "Gig", "venue": "Hall", "starts_at": starts, "ends_at": ends, "capacity": 5,
                   "price": "1", "currency": "eur"}),
        )
        .await
        .expect(201)
        .json;
    let ids = [
        ("/api/v1/chat/rooms/{id}/", room.clone()),
        ("/api/v1/work/projects/{id}/", project.clone()),
        ("/api/v1/work/tasks/{id}/", task["id"].as_str().unwrap().to_string()),
        ("/api/v1/ticketing/events/{id}/", event["id"].as_str().unwrap().to_string()),
    ];
    let mut checked = 0;
    for (method, path, op) in operations(&app).await {
        if method != "get" || !parameters(&op, "query").any(|p| p["name"] == "cursor") {
            continue;
        }
        let url = match parameters(&op, "path").count() {
            0 => path.clone(),
            _ => {
                let (prefix, id) = ids
                    .iter()
                    .find(|(prefix, _)| path.starts_with(prefix))
                    .unwrap_or_else(|| panic!("no fixture for the list {path}: add one above"));
                path.replace(prefix, &prefix.replace("{id}", id))
            }
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        for garbage in ["garbage", "00000000-0000-0000-0000-00000000000g"] {
            let r = app.get(&format!("{url}{sep}cursor={garbage}"), Some(&ann.access)).await;
            assert_eq!((r.status, r.code()), (422, "validation_failed"), "GET {url} cursor={garbage}: {}", r.text);
            assert_eq!(r.json["errors"][0]["field"], "cursor", "GET {url}: {}", r.text);
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} lists take a cursor");
    // The history's older name for its cursor follows the same rule, and one of the two is enough.
    let history = format!("/api/v1/chat/rooms/{room}/messages");
    app.get(&format!("{history}?before=garbage"), Some(&ann.access)).await.expect_problem(422, "validation_failed");
    app.get(&format!("{history}?cursor=&before="), Some(&ann.access)).await.expect_problem(422, "validation_failed");
}

testkit::api_tests!(malformed_path_ids_answer_not_found, garbage_cursors_are_refused_by_every_list);
