//! The accounts HTTP contract, end to end over real HTTP, on SQLite and (in CI) PostgreSQL + Redis.
//! Codes are read from the mail and SMS files the server writes, as a user would read them.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::json;
use testkit::{PASSWORD, Session, TestApp, code_in, mails_to, read_mail, read_sms};

async fn verification_code(app: &TestApp, email: &str, nth: usize) -> String {
    code_in(&read_mail(&app.mail_dir(), email, nth).await.text)
}

async fn register_returns_a_session_and_emails_a_code(app: TestApp) {
    let r = app
        .post("/api/v1/auth/register", None, json!({"email": "Ann@Example.com", "password": PASSWORD, "name": " Ann "}))
        .await
        .expect(201);
    let user = &r.json["user"];
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["name"], "Ann");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["role"], "user");
    assert_eq!(user["locale"], "en");
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 900);
    let id = user["id"].as_str().unwrap();
    assert_eq!(r.header("location"), Some(format!("/api/v1/users/{id}").as_str()));
    let access = r.json["access_token"].as_str().unwrap();

    let mail = read_mail(&app.mail_dir(), "ann@example.com", 1).await;
    assert_eq!(mail.subject, "Email Verification Code");
    assert!(mail.html.contains(&code_in(&mail.text)), "html part carries the code too");
    let code = code_in(&mail.text);
    let v = app
        .post("/api/v1/auth/email/verify", None, json!({"email": "ann@example.com", "code": code}))
        .await
        .expect(200);
    assert_eq!(v.json["email_verified"], true);
    let me = app.get("/api/v1/users/me", Some(access)).await.expect(200);
    assert_eq!(me.json["email_verified"], true);
    // A used code is spent.
    app.post("/api/v1/auth/email/verify", None, json!({"email": "ann@example.com", "code": code}))
        .await
        .expect_problem(400, "invalid_code");
}

