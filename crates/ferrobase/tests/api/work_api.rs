//! The work contract over HTTP, on SQLite and (in CI) PostgreSQL + Redis: the permission
//! matrix per role, nothing of a private project for outsiders, task filters, sorts and
//! cursors, the `completed_at` rule, blocker cycles, invitations, activity, analytics, CSV, and
//! the project topic on the native gateway.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::{Value, json};
use std::collections::HashSet;
use testkit::{Session, TestApp};

async fn project(app: &TestApp, owner: &Session, name: &str, visibility: &str) -> String {
    let r = app
        .post("/api/v1/work/projects", Some(&owner.access), json!({"name": name, "visibility": visibility}))
        .await
        .expect(201);
    assert_eq!(r.json["role"], "owner");
    r.json["id"].as_str().unwrap().to_string()
}

async fn add(app: &TestApp, by: &Session, project: &str, who: &Session, role: &str) {
    app.post(
        &format!("/api/v1/work/projects/{project}/members"),
        Some(&by.access),
        json!({"user_id": who.user_id, "role": role}),
    )
    .await
    .expect(201);
}

async fn task(app: &TestApp, by: &Session, project: &str, body: Value) -> Value {
    let mut body = body;
    body["project_id"] = json!(project);
    app.post("/api/v1/work/tasks", Some(&by.access), body).await.expect(201).json
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

async fn permission_matrix_per_role(app: TestApp) {
    let owner = app.register("owner@example.com").await;
    let manager = app.register("manager@example.com").await;
    let member = app.register("member@example.com").await;
    let guest = app.register("guest@example.com").await;
    let p = project(&app, &owner, "Board", "private").await;
    add(&app, &owner, &p, &manager, "manager").await;
    add(&app, &owner, &p, &member, "member").await;
    add(&app, &owner, &p, &guest, "guest").await;
    let members = app.get(&format!("/api/v1/work/projects/{p}/members"), Some(&guest.access)).await.expect(200);
    assert_eq!(members.json["items"].as_array().unwrap().len(), 4);
    // A page at a time, by user id.
    let first = app.get(&format!("/api/v1/work/projects/{p}/members?limit=3"), Some(&guest.access)).await.expect(200);
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let rest = format!("/api/v1/work/projects/{p}/members?limit=3&cursor={cursor}");
    let rest = app.get(&rest, Some(&guest.access)).await.expect(200);
    assert_eq!(rest.json["items"].as_array().unwrap().len(), 1);
    assert!(rest.json["next_cursor"].is_null());
    app.get(&format!("/api/v1/work/projects/{p}/members?limit=1000"), Some(&guest.access))
        .await
        .expect_problem(422, "validation_failed");
    app.get(&format!("/api/v1/work/projects/{p}/members?cursor=not-an-id"), Some(&guest.access))
        .await
        .expect_problem(422, "validation_failed");
    // Pending invitations name addresses: managers and the owner only.
    app.get(&format!("/api/v1/work/projects/{p}/invitations"), Some(&guest.access))
        .await
        .expect_problem(403, "forbidden");
    app.get(&format!("/api/v1/work/projects/{p}/invitations"), Some(&member.access))
        .await
        .expect_problem(403, "forbidden");

    // Guests read everything and change nothing.
    app.get(&format!("/api/v1/work/projects/{p}"), Some(&guest.access)).await.expect(200);
    let by_manager = task(&app, &manager, &p, json!({"title": "Manager's task"})).await;
    let mt = by_manager["id"].as_str().unwrap();
    app.get(&format!("/api/v1/work/tasks/{mt}"), Some(&guest.access)).await.expect(200);
    app.post("/api/v1/work/tasks", Some(&guest.access), json!({"project_id": p, "title": "x"}))
        .await
        .expect_problem(403, "forbidden");
    app.post(&format!("/api/v1/work/tasks/{mt}/comments"), Some(&guest.access), json!({"content": "hi"}))
        .await
        .expect_problem(403, "forbidden");
    app.patch(&format!("/api/v1/work/tasks/{mt}"), Some(&guest.access), json!({"title": "g"}))
        .await
        .expect_problem(403, "forbidden");

    // Members create tasks and edit their own, not others'.
    let own = task(&app, &member, &p, json!({"title": "Mine"})).await;
    let own_id = own["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/work/tasks/{own_id}"), Some(&member.access), json!({"status": "review"}))
        .await
        .expect(200);
    app.patch(&format!("/api/v1/work/tasks/{mt}"), Some(&member.access), json!({"title": "taken"}))
        .await
        .expect_problem(403, "forbidden");
    app.delete(&format!("/api/v1/work/tasks/{mt}"), Some(&member.access), None).await.expect_problem(403, "forbidden");
    app.patch(&format!("/api/v1/work/projects/{p}"), Some(&member.access), json!({"name": "Mine now"}))
        .await
        .expect_problem(403, "forbidden");
    app.post(
        &format!("/api/v1/work/projects/{p}/members"),
        Some(&member.access),
        json!({"user_id": guest.user_id, "role": "guest"}),
    )
    .await
    .expect_problem(403, "forbidden");
    // Assigned to a member, a manager's task becomes theirs to edit.
    app.patch(&format!("/api/v1/work/tasks/{mt}"), Some(&manager.access), json!({"assignee_id": member.user_id}))
        .await
        .expect(200);
    app.patch(&format!("/api/v1/work/tasks/{mt}"), Some(&member.access), json!({"status": "in_progress"}))
        .await
        .expect(200);
    // Guests cannot be assigned.
    app.patch(&format!("/api/v1/work/tasks/{mt}"), Some(&manager.access), json!({"assignee_id": guest.user_id}))
        .await
        .expect_problem(422, "validation_failed");

    // Managers edit the project and any task, manage members below them, not managers.
    app.patch(&format!("/api/v1/work/projects/{p}"), Some(&manager.access), json!({"status": "on_hold"}))
        .await
        .expect(200);
    app.patch(&format!("/api/v1/work/tasks/{own_id}"), Some(&manager.access), json!({"priority": "high"}))
        .await
        .expect(200);
    let extra = app.register("extra@example.com").await;
    app.post(
        &format!("/api/v1/work/projects/{p}/members"),
        Some(&manager.access),
        json!({"user_id": extra.user_id, "role": "manager"}),
    )
    .await
    .expect_problem(403, "forbidden");
    add(&app, &manager, &p, &extra, "member").await;
    app.patch(
        &format!("/api/v1/work/projects/{p}/members/{}", extra.user_id),
        Some(&manager.access),
        json!({"role": "guest"}),
    )
    .await
    .expect(200);
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", extra.user_id), Some(&manager.access), None)
        .await
        .expect(204);
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", owner.user_id), Some(&manager.access), None)
        .await
        .expect_problem(409, "owner_stays");
    app.delete(&format!("/api/v1/work/tasks/{own_id}"), Some(&manager.access), None).await.expect(204);
    app.delete(&format!("/api/v1/work/projects/{p}"), Some(&manager.access), None)
        .await
        .expect_problem(403, "forbidden");

    // Members leave; the owner cannot; the owner deletes.
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", member.user_id), Some(&member.access), None)
        .await
        .expect(204);
    let after = app.get(&format!("/api/v1/work/tasks/{mt}"), Some(&manager.access)).await.expect(200);
    assert!(after.json["assignee_id"].is_null(), "leaving unassigns");
    app.get(&format!("/api/v1/work/projects/{p}"), Some(&member.access)).await.expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", owner.user_id), Some(&owner.access), None)
        .await
        .expect_problem(409, "owner_stays");

    // In team projects members may add members and guests.
    let team = project(&app, &owner, "Team", "team").await;
    add(&app, &owner, &team, &member, "member").await;
    add(&app, &member, &team, &guest, "guest").await;
    app.post(
        &format!("/api/v1/work/projects/{team}/members"),
        Some(&member.access),
        json!({"user_id": extra.user_id, "role": "manager"}),
    )
    .await
    .expect_problem(403, "forbidden");

    // Ownership transfer: the old owner becomes a manager.
    app.patch(
        &format!("/api/v1/work/projects/{p}/members/{}", manager.user_id),
        Some(&owner.access),
        json!({"role": "owner"}),
    )
    .await
    .expect(200);
    let mine = app.get(&format!("/api/v1/work/projects/{p}"), Some(&owner.access)).await.expect(200);
    assert_eq!(mine.json["role"], "manager");
    assert_eq!(mine.json["owner_id"], json!(manager.user_id));
    app.delete(&format!("/api/v1/work/projects/{p}"), Some(&manager.access), None).await.expect(204);
    app.get(&format!("/api/v1/work/tasks/{mt}"), Some(&manager.access)).await.expect_problem(404, "not_found");
}

