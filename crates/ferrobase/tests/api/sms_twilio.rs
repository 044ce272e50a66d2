//! Phone sign-in through a Twilio-compatible SMS API (`twilio://SID:TOKEN@FROM?base_url=…`),
//! on both backends: a real HTTP server started by the test checks the path, the basic auth and
//! the form fields, fails the first message to prove the outbox retries it, and counts what
//! arrives so that the per-number limit is seen from the provider's side.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use platform::secret::Secret;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::{Backend, TestApp, code_in};

/// One accepted message: the account in the path, the basic auth, the form.
type Accepted = (String, String, HashMap<String, String>);

#[derive(Clone, Default)]
struct Twilio {
    calls: Arc<AtomicUsize>,
    /// Messages accepted.
    accepted: Arc<Mutex<Vec<Accepted>>>,
}

async fn messages(
    State(t): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    assert_eq!(headers.get("content-type").unwrap(), "application/x-www-form-urlencoded");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    if t.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"code": 20503, "message": "try again"})));
    }
    let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    t.accepted.lock().unwrap().push((account, auth, form));
    (StatusCode::CREATED, axum::Json(json!({"sid": "SM0123", "status": "queued"})))
}

async fn sign_in_codes_go_through_a_twilio_compatible_api(backend: Backend) {
    let twilio = Twilio::default();
    let router = axum::Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages.json", axum::routing::post(messages))
        .with_state(twilio.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("twilio://ACtest42:s3cret%2Ftoken@+15005550006?base_url=http://{addr}");
    let Some(app) = TestApp::spawn_with(backend, |c| c.sms_url = Secret::new(url)).await else { return };

    app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "+1 415 555 0199"})).await.expect(202);
    // The first attempt fails (503); the outbox retries after its backoff.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while twilio.accepted.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the SMS never reached the provider");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (account, auth, form) = twilio.accepted.lock().unwrap()[0].clone();
    assert_eq!(account, "ACtest42");
    let basic = base64::engine::general_purpose::STANDARD.encode("ACtest42:s3cret/token");
    assert_eq!(auth, format!("Basic {basic}"));
    assert_eq!((form["To"].as_str(), form["From"].as_str()), ("+14155550199", "+15005550006"));
    assert_eq!(form.len(), 3, "To, From and Body only: {form:?}");
    let signed_in = app
        .post("/api/v1/auth/phone/verify", None, json!({"phone": "+14155550199", "code": code_in(&form["Body"])}))
        .await
        .expect(200);
    assert_eq!(signed_in.json["user"]["phone"], "+14155550199");
    assert!(std::fs::read_dir(app.sms_dir()).map_or(true, |d| d.count() == 0), "nothing went to the file transport");

    // The per-number limit holds in front of the provider: the sixth code in 15 minutes is
    // refused and never sent.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.post("/api/v1/auth/phone/send-code", None, json!({"phone": "+14155550199"})).await.status);
    }
    assert_eq!(statuses, [202, 202, 202, 202, 429]);
    app.outbox_idle().await;
    assert_eq!(twilio.accepted.lock().unwrap().len(), 5, "one message per accepted request, the retried one once");
}

testkit::backend_tests!(sign_in_codes_go_through_a_twilio_compatible_api);
