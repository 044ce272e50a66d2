//! The platform kernel: every module's part of the data export, `FERROBASE_MODULES` refusing
//! names no module registered and leaving out what it does not name, idempotency keys, and the
//! dependency direction between crates (platform knows no module; a module uses another only
//! through its crate root, never its rooms).

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::json;
use std::path::{Path, PathBuf};
use testkit::{Backend, TestApp};

async fn export_has_every_modules_part(app: TestApp) {
    let a = app.register("export@example.com").await;
    let room = app
        .post("/api/v1/chat/rooms", Some(&a.access), json!({"name": "mine", "visibility": "private"}))
        .await
        .expect(201);
    let room = room.json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&a.access), json!({"content": "hello export"}))
        .await
        .expect(201);
    let project = app.post("/api/v1/work/projects", Some(&a.access), json!({"name": "Exported"})).await.expect(201);
    let project = project.json["id"].as_str().unwrap().to_string();
    let task = app
        .post("/api/v1/work/tasks", Some(&a.access), json!({"project_id": project, "title": "Export me"}))
        .await
        .expect(201);
    let task = task.json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/work/tasks/{task}/comments"), Some(&a.access), json!({"content": "a note"}))
        .await
        .expect(201);
    app.patch("/api/v1/notifications/preferences", Some(&a.access), json!({"task_due": {"email": false}}))
        .await
        .expect(200);
    // Someone else's data stays out of my export.
    let b = app.register("other@example.com").await;
    app.post("/api/v1/work/projects", Some(&b.access), json!({"name": "Not mine"})).await.expect(201);

    let export = app.get("/api/v1/users/me/export", Some(&a.access)).await.expect(200).json;
    assert_eq!(export["accounts"]["user"]["email"], "export@example.com");
    assert_eq!(export["ticketing"]["events"], json!([]), "every module has its part, empty or not");
    assert_eq!(export["freelance"]["clients"], json!([]));
    let messages = export["chat"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "hello export");
    assert!(export["chat"]["rooms"].as_array().unwrap().iter().any(|r| r["id"] == room.as_str()));
    let projects = export["work"]["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["name"], "Exported");
    assert_eq!(export["work"]["tasks"][0]["title"], "Export me");
    assert_eq!(export["work"]["comments"][0]["content"], "a note");
    assert_eq!(export["notifications"]["preferences"]["task_due"]["email"], false);
    assert_eq!(export["notifications"]["preferences"]["chat_mention"]["email"], true);
    assert!(export["notifications"]["inbox"].is_array());
}

async fn preferences_list_the_kinds_modules_registered(app: TestApp) {
    let a = app.register("kinds@example.com").await;
    let prefs = app.get("/api/v1/notifications/preferences", Some(&a.access)).await.expect(200).json;
    let mut kinds: Vec<&str> = prefs.as_object().unwrap().keys().map(String::as_str).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "chat_mention",
            "comment_mention",
            "event_cancelled",
            "project_invitation",
            "refund_approved",
            "refund_declined",
            "refund_requested",
            "task_assigned",
            "task_due"
        ]
    );
    app.patch("/api/v1/notifications/preferences", Some(&a.access), json!({"ticket_sold": {"email": false}}))
        .await
        .expect_problem(422, "validation_failed");
}