async fn outsiders_see_nothing_of_a_private_project(app: TestApp) {
    let owner = app.register("own@example.com").await;
    let outsider = app.register("out@example.com").await;
    let p = project(&app, &owner, "Secret", "private").await;
    let t = task(&app, &owner, &p, json!({"title": "Hidden", "tags": ["x"]})).await;
    let t = t["id"].as_str().unwrap().to_string();
    let c = app
        .post(&format!("/api/v1/work/tasks/{t}/comments"), Some(&owner.access), json!({"content": "psst"}))
        .await
        .expect(201);
    let c = c.json["id"].as_str().unwrap().to_string();
    let me = &outsider.access;
    let u = &owner.user_id;
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/v1/work/projects/{p}"), None),
        ("PATCH", format!("/api/v1/work/projects/{p}"), Some(json!({"name": "mine"}))),
        ("DELETE", format!("/api/v1/work/projects/{p}"), None),
        ("GET", format!("/api/v1/work/projects/{p}/members"), None),
        ("POST", format!("/api/v1/work/projects/{p}/members"), Some(json!({"user_id": outsider.user_id}))),
        ("PATCH", format!("/api/v1/work/projects/{p}/members/{u}"), Some(json!({"role": "guest"}))),
        ("DELETE", format!("/api/v1/work/projects/{p}/members/{u}"), None),
        ("GET", format!("/api/v1/work/projects/{p}/invitations"), None),
        ("GET", format!("/api/v1/work/projects/{p}/activity"), None),
        ("GET", format!("/api/v1/work/projects/{p}/analytics"), None),
        ("GET", format!("/api/v1/work/projects/{p}/tasks.csv"), None),
        ("GET", format!("/api/v1/work/tasks?project_id={p}"), None),
        ("POST", "/api/v1/work/tasks".to_string(), Some(json!({"project_id": p, "title": "in"}))),
        ("GET", format!("/api/v1/work/tasks/{t}"), None),
        ("PATCH", format!("/api/v1/work/tasks/{t}"), Some(json!({"title": "mine"}))),
        ("DELETE", format!("/api/v1/work/tasks/{t}"), None),
        ("GET", format!("/api/v1/work/tasks/{t}/comments"), None),
        ("POST", format!("/api/v1/work/tasks/{t}/comments"), Some(json!({"content": "hi"}))),
        ("PATCH", format!("/api/v1/work/comments/{c}"), Some(json!({"content": "edit"}))),
        ("DELETE", format!("/api/v1/work/comments/{c}"), None),
    ];
    for (method, path, body) in routes {
        let r = app.call(method.parse().unwrap(), &path, Some(me), body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_eq!(r.code(), "not_found", "{method} {path}");
    }
    // Lists without a project never include it either.
    let all = app.get("/api/v1/work/tasks?include_total=true", Some(me)).await.expect(200);
    assert_eq!(all.json["total"], 0);
    let projects = app.get("/api/v1/work/projects?include_public=true", Some(me)).await.expect(200);
    assert!(projects.json["items"].as_array().unwrap().is_empty());
    // The owner still has everything.
    app.get(&format!("/api/v1/work/tasks/{t}"), Some(&owner.access)).await.expect(200);

    // A public project is readable by anyone signed in, writable only by members.
    let open = project(&app, &owner, "Open", "public").await;
    let ot = task(&app, &owner, &open, json!({"title": "Visible"})).await;
    let ot = ot["id"].as_str().unwrap();
    let seen = app.get(&format!("/api/v1/work/projects/{open}"), Some(me)).await.expect(200);
    assert!(seen.json["role"].is_null());
    app.get(&format!("/api/v1/work/tasks?project_id={open}"), Some(me)).await.expect(200);
    app.patch(&format!("/api/v1/work/tasks/{ot}"), Some(me), json!({"title": "x"}))
        .await
        .expect_problem(403, "forbidden");
    let listed = app.get("/api/v1/work/projects?include_public=true", Some(me)).await.expect(200);
    assert_eq!(ids(&listed.json), vec![open.clone()]);
}