async fn register_rejects_duplicates_and_bad_input(app: TestApp) {
    app.register("bob@example.com").await;
    app.post("/api/v1/auth/register", None, json!({"email": "BOB@example.com", "password": PASSWORD, "name": "B"}))
        .await
        .expect_problem(409, "email_taken");
    let weak = app
        .post("/api/v1/auth/register", None, json!({"email": "c@example.com", "password": "short", "name": "C"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(weak.json["errors"][0]["field"], "password");
    let bad = app
        .post("/api/v1/auth/register", None, json!({"email": "not-an-email", "password": PASSWORD, "name": "C"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(bad.json["errors"][0]["field"], "email");
    let blank = app
        .post("/api/v1/auth/register", None, json!({"email": "d@example.com", "password": PASSWORD, "name": "   "}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(blank.json["errors"][0]["field"], "name");
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": "e@example.com", "password": PASSWORD, "name": "E", "role": "admin"}),
    )
    .await
    .expect_problem(422, "invalid_body");
}

async fn a_code_dies_after_five_wrong_attempts(app: TestApp) {
    app.register("eve@example.com").await;
    let code = verification_code(&app, "eve@example.com", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.post("/api/v1/auth/email/verify", None, json!({"email": "eve@example.com", "code": wrong}))
            .await
            .expect_problem(400, "invalid_code");
    }
    // Dead now, even with the right code; the answer is the one an unknown address gets.
    app.post("/api/v1/auth/email/verify", None, json!({"email": "eve@example.com", "code": code}))
        .await
        .expect_problem(400, "invalid_code");
    // A new code starts afresh.
    app.post("/api/v1/auth/email/resend", None, json!({"email": "eve@example.com"})).await.expect(202);
    let fresh = verification_code(&app, "eve@example.com", 2).await;
    app.post("/api/v1/auth/email/verify", None, json!({"email": "eve@example.com", "code": fresh})).await.expect(200);
}

async fn codes_expire(app: TestApp) {
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": "vic@example.com", "password": PASSWORD, "name": "Vic", "locale": "fa"}),
    )
    .await
    .expect(201);
    let mail = read_mail(&app.mail_dir(), "vic@example.com", 1).await;
    assert_eq!(mail.subject, "کد تأیید ایمیل", "the sign-up locale picks the language");
    let db = app.db().await;
    let past = platform::db::Ts::now().minus(chrono::Duration::seconds(1));
    platform::with_db!(&db, |pool| {
        sqlx::query("UPDATE one_time_codes SET expires_at = $1").bind(past).execute(pool).await.map(|_| ())
    })
    .unwrap();
    app.post("/api/v1/auth/email/verify", None, json!({"email": "vic@example.com", "code": code_in(&mail.text)}))
        .await
        .expect_problem(400, "invalid_code");
}

async fn resend_answers_202_and_is_rate_limited(app: TestApp) {
    app.post("/api/v1/auth/email/resend", None, json!({"email": "nobody@example.com"})).await.expect(202);
    app.register("fay@example.com").await;
    let first = verification_code(&app, "fay@example.com", 1).await;
    app.post("/api/v1/auth/email/resend", None, json!({"email": "fay@example.com"})).await.expect(202);
    let second = verification_code(&app, "fay@example.com", 2).await;
    if first != second {
        app.post("/api/v1/auth/email/verify", None, json!({"email": "fay@example.com", "code": first}))
            .await
            .expect_problem(400, "invalid_code");
    }
    for _ in 0..4 {
        app.post("/api/v1/auth/email/resend", None, json!({"email": "fay@example.com"})).await.expect(202);
    }
    let limited = app
        .post("/api/v1/auth/email/resend", None, json!({"email": "fay@example.com"}))
        .await
        .expect_problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    assert_eq!(limited.header("ratelimit-limit"), Some("5"));
    // Every accepted resend mails a code (the sign-up's and five more); only once they have all
    // been written (each lands as a `.part` file renamed into place) is "none went to the
    // unknown address" a finding rather than a race with the mail worker.
    verification_code(&app, "fay@example.com", 6).await;
    assert!(mails_to(&app.mail_dir(), "nobody@example.com").is_empty());
}

async fn login_checks_credentials_alike(app: TestApp) {
    app.register("gil@example.com").await;
    let ok = app.login("GIL@example.com", PASSWORD).await.expect(200);
    assert!(ok.json["access_token"].as_str().unwrap().len() > 20);
    let wrong = app.login("gil@example.com", "wrong password!").await.expect_problem(401, "invalid_credentials");
    let unknown = app.login("nobody@example.com", PASSWORD).await.expect_problem(401, "invalid_credentials");
    assert_eq!(wrong.json["detail"], unknown.json["detail"]);
}

async fn login_locks_after_ten_failures(app: TestApp) {
    app.register("hal@example.com").await;
    for _ in 0..10 {
        app.login("hal@example.com", "not the password").await.expect_problem(401, "invalid_credentials");
    }
    let r = app.login("hal@example.com", PASSWORD).await.expect_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

async fn refresh_rotates_and_reuse_revokes_the_session(app: TestApp) {
    let s = app.register("ida@example.com").await;
    let r2 = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": s.refresh})).await.expect(200);
    let s2 = Session::from_json(&r2.json);
    assert_ne!(s2.refresh, s.refresh);
    app.get("/api/v1/users/me", Some(&s2.access)).await.expect(200);
    // The same client using the spent token again at once (a second tab) gets tokens of its
    // own for the same session, and the first tab's keep working.
    let tab = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": s.refresh})).await.expect(200);
    let tab = Session::from_json(&tab.json);
    app.get("/api/v1/users/me", Some(&tab.access)).await.expect(200);
    app.get("/api/v1/users/me", Some(&s2.access)).await.expect(200);
    // Replaying the spent token from another client revokes the session, with all its tokens.
    let replay = app
        .http
        .post(app.url("/api/v1/auth/refresh"))
        .header("user-agent", "someone else's client")
        .json(&json!({"refresh_token": s.refresh}));
    TestApp::read(replay.send().await.unwrap()).await.expect_problem(401, "refresh_token_reused");
    app.get("/api/v1/users/me", Some(&tab.access)).await.expect_problem(401, "session_revoked");
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": s2.refresh}))
        .await
        .expect_problem(401, "invalid_refresh_token");
    app.get("/api/v1/users/me", Some(&s2.access)).await.expect_problem(401, "session_revoked");
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "made-up"}))
        .await
        .expect_problem(401, "invalid_refresh_token");
}

async fn logout_rejects_the_token_at_once(app: TestApp) {
    let a = app.register("jo@example.com").await;
    let b = Session::from_json(&app.login("jo@example.com", PASSWORD).await.expect(200).json);
    // Each token is used before it is revoked, so a cached "live" answer would be caught.
    app.get("/api/v1/users/me", Some(&a.access)).await.expect(200);
    app.post("/api/v1/auth/logout", Some(&a.access), json!({})).await.expect(204);
    app.get("/api/v1/users/me", Some(&a.access)).await.expect_problem(401, "session_revoked");
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": a.refresh}))
        .await
        .expect_problem(401, "invalid_refresh_token");
    app.get("/api/v1/users/me", Some(&b.access)).await.expect(200);
    let c = Session::from_json(&app.login("jo@example.com", PASSWORD).await.expect(200).json);
    app.get("/api/v1/users/me", Some(&c.access)).await.expect(200);
    app.post("/api/v1/auth/logout-all", Some(&b.access), json!({})).await.expect(204);
    app.get("/api/v1/users/me", Some(&b.access)).await.expect(401);
    app.get("/api/v1/users/me", Some(&c.access)).await.expect(401);
}

async fn sessions_are_listed_and_revocable(app: TestApp) {
    let a = app.register("kim@example.com").await;
    let b = Session::from_json(&app.login("kim@example.com", PASSWORD).await.expect(200).json);
    app.get("/api/v1/users/me", Some(&b.access)).await.expect(200);
    let list = app.get("/api/v1/auth/sessions", Some(&a.access)).await.expect(200);
    let items = list.json.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();
    let stranger = app.register("lou@example.com").await;
    app.delete(&format!("/api/v1/auth/sessions/{other}"), Some(&stranger.access), None)
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/auth/sessions/{other}"), Some(&a.access), None).await.expect(204);
    app.get("/api/v1/users/me", Some(&b.access)).await.expect(401);
    app.get("/api/v1/users/me", Some(&a.access)).await.expect(200);
    app.delete(&format!("/api/v1/auth/sessions/{other}"), Some(&a.access), None).await.expect(404);
}

async fn password_reset_by_emailed_code(app: TestApp) {
    let s = app.register("max@example.com").await;
    app.get("/api/v1/users/me", Some(&s.access)).await.expect(200);
    app.post("/api/v1/auth/password/forgot", None, json!({"email": "ghost@example.com"})).await.expect(202);
    app.post("/api/v1/auth/password/forgot", None, json!({"email": "max@example.com"})).await.expect(202);
    let mail = read_mail(&app.mail_dir(), "max@example.com", 2).await;
    assert_eq!(mail.subject, "Password Reset Code");
    let code = code_in(&mail.text);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.post("/api/v1/auth/password/verify-code", None, json!({"email": "max@example.com", "code": wrong}))
        .await
        .expect_problem(400, "invalid_code");
    let t = app
        .post("/api/v1/auth/password/verify-code", None, json!({"email": "max@example.com", "code": code}))
        .await
        .expect(200);
    let token = t.json["reset_token"].as_str().unwrap().to_string();
    app.post("/api/v1/auth/password/reset", None, json!({"reset_token": token, "new_password": "short"}))
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/v1/auth/password/reset", None, json!({"reset_token": token, "new_password": "a brand new secret"}))
        .await
        .expect(204);
    app.get("/api/v1/users/me", Some(&s.access)).await.expect(401);
    app.login("max@example.com", PASSWORD).await.expect(401);
    app.login("max@example.com", "a brand new secret").await.expect(200);
    app.post("/api/v1/auth/password/reset", None, json!({"reset_token": token, "new_password": "yet another secret"}))
        .await
        .expect_problem(400, "invalid_reset_token");
}

async fn password_change_keeps_only_this_session(app: TestApp) {
    let a = app.register("ned@example.com").await;
    let b = Session::from_json(&app.login("ned@example.com", PASSWORD).await.expect(200).json);
    app.get("/api/v1/users/me", Some(&b.access)).await.expect(200);
    app.post(
        "/api/v1/auth/password/change",
        Some(&a.access),
        json!({"current_password": "wrong wrong wrong", "new_password": "another good secret"}),
    )
    .await
    .expect_problem(400, "wrong_password");
    app.post(
        "/api/v1/auth/password/change",
        Some(&a.access),
        json!({"current_password": PASSWORD, "new_password": "another good secret"}),
    )
    .await
    .expect(204);
    app.get("/api/v1/users/me", Some(&a.access)).await.expect(200);
    app.get("/api/v1/users/me", Some(&b.access)).await.expect(401);
    app.login("ned@example.com", "another good secret").await.expect(200);
}

async fn phone_sign_in_creates_then_reuses_the_account(app: TestApp) {
    app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "+1 415 555 0100"})).await.expect(202);
    let sms = read_sms(&app.sms_dir(), "+14155550100", 1).await;
    let first = app
        .post("/api/v1/auth/phone/verify", None, json!({"phone": "+14155550100", "code": code_in(&sms)}))
        .await
        .expect(200);
    assert_eq!(first.json["user"]["phone"], "+14155550100");
    assert_eq!(first.json["user"]["email"], serde_json::Value::Null);
    app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "+14155550100"})).await.expect(202);
    let sms = read_sms(&app.sms_dir(), "+14155550100", 2).await;
    let again = app
        .post("/api/v1/auth/phone/verify", None, json!({"phone": "+1 (415) 555-0100", "code": code_in(&sms)}))
        .await
        .expect(200);
    assert_eq!(again.json["user"]["id"], first.json["user"]["id"]);
    app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "call me maybe"}))
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/v1/auth/phone/verify", None, json!({"phone": "+14155550100", "code": "123456"}))
        .await
        .expect_problem(400, "invalid_code");
}

