//! Mail through a real SMTP server: with `FERROBASE_TEST_SMTP_URL` (and the server's Maildir in
//! `FERROBASE_TEST_SMTP_MAILDIR`), CI runs aiosmtpd and the app sends its verification mail there
//! with lettre's SMTP client, exactly as in production.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use platform::secret::Secret;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::{Backend, TestApp, code_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_smtp), ignore = "needs FERROBASE_TEST_SMTP_URL")]
async fn verification_mail_goes_through_smtp() {
    let (Some(url), Some(maildir)) = (
        std::env::var("FERROBASE_TEST_SMTP_URL").ok().filter(|s| !s.is_empty()),
        std::env::var("FERROBASE_TEST_SMTP_MAILDIR").ok().filter(|s| !s.is_empty()),
    ) else {
        assert!(!testkit::services_required(), "FERROBASE_TEST_SMTP_URL and FERROBASE_TEST_SMTP_MAILDIR must be set");
        eprintln!("skipped: FERROBASE_TEST_SMTP_URL is not set");
        return;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.mail_url = Secret::new(url)).await.unwrap();
    let email = format!("smtp-{}@example.com", uuid::Uuid::now_v7().simple());
    app.register(&email).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let message = loop {
        let found = std::fs::read_dir(std::path::Path::new(&maildir).join("new"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path()).ok())
            .find(|raw| String::from_utf8_lossy(raw).contains(&email));
        if let Some(raw) = found {
            break raw;
        }
        assert!(Instant::now() < deadline, "no mail to {email} reached the SMTP server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let parsed = mail_parser::MessageParser::default().parse(&message).unwrap();
    assert_eq!(parsed.subject(), Some("Email Verification Code"));
    let code = code_in(&parsed.body_text(0).unwrap());
    app.post("/api/v1/auth/email/verify", None, json!({"email": email, "code": code})).await.expect(200);
}