async fn filters_sorting_and_pagination(app: TestApp) {
    let owner = app.register("lead@example.com").await;
    let dev = app.register("dev@example.com").await;
    let p = project(&app, &owner, "Tracker", "private").await;
    let other = project(&app, &owner, "Other", "private").await;
    add(&app, &owner, &p, &dev, "member").await;
    let soon = chrono::Utc::now() + chrono::Duration::days(1);
    let later = chrono::Utc::now() + chrono::Duration::days(5);
    let specs = [
        json!({"title": "Fix login bug", "priority": "urgent", "tags": ["Bug", "auth"], "assignee_id": dev.user_id, "due_date": soon}),
        json!({"title": "Write docs", "priority": "low", "tags": ["docs"], "due_date": later}),
        json!({"title": "Refactor auth", "priority": "high", "tags": ["auth"], "assignee_id": dev.user_id}),
        json!({"title": "Release 1.0", "priority": "medium", "status": "review", "description": "Ship the 100% build"}),
        json!({"title": "Plan sprint", "priority": "high", "status": "done"}),
    ];
    let mut created = Vec::new();
    for spec in specs {
        created.push(task(&app, &owner, &p, spec).await["id"].as_str().unwrap().to_string());
    }
    task(&app, &owner, &other, json!({"title": "Elsewhere auth"})).await;
    let first = app.get(&format!("/api/v1/work/tasks/{}", created[0]), Some(&owner.access)).await.expect(200);
    assert_eq!(first.json["tags"], json!(["bug", "auth"]), "tags are lowercased and keep their order");
    let list = |q: &str| {
        let path = format!("/api/v1/work/tasks?project_id={p}&{q}");
        let token = owner.access.clone();
        let app = &app;
        async move { app.get(&path, Some(&token)).await.expect(200).json }
    };
    assert_eq!(
        ids(&list("priority=high&sort=created_at&order=asc").await),
        vec![created[2].clone(), created[4].clone()]
    );
    assert_eq!(ids(&list("status=review").await), vec![created[3].clone()]);
    assert_eq!(
        ids(&list(&format!("assignee_id={}&order=asc", dev.user_id)).await),
        vec![created[0].clone(), created[2].clone()]
    );
    assert_eq!(ids(&list("tag=AUTH&order=asc").await), vec![created[0].clone(), created[2].clone()]);
    assert_eq!(ids(&list("q=AUTH&order=asc").await), vec![created[2].clone()]);
    assert_eq!(ids(&list("q=100%25").await), vec![created[3].clone()], "% is matched literally");
    let before = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let enc = |s: &str| s.replace('+', "%2B").replace(':', "%3A");
    assert_eq!(ids(&list(&format!("due_before={}", enc(&before))).await), vec![created[0].clone()]);
    assert_eq!(ids(&list(&format!("due_after={}", enc(&before))).await), vec![created[1].clone()]);
    // Priority descending: urgent, high, high, medium, low (ties by id).
    let by_priority = ids(&list("sort=priority&order=desc").await);
    assert_eq!(by_priority[0], created[0]);
    assert_eq!(by_priority[3], created[3]);
    assert_eq!(by_priority[4], created[1]);
    // Due date ascending: tasks without one come last.
    let by_due = ids(&list("sort=due_date&order=asc").await);
    assert_eq!(&by_due[..2], &[created[0].clone(), created[1].clone()]);
    // Board position ascending is creation order by default.
    assert_eq!(ids(&list("sort=position").await), created);

    // Walking pages with every sort yields each task exactly once, in order.
    for sort in ["created_at", "updated_at", "due_date", "priority", "position"] {
        for order in ["asc", "desc"] {
            let full = ids(&list(&format!("sort={sort}&order={order}&limit=100")).await);
            let mut walked = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut q = format!("sort={sort}&order={order}&limit=2");
                if let Some(c) = &cursor {
                    q.push_str(&format!("&cursor={c}"));
                }
                let page = list(&q).await;
                walked.extend(ids(&page));
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            assert_eq!(walked, full, "pages of {sort} {order}");
            assert_eq!(full.len(), 5);
        }
    }
    let counted = list("limit=2&include_total=true&tag=auth").await;
    assert_eq!(counted["total"], 2);
    assert!(list("limit=2").await.get("total").is_none());
    // Without a project: every project I am a member of.
    let mine = app.get("/api/v1/work/tasks?include_total=true", Some(&owner.access)).await.expect(200);
    assert_eq!(mine.json["total"], 6);
    let devs = app.get("/api/v1/work/tasks?include_total=true", Some(&dev.access)).await.expect(200);
    assert_eq!(devs.json["total"], 5, "the other project is not the developer's");

    // Bad input answers 4xx with a code, never 500.
    let cursor = list("sort=priority&limit=1").await["next_cursor"].as_str().unwrap().to_string();
    let r =
        app.get(&format!("/api/v1/work/tasks?project_id={p}&sort=due_date&cursor={cursor}"), Some(&owner.access)).await;
    assert_eq!(r.status, 422, "a cursor of another sort: {}", r.text);
    let r = app.get(&format!("/api/v1/work/tasks?project_id={p}&cursor=garbage"), Some(&owner.access)).await;
    assert_eq!(r.status, 422);
    let r = app.get(&format!("/api/v1/work/tasks?project_id={p}&sort=title"), Some(&owner.access)).await;
    assert!(r.status == 400 || r.status == 422, "unknown sort: {}", r.status);
    let r = app.get(&format!("/api/v1/work/tasks?project_id={p}&limit=1000"), Some(&owner.access)).await;
    assert_eq!(r.status, 422);
}

