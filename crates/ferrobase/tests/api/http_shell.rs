//! The HTTP shell every module shares: problem answers for bad requests, operations endpoints,
//! the OpenAPI document, security headers, request ids and CORS.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::json;
use testkit::{Backend, TestApp};

async fn app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await.unwrap()
}

async fn raw_post(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> testkit::Resp {
    let resp = app.http.post(app.url(path)).header("content-type", content_type).body(body).send().await.unwrap();
    TestApp::read(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_clear_problems_never_500() {
    let app = app().await;
    raw_post(&app, "/api/v1/auth/login", "application/json", b"{\"email\": ".to_vec())
        .await
        .expect_problem(400, "malformed_json");
    raw_post(&app, "/api/v1/auth/login", "text/plain", b"{}".to_vec())
        .await
        .expect_problem(415, "unsupported_media_type");
    let big = format!("{{\"email\": \"{}\", \"password\": \"x\"}}", "a".repeat(2 * 1024 * 1024));
    let url = app.url("/api/v1/auth/login");
    app.send_oversized(|c| c.post(&url).header("content-type", "application/json").body(big.clone()))
        .await
        .expect_problem(413, "payload_too_large");
    let unknown = raw_post(
        &app,
        "/api/v1/auth/login",
        "application/json",
        br#"{"email":"a@b.co","password":"x","admin":true}"#.to_vec(),
    )
    .await
    .expect_problem(422, "invalid_body");
    assert!(unknown.json["detail"].as_str().unwrap().contains("admin"), "{}", unknown.text);
    let wrong_type =
        raw_post(&app, "/api/v1/auth/login", "application/json", br#"{"email": 5, "password": "x"}"#.to_vec())
            .await
            .expect_problem(422, "invalid_body");
    assert_eq!(wrong_type.json["errors"][0]["field"], "email");
    raw_post(&app, "/api/v1/auth/login", "application/json", b"[]".to_vec()).await.expect(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_and_unknown_routes_are_problems() {
    let app = app().await;
    app.get("/api/v1/users/me", None).await.expect_problem(401, "unauthenticated");
    app.get("/api/v1/users/me", Some("not.a.jwt")).await.expect_problem(401, "invalid_token");
    let resp =
        app.http.get(app.url("/api/v1/users/me")).header("authorization", "Basic Zm9vOmJhcg==").send().await.unwrap();
    TestApp::read(resp).await.expect_problem(401, "unauthenticated");
    app.get("/api/v1/nothing-here", None).await.expect_problem(404, "route_not_found");
    app.call(reqwest::Method::PUT, "/api/v1/auth/login", None, None).await.expect_problem(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_answer() {
    let app = app().await;
    assert_eq!(app.get("/health/live", None).await.expect(200).json["status"], "ok");
    assert_eq!(app.get("/health/ready", None).await.expect(200).json["database"], "ok");
    app.get("/api/v1/users/me", None).await;
    let metrics = app.get("/metrics", None).await.expect(200);
    assert!(metrics.text.contains("http_requests_total"), "{}", metrics.text);
    assert!(metrics.text.contains("route=\"/api/v1/users/me\""), "{}", metrics.text);
    assert!(metrics.text.contains("http_request_duration_seconds_bucket"), "{}", metrics.text);
    let docs = app.get("/docs/", None).await.expect(200);
    assert!(docs.text.contains("swagger"), "docs page is the Swagger UI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_every_route() {
    let app = app().await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200).json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/email/verify",
        "/api/v1/auth/email/resend",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/{id}",
        "/api/v1/auth/password/forgot",
        "/api/v1/auth/password/verify-code",
        "/api/v1/auth/password/reset",
        "/api/v1/auth/password/change",
        "/api/v1/auth/phone/send-code",
        "/api/v1/auth/phone/verify",
        "/api/v1/users/me",
        "/api/v1/users/me/export",
        "/api/v1/users/{id}",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}",
        "/api/v1/users/me/avatar",
        "/api/v1/users/{id}/avatar",
        "/api/v1/realtime",
        "/api/v1/chat/rooms",
        "/api/v1/chat/rooms/{id}",
        "/api/v1/chat/rooms/{id}/join",
        "/api/v1/chat/rooms/{id}/leave",
        "/api/v1/chat/rooms/{id}/members",
        "/api/v1/chat/rooms/{id}/members/{user_id}",
        "/api/v1/chat/dms",
        "/api/v1/chat/rooms/{id}/messages",
        "/api/v1/chat/rooms/{id}/messages/{message_id}",
        "/api/v1/chat/rooms/{id}/read",
        "/api/v1/chat/rooms/{id}/ws",
        "/api/v1/notifications",
        "/api/v1/notifications/unread-count",
        "/api/v1/notifications/{id}/read",
        "/api/v1/notifications/read-all",
        "/api/v1/notifications/preferences",
        "/api/v1/work/projects",
        "/api/v1/work/projects/{id}",
        "/api/v1/work/projects/{id}/members",
        "/api/v1/work/projects/{id}/members/{user_id}",
        "/api/v1/work/projects/{id}/invitations",
        "/api/v1/work/projects/{id}/activity",
        "/api/v1/work/projects/{id}/analytics",
        "/api/v1/work/projects/{id}/tasks.csv",
        "/api/v1/work/users/me/analytics",
        "/api/v1/work/tasks",
        "/api/v1/work/tasks/{id}",
        "/api/v1/work/tasks/{id}/comments",
        "/api/v1/work/comments/{id}",
        "/api/v1/files/{key}",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    let login = &doc["paths"]["/api/v1/auth/login"]["post"]["responses"];
    assert!(login["422"]["content"]["application/problem+json"].is_object());
    let conflict = &doc["paths"]["/api/v1/auth/register"]["post"]["responses"]["409"]["content"];
    assert!(conflict["application/problem+json"].is_object(), "error answers are documented as problems");
    assert!(conflict.get("application/json").is_none());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_and_request_ids() {
    let app = app().await;
    let r = app.get("/health/live", None).await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.header("content-security-policy").is_some());
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "a UUID request id: {id}");
    let resp = app.http.get(app.url("/health/live")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123", "a caller's request id is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_listed_origins() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |c| c.cors_origins = "https://app.example.com".into()).await.unwrap();
    let allowed = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    let denied = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(denied.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_and_then_refuses() {
    let app = app().await;
    let addr = app.addr;
    app.get("/health/live", None).await.expect(200);
    app.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed after shutdown");
}

/// The document's own examples match their schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_examples_match_their_schemas() {
    let app = app().await;
    let examples = app.contract.examples();
    assert!(!examples.is_empty(), "the document gives examples");
    for (at, schema, example) in examples {
        let key = format!("example {at}");
        app.contract.validate(&key, &schema, &example).unwrap_or_else(|e| panic!("example at {at}: {e}"));
    }
}

/// The contract every helper call is held to catches a body that does not match the document:
/// the collision this check was made for (work's member answer described with chat's roles, and
/// chat's request body) fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_contract_catches_wrong_bodies() {
    let app = app().await;
    let owner = app.register("contract-owner@example.com").await;
    let other = app.register("contract-other@example.com").await;
    let project = app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "Contract"})).await.expect(201);
    let path = format!("/api/v1/work/projects/{}/members", project.json["id"].as_str().unwrap());
    let body = json!({"user_id": other.user_id, "role": "member"});
    let added = app.post(&path, Some(&owner.access), body.clone()).await.expect(201);
    let contract = &app.contract;
    assert_eq!(contract.template(&path), Some("/api/v1/work/projects/{id}/members"));
    contract.check_response("POST", &path, 201, "application/json", &added.json).unwrap();
    contract.check_request("POST", &path, &body).unwrap();

    let mut chat_role = added.json.clone();
    chat_role["role"] = json!("moderator");
    assert!(contract.check_response("POST", &path, 201, "application/json", &chat_role).is_err());
    let missing = json!({"role": "member"});
    assert!(contract.check_response("POST", &path, 201, "application/json", &missing).is_err());
    assert!(contract.check_request("POST", &path, &json!({"user_id": 7})).is_err());
    // An undocumented success status, and an error that is not a problem document.
    assert!(contract.check_response("POST", &path, 206, "application/json", &added.json).is_err());
    assert!(contract.check_response("POST", &path, 418, "text/plain", &json!(null)).is_err());
    assert!(contract.check_response("POST", &path, 201, "text/html", &json!(null)).is_err());
    let mut bad_id = added.json.clone();
    bad_id["user_id"] = json!("not-a-uuid");
    assert!(contract.check_response("POST", &path, 201, "application/json", &bad_id).is_err(), "formats are checked");
    assert!(contract.check_response("GET", "/api/v1/no/such/route", 200, "application/json", &json!({})).is_err());
}
