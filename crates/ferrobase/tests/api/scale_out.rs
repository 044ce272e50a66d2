//! Two instances on one PostgreSQL and one Redis behave as one service: a sign-out on one is
//! honoured by the other within 100 ms (the time the backplane takes to tell its session
//! cache), and rate limits are counted across both.

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
    let signed_out = std::time::Instant::now();
    while b.get("/api/v1/users/me", Some(&s.access)).await.status != 401 {
        assert!(signed_out.elapsed() < std::time::Duration::from_millis(100), "B still takes the token");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
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
