//! Issue #9, hardening: each test shows one rule holding against what broke it before: values
//! far out of range, concurrency against limits, many addresses from one network.

use serde_json::json;
use testkit::{Backend, PASSWORD, TestApp};

/// A date far out is refused at the edge with a field error, so a stored value can always be
/// read back; a date alone where a date-time belongs says which form is wanted.
async fn dates_are_range_checked_at_the_edge(app: TestApp) {
    let a = app.register("dates@example.com").await;
    let token = Some(a.access.as_str());
    let project = app.post("/api/v1/work/projects", token, json!({"name": "Dates", "visibility": "private"})).await;
    let project = project.expect(201).json["id"].as_str().unwrap().to_string();
    for (far, says) in [("+10000-01-01T00:00:00Z", "RFC 3339"), ("1969-12-31T23:59:59Z", "must be between 1970")] {
        let body = json!({"project_id": project, "title": "far", "due_date": far});
        let r = app.post("/api/v1/work/tasks", token, body).await.expect_problem(422, "invalid_body");
        assert_eq!(r.json["errors"][0]["field"], "due_date", "{}", r.text);
        assert!(r.json["errors"][0]["message"].as_str().unwrap().contains(says), "{}", r.text);
    }
    let body = json!({"project_id": project, "title": "day", "due_date": "2026-05-01"});
    let r = app.post("/api/v1/work/tasks", token, body).await.expect_problem(422, "invalid_body");
    assert!(r.json["errors"][0]["message"].as_str().unwrap().contains("RFC 3339"), "{}", r.text);
    let q = format!("/api/v1/work/tasks?project_id={project}&due_before=%2B10000-01-01T00:00:00Z");
    app.get(&q, token).await.expect_problem(400, "invalid_query");
    let far_day = json!({"name": "Far", "visibility": "private", "starts_on": "+10000-01-01"});
    let r = app.post("/api/v1/work/projects", token, far_day).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = app.patch(&format!("/api/v1/work/projects/{project}"), token, json!({"ends_on": "0999-12-31"})).await;
    assert_eq!(r.status, 422, "{}", r.text);

    // The ends of the range are kept and read back, in every view of the project.
    let edge = json!({"project_id": project, "title": "edge", "due_date": "9999-12-31T23:59:59Z"});
    app.post("/api/v1/work/tasks", token, edge).await.expect(201);
    let list = app.get(&format!("/api/v1/work/tasks?project_id={project}"), token).await.expect(200);
    assert!(list.json["items"][0]["due_date"].as_str().unwrap().starts_with("9999-12-31T23:59:59"), "{}", list.text);
    app.get(&format!("/api/v1/work/projects/{project}/analytics"), token).await.expect(200);
    let csv = app.http.get(app.url(&format!("/api/v1/work/projects/{project}/tasks.csv"))).bearer_auth(&a.access);
    assert_eq!(csv.send().await.unwrap().status(), 200);
}

