//! Studio generations over HTTP, on SQLite and (in CI) PostgreSQL, against a real HTTP image
//! provider started by the test (it checks what it is sent, answers images, and fails, hangs or
//! answers garbage on demand): 202 and live updates, lineage, credits reserved, spent and
//! returned exactly (100 jobs against a provider that fails half the time), timeouts, another
//! user's objects, and the answer when no provider is configured.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::avatars::{fetch, png};
use crate::studio_catalogue::{admin, put_image, template};
use crate::studio_characters::{three_photos, upload_character};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::{Backend, Session, TestApp};

/// What the provider does with the next request.
const OK: u8 = 0;
const FAIL_EVERY_OTHER: u8 = 1;
const HANG: u8 = 2;
const GARBAGE: u8 = 3;

/// One request the provider received.
#[derive(Debug, Clone)]
struct Seen {
    path: &'static str,
    authorization: Option<String>,
    /// The JSON body, or the multipart text fields as an object.
    fields: Value,
    /// Image parts of an edit: (field name, content type, decodable).
    images: Vec<(String, String, bool)>,
}

#[derive(Clone, Default)]
struct Provider {
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Provider {
    /// Answers per the mode: an image, a failure, nothing, or a non-image.
    async fn answer(&self, seen: Seen) -> (StatusCode, axum::Json<Value>) {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(seen);
        match self.mode.load(Ordering::SeqCst) {
            FAIL_EVERY_OTHER if n % 2 == 1 => {
                return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": {"message": "overloaded"}})));
            }
            HANG => tokio::time::sleep(Duration::from_secs(30)).await,
            GARBAGE => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(b"not an image");
                return (StatusCode::OK, axum::Json(json!({"data": [{"b64_json": b64}]})));
            }
            OK | FAIL_EVERY_OTHER => {}
            other => panic!("no provider mode {other}"),
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        let b64 = base64::engine::general_purpose::STANDARD.encode(png(64, 48));
        (StatusCode::OK, axum::Json(json!({"created": 1, "data": [{"b64_json": b64}]})))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers.get("authorization").map(|v| v.to_str().unwrap().to_string())
}

async fn generations(State(p): State<Provider>, headers: HeaderMap, body: String) -> (StatusCode, axum::Json<Value>) {
    let fields: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    p.answer(Seen { path: "generations", authorization: authorization(&headers), fields, images: Vec::new() }).await
}

async fn edits(State(p): State<Provider>, headers: HeaderMap, mut form: Multipart) -> (StatusCode, axum::Json<Value>) {
    let mut fields = serde_json::Map::new();
    let mut images = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            let mime = field.content_type().unwrap_or_default().to_string();
            let bytes = field.bytes().await.unwrap();
            images.push((name, mime, image::load_from_memory(&bytes).is_ok()));
        } else {
            fields.insert(name, Value::String(field.text().await.unwrap()));
        }
    }
    p.answer(Seen { path: "edits", authorization: authorization(&headers), fields: Value::Object(fields), images })
        .await
}

/// Starts the provider on a free port; answers it and its base URL.
async fn start_provider() -> (Provider, String) {
    let provider = Provider::default();
    let router = axum::Router::new()
        .route("/v1/images/generations", axum::routing::post(generations))
        .route("/v1/images/edits", axum::routing::post(edits))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (provider, format!("http://{addr}"))
}

/// An app whose studio generates through `url` with `timeout_secs`, `max_open` generations
/// per user at once.
async fn app_with_provider(backend: Backend, url: &str, timeout_secs: i64, max_open: i64) -> Option<TestApp> {
    let url = url.to_string();
    TestApp::spawn_with(backend, move |c| {
        c.set_module_setting("studio", "provider_url", url);
        c.set_module_setting("studio", "provider_key", "sk-test-key");
        c.set_module_setting("studio", "timeout_secs", timeout_secs);
        c.set_module_setting("studio", "max_open_per_user", max_open);
    })
    .await
}