async fn completed_at_follows_the_status(app: TestApp) {
    let owner = app.register("done@example.com").await;
    let p = project(&app, &owner, "Flow", "private").await;
    let t = task(&app, &owner, &p, json!({"title": "Ship"})).await;
    assert!(t["completed_at"].is_null());
    let path = format!("/api/v1/work/tasks/{}", t["id"].as_str().unwrap());
    let done = app.patch(&path, Some(&owner.access), json!({"status": "done"})).await.expect(200);
    let first = done.json["completed_at"].as_str().unwrap().to_string();
    // Staying done keeps the first completion time.
    let again = app.patch(&path, Some(&owner.access), json!({"status": "done", "title": "Ship it"})).await.expect(200);
    assert_eq!(again.json["completed_at"], json!(first));
    let reopened = app.patch(&path, Some(&owner.access), json!({"status": "in_progress"})).await.expect(200);
    assert!(reopened.json["completed_at"].is_null());
    // A client cannot set it.
    app.patch(&path, Some(&owner.access), json!({"completed_at": first})).await.expect(422);
    let created_done = task(&app, &owner, &p, json!({"title": "Already", "status": "done"})).await;
    assert!(created_done["completed_at"].is_string());
}

async fn blockers_cannot_form_cycles(app: TestApp) {
    let owner = app.register("deps@example.com").await;
    let p = project(&app, &owner, "Deps", "private").await;
    let q = project(&app, &owner, "Else", "private").await;
    let a = task(&app, &owner, &p, json!({"title": "A"})).await["id"].as_str().unwrap().to_string();
    let b = task(&app, &owner, &p, json!({"title": "B", "blocked_by": [a]})).await["id"].as_str().unwrap().to_string();
    let c = task(&app, &owner, &p, json!({"title": "C", "blocked_by": [b]})).await;
    assert_eq!(c["blocked_by"], json!([b]));
    let c = c["id"].as_str().unwrap().to_string();
    let x = task(&app, &owner, &q, json!({"title": "X"})).await["id"].as_str().unwrap().to_string();
    let patch = |id: &str, blockers: Value| {
        let path = format!("/api/v1/work/tasks/{id}");
        let token = owner.access.clone();
        let app = &app;
        async move { app.patch(&path, Some(&token), json!({"blocked_by": blockers})).await }
    };
    patch(&a, json!([c])).await.expect_problem(422, "dependency_cycle");
    patch(&a, json!([a])).await.expect_problem(422, "dependency_cycle");
    patch(&a, json!([x])).await.expect_problem(422, "validation_failed");
    // Replacing C's blockers with A (no cycle) works, and then B may wait for C.
    patch(&c, json!([a])).await.expect(200);
    let b_now = patch(&b, json!([a, c])).await.expect(200);
    assert_eq!(b_now.json["blocked_by"].as_array().unwrap().len(), 2);
    patch(&a, json!([b])).await.expect_problem(422, "dependency_cycle");
    // Deleting a blocker removes the edge.
    app.delete(&format!("/api/v1/work/tasks/{c}"), Some(&owner.access), None).await.expect(204);
    let b_after = app.get(&format!("/api/v1/work/tasks/{b}"), Some(&owner.access)).await.expect(200);
    assert_eq!(b_after.json["blocked_by"], json!([a]));
}

