//! gRPC with a real client: `ValidateToken` accepts a live token and refuses it once the
//! session ends; `GetUser` needs a caller, shows private fields only to the user themself, and
//! maps failures from the same domain errors as REST; health and reflection are served.
//! `Authenticate` and `RevokeToken` sign people in and out as REST does, with its limits, and
//! count them against the client a trusted proxy names; `Verification` sends and checks email
//! codes without telling who has an account.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use accounts::grpc::mail_pb::verification_client::VerificationClient;
use accounts::grpc::mail_pb::{SendPasswordResetRequest, SendVerificationCodeRequest, VerifyCodeRequest};
use accounts::grpc::pb::accounts_client::AccountsClient;
use accounts::grpc::pb::{AuthenticateRequest, GetUserRequest, RevokeTokenRequest, ValidateTokenRequest};
use serde_json::json;
use testkit::files::{code_in, mails_to, read_mail};
use testkit::{Backend, PASSWORD, TestApp};
use tonic::Code;
use tonic::transport::Channel;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn with_grpc(backend: Backend) -> Option<(TestApp, Channel)> {
    with_grpc_and(backend, |_| {}).await
}

async fn with_grpc_and(
    backend: Backend,
    adjust: impl FnOnce(&mut platform::config::Config),
) -> Option<(TestApp, Channel)> {
    let port = free_port();
    let app = TestApp::spawn_with(backend, |c| {
        c.grpc_bind = format!("127.0.0.1:{port}");
        adjust(c);
    })
    .await?;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    for _ in 0..100 {
        if let Ok(channel) = endpoint.connect().await {
            return Some((app, channel));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the gRPC server never answered");
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn tokens_users_health_and_reflection(backend: Backend) {
    let Some((app, channel)) = with_grpc(backend).await else { return };
    let mut client = AccountsClient::new(channel.clone());
    let ann = app.register("grpc-ann@example.com").await;
    let bob = app.register("grpc-bob@example.com").await;

    let valid = client.validate_token(ValidateTokenRequest { access_token: ann.access.clone() }).await.unwrap();
    let valid = valid.into_inner();
    assert_eq!(valid.user_id, ann.user_id);
    assert_eq!(valid.roles, ["user"]);
    assert!(uuid::Uuid::parse_str(&valid.session_id).is_ok());
    assert!(valid.expires_at > chrono::Utc::now().timestamp());
    let forged = client.validate_token(ValidateTokenRequest { access_token: "not.a.token".into() }).await;
    assert_eq!(forged.unwrap_err().code(), Code::Unauthenticated);
    // A request over the limit is refused before it is decoded; the connection stays usable.
    let huge = "x".repeat(accounts::grpc::MAX_REQUEST_BYTES + 1);
    let refused = client.validate_token(ValidateTokenRequest { access_token: huge }).await.unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");

    // Private fields only for the user themself.
    let own = client.get_user(bearer(GetUserRequest { user_id: ann.user_id.clone() }, &ann.access)).await.unwrap();
    assert_eq!(own.into_inner().user.unwrap().email.as_deref(), Some("grpc-ann@example.com"));
    let seen = client.get_user(bearer(GetUserRequest { user_id: ann.user_id.clone() }, &bob.access)).await.unwrap();
    let seen = seen.into_inner().user.unwrap();
    assert_eq!(seen.email, None);
    assert_eq!(seen.role, None, "roles are not shown to others");
    assert_eq!(seen.id, ann.user_id);
    let anonymous = client.get_user(tonic::Request::new(GetUserRequest { user_id: ann.user_id.clone() })).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = client.get_user(bearer(GetUserRequest { user_id: unknown }, &bob.access)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().starts_with("not_found:"), "{}", missing.message());
    let bad = client.get_user(bearer(GetUserRequest { user_id: "nope".into() }, &bob.access)).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    // A revoked session's token is refused at once.
    app.post("/api/v1/auth/logout", Some(&ann.access), serde_json::json!({})).await.expect(204);
    let revoked = client.validate_token(ValidateTokenRequest { access_token: ann.access.clone() }).await.unwrap_err();
    assert_eq!(revoked.code(), Code::Unauthenticated);
    assert!(revoked.message().starts_with("session_revoked"), "{}", revoked.message());

    // Health and reflection.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let check = tonic_health::pb::HealthCheckRequest { service: "ferrobase.accounts.v1.Accounts".into() };
    let status = health.check(check).await.unwrap().into_inner().status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let ask = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection.server_reflection_info(futures::stream::iter([ask])).await.unwrap().into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else { panic!("{answer:?}") };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"ferrobase.accounts.v1.Accounts".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");
    assert!(names.contains(&"ferrobase.mail.v1.Verification".to_string()), "{names:?}");
}

fn authenticate(email: &str, password: &str, forwarded_for: Option<&str>) -> tonic::Request<AuthenticateRequest> {
    let mut request = tonic::Request::new(AuthenticateRequest { email: email.into(), password: password.into() });
    if let Some(ip) = forwarded_for {
        request.metadata_mut().insert("x-forwarded-for", ip.parse().unwrap());
    }
    request
}

/// The IP recorded for the session of `access`.
async fn session_ip(app: &TestApp, access: &str) -> String {
    let sessions = app.get("/api/v1/auth/sessions", Some(access)).await.expect(200).json;
    let current = sessions.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap().clone();
    current["ip"].as_str().unwrap().to_string()
}

async fn sign_in_and_out(backend: Backend) {
    let Some((app, channel)) = with_grpc(backend).await else { return };
    let mut client = AccountsClient::new(channel);
    let ann = app.register("grpc-sign@example.com").await;

    // The same sign-in as REST's: any case of the address, a new session of its own.
    let tokens = client.authenticate(authenticate("GRPC-Sign@Example.com", PASSWORD, None)).await.unwrap().into_inner();
    assert_eq!(tokens.user_id, ann.user_id);
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.expires_in > 0 && !tokens.refresh_token.is_empty());
    app.get("/api/v1/users/me", Some(&tokens.access_token)).await.expect(200);
    // A caller that is not a trusted proxy cannot pick the address its calls count against.
    let spoofed = client.authenticate(authenticate("grpc-sign@example.com", PASSWORD, Some("203.0.113.9"))).await;
    assert_eq!(session_ip(&app, &spoofed.unwrap().into_inner().access_token).await, "127.0.0.1");
    // Over REST's bounds: refused before anything is counted or hashed.
    for (email, password) in
        [("a".repeat(255), PASSWORD.to_string()), ("grpc-sign@example.com".into(), "p".repeat(1025))]
    {
        let refused = client.authenticate(authenticate(&email, &password, None)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }
    // Wrong password and unknown address answer alike.
    for (email, password) in [("grpc-sign@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)] {
        let refused = client.authenticate(authenticate(email, password, None)).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        assert!(refused.message().starts_with("invalid_credentials:"), "{}", refused.message());
    }

    // Revoking ends that session only, its refresh token included.
    client.revoke_token(RevokeTokenRequest { access_token: tokens.access_token.clone() }).await.unwrap();
    let revoked = client.validate_token(ValidateTokenRequest { access_token: tokens.access_token.clone() }).await;
    assert_eq!(revoked.unwrap_err().code(), Code::Unauthenticated);
    app.get("/api/v1/users/me", Some(&tokens.access_token)).await.expect(401);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": tokens.refresh_token})).await.expect(401);
    app.get("/api/v1/users/me", Some(&ann.access)).await.expect(200);
    let again = client.revoke_token(RevokeTokenRequest { access_token: tokens.access_token }).await.unwrap_err();
    assert_eq!(again.code(), Code::Unauthenticated);
    let forged = client.revoke_token(RevokeTokenRequest { access_token: "not.a.token".into() }).await.unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);

    // REST's limit on failures per address holds here too: past it, even the right password waits.
    let mut limited = None;
    for attempt in 0..12 {
        let answer = client.authenticate(authenticate("grpc-sign@example.com", "wrong password!", None)).await;
        if let Err(e) = answer
            && e.code() == Code::ResourceExhausted
        {
            limited = Some(attempt);
            break;
        }
    }
    assert!(limited.is_some_and(|n| n <= 10), "failures were never limited: {limited:?}");
    let held = client.authenticate(authenticate("grpc-sign@example.com", PASSWORD, None)).await.unwrap_err();
    assert_eq!(held.code(), Code::ResourceExhausted);
}

async fn email_codes(backend: Backend) {
    let Some((app, channel)) = with_grpc(backend).await else { return };
    let mut mail = VerificationClient::new(channel.clone());
    let email = "grpc-codes@example.com";
    let ann = app.register(email).await;
    read_mail(&app.mail_dir(), email, 1).await;

    // A new code, checked: a wrong one is refused, the right one verifies the address.
    mail.send_verification_code(SendVerificationCodeRequest { email: email.into() }).await.unwrap();
    let code = code_in(&read_mail(&app.mail_dir(), email, 2).await.text);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = mail.verify_code(VerifyCodeRequest { email: email.into(), code: wrong.into() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("invalid_code:"), "{}", refused.message());
    let verified = mail.verify_code(VerifyCodeRequest { email: email.into(), code: code.clone() }).await.unwrap();
    let verified = verified.into_inner();
    assert_eq!((verified.user_id.as_str(), verified.email_verified), (ann.user_id.as_str(), true));
    assert_eq!(app.get("/api/v1/users/me", Some(&ann.access)).await.expect(200).json["email_verified"], true);
    let spent = mail.verify_code(VerifyCodeRequest { email: email.into(), code }).await.unwrap_err();
    assert_eq!(spent.code(), Code::InvalidArgument, "a code works once");

    // A reset code for a known address, usable over REST; an unknown address gets the same
    // answer and no mail, and so does a verified address asking for a verification code.
    mail.send_password_reset(SendPasswordResetRequest { email: email.into() }).await.unwrap();
    let reset = code_in(&read_mail(&app.mail_dir(), email, 3).await.text);
    let token = app.post("/api/v1/auth/password/verify-code", None, json!({"email": email, "code": reset})).await;
    assert!(token.expect(200).json["reset_token"].is_string());
    let stranger = "grpc-nobody@example.com";
    mail.send_password_reset(SendPasswordResetRequest { email: stranger.into() }).await.unwrap();
    mail.send_verification_code(SendVerificationCodeRequest { email: stranger.into() }).await.unwrap();
    mail.send_verification_code(SendVerificationCodeRequest { email: email.into() }).await.unwrap();
    // A mail asked for after them arrives; what they would have sent had its time too.
    mail.send_password_reset(SendPasswordResetRequest { email: email.into() }).await.unwrap();
    read_mail(&app.mail_dir(), email, 4).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(mails_to(&app.mail_dir(), stranger).is_empty());
    let sent = mails_to(&app.mail_dir(), email);
    assert_eq!(sent.len(), 4, "no verification code for a verified address");
    assert!(!sent[3].subject.to_lowercase().contains("verif"), "{:?}", sent[3].subject);
    let malformed = mail.send_password_reset(SendPasswordResetRequest { email: "not an address".into() }).await;
    assert_eq!(malformed.unwrap_err().code(), Code::InvalidArgument);
    // REST's bounds on what a person types hold here too.
    let long = format!("{}@example.com", "a".repeat(250));
    let refused = mail.send_verification_code(SendVerificationCodeRequest { email: long.clone() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let refused = mail.verify_code(VerifyCodeRequest { email: email.into(), code: "1".repeat(17) }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // REST's limit on sends per address holds here too, whether or not the address has an account.
    let mut limited = None;
    for attempt in 0..8 {
        let sent = mail.send_password_reset(SendPasswordResetRequest { email: stranger.into() }).await;
        if let Err(e) = sent {
            assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
            limited = Some(attempt);
            break;
        }
    }
    assert!(limited.is_some_and(|n| n <= 5), "sends were never limited: {limited:?}");
}

async fn trusted_proxy_names_the_client(backend: Backend) {
    let Some((app, channel)) = with_grpc_and(backend, |c| c.trusted_proxies = "127.0.0.1".into()).await else {
        return;
    };
    let mut client = AccountsClient::new(channel);
    app.register("grpc-proxied@example.com").await;
    let tokens = client
        .authenticate(authenticate("grpc-proxied@example.com", PASSWORD, Some("198.51.100.4, 127.0.0.1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session_ip(&app, &tokens.access_token).await, "198.51.100.4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_grpc_signs_people_in_and_out_with_rests_limits() {
    sign_in_and_out(Backend::Sqlite).await;
    trusted_proxy_names_the_client(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_grpc_signs_people_in_and_out_with_rests_limits() {
    sign_in_and_out(Backend::Postgres).await;
    trusted_proxy_names_the_client(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_grpc_sends_and_checks_email_codes() {
    email_codes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_grpc_sends_and_checks_email_codes() {
    email_codes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_grpc_validates_tokens_and_serves_users() {
    tokens_users_health_and_reflection(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn postgres_grpc_validates_tokens_and_serves_users() {
    tokens_users_health_and_reflection(Backend::Postgres).await;
}