/// Failed sign-ins are counted before the password is hashed, so a burst of concurrent guesses
/// gets no more than the limit checked.
async fn concurrent_guesses_are_counted_before_hashing(app: TestApp) {
    app.register("victim@example.com").await;
    let guesses = (0..30).map(|i| {
        let app = &app;
        async move { app.login("victim@example.com", &format!("wrong password {i}")).await }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.code() == "invalid_credentials").count();
    let refused = answers.iter().filter(|r| r.code() == "rate_limited").count();
    assert_eq!(checked + refused, 30, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(checked <= 10, "{checked} guesses were hashed and checked; the limit is 10");
    // The right password is refused too while the account is locked.
    app.login("victim@example.com", PASSWORD).await.expect_problem(429, "rate_limited");
}

/// Two tabs of one browser may refresh with one token at once; a replay from elsewhere still
/// ends the session (see accounts_api for the full rotation rules).
async fn two_tabs_refreshing_at_once_stay_signed_in(app: TestApp) {
    let s = app.register("tabs@example.com").await;
    let both = futures::future::join_all((0..2).map(|_| {
        let app = &app;
        let token = s.refresh.clone();
        async move { app.post("/api/v1/auth/refresh", None, json!({"refresh_token": token})).await }
    }))
    .await;
    for r in &both {
        assert_eq!(r.status, 200, "{}", r.text);
        let access = r.json["access_token"].as_str().unwrap();
        app.get("/api/v1/users/me", Some(access)).await.expect(200);
    }
    // Forgiven once per token: a third use is a replay, and the session ends.
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await
        .expect_problem(401, "refresh_token_reused");
    let access = both[0].json["access_token"].as_str().unwrap();
    app.get("/api/v1/users/me", Some(access)).await.expect_problem(401, "session_revoked");
}

/// Ending "a session" by the id of someone else's is refused before anything of theirs is
/// touched: their live connection stays open.
async fn a_strangers_session_cannot_be_ended(app: TestApp) {
    let mallory = app.register("mallory@example.com").await;
    let victim = app.register("victim-ws@example.com").await;
    let sessions = app.get("/api/v1/auth/sessions", Some(&victim.access)).await.expect(200);
    let id = sessions.json[0]["id"].as_str().unwrap().to_string();
    let mut ws = app.ws("/api/v1/realtime", Some(&victim.access)).await.unwrap();
    assert_eq!(ws.request(json!({"type": "ping"}), "p1").await["type"], "pong");
    app.delete(&format!("/api/v1/auth/sessions/{id}"), Some(&mallory.access), None)
        .await
        .expect_problem(404, "not_found");
    assert_eq!(ws.ended_within(std::time::Duration::from_millis(500)).await, None, "the victim's socket stays open");
    assert_eq!(ws.request(json!({"type": "ping"}), "p2").await["type"], "pong");
    app.get("/api/v1/users/me", Some(&victim.access)).await.expect(200);
}

/// The activity feed shows invitees' addresses only to those who manage members.
async fn invitee_addresses_stay_with_managers(app: TestApp) {
    let owner = app.register("feed-owner@example.com").await;
    let guest = app.register("feed-guest@example.com").await;
    let stranger = app.register("feed-stranger@example.com").await;
    let project =
        app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": "Open", "visibility": "public"})).await;
    let project = project.expect(201).json["id"].as_str().unwrap().to_string();
    let members = format!("/api/v1/work/projects/{project}/members");
    app.post(&members, Some(&owner.access), json!({"user_id": guest.user_id, "role": "guest"})).await.expect(201);
    let invited = app.post(&members, Some(&owner.access), json!({"email": "not-yet@example.com"})).await;
    assert!(invited.status < 300, "{}", invited.text);
    let feed = format!("/api/v1/work/projects/{project}/activity");
    let seen = app.get(&feed, Some(&owner.access)).await.expect(200);
    assert!(seen.text.contains("not-yet@example.com"), "the owner sees whom they invited");
    for reader in [&guest, &stranger] {
        let seen = app.get(&feed, Some(&reader.access)).await.expect(200);
        assert!(seen.text.contains("member.invited"), "{}", seen.text);
        assert!(!seen.text.contains("not-yet@example.com"), "{}", seen.text);
    }
}

/// Wrong reset codes answer the same for an account and for an address nobody has, however many
/// are tried; and a new code does not buy more than 20 guesses a day for one address.
async fn reset_codes_tell_nothing_and_are_capped_per_day(app: TestApp) {
    app.register("known@example.com").await;
    let verify = "/api/v1/auth/password/verify-code";
    for email in ["known@example.com", "unknown@example.com"] {
        app.post("/api/v1/auth/password/forgot", None, json!({"email": email})).await.expect(202);
    }
    testkit::read_mail(&app.mail_dir(), "known@example.com", 2).await;
    let answers = |email: &'static str| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            for _ in 0..7 {
                let r = app.post(verify, None, json!({"email": email, "code": "000000"})).await;
                seen.push((r.status, r.code().to_string()));
            }
            seen
        }
    };
    let known = answers("known@example.com").await;
    assert_eq!(known, answers("unknown@example.com").await, "the answers tell the two apart");
    assert!(known.iter().all(|(status, code)| *status == 400 && code == "invalid_code"), "{known:?}");

    // 7 guesses so far; fresh codes bring it to 20, and the 21st is refused even with the
    // right code.
    let mut code = String::new();
    for nth in 3..=5 {
        app.post("/api/v1/auth/password/forgot", None, json!({"email": "known@example.com"})).await.expect(202);
        code = testkit::code_in(&testkit::read_mail(&app.mail_dir(), "known@example.com", nth).await.text);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let tries = if nth == 5 { 3 } else { 5 };
        for _ in 0..tries {
            app.post(verify, None, json!({"email": "known@example.com", "code": wrong})).await.expect(400);
        }
    }
    app.post(verify, None, json!({"email": "known@example.com", "code": code}))
        .await
        .expect_problem(429, "rate_limited");
}

