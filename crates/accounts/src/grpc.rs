//! `ferrobase.accounts.v1.Accounts` over gRPC, for other services of a deployment: validate the
//! tokens their callers present, and look users up. Failures map from the same domain errors
//! as REST ([`platform::grpc::status`]).

use crate::error::AccountsError;
use crate::service::Accounts;
use platform::auth::{AuthUser, Authenticator};
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The generated protocol types, client and server.
#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
pub mod pb {
    tonic::include_proto!("ferrobase.accounts.v1");

    /// The encoded descriptor set of the protos (for the reflection service).
    pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/accounts_descriptor.bin"));
}

/// The largest request message (tokens are well under 2 KiB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The service.
pub struct AccountsService {
    accounts: Accounts,
    auth: Authenticator,
}

impl AccountsService {
    /// The service over accounts and the token checker.
    /// Requests are a token or an id: anything over [`MAX_REQUEST_BYTES`] is refused before
    /// it is decoded.
    pub fn new(accounts: Accounts, auth: Authenticator) -> pb::accounts_server::AccountsServer<Self> {
        pb::accounts_server::AccountsServer::new(Self { accounts, auth }).max_decoding_message_size(MAX_REQUEST_BYTES)
    }

    /// The caller, from `authorization: Bearer …` metadata.
    async fn caller<T>(&self, request: &Request<T>) -> Result<AuthUser, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                Status::unauthenticated("unauthenticated: Send an access token as `authorization: Bearer …`.")
            })?;
        self.auth.authenticate(token).await.map_err(unauthenticated)
    }
}

/// A refused token is UNAUTHENTICATED; a failure on our side (the database is down) is not a
/// verdict on the token and must not make callers sign their users out.
fn unauthenticated(e: platform::ApiError) -> Status {
    let message = format!("{}: {}", e.code, e.detail);
    if e.status.is_server_error() { Status::unavailable(message) } else { Status::unauthenticated(message) }
}

fn status(e: AccountsError) -> Status {
    platform::grpc::status(&e)
}

#[tonic::async_trait]
impl pb::accounts_server::Accounts for AccountsService {
    async fn validate_token(
        &self,
        request: Request<pb::ValidateTokenRequest>,
    ) -> Result<Response<pb::ValidateTokenResponse>, Status> {
        let user = self.auth.authenticate(&request.get_ref().access_token).await.map_err(unauthenticated)?;
        Ok(Response::new(pb::ValidateTokenResponse {
            user_id: user.user_id.to_string(),
            roles: vec![user.role.clone()],
            session_id: user.session_id.to_string(),
            expires_at: user.expires_at,
        }))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Result<Response<pb::GetUserResponse>, Status> {
        let caller = self.caller(&request).await?;
        let id = Uuid::parse_str(&request.get_ref().user_id)
            .map_err(|_| Status::invalid_argument("validation_failed: user_id must be a UUID."))?;
        let user = self.accounts.user(id).await.map_err(status)?;
        let private = caller.user_id == user.id || caller.is_admin();
        Ok(Response::new(pb::GetUserResponse {
            user: Some(pb::User {
                id: user.id.to_string(),
                name: user.name,
                email: if private { user.email } else { None },
                phone: if private { user.phone } else { None },
                role: private.then(|| user.role.as_str().to_string()),
                avatar_url: user.avatar_url,
                created_at: private.then(|| user.created_at.to_rfc3339()),
            }),
        }))
    }
}
