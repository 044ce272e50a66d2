//! The `ferrobase` binary as a user runs it: the embedded default with no configuration,
//! graceful shutdown on SIGTERM, `config`, `migrate` and `admin create`.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{ferrobase, serve, text};

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn serve_runs_on_the_embedded_default_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _, _) = serve(dir.path(), &[], Stdio::null).await;
    let data = dir.path().join("data");
    assert!(data.join("ferrobase.db").exists(), "SQLite database in ./data");
    assert!(data.join("jwt-secret").exists(), "signing secret kept in ./data");
    assert!(data.join("mail").is_dir());

    terminate(&child);
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
}

#[test]
fn config_prints_settings_with_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path())
        .arg("config")
        .env("FERROBASE_DATABASE_URL", "postgres://app:hunter2hunter2@db.internal:5432/app")
        .env("FERROBASE_JWT_SECRET", "0123456789abcdef0123456789abcdef-very-secret")
        .env("FERROBASE_JOBS_INTERVAL_SECS", "5")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("postgres://app:***@db.internal:5432/app"), "{t}");
    assert!(!t.contains("hunter2"), "{t}");
    assert!(!t.contains("very-secret"), "{t}");
    assert!(t.contains("FERROBASE_JOBS_INTERVAL_SECS") && t.contains(" 5\n"), "{t}");
    assert!(t.contains("127.0.0.1:8080"), "{t}");
}

#[test]
fn a_misspelt_setting_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path()).arg("config").env("FERROBASE_DATABSE_URL", "x").output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("FERROBASE_DATABSE_URL"), "{}", text(&out));
    let ok = ferrobase(dir.path()).arg("config").env("FERROBASE_TEST_POSTGRES_URL", "x").output().unwrap();
    assert!(ok.status.success(), "test variables are not settings: {}", text(&ok));
}

#[test]
fn config_file_is_read_and_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ferrobase.toml"), "bind = \"127.0.0.1:9999\"\nlog_level = \"debug\"\n").unwrap();
    let out = ferrobase(dir.path()).arg("config").env("FERROBASE_LOG_LEVEL", "warn").output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("127.0.0.1:9999"), "{t}");
    assert!(t.contains("FERROBASE_LOG_LEVEL") && t.contains("warn"), "{t}");
}

#[test]
fn modules_take_their_own_settings_and_refuse_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ferrobase.toml"), "[work]\ndue_reminder_hours = 48\n").unwrap();
    let out = ferrobase(dir.path()).arg("config").env("FERROBASE_CHAT__DEFAULT_ROOMS", "false").output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("FERROBASE_CHAT__DEFAULT_ROOMS") && t.contains("false"), "{t}");
    assert!(t.contains("FERROBASE_WORK__DUE_REMINDER_HOURS") && t.contains("48"), "{t}");

    let typo = ferrobase(dir.path()).arg("config").env("FERROBASE_CHAT__DEFAULT_ROOM", "false").output().unwrap();
    assert!(!typo.status.success());
    assert!(text(&typo).contains("FERROBASE_CHAT__DEFAULT_ROOM"), "{}", text(&typo));
    // Values are parsed and checked too, whether or not the module is served.
    for bad in ["0", "abc", "100000"] {
        let out = ferrobase(dir.path())
            .arg("config")
            .env("FERROBASE_WORK__DUE_REMINDER_HOURS", bad)
            .env("FERROBASE_MODULES", "chat")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} was taken: {}", text(&out));
        assert!(text(&out).contains("work"), "{}", text(&out));
    }
    // Defaults are listed too.
    let plain = tempfile::tempdir().unwrap();
    let out = ferrobase(plain.path()).arg("config").output().unwrap();
    assert!(text(&out).contains("FERROBASE_CHAT__DEFAULT_ROOMS") && text(&out).contains("true"), "{}", text(&out));
    let nobody = ferrobase(dir.path()).arg("config").env("FERROBASE_PAYROLL__RATE", "1").output().unwrap();
    assert!(!nobody.status.success());
    assert!(text(&nobody).contains("payroll"), "{}", text(&nobody));
    // One underscore names a module's setting too (`FERROBASE_STUDIO_PROVIDER_URL`); the
    // two-underscore form wins when both are given; a key the module lacks is still refused.
    let short = ferrobase(plain.path())
        .arg("config")
        .env("FERROBASE_STUDIO_PROVIDER_URL", "http://images.internal")
        .output()
        .unwrap();
    assert!(short.status.success(), "{}", text(&short));
    assert!(
        text(&short)
            .lines()
            .any(|l| l.starts_with("FERROBASE_STUDIO__PROVIDER_URL") && l.ends_with("http://images.internal")),
        "{}",
        text(&short)
    );
    let both = ferrobase(plain.path())
        .arg("config")
        .env("FERROBASE_STUDIO_TIMEOUT_SECS", "5")
        .env("FERROBASE_STUDIO__TIMEOUT_SECS", "7")
        .output()
        .unwrap();
    assert!(
        text(&both).lines().any(|l| l.starts_with("FERROBASE_STUDIO__TIMEOUT_SECS") && l.ends_with('7')),
        "{}",
        text(&both)
    );
    // The environment wins over the file in either form.
    std::fs::write(plain.path().join("ferrobase.toml"), "[studio]\ntimeout_secs = 9\n").unwrap();
    let over = ferrobase(plain.path()).arg("config").env("FERROBASE_STUDIO_TIMEOUT_SECS", "5").output().unwrap();
    assert!(
        text(&over).lines().any(|l| l.starts_with("FERROBASE_STUDIO__TIMEOUT_SECS") && l.ends_with('5')),
        "{}",
        text(&over)
    );
    std::fs::remove_file(plain.path().join("ferrobase.toml")).unwrap();
    let wrong = ferrobase(plain.path()).arg("config").env("FERROBASE_STUDIO_PROVIDER_URI", "x").output().unwrap();
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("FERROBASE_STUDIO_PROVIDER_URI"), "{}", text(&wrong));
}