/// Polls `path` as `token` until it answers 200 (a membership that follows an event).
async fn eventually_ok(app: &TestApp, path: &str, token: &str) -> bool {
    for _ in 0..400 {
        if app.get(path, Some(token)).await.status == 200 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
}

/// Signs `email` up and verifies it, when an invitation mail went to it first (mail may arrive
/// in either order).
async fn verify_after_invitation(app: &TestApp, email: &str) -> testkit::Session {
    let session = app.register(email).await;
    let mut verification = None;
    for _ in 0..400 {
        verification = testkit::mails_to(&app.mail_dir(), email).into_iter().find(|m| !m.subject.contains("invited"));
        if verification.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let code = testkit::code_in(&verification.expect("a verification mail").text);
    app.post("/api/v1/auth/email/verify", None, json!({"email": email, "code": code})).await.expect(200);
    session
}

/// Invitations are accepted by any proof of the address (a password reset too), expire after 14
/// days, and can be withdrawn.
async fn invitations_expire_can_be_withdrawn_and_follow_any_verification(app: TestApp) {
    use platform::db::Db;
    let owner = app.register_verified("inv-owner@example.com").await;
    let o = Some(owner.access.as_str());
    let mut projects = Vec::new();
    for name in ["Reset", "Old", "Withdrawn"] {
        let r = app.post("/api/v1/work/projects", o, json!({"name": name, "visibility": "private"})).await.expect(201);
        projects.push(r.json["id"].as_str().unwrap().to_string());
    }
    let invite = |p: &str, email: &str| {
        let (app, path, email) = (&app, format!("/api/v1/work/projects/{p}/members"), email.to_string());
        async move { app.post(&path, o, json!({"email": email})).await.expect(202).json["id"].as_str().unwrap().to_string() }
    };
    // A password reset proves the address as well as the verification code does.
    invite(&projects[0], "resetter@example.com").await;
    let resetter = app.register("resetter@example.com").await;
    app.post("/api/v1/auth/password/forgot", None, json!({"email": "resetter@example.com"})).await.expect(202);
    testkit::read_mail(&app.mail_dir(), "resetter@example.com", 3).await;
    let reset = testkit::mails_to(&app.mail_dir(), "resetter@example.com");
    let reset = reset.iter().rev().find(|m| !m.subject.contains("invited")).unwrap();
    let code = testkit::code_in(&reset.text);
    let token = app
        .post("/api/v1/auth/password/verify-code", None, json!({"email": "resetter@example.com", "code": code}))
        .await
        .expect(200)
        .json["reset_token"]
        .as_str()
        .unwrap()
        .to_string();
    let new_password = "another horse battery staple";
    app.post("/api/v1/auth/password/reset", None, json!({"reset_token": token, "new_password": new_password}))
        .await
        .expect(204);
    let again = app.login("resetter@example.com", new_password).await.expect(200);
    let access = again.json["access_token"].as_str().unwrap().to_string();
    assert!(eventually_ok(&app, &format!("/api/v1/work/projects/{}", projects[0]), &access).await);
    let _ = resetter;

    // An invitation older than 14 days is gone: neither listed nor accepted on verification.
    let old = invite(&projects[1], "late@example.com").await;
    let old_id = uuid::Uuid::parse_str(&old).unwrap();
    let past = platform::db::Ts::now().minus(chrono::Duration::days(15));
    let age = "UPDATE work_invitations SET created_at = $1 WHERE id = $2";
    match app.db().await {
        Db::Sqlite(pool, _) => sqlx::query(age).bind(past).bind(old_id).execute(&pool).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::query(age).bind(past).bind(old_id).execute(&pool).await.map(|_| ()),
    }
    .unwrap();
    let listed = app.get(&format!("/api/v1/work/projects/{}/invitations", projects[1]), o).await.expect(200);
    assert!(!listed.text.contains(&old), "{}", listed.text);
    // A live invitation of the same address (to the third project) is the control: once it has
    // been accepted, the verification's event has been handled.
    invite(&projects[2], "late@example.com").await;
    let late = verify_after_invitation(&app, "late@example.com").await;
    assert!(eventually_ok(&app, &format!("/api/v1/work/projects/{}", projects[2]), &late.access).await);
    app.get(&format!("/api/v1/work/projects/{}", projects[1]), Some(&late.access))
        .await
        .expect_problem(404, "not_found");

    // A withdrawn invitation is not accepted.
    let withdrawn = invite(&projects[2], "withdrawn@example.com").await;
    app.delete(&format!("/api/v1/work/projects/{}/invitations/{withdrawn}", projects[2]), o, None).await.expect(204);
    invite(&projects[1], "withdrawn@example.com").await;
    let w = verify_after_invitation(&app, "withdrawn@example.com").await;
    assert!(eventually_ok(&app, &format!("/api/v1/work/projects/{}", projects[1]), &w.access).await, "the control");
    app.get(&format!("/api/v1/work/projects/{}", projects[2]), Some(&w.access)).await.expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/work/projects/{}/invitations/{withdrawn}", projects[2]), o, None)
        .await
        .expect_problem(404, "not_found");
}

/// The invitation routes refuse strangers and wrong roles, and an invitation accepted by twenty
/// concurrent calls makes one membership.
async fn invitation_routes_refuse_strangers_and_accept_once(app: TestApp) {
    let owner = app.register_verified("gate-owner@example.com").await;
    let guest = app.register_verified("gate-guest@example.com").await;
    let invitee = app.register_verified("gate-invitee@example.com").await;
    let stranger = app.register_verified("gate-stranger@example.com").await;
    let o = Some(owner.access.as_str());
    let p = app.post("/api/v1/work/projects", o, json!({"name": "Gate", "visibility": "private"})).await.expect(201);
    let p = p.json["id"].as_str().unwrap().to_string();
    let members = format!("/api/v1/work/projects/{p}/members");
    app.post(&members, o, json!({"user_id": guest.user_id, "role": "guest"})).await.expect(201);
    let first = app.post(&members, o, json!({"email": "gate-invitee@example.com"})).await.expect(202);
    let first = first.json["id"].as_str().unwrap().to_string();
    // A guest may not withdraw; a stranger may neither withdraw, decline nor accept.
    let withdraw = format!("/api/v1/work/projects/{p}/invitations/{first}");
    assert_eq!(app.delete(&withdraw, Some(&guest.access), None).await.status, 403);
    assert_eq!(app.delete(&withdraw, Some(&stranger.access), None).await.status, 404);
    let mine = format!("/api/v1/work/invitations/{first}");
    app.delete(&mine, Some(&stranger.access), None).await.expect_problem(404, "not_found");
    app.post(&format!("{mine}/accept"), Some(&stranger.access), json!({})).await.expect_problem(404, "not_found");
    // Declined, it is gone for good.
    app.delete(&mine, Some(&invitee.access), None).await.expect(204);
    app.post(&format!("{mine}/accept"), Some(&invitee.access), json!({})).await.expect_problem(404, "not_found");
    // Twenty concurrent accepts of a new invitation: one membership.
    let again = app.post(&members, o, json!({"email": "gate-invitee@example.com"})).await.expect(202);
    let accept = format!("/api/v1/work/invitations/{}/accept", again.json["id"].as_str().unwrap());
    let answers = futures::future::join_all((0..20).map(|_| {
        let (app, accept, token) = (&app, accept.clone(), invitee.access.clone());
        async move { app.post(&accept, Some(&token), json!({})).await.status }
    }))
    .await;
    assert_eq!(answers.iter().filter(|s| **s == 200).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|s| *s == 200 || *s == 404), "{answers:?}");
    let listed = app.get(&members, o).await.expect(200);
    let joined =
        listed.json["items"].as_array().unwrap().iter().filter(|m| m["user_id"] == invitee.user_id.as_str()).count();
    assert_eq!(joined, 1);
}

/// Forgot-password and resend-verification answer before anything depends on whether the
/// address has an account:
/// with the codes table locked, a known address is answered as fast as an unknown one (it
/// used to wait for the lock while writing its code), and the code still goes out after.
async fn forgot_password_answers_before_looking_at_the_account(app: TestApp) {
    app.register("known@example.com").await;
    let db = app.db().await;
    // SQLite: this transaction holds the write lock; PostgreSQL: it locks the codes table.
    let mut hold = db.begin().await.unwrap();
    if app.backend == Backend::Postgres {
        platform::execute_tx!(&mut hold, sqlx::query("LOCK TABLE one_time_codes IN EXCLUSIVE MODE")).unwrap();
    }
    for path in ["/api/v1/auth/password/forgot", "/api/v1/auth/email/resend"] {
        for email in ["unknown@example.com", "known@example.com"] {
            let asked = app.post(path, None, json!({"email": email}));
            let answer = tokio::time::timeout(std::time::Duration::from_secs(3), asked).await;
            answer.unwrap_or_else(|_| panic!("{path} for {email} waited on the account's work")).expect(202);
        }
    }
    drop(hold);
    // The codes still go out: the sign-up's, the reset, the verification sent again.
    testkit::read_mail(&app.mail_dir(), "known@example.com", 3).await;
    let mails = testkit::mails_to(&app.mail_dir(), "known@example.com");
    assert!(mails.iter().any(|m| m.text.to_lowercase().contains("reset")), "no reset mail");
    assert!(testkit::mails_to(&app.mail_dir(), "unknown@example.com").is_empty());
}

/// A NUL character is text no column of PostgreSQL can hold: anywhere in a body it is refused
/// as the client's mistake (422 `nul_character`), on every backend alike, never a 500; an
/// escaped backslash before `u0000` is just text.
async fn nul_characters_are_refused_in_any_body(app: TestApp) {
    let a = app.register_verified("nul@example.com").await;
    let room = app.post("/api/v1/chat/rooms", Some(&a.access), json!({"name": "Nul", "visibility": "private"})).await;
    let room = room.expect(201).json["id"].as_str().unwrap().to_string();
    let messages = format!("/api/v1/chat/rooms/{room}/messages");
    let project = app.post("/api/v1/work/projects", Some(&a.access), json!({"name": "Nul"})).await.expect(201);
    let project = project.json["id"].as_str().unwrap().to_string();
    for (path, body) in [
        (messages.as_str(), json!({"content": "a\u{0}b"})),
        ("/api/v1/work/tasks", json!({"project_id": project, "title": "t", "description": "x\u{0}"})),
        ("/api/v1/chat/rooms", json!({"name": "n", "description": "\u{0}"})),
    ] {
        let r = app.post(path, Some(&a.access), body).await;
        assert_eq!((r.status, r.code()), (422, "nul_character"), "{path}: {}", r.text);
    }
    for path in [format!("/api/v1/work/tasks?project_id={project}&q=%00"), "/api/v1/chat/rooms?q=a%00".into()] {
        let r = app.get(&path, Some(&a.access)).await;
        assert_eq!((r.status, r.code()), (400, "invalid_query"), "{path}: {}", r.text);
    }
    // And over the realtime gateway.
    let mut ws = app.ws("/api/v1/realtime", Some(&a.access)).await.unwrap();
    let refused = ws.request(json!({"type": "chat.send", "room_id": room, "content": "a\u{0}b"}), "n").await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("nul_character")),
        "{refused}"
    );
    let text = app.post(&messages, Some(&a.access), json!({"content": "a\\u0000b"})).await.expect(201);
    assert_eq!(text.json["content"], "a\\u0000b");
}

