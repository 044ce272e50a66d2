//! Two instances on one PostgreSQL and one Redis behave as one service: a sign-out on one is
//! honoured by the other at once, and rate limits are counted across both.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::json;
use testkit::{Backend, PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn two_instances_share_sessions_and_rate_limits() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    assert!(!a.config.redis_url.is_empty() || !testkit::services_required());
    let b = a.sibling().await;
    let s = a.register("una@example.com").await;
    b.get("/api/v1/users/me", Some(&s.access)).await.expect(200);
    a.post("/api/v1/auth/logout", Some(&s.access), json!({})).await.expect(204);
    b.get("/api/v1/users/me", Some(&s.access)).await.expect_problem(401, "session_revoked");

    if a.config.redis_url.is_empty() {
        return;
    }
    for i in 0..10 {
        let instance = if i % 2 == 0 { &a } else { &b };
        instance.login("una@example.com", "wrong password").await.expect(401);
    }
    a.login("una@example.com", PASSWORD).await.expect_problem(429, "rate_limited");
    b.login("una@example.com", PASSWORD).await.expect_problem(429, "rate_limited");
}
