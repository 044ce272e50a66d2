//! `ferrobase backup` and `ferrobase restore` as an operator runs them: a backup taken while
//! the server takes writes holds every write acknowledged before it began, with the stored
//! files and the signing secret; a restore refuses to run under a serving process.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{ferrobase, serve, text};

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Every message id of a room, through the history's pages.
async fn room_history(http: &reqwest::Client, base: &str, token: &str, room: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/chat/rooms/{room}/messages?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = call(http.get(url).bearer_auth(token)).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(page["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, http) = serve(dir.path(), &[], Stdio::null).await;
    let body = json!({"email": "keeper@example.com", "password": "a long enough password", "name": "Keeper"});
    let (status, session) = call(http.post(format!("{base}/api/v1/auth/register")).json(&body)).await;
    assert_eq!(status, 201, "{session}");
    let token = session["access_token"].as_str().unwrap().to_string();
    let (_, rooms) = call(http.get(format!("{base}/api/v1/chat/rooms?scope=public")).bearer_auth(&token)).await;
    let room = rooms["items"].as_array().unwrap().iter().find(|r| r["name"] == "General").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = call(http.post(format!("{base}/api/v1/chat/rooms/{room}/join")).bearer_auth(&token)).await;
    assert!(status == 200 || status == 409, "joined, or a member already: {status}");
    let part =
        reqwest::multipart::Part::bytes(crate::avatars::png(64, 48)).file_name("a.png").mime_str("image/png").unwrap();
    let (status, me) = call(
        http.put(format!("{base}/api/v1/users/me/avatar"))
            .bearer_auth(&token)
            .multipart(reqwest::multipart::Form::new().part("file", part)),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    let avatar = me["avatar_url"].as_str().unwrap().to_string();

    // Writers post until told to stop; each acknowledged message is kept with when its answer came.
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, base, token, room, acked, stop) =
            (http.clone(), base.clone(), token.clone(), room.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let url = format!("{base}/api/v1/chat/rooms/{room}/messages");
                let (status, message) =
                    call(http.post(url).bearer_auth(&token).json(&json!({"content": format!("w{w} #{n}")}))).await;
                assert_eq!(status, 201, "{message}");
                acked.lock().unwrap().push((message["id"].as_str().unwrap().to_string(), Instant::now()));
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // An empty directory made for it, open to everyone: the backup narrows it.
    let backup = dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    std::fs::set_permissions(&backup, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let began = Instant::now();
    let command = {
        let mut cmd = ferrobase(dir.path());
        cmd.arg("backup").arg(&backup);
        cmd
    };
    let out = tokio::task::spawn_blocking(move || {
        let mut command = command;
        command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let manifest: Value = serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["files"].as_u64().unwrap() >= 2, "the avatar and its thumbnail: {manifest}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let before: Vec<String> =
        acked.lock().unwrap().iter().filter(|(_, at)| *at < began).map(|(id, _)| id.clone()).collect();
    let during = acked.lock().unwrap().len() - before.len();
    assert!(
        before.len() >= 20 && during >= 5,
        "writes went on before ({}) and during the backup ({during})",
        before.len()
    );

    // Every account's data: the backup is its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&backup), mode(&backup.join("ferrobase.db"))), (0o700, 0o600));

    // Written after the backup: a restore must take it away.
    let url = format!("{base}/api/v1/chat/rooms/{room}/messages");
    let (status, late) = call(http.post(url).bearer_auth(&token).json(&json!({"content": "after the backup"}))).await;
    assert_eq!(status, 201, "{late}");

    // A restore is refused while the server serves this data directory, and changes nothing.
    let refused = ferrobase(dir.path()).arg("restore").arg(&backup).output().unwrap();
    assert!(!refused.status.success());
    assert!(text(&refused).contains("stop it first"), "{}", text(&refused));
    child.kill().unwrap();
    child.wait().unwrap();

    // Lost since: the signing secret and the stored files. The restore brings them back.
    let data = dir.path().join("data");
    std::fs::remove_file(data.join("jwt-secret")).unwrap();
    std::fs::remove_dir_all(data.join("files")).unwrap();
    let restore = ferrobase(dir.path()).arg("restore").arg(&backup).output().unwrap();
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(text(&restore).contains("ferrobase.db.before-restore-"), "what it replaced is kept: {}", text(&restore));
    let kept: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".before-restore-"))
        .collect();
    assert!(kept.iter().any(|n| n.starts_with("ferrobase.db.before-restore-")), "{kept:?}");
    assert!(!data.join("restore-in-progress").exists() && !data.join("ferrobase.db.restoring").exists());

    let (mut child, base, http) = serve(dir.path(), &[], Stdio::null).await;
    // The old access token verifies: the signing secret came back with the database.
    let restored = room_history(&http, &base, &token, &room).await;
    let restored: std::collections::HashSet<&String> = restored.iter().collect();
    let lost: Vec<&String> = before.iter().filter(|id| !restored.contains(id)).collect();
    let late_id = late["id"].as_str().unwrap().to_string();
    assert!(!restored.contains(&late_id), "a message written after the backup survived the restore");
    // The link names the first server's address; the restored one listens elsewhere.
    let avatar = format!("{base}/api/{}", avatar.split_once("/api/").unwrap().1);
    let avatar_status = http.get(avatar).send().await.unwrap().status().as_u16();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lost.is_empty(), "{} of {} acknowledged messages lost: {lost:?}", lost.len(), before.len());
    assert_eq!(avatar_status, 200, "the stored file came back");
}

/// A backup made by a newer ferrobase (a migration this build does not know) is refused, and
/// nothing is replaced.
#[test]
fn restore_refuses_a_backup_from_a_newer_version() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ferrobase(dir.path()).arg("migrate").output().unwrap().status.success());
    let backup = dir.path().join("newer");
    let out = ferrobase(dir.path()).arg("backup").arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    record_unknown_migration(&backup.join("ferrobase.db"));
    let before = std::fs::metadata(dir.path().join("data/ferrobase.db")).unwrap().modified().unwrap();
    let refused = ferrobase(dir.path()).arg("restore").arg(&backup).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("another ferrobase") && text(&refused).contains("accounts 9999"),
        "{}",
        text(&refused)
    );
    let after = std::fs::metadata(dir.path().join("data/ferrobase.db")).unwrap().modified().unwrap();
    assert_eq!(before, after, "the database was left as it was");
}

