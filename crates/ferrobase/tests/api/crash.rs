//! Issue #9 item 15: `kill -9` of the server during a write load. Afterwards every write that
//! was answered 2xx is in the database, and every outbox row written (here: invitation mails)
//! is delivered once after the restart: rows the dead process had claimed are free again after
//! the claim time, and a redelivered mail replaces its first copy (one file per message id).

use crate::process::serve;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the load got 2xx answers for.
#[derive(Default)]
struct Answered {
    tasks: HashSet<String>,
    invited: HashSet<String>,
}

/// One writer: its own account and project; tasks without end, invitations while its hourly
/// allowance lasts. Stops at the first failed connection (the server is gone).
async fn writer(http: reqwest::Client, base: String, n: usize, answered: Arc<Mutex<Answered>>) {
    let email = format!("writer{n}@example.com");
    let body = json!({"email": email, "password": testkit::PASSWORD, "name": format!("Writer {n}")});
    let Ok(r) = http.post(format!("{base}/api/v1/auth/register")).json(&body).send().await else { return };
    let session: Value = r.json().await.unwrap();
    let token = session["access_token"].as_str().unwrap().to_string();
    let body = json!({"name": format!("Load {n}"), "visibility": "private"});
    let Ok(r) = http.post(format!("{base}/api/v1/work/projects")).bearer_auth(&token).json(&body).send().await else {
        return;
    };
    let project = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    for i in 0.. {
        let body = json!({"project_id": project, "title": format!("task {n}-{i}")});
        let Ok(r) = http.post(format!("{base}/api/v1/work/tasks")).bearer_auth(&token).json(&body).send().await else {
            return;
        };
        let status = r.status();
        let Ok(task) = r.json::<Value>().await else { return };
        if status.is_success() {
            answered.lock().unwrap().tasks.insert(task["id"].as_str().unwrap().to_string());
        }
        if i < 45 {
            let to = format!("invitee-{n}-{i}@example.com");
            let path = format!("{base}/api/v1/work/projects/{project}/members");
            let body = json!({"email": to, "role": "member"});
            let Ok(r) = http.post(path).bearer_auth(&token).json(&body).send().await else { return };
            if r.status().is_success() {
                answered.lock().unwrap().invited.insert(to);
            }
        }
    }
}

/// Mail files in `dir` per recipient.
fn mailbox(dir: &Path) -> HashMap<String, usize> {
    let mut by_recipient = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|e| e == "eml")
            && let Ok(text) = std::fs::read_to_string(entry.path())
            && let Some(to) = text.lines().find_map(|l| l.strip_prefix("To: "))
        {
            *by_recipient.entry(to.trim().to_string()).or_insert(0) += 1;
        }
    }
    by_recipient
}

async fn kill_9_during_writes_loses_nothing_answered(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, http) = serve(dir.path(), env, Stdio::null).await;
    let answered = Arc::new(Mutex::new(Answered::default()));
    let writers: Vec<_> =
        (0..8).map(|n| tokio::spawn(writer(http.clone(), base.clone(), n, answered.clone()))).collect();
    // Kill while the writers are busy and the outbox is delivering.
    let started = Instant::now();
    while answered.lock().unwrap().tasks.len() < 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no shutdown of any kind
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let answered = std::mem::take(&mut *answered.lock().unwrap());
    assert!(!answered.invited.is_empty());

    let (mut child, _, _) = serve(dir.path(), env, Stdio::null).await;
    // Every answered write is in the database.
    let db = platform::db::connect(&database_url(dir.path(), env), 2).await.unwrap();
    let ids: Vec<uuid::Uuid> = answered.tasks.iter().map(|id| uuid::Uuid::parse_str(id).unwrap()).collect();
    let kept = platform::db::ids_among(&db, "SELECT id FROM work_tasks WHERE $1 IS NOT NULL AND id IN", ids[0], &ids)
        .await
        .unwrap();
    assert_eq!(kept.len(), ids.len(), "{} answered tasks are gone", ids.len() - kept.len());
    db.close().await;

    // Every invitation mail arrives (rows claimed by the dead process within the claim time), and
    // the mailbox holds one per invitation: a row delivered again replaces its file (one per
    // message id), so more than one means two rows (or two invitations) for one answer.
    let mail = dir.path().join("data").join("mail");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = mailbox(&mail);
        let arrived = answered.invited.iter().filter(|to| got.contains_key(*to)).count();
        if arrived == answered.invited.len() {
            let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "more than one mail for one invitation: {twice:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{arrived} of {} invitation mails arrived", answered.invited.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The database URL the server in `dir` used.
fn database_url(dir: &Path, env: &[(&str, &str)]) -> String {
    env.iter()
        .find(|(k, _)| *k == "FERROBASE_DATABASE_URL")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("data").join("ferrobase.db").display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_during_writes_loses_nothing_answered() {
    kill_9_during_writes_loses_nothing_answered(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_kill_9_during_writes_loses_nothing_answered() {
    let Some(base) = testkit::service_url("FERROBASE_TEST_POSTGRES_URL") else { return };
    let url = testkit::fresh_postgres_database(&base).await;
    kill_9_during_writes_loses_nothing_answered(&[("FERROBASE_DATABASE_URL", &url)]).await;
}