async fn phone_codes_have_the_same_attempt_limit(app: TestApp) {
    app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "+442071838750"})).await.expect(202);
    let code = code_in(&read_sms(&app.sms_dir(), "+442071838750", 1).await);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.post("/api/v1/auth/phone/verify", None, json!({"phone": "+442071838750", "code": wrong}))
            .await
            .expect_problem(400, "invalid_code");
    }
    app.post("/api/v1/auth/phone/verify", None, json!({"phone": "+442071838750", "code": code}))
        .await
        .expect_problem(400, "invalid_code");
}

async fn profile_read_update_and_public_view(app: TestApp) {
    let a = app.register("olga@example.com").await;
    let b = app.register("pete@example.com").await;
    let r = app
        .patch("/api/v1/users/me", Some(&a.access), json!({"name": "Olga K", "locale": "fa", "public_profile": true}))
        .await
        .expect(200);
    assert_eq!(r.json["name"], "Olga K");
    assert_eq!(r.json["locale"], "fa");
    assert_eq!(r.json["public_profile"], true);
    app.patch("/api/v1/users/me", Some(&a.access), json!({"role": "admin"})).await.expect_problem(422, "invalid_body");
    app.patch("/api/v1/users/me", Some(&a.access), json!({"locale": "de"})).await.expect(422);
    app.patch("/api/v1/users/me", Some(&a.access), json!({"name": ""})).await.expect_problem(422, "validation_failed");
    let public = app.get(&format!("/api/v1/users/{}", a.user_id), Some(&b.access)).await.expect(200);
    assert_eq!(
        public.json,
        json!({"id": a.user_id, "name": "Olga K", "avatar_url": null, "avatar_thumbnail_url": null}),
        "public fields only: never email or phone"
    );
    app.get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()), Some(&b.access)).await.expect_problem(404, "not_found");
    app.get("/api/v1/users/not-a-uuid", Some(&b.access)).await.expect(404);
    app.get("/api/v1/users/me", None).await.expect_problem(401, "unauthenticated");
    // Mail follows the locale.
    app.post("/api/v1/auth/password/forgot", None, json!({"email": "olga@example.com"})).await.expect(202);
    let mail = read_mail(&app.mail_dir(), "olga@example.com", 2).await;
    assert_eq!(mail.subject, "کد بازیابی گذرواژه");
}