async fn idempotency_keys_replay_refuse_reuse_and_serialise(app: TestApp) {
    let a = app.register("idem@example.com").await;
    let b = app.register("idem-b@example.com").await;
    let body = json!({"name": "Once", "visibility": "private"});
    let first = app.post_idempotent("/api/v1/work/projects", &a.access, "key-1", body.clone()).await.expect(201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = app.post_idempotent("/api/v1/work/projects", &a.access, "key-1", body.clone()).await.expect(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json, first.json);
    assert_eq!(again.header("location"), first.header("location"));
    // Another request under the same key is refused; another user's same key is theirs.
    app.post_idempotent("/api/v1/work/projects", &a.access, "key-1", json!({"name": "Twice", "visibility": "private"}))
        .await
        .expect_problem(422, "idempotency_key_reused");
    let theirs = app.post_idempotent("/api/v1/work/projects", &b.access, "key-1", body.clone()).await.expect(201);
    assert_ne!(theirs.json["id"], first.json["id"]);
    assert!(theirs.header("idempotent-replayed").is_none());
    // A refused request is kept too: the same mistake gets the same answer.
    let bad = json!({"name": "", "visibility": "private"});
    app.post_idempotent("/api/v1/work/projects", &a.access, "key-bad", bad.clone()).await.expect(422);
    let bad_again = app.post_idempotent("/api/v1/work/projects", &a.access, "key-bad", bad).await.expect(422);
    assert_eq!(bad_again.header("idempotent-replayed"), Some("true"));
    app.post_idempotent("/api/v1/work/projects", &a.access, "", body.clone())
        .await
        .expect_problem(400, "invalid_idempotency_key");
    // Twenty at once with one key create one project.
    let racing = json!({"name": "Racing", "visibility": "private"});
    let calls = (0..20).map(|_| app.post_idempotent("/api/v1/work/projects", &a.access, "key-race", racing.clone()));
    let answers = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|r| {
            assert!(r.status == 201 || r.status == 409, "{} {}", r.status, r.text);
            r.json["id"].as_str().unwrap_or("in progress").to_string()
        })
        .filter(|id| id != "in progress")
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let mine = app.get("/api/v1/work/projects?limit=100", Some(&a.access)).await.expect(200).json;
    let names: Vec<&str> = mine["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| **n == "Racing").count(), 1, "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "Once").count(), 1, "{names:?}");

    // A claim left without an answer (its instance was killed mid-request) does not hold the
    // key for a day: after two minutes the retry runs.
    let db = app.db().await;
    let (scope, old) = (format!("user:{}", a.user_id), platform::db::Ts::now().minus(chrono::Duration::minutes(3)));
    platform::with_db!(&db, |pool| {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, 'key-dead', 'x', $2)",
        )
        .bind(&scope)
        .bind(old)
        .execute(pool)
        .await
        .map(|_| ())
    })
    .unwrap();
    let retried = json!({"name": "Retried", "visibility": "private"});
    app.post_idempotent("/api/v1/work/projects", &a.access, "key-dead", retried).await.expect(201);
}

testkit::api_tests!(
    export_has_every_modules_part,
    preferences_list_the_kinds_modules_registered,
    idempotency_keys_replay_refuse_reuse_and_serialise,
);

#[tokio::test]
async fn unknown_module_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = testkit::test_config(Backend::Sqlite, dir.path().to_path_buf()).await.unwrap();
    config.modules = "chat,tickets".into();
    let err = ferrobase::build(config).await.err().expect("tickets is no registered module");
    assert!(err.to_string().contains("\"tickets\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_left_out_serves_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.modules = "chat".into()).await.unwrap();
    // Accounts is served whatever the list says; chat is named; work and notifications are not.
    let a = app.register("only-chat@example.com").await;
    app.get("/api/v1/chat/rooms", Some(&a.access)).await.expect(200);
    app.get("/api/v1/work/projects", Some(&a.access)).await.expect_problem(404, "route_not_found");
    app.get("/api/v1/notifications", Some(&a.access)).await.expect_problem(404, "route_not_found");
    app.get("/api/v1/ticketing/events", None).await.expect_problem(404, "route_not_found");
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200).json;
    assert!(doc["paths"].get("/api/v1/work/projects").is_none());
    assert!(doc["paths"].get("/api/v1/chat/rooms").is_some());
}

// --- dependency direction -----------------------------------------------------------------------

/// The rooms of a module crate that no other crate may reach into.
const ROOMS: &[&str] = &[
    "model",
    "store",
    "service",
    "routes",
    "events",
    "error",
    "jobs",
    "realtime",
    "socketio",
    "module",
    "session_cache",
];

/// A crate as the check sees it: its name, its dependencies, and its source files.
struct CrateSource {
    name: String,
    deps: Vec<String>,
    files: Vec<(PathBuf, String)>,
}

/// Files of a module that are edges (HTTP routes, socket adapters, topic owners) and so may
/// speak HTTP; everywhere else (errors, services, stores, models) failures are domain errors.
fn is_edge(path: &Path) -> bool {
    let path = path.to_string_lossy();
    ["/routes", "/realtime.rs", "/socketio.rs", "/events.rs", "/grpc.rs", "deliberate_edge.rs"]
        .iter()
        .any(|edge| path.contains(edge))
}