async fn invitations_become_memberships_on_verification(app: TestApp) {
    let owner = app.register_verified("host@example.com").await;
    let p = project(&app, &owner, "Guests welcome", "private").await;
    let r = app
        .post(
            &format!("/api/v1/work/projects/{p}/members"),
            Some(&owner.access),
            json!({"email": "Newbie@Example.com", "role": "member"}),
        )
        .await
        .expect(202);
    assert_eq!(r.json["email"], "newbie@example.com");
    let invite = testkit::read_mail(&app.mail_dir(), "newbie@example.com", 1).await;
    assert!(invite.subject.contains("Guests welcome"), "{}", invite.subject);
    let pending = app.get(&format!("/api/v1/work/projects/{p}/invitations"), Some(&owner.access)).await.expect(200);
    assert_eq!(pending.json["items"].as_array().unwrap().len(), 1);
    // Registering alone proves nothing about the address; verifying it does.
    let newbie = app.register("newbie@example.com").await;
    app.get(&format!("/api/v1/work/projects/{p}"), Some(&newbie.access)).await.expect_problem(404, "not_found");
    let code = testkit::code_in(&testkit::read_mail(&app.mail_dir(), "newbie@example.com", 2).await.text);
    app.post("/api/v1/auth/email/verify", None, json!({"email": "newbie@example.com", "code": code})).await.expect(200);
    // The membership follows the verification through its event (retried until it is done).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let seen = loop {
        let r = app.get(&format!("/api/v1/work/projects/{p}"), Some(&newbie.access)).await;
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r.expect(200);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!(seen.json["role"], "member");
    let pending = app.get(&format!("/api/v1/work/projects/{p}/invitations"), Some(&owner.access)).await.expect(200);
    assert!(pending.json["items"].as_array().unwrap().is_empty());
    // An address with an account is invited too (the answer does not tell it has one); its
    // owner sees the invitation and accepts it. Asking again mails nothing more.
    let known = app.register_verified("known@example.com").await;
    let members = format!("/api/v1/work/projects/{p}/members");
    let r = app.post(&members, Some(&owner.access), json!({"email": "known@example.com"})).await.expect(202);
    assert_eq!(r.json["email"], "known@example.com");
    app.post(&members, Some(&owner.access), json!({"email": "known@example.com"})).await.expect(202);
    let mine = app.get("/api/v1/work/invitations", Some(&known.access)).await.expect(200);
    let invitation = mine.json["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(mine.json["items"][0]["project_id"], p.as_str());
    let strangers = app.get("/api/v1/work/invitations", Some(&newbie.access)).await.expect(200);
    assert!(!strangers.text.contains(&invitation), "only the invitee sees it");
    app.post(&format!("/api/v1/work/invitations/{invitation}/accept"), Some(&newbie.access), json!({}))
        .await
        .expect_problem(404, "not_found");
    let joined =
        app.post(&format!("/api/v1/work/invitations/{invitation}/accept"), Some(&known.access), json!({})).await;
    assert_eq!(joined.expect(200).json["user_id"], json!(known.user_id));
    app.get(&format!("/api/v1/work/projects/{p}"), Some(&known.access)).await.expect(200);
    app.post(&format!("/api/v1/work/invitations/{invitation}/accept"), Some(&known.access), json!({}))
        .await
        .expect_problem(404, "not_found");
    // Its verification mail and one invitation, though it was invited twice.
    testkit::read_mail(&app.mail_dir(), "known@example.com", 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(testkit::mails_to(&app.mail_dir(), "known@example.com").len(), 2);
    app.post(&format!("/api/v1/work/projects/{p}/members"), Some(&owner.access), json!({"email": "not an email"}))
        .await
        .expect_problem(422, "validation_failed");
}

async fn activity_analytics_and_csv(app: TestApp) {
    let owner = app.register("pm@example.com").await;
    let p = project(&app, &owner, "Metrics", "private").await;
    let a = task(&app, &owner, &p, json!({"title": "=cmd|' /C calc'!A0", "priority": "urgent", "tags": ["ops"]})).await;
    let b =
        task(&app, &owner, &p, json!({"title": "Late", "due_date": chrono::Utc::now() - chrono::Duration::hours(2)}))
            .await;
    app.patch(
        &format!("/api/v1/work/tasks/{}", a["id"].as_str().unwrap()),
        Some(&owner.access),
        json!({"status": "done"}),
    )
    .await
    .expect(200);
    let feed = app.get(&format!("/api/v1/work/projects/{p}/activity?limit=2"), Some(&owner.access)).await.expect(200);
    let actions: Vec<&str> =
        feed.json["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["task.updated", "task.created"], "newest first");
    assert_eq!(feed.json["items"][0]["details"]["changed"], json!(["status"]));
    assert_eq!(feed.json["items"][0]["actor_name"], "pm");
    let rest = app
        .get(
            &format!("/api/v1/work/projects/{p}/activity?cursor={}", feed.json["next_cursor"].as_str().unwrap()),
            Some(&owner.access),
        )
        .await
        .expect(200);
    let older: Vec<&str> =
        rest.json["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(older, vec!["task.created", "project.created"]);

    let stats = app.get(&format!("/api/v1/work/projects/{p}/analytics"), Some(&owner.access)).await.expect(200);
    assert_eq!(stats.json["total"], 2);
    assert_eq!(stats.json["by_status"]["done"], 1);
    assert_eq!(stats.json["by_status"]["todo"], 1);
    assert_eq!(stats.json["by_priority"]["urgent"], 1);
    assert_eq!(stats.json["overdue"], 1);
    assert_eq!(stats.json["completed_per_week"].as_array().unwrap().last().unwrap()["completed"], 1);
    assert!(stats.json["mean_cycle_hours"].is_number());
    app.patch(
        &format!("/api/v1/work/tasks/{}", b["id"].as_str().unwrap()),
        Some(&owner.access),
        json!({"assignee_id": owner.user_id}),
    )
    .await
    .expect(200);
    let mine = app.get("/api/v1/work/users/me/analytics", Some(&owner.access)).await.expect(200);
    assert_eq!(mine.json["total"], 1);
    assert_eq!(mine.json["overdue"], 1);

    let csv = app.get(&format!("/api/v1/work/projects/{p}/tasks.csv"), Some(&owner.access)).await.expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", csv.text);
    assert!(lines[0].starts_with("id,title,status,priority"));
    assert!(lines[1].contains("'=cmd"), "formulas are neutralised: {}", lines[1]);
    assert!(lines[1].contains(",done,urgent,"));
}

async fn project_fields_and_validation(app: TestApp) {
    let owner = app.register("freelance@example.com").await;
    let r = app
        .post(
            "/api/v1/work/projects",
            Some(&owner.access),
            json!({"name": "Client site", "hourly_rate": "85.5", "budget": "12000", "currency": "eur",
                   "starts_on": "2026-12-01", "ends_on": "2027-02-28", "status": "on_hold"}),
        )
        .await
        .expect(201);
    assert_eq!(r.json["hourly_rate"], "85.50");
    assert_eq!(r.json["budget"], "12000.00");
    assert_eq!(r.json["currency"], "EUR");
    assert_eq!(r.json["visibility"], "private");
    assert_eq!(r.json["member_count"], 1);
    assert!(r.header("location").unwrap().ends_with(r.json["id"].as_str().unwrap()));
    let id = r.json["id"].as_str().unwrap();
    let cleared = app
        .patch(&format!("/api/v1/work/projects/{id}"), Some(&owner.access), json!({"budget": null, "name": "Site"}))
        .await
        .expect(200);
    assert!(cleared.json["budget"].is_null());
    assert_eq!(cleared.json["hourly_rate"], "85.50");
    let bad = app
        .post(
            "/api/v1/work/projects",
            Some(&owner.access),
            json!({"name": "", "hourly_rate": "1.234", "currency": "EUR", "starts_on": "2027-01-02", "ends_on": "2027-01-01"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let fields: HashSet<&str> =
        bad.json["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains("name"), "{}", bad.text);
    app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "x", "budget": "10"}))
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "x", "visibility": "secret"}))
        .await
        .expect(422);
    app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "x", "owner_id": owner.user_id}))
        .await
        .expect(422);
    app.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": id, "title": "t", "tags": [""]}))
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/v1/work/tasks", Some(&owner.access), json!({"project_id": id, "title": "t", "status": "nope"}))
        .await
        .expect(422);
    app.get("/api/v1/work/projects", None).await.expect(401);
}