testkit::api_tests!(
    nul_characters_are_refused_in_any_body,
    forgot_password_answers_before_looking_at_the_account,
    invitation_routes_refuse_strangers_and_accept_once,
    invitations_expire_can_be_withdrawn_and_follow_any_verification,
    reset_codes_tell_nothing_and_are_capped_per_day,
    invitee_addresses_stay_with_managers,
    dates_are_range_checked_at_the_edge,
    concurrent_guesses_are_counted_before_hashing,
    a_strangers_session_cannot_be_ended,
    two_tabs_refreshing_at_once_stay_signed_in,
);

/// IPv6 clients are limited per /64: addresses of one network share one counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_are_limited_per_64() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.trusted_proxies = "127.0.0.1".into()).await.unwrap();
    let mut limited = None;
    for i in 0..70u32 {
        let from = format!("2001:db8:1:2:{:x}::{:x}", i, i + 1);
        let req = app.http.post(app.url("/api/v1/auth/login")).header("x-forwarded-for", from);
        // A new address each time: the per-account lock-out must not be what answers.
        let body = json!({"email": format!("nobody{i}@example.com"), "password": "x"});
        let r = TestApp::read(req.json(&body).send().await.unwrap()).await;
        if r.status == 429 {
            limited = Some(i);
            break;
        }
    }
    assert_eq!(limited, Some(60), "sign-ins per /64 per minute are limited to 60");
    // Another network is not affected.
    let req = app.http.post(app.url("/api/v1/auth/login")).header("x-forwarded-for", "2001:db8:9::1");
    let body = json!({"email": "someone-else@example.com", "password": "x"});
    let r = TestApp::read(req.json(&body).send().await.unwrap()).await;
    assert_eq!(r.status, 401, "{}", r.text);
}