/// Every way `crates` break the direction rules: the platform depends on no module, a module
/// names another module's items only through that module's crate root, and only a module's
/// edges name HTTP types.
fn violations(platform: &str, modules: &[&str], crates: &[CrateSource]) -> Vec<String> {
    let mut found = Vec::new();
    let http = regex::Regex::new(r"\b(ApiError|ApiResult|StatusCode|axum::)").unwrap();
    for krate in crates.iter().filter(|c| modules.contains(&c.name.as_str())) {
        for (path, text) in krate.files.iter().filter(|(path, _)| !is_edge(path)) {
            if let Some(m) = http.find(text) {
                found.push(format!("{} speaks HTTP ({}) in {}", krate.name, m.as_str(), path.display()));
            }
        }
    }
    let rooms = ROOMS.join("|");
    for krate in crates {
        if krate.name == platform {
            for dep in krate.deps.iter().filter(|d| modules.contains(&d.as_str())) {
                found.push(format!("{platform} depends on the module {dep}"));
            }
        }
        if !modules.contains(&krate.name.as_str()) {
            continue;
        }
        for other in modules.iter().filter(|m| **m != krate.name) {
            // `other::store::x` and `other::{store::x, …}` alike.
            let pattern = regex::Regex::new(&format!(r"\b{other}::(?:\{{[^}}]*?\b)?({rooms})::")).unwrap();
            for (path, text) in &krate.files {
                for m in pattern.captures_iter(text) {
                    found.push(format!("{} reaches into {other}::{} in {}", krate.name, &m[1], path.display()));
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The workspace's crates from `cargo metadata`, with their `src` files.
fn workspace() -> Vec<CrateSource> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            let mut files = Vec::new();
            rust_files(&manifest.parent().unwrap().join("src"), &mut files);
            CrateSource {
                name: p["name"].as_str().unwrap().to_string(),
                deps: p["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["kind"].is_null())
                    .map(|d| d["name"].as_str().unwrap().to_string())
                    .collect(),
                files,
            }
        })
        .collect()
}

fn module_names() -> Vec<&'static str> {
    ferrobase::MODULES.iter().map(|m| m.name()).collect()
}

#[test]
fn crates_depend_in_one_direction() {
    let crates = workspace();
    let modules = module_names();
    assert!(crates.iter().any(|c| c.name == "platform") && modules.iter().all(|m| crates.iter().any(|c| c.name == *m)));
    assert_eq!(violations("platform", &modules, &crates), Vec::<String>::new());
}

#[test]
fn the_direction_check_catches_violations() {
    let modules = module_names();
    let mut crates = workspace();
    let work = crates.iter_mut().find(|c| c.name == "work").unwrap();
    work.files.push(("deliberate.rs".into(), "use accounts::store::find_user;\nuse chat::{model::Room};".into()));
    work.files.push(("src/service/deliberate.rs".into(), "fn f() -> platform::ApiResult<()> { Ok(()) }".into()));
    work.files.push(("src/routes/deliberate_edge.rs".into(), "fn f() -> platform::ApiResult<()> { Ok(()) }".into()));
    crates.iter_mut().find(|c| c.name == "platform").unwrap().deps.push("chat".into());
    let found = violations("platform", &modules, &crates);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found.iter().any(|v| v.contains("work speaks HTTP (ApiResult) in src/service/deliberate.rs")));
    assert!(found.iter().any(|v| v.contains("work reaches into accounts::store in deliberate.rs")));
    assert!(found.iter().any(|v| v.contains("work reaches into chat::model")));
    assert!(found.iter().any(|v| v == "platform depends on the module chat"));
    // Root-level names are the public API and pass.
    let fine = CrateSource {
        name: "chat".into(),
        deps: vec!["accounts".into()],
        files: vec![("ok.rs".into(), "use accounts::{Accounts, AccountsError};\nuse accounts::Role;".into())],
    };
    assert!(violations("platform", &modules, &[fine]).is_empty());
}

// --- OpenAPI component names ---------------------------------------------------------------------

/// A module that only describes a component `Thing` with one property.
struct Describing(&'static str, &'static str);

#[async_trait::async_trait]
impl platform::module::Module for Describing {
    fn name(&self) -> &'static str {
        self.0
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        &[]
    }

    async fn init(&self, _kernel: &mut platform::module::Kernel) -> anyhow::Result<()> {
        Ok(())
    }

    async fn serve(&self, kernel: &mut platform::module::Kernel) -> anyhow::Result<()> {
        use utoipa::openapi::{ComponentsBuilder, ObjectBuilder, OpenApiBuilder};
        let thing = ObjectBuilder::new().property(self.1, ObjectBuilder::new()).build();
        let doc =
            OpenApiBuilder::new().components(Some(ComponentsBuilder::new().schema("Thing", thing).build())).build();
        kernel.routes(utoipa_axum::router::OpenApiRouter::with_openapi(doc));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_settings_take_effect_and_are_checked() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |c| c.set_module_setting("chat", "default_rooms", false)).await.unwrap();
    let a = app.register("settings@example.com").await;
    let rooms = app.get("/api/v1/chat/rooms?scope=public", Some(&a.access)).await.expect(200);
    assert_eq!(rooms.json["items"], json!([]), "no default rooms when the setting is off");
    let with = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let b = with.register("defaults@example.com").await;
    let rooms = with.get("/api/v1/chat/rooms?scope=public", Some(&b.access)).await.expect(200);
    assert_eq!(rooms.json["items"].as_array().unwrap().len(), 3, "the default rooms by default");

    let build = |adjust: fn(&mut platform::config::Config)| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = testkit::test_config(Backend::Sqlite, dir.path().to_path_buf()).await.unwrap();
        adjust(&mut config);
        ferrobase::build(config).await.map(|_| ())
    };
    let err = build(|c| c.set_module_setting("work", "due_reminder_hours", 0)).await.unwrap_err();
    assert!(format!("{err:#}").contains("due_reminder_hours must be between 1 and 720"), "{err:#}");
    let err = build(|c| c.set_module_setting("work", "reminder", 5)).await.unwrap_err();
    assert!(format!("{err:#}").contains("FERROBASE_WORK__REMINDER"), "{err:#}");
    let err = build(|c| c.set_module_setting("notifications", "x", 1)).await.unwrap_err();
    assert!(format!("{err:#}").contains("no module with settings"), "{err:#}");
    build(|c| c.set_module_setting("work", "due_reminder_hours", 48)).await.unwrap();
}