async fn project_topic_on_the_native_gateway(app: TestApp) {
    let owner = app.register("live@example.com").await;
    let outsider = app.register("peek@example.com").await;
    let p = project(&app, &owner, "Live", "private").await;
    let mut ws = app.ws("/api/v1/realtime", Some(&owner.access)).await.unwrap();
    let ack = ws.request(json!({"type": "subscribe", "topic": format!("work.project.{p}")}), "s").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let mut peek = app.ws("/api/v1/realtime", Some(&outsider.access)).await.unwrap();
    let refused = peek.request(json!({"type": "subscribe", "topic": format!("work.project.{p}")}), "s").await;
    assert_eq!(refused["type"], "error", "{refused}");
    let t = task(&app, &owner, &p, json!({"title": "Broadcast"})).await;
    let frame = ws.recv_type("event").await;
    assert_eq!(frame["event"], "task:created");
    assert_eq!(frame["data"]["task"]["id"], t["id"]);

    // A removed member's open socket is told and stops receiving the project at once.
    let bob = app.register("bob-live@example.com").await;
    add(&app, &owner, &p, &bob, "member").await;
    let mut bobs = app.ws("/api/v1/realtime", Some(&bob.access)).await.unwrap();
    let ack = bobs.request(json!({"type": "subscribe", "topic": format!("work.project.{p}")}), "s").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    app.delete(&format!("/api/v1/work/projects/{p}/members/{}", bob.user_id), Some(&owner.access), None)
        .await
        .expect(204);
    let gone = bobs.recv_type("unsubscribed").await;
    assert_eq!(gone["topic"], format!("work.project.{p}"));
    task(&app, &owner, &p, json!({"title": "After removal"})).await;
    assert_eq!(ws.recv_type("event").await["event"], "member:added");
    loop {
        let frame = ws.recv_type("event").await;
        if frame["data"]["task"]["title"] == "After removal" {
            break;
        }
    }
    while let Some(frame) = bobs.next_within(std::time::Duration::from_millis(200)).await {
        assert_ne!(frame["event"], "task:created", "a removed member still receives tasks");
    }

    // A visitor watching a public project stops receiving it when it becomes private.
    let open = project(&app, &owner, "Open house", "public").await;
    let topic = format!("work.project.{open}");
    let visitor = peek.request(json!({"type": "subscribe", "topic": topic}), "v").await;
    assert_eq!(visitor["type"], "ack", "{visitor}");
    let mut own = app.ws("/api/v1/realtime", Some(&owner.access)).await.unwrap();
    assert_eq!(own.request(json!({"type": "subscribe", "topic": topic}), "o").await["type"], "ack");
    app.patch(&format!("/api/v1/work/projects/{open}"), Some(&owner.access), json!({"visibility": "private"}))
        .await
        .expect(200);
    assert_eq!(peek.recv_type("unsubscribed").await["topic"], topic);
    task(&app, &owner, &open, json!({"title": "Members only now"})).await;
    loop {
        let frame = own.recv_type("event").await;
        if frame["event"] == "task:created" {
            break;
        }
    }
    while let Some(frame) = peek.next_within(std::time::Duration::from_millis(200)).await {
        assert_ne!(frame["event"], "task:created", "a visitor still receives a private project");
    }
}

testkit::api_tests!(
    permission_matrix_per_role,
    outsiders_see_nothing_of_a_private_project,
    filters_sorting_and_pagination,
    completed_at_follows_the_status,
    blockers_cannot_form_cycles,
    invitations_become_memberships_on_verification,
    activity_analytics_and_csv,
    project_fields_and_validation,
    project_topic_on_the_native_gateway,
);