#[test]
fn unknown_modules_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path()).arg("migrate").env("FERROBASE_MODULES", "accounts,payroll").output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("payroll"), "{}", text(&out));
}

#[test]
fn unknown_database_scheme_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path()).arg("migrate").env("FERROBASE_DATABASE_URL", "mysql://x/y").output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("unsupported database url scheme"), "{}", text(&out));
}

#[tokio::test]
async fn admin_create_makes_a_verified_admin_who_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = ferrobase(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{}", text(&migrate));
    let out = ferrobase(dir.path())
        .args(["admin", "create", "--email", "Root@Example.com", "--password", "an admin password"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("root@example.com"));
    let weak = ferrobase(dir.path())
        .args(["admin", "create", "--email", "x@example.com", "--password", "short"])
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(text(&weak).contains("password"), "{}", text(&weak));

    let (mut child, base, http) = serve(dir.path(), &[], Stdio::null).await;
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "root@example.com", "password": "an admin password"}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = login.json().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(body["user"]["role"], "admin", "{body}");
    assert_eq!(body["user"]["email_verified"], true);
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_never_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, http) =
        serve(dir.path(), &[("FERROBASE_LOG_FORMAT", "json"), ("FERROBASE_LOG_LEVEL", "info")], Stdio::piped).await;
    let register = serde_json::json!({"email": "log@example.com", "password": "password-in-a-body-42", "name": "L"});
    let r = http.post(format!("{base}/api/v1/auth/register")).json(&register).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let token = r.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    http.get(format!("{base}/api/v1/users/me?token=query-secret-77")).bearer_auth(&token).send().await.unwrap();
    terminate(&child);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let logs = text(&out);
    let lines: Vec<serde_json::Value> =
        logs.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l.to_string().contains(&request_id)), "request id in the logs: {logs}");
    for secret in ["password-in-a-body-42", "query-secret-77", token.as_str()] {
        assert!(!logs.contains(secret), "a secret reached the logs: {logs}");
    }
}

#[tokio::test]
async fn human_logs_carry_no_colour_codes_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, http) = serve(dir.path(), &[("FERROBASE_LOG_LEVEL", "info")], Stdio::piped).await;
    http.get(format!("{base}/api/v1/nothing-here")).send().await.unwrap();
    terminate(&child);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let logs = text(&out);
    assert!(logs.contains("ferrobase ready"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "escape sequences in a pipe: {logs:?}");
}

#[test]
fn help_names_the_environment_the_config_file_and_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path()).arg("--help").output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for needed in
        ["FERROBASE_", "ferrobase.toml", "FERROBASE_CONFIG", "./data", "FERROBASE_DATA_DIR", "ferrobase config"]
    {
        assert!(t.contains(needed), "--help does not mention {needed}: {t}");
    }
}

/// Every setting `ferrobase config` lists, and the variables the commands read, are in the
/// README's tables.
#[test]
fn the_readme_lists_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path()).arg("config").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let mut names: Vec<String> = text(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("FERROBASE_"))
        .map(String::from)
        .collect();
    assert!(names.len() > 30, "{names:?}");
    names.extend(["FERROBASE_CONFIG".to_string(), "FERROBASE_ADMIN_PASSWORD".to_string()]);
    let missing: Vec<&String> = names.iter().filter(|n| !readme.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "not in the README: {missing:?}");
}

#[tokio::test]
async fn outbox_lists_and_retries_parked_rows() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ferrobase(dir.path()).arg("migrate").output().unwrap().status.success());
    let db = platform::db::connect(&format!("sqlite://{}/data/ferrobase.db", dir.path().display()), 2).await.unwrap();
    let id = uuid::Uuid::now_v7();
    let now = platform::db::Ts::now();
    let platform::db::Db::Sqlite(pool, _) = &db else { unreachable!() };
    sqlx::query(
        "INSERT INTO outbox (id, kind, payload, status, attempts, next_attempt_at, created_at, last_error)
         VALUES ($1, 'mail.send', '{}', 'parked', 10, $2, $2, 'smtp: 550 mailbox unavailable')",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
    let list = ferrobase(dir.path()).args(["outbox", "list"]).output().unwrap();
    assert!(list.status.success(), "{}", text(&list));
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(listed.contains(&id.to_string()) && listed.contains("550 mailbox unavailable"), "{listed}");
    let retry = ferrobase(dir.path()).args(["outbox", "retry", &id.to_string()]).output().unwrap();
    assert!(retry.status.success(), "{}", text(&retry));
    let status: String =
        sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1").bind(id).fetch_one(pool).await.unwrap();
    assert_eq!(status, "pending");
    // Not parked any more: a second retry says so and fails.
    let again = ferrobase(dir.path()).args(["outbox", "retry", &id.to_string()]).output().unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("no parked row"), "{}", text(&again));
    let bad = ferrobase(dir.path()).args(["outbox", "retry", "not-an-id"]).output().unwrap();
    assert!(!bad.status.success());
}