/// Polls a generation until it has settled.
async fn settled(app: &TestApp, who: &Session, id: &str) -> Value {
    let path = format!("/api/v1/studio/generations/{id}");
    for _ in 0..400 {
        let g = app.get(&path, Some(&who.access)).await.expect(200).json;
        if g["status"] == "succeeded" || g["status"] == "failed" {
            return g;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("generation {id} did not settle");
}

async fn credits(app: &TestApp, who: &Session) -> (i64, i64) {
    let me = app.get("/api/v1/studio/me", Some(&who.access)).await.expect(200).json;
    (me["credits"].as_i64().unwrap(), me["reserved_credits"].as_i64().unwrap())
}

async fn generations_run_at_the_provider_and_spend_credits(backend: Backend) {
    let (provider, url) = start_provider().await;
    let Some(app) = app_with_provider(backend, &url, 30, 10).await else { return };
    let unverified = app.register("gen-unverified@example.com").await;
    app.post("/api/v1/studio/generations", Some(&unverified.access), json!({"kind": "generate", "prompt": "x"}))
        .await
        .expect_problem(403, "verification_required");
    let me = app.register_verified("gen-owner@example.com").await;
    let boss = admin(&app, "gen-admin@example.com").await;
    let style =
        template(&app, &boss, json!({"title": "Noir", "prompt": "film noir portrait", "style": "grainy"})).await;
    assert_eq!(credits(&app, &me).await, (3, 0), "a new user starts with 3 credits");

    let mut ws = app.ws("/api/v1/realtime", Some(&me.access)).await.unwrap();
    let ack = ws.request(json!({"type": "subscribe", "topic": format!("user.{}", me.user_id)}), "u").await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let queued = app
        .post(
            "/api/v1/studio/generations",
            Some(&me.access),
            json!({"kind": "generate", "prompt": "a cat in a hat", "template_id": style["id"]}),
        )
        .await
        .expect(202);
    let id = queued.json["id"].as_str().unwrap().to_string();
    assert_eq!(queued.header("location"), Some(format!("/api/v1/studio/generations/{id}").as_str()));
    assert_eq!(queued.json["status"], "queued");
    let done = settled(&app, &me, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!((done["result"]["width"].as_i64(), done["result"]["height"].as_i64()), (Some(64), Some(48)));
    let (status, ct, body) = fetch(&app, done["result"]["url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 64);
    assert_eq!(credits(&app, &me).await, (2, 0), "spent");

    // Live on user.{id}: queued, running, succeeded.
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("succeeded") {
        let frame = ws.recv_type("event").await;
        if frame["event"] == "studio.generation.updated" && frame["data"]["generation"]["id"] == id.as_str() {
            statuses.push(frame["data"]["generation"]["status"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(statuses, ["queued", "running", "succeeded"]);

    // What the provider was sent: the template's prompt and style, then the user's words.
    let sent = provider.seen();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "generations");
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer sk-test-key"));
    assert_eq!(sent[0].fields["prompt"], "film noir portrait\nStyle: grainy.\na cat in a hat");
    assert_eq!(sent[0].fields["n"].as_i64(), Some(1));
    assert_eq!(sent[0].fields["model"], "gpt-image-1");
    assert!(sent[0].fields.get("response_format").is_none(), "gpt-image models refuse response_format");

    // An edit of it sends its image; lineage is kept; a character's photos go along.
    let edit = app
        .post(
            "/api/v1/studio/generations",
            Some(&me.access),
            json!({"kind": "edit", "prompt": "make it blue", "parent_id": id}),
        )
        .await
        .expect(202)
        .json;
    let edited = settled(&app, &me, edit["id"].as_str().unwrap()).await;
    assert_eq!((edited["status"].as_str(), edited["parent_id"].as_str()), (Some("succeeded"), Some(id.as_str())));
    let sent = provider.seen();
    assert_eq!(sent[1].path, "edits");
    assert_eq!(sent[1].fields["prompt"], "make it blue");
    assert_eq!(sent[1].images, [("image".to_string(), "image/png".to_string(), true)]);
    let hero = upload_character(&app, Some(&me.access), Some("Hero"), three_photos()).await.expect(201).json;
    let with_hero = app
        .post(
            "/api/v1/studio/generations",
            Some(&me.access),
            json!({"kind": "generate", "prompt": "on a beach", "character_id": hero["id"]}),
        )
        .await
        .expect(202)
        .json;
    assert_eq!(settled(&app, &me, with_hero["id"].as_str().unwrap()).await["status"], "succeeded");
    let sent = provider.seen();
    assert_eq!(sent[2].path, "edits");
    assert_eq!(sent[2].images.len(), 3);
    assert!(sent[2].images.iter().all(|(field, _, ok)| field == "image[]" && *ok), "{:?}", sent[2].images);

    // Out of credits: 402, nothing queued, nothing sent.
    app.post("/api/v1/studio/generations", Some(&me.access), json!({"kind": "generate", "prompt": "one more"}))
        .await
        .expect_problem(402, "insufficient_credits");
    assert_eq!(provider.seen().len(), 3);
    let history = app.get("/api/v1/studio/generations", Some(&me.access)).await.expect(200).json;
    let kinds: Vec<&str> = history["items"].as_array().unwrap().iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["generate", "edit", "generate"], "newest first");
    let me_now = app.get("/api/v1/studio/me", Some(&me.access)).await.expect(200).json;
    assert_eq!((me_now["generations_total"].as_i64(), me_now["generations_this_month"].as_i64()), (Some(3), Some(3)));
    let export = app.get("/api/v1/users/me/export", Some(&me.access)).await.expect(200).json;
    let studio = &export["studio"];
    assert_eq!(
        (studio["generations"].as_array().unwrap().len(), studio["characters"].as_array().unwrap().len()),
        (3, 1)
    );
    assert_eq!(studio["profile"]["credits"], 0);

    // Checks, and other people's objects.
    let stranger = app.register_verified("gen-stranger@example.com").await;
    let g_path = format!("/api/v1/studio/generations/{id}");
    app.get(&g_path, Some(&stranger.access)).await.expect(404);
    for body in [
        json!({"kind": "edit", "prompt": "mine now", "parent_id": id}),
        json!({"kind": "generate", "prompt": "mine now", "character_id": hero["id"]}),
        json!({"kind": "generate", "prompt": "x", "template_id": uuid::Uuid::now_v7()}),
    ] {
        app.post("/api/v1/studio/generations", Some(&stranger.access), body).await.expect(404);
    }
    for body in [
        json!({"kind": "generate", "prompt": ""}),
        json!({"kind": "generate", "prompt": "x".repeat(4001)}),
        json!({"kind": "generate", "prompt": "x", "parent_id": id}),
        json!({"kind": "edit", "prompt": "no source"}),
        json!({"kind": "edit", "prompt": "template without a picture", "template_id": style["id"]}),
    ] {
        app.post("/api/v1/studio/generations", Some(&stranger.access), body.clone())
            .await
            .expect_problem(422, "validation_failed");
    }
    app.post("/api/v1/studio/generations", Some(&stranger.access), json!({"kind": "paint", "prompt": "x"}))
        .await
        .expect(422);
    // A template's picture is an edit's source when nothing else is given.
    put_image(&app, &boss.access, style["id"].as_str().unwrap(), png(32, 32)).await.expect(200);
    let from_template = app
        .post("/api/v1/studio/generations", Some(&stranger.access), json!({"kind": "edit", "template_id": style["id"]}))
        .await
        .expect(202)
        .json;
    assert_eq!(settled(&app, &stranger, from_template["id"].as_str().unwrap()).await["status"], "succeeded");
    assert_eq!(provider.seen()[3].images.len(), 1);
    assert_eq!(provider.seen()[3].fields["prompt"], "film noir portrait\nStyle: grainy.");

    // The stranger leaves: their generation's files go (the owner's stay).
    let theirs = app.config.data_dir.join(format!("files/studio/{}", stranger.user_id));
    assert_eq!(crate::avatars::files_under(&theirs).len(), 2, "an image and its thumbnail");
    app.delete("/api/v1/users/me", Some(&stranger.access), Some(json!({"password": testkit::PASSWORD})))
        .await
        .expect(204);
    app.outbox_idle().await;
    assert!(crate::avatars::files_under(&theirs).is_empty());
    assert!(!crate::avatars::files_under(&app.config.data_dir.join(format!("files/studio/{}", me.user_id))).is_empty());
}

async fn credits_stay_exact_when_the_provider_fails(backend: Backend) {
    let (provider, url) = start_provider().await;
    let Some(app) = app_with_provider(backend, &url, 30, 100).await else { return };
    let boss = admin(&app, "flaky-admin@example.com").await;
    let me = app.register_verified("flaky@example.com").await;
    let plan = app
        .patch(
            &format!("/api/v1/studio/users/{}", me.user_id),
            Some(&boss.access),
            json!({"tier": "premium", "grant_credits": 7}),
        )
        .await
        .expect(200)
        .json;
    assert_eq!((plan["tier"].as_str(), plan["credits"].as_i64()), (Some("premium"), Some(507)));
    app.patch(&format!("/api/v1/studio/users/{}", uuid::Uuid::now_v7()), Some(&boss.access), json!({"tier": "pro"}))
        .await
        .expect(404);
    for body in [json!({}), json!({"grant_credits": 0}), json!({"grant_credits": 100_001})] {
        app.patch(&format!("/api/v1/studio/users/{}", me.user_id), Some(&boss.access), body).await.expect(422);
    }

    provider.mode.store(FAIL_EVERY_OTHER, Ordering::SeqCst);
    let orders = (0..100).map(|i| {
        let (app, me) = (&app, &me);
        async move {
            let r = app
                .post(
                    "/api/v1/studio/generations",
                    Some(&me.access),
                    json!({"kind": "generate", "prompt": format!("picture {i}")}),
                )
                .await;
            r.expect(202).json["id"].as_str().unwrap().to_string()
        }
    });
    let ids = futures::future::join_all(orders).await;
    let mut succeeded = 0;
    for id in &ids {
        let g = settled(&app, &me, id).await;
        match g["status"].as_str().unwrap() {
            "succeeded" => succeeded += 1,
            _ => assert_eq!(g["error"], "provider_error", "{g}"),
        }
    }
    assert_eq!(provider.requests.load(Ordering::SeqCst), 100, "each job asked once");
    assert_eq!(succeeded, provider.answered.load(Ordering::SeqCst));
    assert_eq!(succeeded, 50);
    assert_eq!(credits(&app, &me).await, (507 - 50, 0), "spent on success only, every failure returned");

    // An answer that is not an image fails the job and returns the credit.
    provider.mode.store(GARBAGE, Ordering::SeqCst);
    let g = app
        .post("/api/v1/studio/generations", Some(&me.access), json!({"kind": "generate", "prompt": "junk"}))
        .await
        .expect(202)
        .json;
    let g = settled(&app, &me, g["id"].as_str().unwrap()).await;
    assert_eq!((g["status"].as_str(), g["error"].as_str()), (Some("failed"), Some("invalid_result")));
    assert_eq!(credits(&app, &me).await, (457, 0));
}

async fn a_provider_that_hangs_times_out(backend: Backend) {
    let (provider, url) = start_provider().await;
    let Some(app) = app_with_provider(backend, &url, 1, 1).await else { return };
    let me = app.register_verified("hang@example.com").await;
    provider.mode.store(HANG, Ordering::SeqCst);
    let g = app
        .post("/api/v1/studio/generations", Some(&me.access), json!({"kind": "generate", "prompt": "wait"}))
        .await
        .expect(202)
        .json;
    assert_eq!(credits(&app, &me).await, (2, 1), "reserved while it runs");
    // One at a time for this user (the setting): the second order waits for the first.
    app.post("/api/v1/studio/generations", Some(&me.access), json!({"kind": "generate", "prompt": "more"}))
        .await
        .expect_problem(409, "too_many_generations");
    assert_eq!(credits(&app, &me).await, (2, 1), "a refused order takes no credit");
    let g = settled(&app, &me, g["id"].as_str().unwrap()).await;
    assert_eq!((g["status"].as_str(), g["error"].as_str()), (Some("failed"), Some("timeout")));
    assert_eq!(credits(&app, &me).await, (3, 0), "returned");
}

async fn without_a_provider_generation_is_not_configured(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let me = app.register("noprov@example.com").await;
    app.post("/api/v1/studio/generations", Some(&me.access), json!({"kind": "generate", "prompt": "x"}))
        .await
        .expect_problem(503, "generation_not_configured");
    assert_eq!(credits(&app, &me).await, (3, 0));
}

/// What an instance that stopped mid-way leaves: one generation running past its deadline and
/// one queued a while ago with no task for it (its credits reserved). The sweep (every second
/// here) fails the first and returns its credit, and hands the second to a run, which succeeds.
async fn the_sweep_settles_what_a_stopped_instance_left(backend: Backend) {
    let (provider, url) = start_provider().await;
    let url_for_app = url.clone();
    let Some(app) = TestApp::spawn_with(backend, move |c| {
        c.set_module_setting("studio", "provider_url", url_for_app);
        c.jobs_interval_secs = 1;
    })
    .await
    else {
        return;
    };
    let me = app.register_verified("sweep@example.com").await;
    assert_eq!(credits(&app, &me).await, (3, 0));
    let db = app.db().await;
    let owner: uuid::Uuid = me.user_id.parse().unwrap();
    let (lost, waiting) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let long_ago = platform::db::Ts::now().minus(chrono::Duration::minutes(10));
    let plan = json!({"plan": {"provider_prompt": "left behind", "sources": []}}).to_string();
    for (id, status, deadline) in [(lost, "running", Some(long_ago)), (waiting, "queued", None)] {
        platform::with_db!(&db, |pool| {
            sqlx::query(
                "INSERT INTO studio_generations (id, owner_id, kind, prompt, status, metadata, deadline, created_at, updated_at)
                 VALUES ($1, $2, 'generate', 'left behind', $3, $4, $5, $6, $6)",
            )
            .bind(id)
            .bind(owner)
            .bind(status)
            .bind(&plan)
            .bind(deadline)
            .bind(long_ago)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .unwrap();
    }
    platform::with_db!(&db, |pool| {
        sqlx::query("UPDATE studio_profiles SET credits = credits - 2 WHERE user_id = $1")
            .bind(owner)
            .execute(pool)
            .await
            .map(|_| ())
    })
    .unwrap();
    assert_eq!(credits(&app, &me).await, (1, 2));
    let lost = settled(&app, &me, &lost.to_string()).await;
    assert_eq!((lost["status"].as_str(), lost["error"].as_str()), (Some("failed"), Some("timeout")));
    let waiting = settled(&app, &me, &waiting.to_string()).await;
    assert_eq!(waiting["status"], "succeeded", "{waiting}");
    assert_eq!(provider.seen().len(), 1, "the lost one is not run again; the waiting one once");
    assert_eq!(provider.seen()[0].fields["prompt"], "left behind");
    assert_eq!(credits(&app, &me).await, (2, 0), "one returned, one spent");
}

testkit::backend_tests!(
    the_sweep_settles_what_a_stopped_instance_left,
    generations_run_at_the_provider_and_spend_credits,
    credits_stay_exact_when_the_provider_fails,
    a_provider_that_hangs_times_out,
    without_a_provider_generation_is_not_configured,
);