/// `/metrics` asks for its token when one is set, and labels requests by a bounded set of
/// methods whatever a client sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_token_and_bound_their_labels() {
    let open = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    open.http.request(brew, open.url("/api/v1/users/me")).send().await.unwrap();
    let text = open.http.get(open.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("BREW"), "an invented method is no label value");
    assert!(text.contains("method=\"other\""), "{text}");
    // A reverse proxy on this machine passing a request on does not make them public.
    let proxied = open.http.get(open.url("/metrics")).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(proxied.status(), 403);

    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.metrics_token = platform::secret::Secret::new("m-token-123"))
        .await
        .unwrap();
    let anonymous = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = app.http.get(app.url("/metrics")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app.http.get(app.url("/metrics")).bearer_auth("m-token-123").send().await.unwrap();
    assert_eq!(right.status(), 200);
}

/// No request holds a transaction while it waits for a second connection: with a pool of two,
/// fifty concurrent messages that mention someone, tasks assigned to someone and comments that
/// mention someone all go through (each records a notification and may queue its mail).
async fn no_transaction_waits_for_a_second_connection(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.db_max_connections = 2).await else { return };
    let ann = app.register("pool-ann@example.com").await;
    let bob = app.register_verified("pool-bob@example.com").await;
    let (a, b) = (Some(ann.access.as_str()), Some(bob.access.as_str()));
    app.patch("/api/v1/users/me", b, json!({"name": "Bob"})).await.expect(200);
    let room = app.post("/api/v1/chat/rooms", a, json!({"name": "pool", "visibility": "public"})).await.expect(201);
    let room = room.json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/chat/rooms/{room}/join"), b, json!({})).await.expect(200);
    let project = app.post("/api/v1/work/projects", a, json!({"name": "Pool", "visibility": "private"})).await;
    let project = project.expect(201).json["id"].as_str().unwrap().to_string();
    let members = format!("/api/v1/work/projects/{project}/members");
    app.post(&members, a, json!({"user_id": bob.user_id, "role": "member"})).await.expect(201);
    let task = app.post("/api/v1/work/tasks", a, json!({"project_id": project, "title": "base"})).await.expect(201);
    let task = task.json["id"].as_str().unwrap().to_string();

    let before = app.get("/api/v1/notifications/unread-count", b).await.expect(200).json["count"].as_i64().unwrap();
    let calls = (0..50).map(|i| {
        let (app, room, project, task, bob_id) = (&app, &room, &project, &task, bob.user_id.clone());
        async move {
            let r = match i % 3 {
                0 => {
                    app.post(&format!("/api/v1/chat/rooms/{room}/messages"), a, json!({"content": format!("@Bob {i}")}))
                        .await
                }
                1 => {
                    let body = json!({"project_id": project, "title": format!("t{i}"), "assignee_id": bob_id});
                    app.post("/api/v1/work/tasks", a, body).await
                }
                _ => {
                    app.post(&format!("/api/v1/work/tasks/{task}/comments"), a, json!({"content": format!("@Bob {i}")}))
                        .await
                }
            };
            (r.status, r.text)
        }
    });
    for (status, text) in futures::future::join_all(calls).await {
        assert_eq!(status, 201, "{text}");
    }
    let after = app.get("/api/v1/notifications/unread-count", b).await.expect(200).json["count"].as_i64().unwrap();
    assert_eq!(after - before, 50, "one notification per call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_no_transaction_waits_for_a_second_connection() {
    no_transaction_waits_for_a_second_connection(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_no_transaction_waits_for_a_second_connection() {
    no_transaction_waits_for_a_second_connection(Backend::Postgres).await;
}

/// A mention in a room of 40 000 members finds its one user (the room is filled in the database
/// directly: signing 40 000 people up would test something else).
async fn a_mention_in_a_huge_room_works(backend: Backend) {
    use platform::db::Db;
    let Some(app) = TestApp::spawn(backend).await else { return };
    let owner = app.register("huge-owner@example.com").await;
    let zed = app.register_verified("huge-zed@example.com").await;
    app.patch("/api/v1/users/me", Some(&zed.access), json!({"name": "Zed Target"})).await.expect(200);
    let room =
        app.post("/api/v1/chat/rooms", Some(&owner.access), json!({"name": "huge", "visibility": "public"})).await;
    let room = room.expect(201).json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/chat/rooms/{room}/join"), Some(&zed.access), json!({})).await.expect(200);
    let room_id = uuid::Uuid::parse_str(&room).unwrap();
    match app.db().await {
        Db::Sqlite(pool, _) => {
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
                 INSERT INTO users (id, email, email_verified, phone, name, password_hash, locale, role, public_profile,
                                    disabled, created_at, updated_at)
                 SELECT randomblob(16), NULL, 1, NULL, 'Member ' || i, NULL, 'en', 'user', 0, 0,
                        '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM n",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO chat_members (room_id, user_id, role, last_read_id, joined_at)
                 SELECT $1, id, 'member', NULL, '2026-01-01T00:00:00.000000Z' FROM users WHERE name LIKE 'Member %'",
            )
            .bind(room_id)
            .execute(&pool)
            .await
            .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO users (id, email, email_verified, phone, name, password_hash, locale, role, public_profile,
                                    disabled, created_at, updated_at)
                 SELECT gen_random_uuid(), NULL, true, NULL, 'Member ' || i, NULL, 'en', 'user', false, false, now(), now()
                 FROM generate_series(1, 40000) AS i",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO chat_members (room_id, user_id, role, last_read_id, joined_at)
                 SELECT $1, id, 'member', NULL, now() FROM users WHERE name LIKE 'Member %'",
            )
            .bind(room_id)
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    let path = format!("/api/v1/chat/rooms/{room}/messages");
    let sent = app.post(&path, Some(&owner.access), json!({"content": "hello @Zed Target and @Member 39999"})).await;
    let sent = sent.expect(201).json["id"].as_str().unwrap().to_string();
    let inbox = app.get("/api/v1/notifications", Some(&zed.access)).await.expect(200);
    assert!(inbox.text.contains(&sent), "Zed was told: {}", inbox.text);
    // The member list comes a page at a time; walking it finds everyone once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/chat/rooms/{room}/members?limit=100&cursor={cursor}");
        let page = app.get(&path, Some(&owner.access)).await.expect(200);
        for m in page.json["items"].as_array().unwrap() {
            assert!(seen.insert(m["user_id"].as_str().unwrap().to_string()), "listed twice: {m}");
        }
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 40_002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_mention_in_a_huge_room_works() {
    a_mention_in_a_huge_room_works(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_a_mention_in_a_huge_room_works() {
    a_mention_in_a_huge_room_works(Backend::Postgres).await;
}