async fn account_deletion_and_export(app: TestApp) {
    let a = app.register("quin@example.com").await;
    let export = app.get("/api/v1/users/me/export", Some(&a.access)).await.expect(200);
    assert_eq!(export.json["accounts"]["user"]["email"], "quin@example.com");
    assert_eq!(export.json["accounts"]["sessions"].as_array().unwrap().len(), 1);
    app.delete("/api/v1/users/me", Some(&a.access), Some(json!({"password": "not my password"})))
        .await
        .expect_problem(400, "wrong_password");
    app.delete("/api/v1/users/me", Some(&a.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    app.get("/api/v1/users/me", Some(&a.access)).await.expect(401);
    app.login("quin@example.com", PASSWORD).await.expect(401);
    app.register("quin@example.com").await;
}

async fn admin_api_is_for_admins_only(app: TestApp) {
    let user = app.register("rita@example.com").await;
    app.get("/api/v1/admin/users", Some(&user.access)).await.expect_problem(403, "forbidden");
    app.patch(&format!("/api/v1/admin/users/{}", user.user_id), Some(&user.access), json!({"role": "admin"}))
        .await
        .expect_problem(403, "forbidden");
    app.register("sam@example.com").await;
    let target = app.register("tess@example.com").await;
    let admin = app.promote_to_admin("sam@example.com").await;
    app.get("/api/v1/users/me", Some(&target.access)).await.expect(200);

    let page = app.get("/api/v1/admin/users?limit=2", Some(&admin.access)).await.expect(200);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 2);
    let cursor = page.json["next_cursor"].as_str().unwrap().to_string();
    let rest = app.get(&format!("/api/v1/admin/users?limit=2&cursor={cursor}"), Some(&admin.access)).await.expect(200);
    assert_eq!(rest.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest.json["next_cursor"], serde_json::Value::Null);
    let found = app.get("/api/v1/admin/users?q=TESS", Some(&admin.access)).await.expect(200);
    assert_eq!(found.json["items"][0]["email"], "tess@example.com");
    assert_eq!(found.json["items"].as_array().unwrap().len(), 1);
    let none = app.get("/api/v1/admin/users?q=%25", Some(&admin.access)).await.expect(200);
    assert_eq!(none.json["items"].as_array().unwrap().len(), 0, "LIKE wildcards are escaped");
    app.get("/api/v1/admin/users?limit=1000", Some(&admin.access)).await.expect(422);

    let promoted = app
        .patch(&format!("/api/v1/admin/users/{}", target.user_id), Some(&admin.access), json!({"role": "admin"}))
        .await
        .expect(200);
    assert_eq!(promoted.json["role"], "admin");
    app.get("/api/v1/users/me", Some(&target.access)).await.expect_problem(401, "session_revoked");
    app.patch(&format!("/api/v1/admin/users/{}", user.user_id), Some(&admin.access), json!({"disabled": true}))
        .await
        .expect(200);
    app.get("/api/v1/users/me", Some(&user.access)).await.expect(401);
    app.login("rita@example.com", PASSWORD).await.expect_problem(403, "account_disabled");
    app.patch(&format!("/api/v1/admin/users/{}", uuid::Uuid::now_v7()), Some(&admin.access), json!({"disabled": true}))
        .await
        .expect(404);
}

async fn cleanup_purges_old_unverified_accounts(app: TestApp) {
    app.register("old@example.com").await;
    app.register("verified-old@example.com").await;
    app.register("new@example.com").await;
    let code = verification_code(&app, "verified-old@example.com", 1).await;
    app.post("/api/v1/auth/email/verify", None, json!({"email": "verified-old@example.com", "code": code}))
        .await
        .expect(200);
    let db = app.db().await;
    let long_ago = platform::db::Ts::now().minus(chrono::Duration::days(31));
    platform::with_db!(&db, |pool| {
        sqlx::query("UPDATE users SET created_at = $1 WHERE email <> 'new@example.com'")
            .bind(long_ago)
            .execute(pool)
            .await
            .map(|_| ())
    })
    .unwrap();
    use platform::outbox::Job;
    accounts::jobs::Cleanup { db: db.clone(), accounts: app.accounts.clone() }.run().await.unwrap();
    app.login("old@example.com", PASSWORD).await.expect(401);
    app.login("verified-old@example.com", PASSWORD).await.expect(200);
    app.login("new@example.com", PASSWORD).await.expect(200);
}

testkit::api_tests!(
    register_returns_a_session_and_emails_a_code,
    register_rejects_duplicates_and_bad_input,
    a_code_dies_after_five_wrong_attempts,
    codes_expire,
    resend_answers_202_and_is_rate_limited,
    login_checks_credentials_alike,
    login_locks_after_ten_failures,
    refresh_rotates_and_reuse_revokes_the_session,
    logout_rejects_the_token_at_once,
    sessions_are_listed_and_revocable,
    password_reset_by_emailed_code,
    password_change_keeps_only_this_session,
    phone_sign_in_creates_then_reuses_the_account,
    phone_codes_have_the_same_attempt_limit,
    profile_read_update_and_public_view,
    account_deletion_and_export,
    admin_api_is_for_admins_only,
    cleanup_purges_old_unverified_accounts,
);
