//! gRPC with a real client: `ValidateToken` accepts a live token and refuses it once the
//! session ends; `GetUser` needs a caller, shows private fields only to the user themself, and
//! maps failures from the same domain errors as REST; health and reflection are served.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use accounts::grpc::pb::accounts_client::AccountsClient;
use accounts::grpc::pb::{GetUserRequest, ValidateTokenRequest};
use testkit::{Backend, TestApp};
use tonic::Code;
use tonic::transport::Channel;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn with_grpc(backend: Backend) -> Option<(TestApp, Channel)> {
    let port = free_port();
    let app = TestApp::spawn_with(backend, |c| c.grpc_bind = format!("127.0.0.1:{port}")).await?;
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