/// Records a migration no build has in the SQLite file at `path`.
fn record_unknown_migration(path: &std::path::Path) {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
            let db = platform::db::connect(&format!("sqlite://{}", path.display()), 2).await.unwrap();
            let platform::db::Db::Sqlite(pool, _) = &db else { unreachable!("a SQLite URL") };
            sqlx::query(
                "INSERT INTO schema_migrations (module, version, file, applied_at) VALUES ('accounts', 9999, 'x.sql', 'now')",
            )
            .execute(pool)
            .await
            .unwrap();
            db.close().await;
        })
    })
    .join()
    .unwrap()
}

#[test]
fn backup_refuses_a_used_directory_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ferrobase(dir.path()).arg("migrate").output().unwrap().status.success());
    let used = dir.path().join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("keep.txt"), "mine").unwrap();
    let out = ferrobase(dir.path()).arg("backup").arg(&used).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(used.join("keep.txt")).unwrap(), "mine");

    let pg = ferrobase(dir.path())
        .arg("backup")
        .arg(dir.path().join("pg"))
        .env("FERROBASE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!pg.status.success());
    assert!(text(&pg).contains("pg_dump"), "{}", text(&pg));

    let nothing = ferrobase(dir.path()).arg("restore").arg(dir.path().join("missing")).output().unwrap();
    assert!(!nothing.status.success());
    assert!(text(&nothing).contains("not a ferrobase backup"), "{}", text(&nothing));
}