#[tokio::test]
async fn two_modules_may_not_describe_one_component_name_differently() {
    let assemble = |modules: &'static [&'static dyn platform::module::Module]| async move {
        let dir = tempfile::tempdir().unwrap();
        let config = testkit::test_config(Backend::Sqlite, dir.path().to_path_buf()).await.unwrap();
        platform::module::assemble(config, modules).await.map(|_| ())
    };
    let err = assemble(&[&accounts::AccountsModule, &Describing("alpha", "a"), &Describing("beta", "b")]).await;
    let err = err.expect_err("the names collide");
    assert!(err.to_string().contains("alpha and beta both describe \"Thing\""), "{err}");
    // One shared definition (the same schema) is fine.
    assemble(&[&accounts::AccountsModule, &Describing("alpha", "a"), &Describing("beta", "a")]).await.unwrap();
}

// --- timestamps ----------------------------------------------------------------------------------

/// Random instants over the whole accepted range (and its ends) are written and read back
/// unchanged, and sort in time order, on the backend's own column type.
async fn timestamps_round_trip(backend: Backend) {
    use platform::db::{Db, MAX_YEAR, MIN_YEAR, Ts};
    use rand::Rng;
    let dir = tempfile::tempdir().unwrap();
    let Some(config) = testkit::test_config(backend, dir.path().to_path_buf()).await else { return };
    let db = platform::db::connect(&config.database_url(), 2).await.unwrap();
    let lo = chrono::NaiveDate::from_ymd_opt(MIN_YEAR, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let hi = chrono::NaiveDate::from_ymd_opt(MAX_YEAR, 12, 31).unwrap().and_hms_micro_opt(23, 59, 59, 999_999).unwrap();
    let (lo, hi) = (lo.timestamp_micros(), hi.and_utc().timestamp_micros());
    let mut rng = rand::rng();
    let mut values: Vec<Ts> = (0..300)
        .map(|_| Ts::from(chrono::DateTime::from_timestamp_micros(rng.random_range(lo..=hi)).unwrap()))
        .collect();
    values.extend([lo, hi].map(|t| Ts::from(chrono::DateTime::from_timestamp_micros(t).unwrap())));
    let read: Vec<Ts> = match &db {
        Db::Sqlite(pool, _) => {
            sqlx::query("CREATE TABLE ts_check (n INTEGER, v TEXT NOT NULL)").execute(pool).await.unwrap();
            for (n, v) in values.iter().enumerate() {
                sqlx::query("INSERT INTO ts_check VALUES ($1, $2)").bind(n as i64).bind(v).execute(pool).await.unwrap();
            }
            sqlx::query_scalar("SELECT v FROM ts_check ORDER BY v").fetch_all(pool).await.unwrap()
        }
        Db::Postgres(pool) => {
            sqlx::query("CREATE TABLE ts_check (n BIGINT, v TIMESTAMPTZ NOT NULL)").execute(pool).await.unwrap();
            for (n, v) in values.iter().enumerate() {
                sqlx::query("INSERT INTO ts_check VALUES ($1, $2)").bind(n as i64).bind(v).execute(pool).await.unwrap();
            }
            sqlx::query_scalar("SELECT v FROM ts_check ORDER BY v").fetch_all(pool).await.unwrap()
        }
    };
    values.sort();
    assert_eq!(read, values, "every value read back as written, in time order");
}

#[tokio::test]
async fn sqlite_timestamps_round_trip() {
    timestamps_round_trip(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_timestamps_round_trip() {
    timestamps_round_trip(Backend::Postgres).await;
}

// --- constraint violations ------------------------------------------------------------------------

async fn constraint_names(backend: Backend) {
    use platform::db::{Db, DbError};
    let dir = tempfile::tempdir().unwrap();
    let Some(config) = testkit::test_config(backend, dir.path().to_path_buf()).await else { return };
    let db = platform::db::connect(&config.database_url(), 2).await.unwrap();
    let run = |sql: &'static str| {
        let db = db.clone();
        async move {
            match &db {
                Db::Sqlite(pool, _) => sqlx::query(sql).execute(pool).await.map(|_| ()),
                Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            }
            .map_err(DbError::from)
        }
    };
    if let Db::Sqlite(pool, _) = &db {
        sqlx::query("PRAGMA foreign_keys = ON").execute(pool).await.unwrap();
    }
    run("CREATE TABLE parents (id INTEGER PRIMARY KEY, email TEXT UNIQUE)").await.unwrap();
    run("CREATE TABLE pairs (a INTEGER NOT NULL REFERENCES parents (id), b INTEGER NOT NULL, PRIMARY KEY (a, b))")
        .await
        .unwrap();
    run("INSERT INTO parents (id, email) VALUES (1, 'x@example.com')").await.unwrap();
    run("INSERT INTO pairs (a, b) VALUES (1, 2)").await.unwrap();
    let dup = run("INSERT INTO pairs (a, b) VALUES (1, 2)").await.unwrap_err();
    assert!(matches!(&dup, DbError::Unique(name) if name == "pairs(a, b)"), "{dup:?}");
    let email = run("INSERT INTO parents (id, email) VALUES (2, 'x@example.com')").await.unwrap_err();
    assert!(matches!(&email, DbError::Unique(name) if name == "parents(email)"), "{email:?}");
    // A missing parent is a foreign-key violation, never a duplicate.
    let orphan = run("INSERT INTO pairs (a, b) VALUES (9, 2)").await.unwrap_err();
    assert!(matches!(orphan, DbError::ForeignKey), "{orphan:?}");
}

#[tokio::test]
async fn sqlite_constraint_violations_are_named_exactly() {
    constraint_names(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_constraint_violations_are_named_exactly() {
    constraint_names(Backend::Postgres).await;
}

// --- migrations -----------------------------------------------------------------------------------

const ORIGINAL: &[platform::db::Migration] = &[platform::db::Migration {
    module: "edited",
    version: 1,
    file: "0001_things.sql",
    sqlite: "CREATE TABLE things (id INTEGER PRIMARY KEY)",
    postgres: "CREATE TABLE things (id INTEGER PRIMARY KEY)",
}];

const EDITED: &[platform::db::Migration] = &[platform::db::Migration {
    module: "edited",
    version: 1,
    file: "0001_things.sql",
    sqlite: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)",
    postgres: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)",
}];

async fn edited_migrations_stop_start_up(backend: Backend) {
    use platform::db::{DbError, migrate};
    let dir = tempfile::tempdir().unwrap();
    let Some(config) = testkit::test_config(backend, dir.path().to_path_buf()).await else { return };
    let db = platform::db::connect(&config.database_url(), 2).await.unwrap();
    assert_eq!(migrate(&db, &[ORIGINAL]).await.unwrap(), 1);
    assert_eq!(migrate(&db, &[ORIGINAL]).await.unwrap(), 0);
    let err = migrate(&db, &[EDITED]).await.unwrap_err();
    assert!(matches!(&err, DbError::MigrationChanged(why) if why.contains("0001_things.sql")), "{err:?}");
    // A database migrated before checksums were kept takes this build's on first sight.
    let forget = "UPDATE schema_migrations SET checksum = NULL WHERE module = 'edited'";
    match &db {
        platform::db::Db::Sqlite(pool, _) => sqlx::query(forget).execute(pool).await.map(|_| ()),
        platform::db::Db::Postgres(pool) => sqlx::query(forget).execute(pool).await.map(|_| ()),
    }
    .unwrap();
    assert_eq!(migrate(&db, &[ORIGINAL]).await.unwrap(), 0);
    assert!(matches!(migrate(&db, &[EDITED]).await, Err(DbError::MigrationChanged(_))));
}

#[tokio::test]
async fn sqlite_edited_migrations_stop_start_up() {
    edited_migrations_stop_start_up(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_edited_migrations_stop_start_up() {
    edited_migrations_stop_start_up(Backend::Postgres).await;
}
