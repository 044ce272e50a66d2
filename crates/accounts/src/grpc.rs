//! `ferrobase.accounts.v1.Accounts` and `ferrobase.mail.v1.Verification` over gRPC, for other
//! services of a deployment: sign people in and out for a front end of their own, validate the
//! tokens their callers present, look users up, and send and check email codes. The use cases
//! are the REST routes' own, with their limits, counted per client address as REST counts them
//! ([`ClientIp::resolve`]); failures map from the same domain errors
//! ([`platform::grpc::status`]).

use crate::error::AccountsError;
use crate::service::{Accounts, ClientInfo};
use platform::auth::{AuthUser, Authenticator};
use platform::http::{ClientIp, IpNet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The generated protocol types, client and server.
#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
pub mod pb {
    tonic::include_proto!("ferrobase.accounts.v1");

    /// The encoded descriptor set of the protos, both services' (for the reflection service).
    pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/accounts_descriptor.bin"));
}

/// The generated types of `ferrobase.mail.v1` (email codes), client and server.
#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
pub mod mail_pb {
    tonic::include_proto!("ferrobase.mail.v1");
}

/// The person a call is made for: the caller's address, or the one a trusted proxy names in
/// `x-forwarded-for` metadata, and the `user-agent` metadata.
fn client<T>(request: &Request<T>, trusted: &[IpNet]) -> ClientInfo {
    let peer = request.remote_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let forwarded = request.metadata().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let user_agent = request.metadata().get("user-agent").and_then(|v| v.to_str().ok());
    ClientInfo::new(ClientIp::resolve(peer, trusted, forwarded), user_agent)
}

/// The largest request message (tokens are well under 2 KiB; fields are checked further below).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// REST's bounds on the fields a person types (`routes::auth`), checked before anything
/// counts or hashes them: a limiter key is made from the address.
const MAX_EMAIL: usize = 254;
const MAX_PASSWORD: usize = 1024;
const MAX_CODE: usize = 16;

/// INVALID_ARGUMENT unless `value` has `min..=max` characters.
fn bounded(field: &str, value: &str, min: usize, max: usize) -> Result<(), Status> {
    let n = value.chars().count();
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!("validation_failed: {field} must be {min}–{max} characters.")))
    }
}

/// The accounts service.
pub struct AccountsService {
    accounts: Accounts,
    auth: Authenticator,
    trusted: Arc<Vec<IpNet>>,
}

impl AccountsService {
    /// The service over accounts and the token checker; `trusted` are the deployment's proxies.
    /// Requests are a token, an id or credentials: anything over [`MAX_REQUEST_BYTES`] is
    /// refused before it is decoded.
    pub fn new(
        accounts: Accounts,
        auth: Authenticator,
        trusted: Arc<Vec<IpNet>>,
    ) -> pb::accounts_server::AccountsServer<Self> {
        pb::accounts_server::AccountsServer::new(Self { accounts, auth, trusted })
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }

    /// The caller, from `authorization: Bearer …` metadata.
    async fn caller<T>(&self, request: &Request<T>) -> Result<AuthUser, Status> {
        platform::grpc::caller(&self.auth, request).await
    }
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
        let user =
            self.auth.authenticate(&request.get_ref().access_token).await.map_err(platform::grpc::unauthenticated)?;
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

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let client = client(&request, &self.trusted);
        let pb::AuthenticateRequest { email, password } = request.into_inner();
        bounded("email", &email, 0, MAX_EMAIL)?;
        bounded("password", &password, 0, MAX_PASSWORD)?;
        let tokens = self.accounts.login(&email, &password, &client).await.map_err(status)?;
        Ok(Response::new(pb::AuthenticateResponse {
            user_id: tokens.user.id.to_string(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: tokens.token_type,
            expires_in: tokens.expires_in,
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let user =
            self.auth.authenticate(&request.get_ref().access_token).await.map_err(platform::grpc::unauthenticated)?;
        match self.accounts.revoke_session(user.user_id, user.session_id).await {
            // Revoked meanwhile (here, or on an instance that had not yet told this one): the
            // token is refused, as it would be a moment later.
            Err(AccountsError::NotFound) => {
                Err(Status::unauthenticated("session_revoked: The session has ended; sign in again."))
            }
            other => other.map(|()| Response::new(pb::RevokeTokenResponse {})).map_err(status),
        }
    }
}

/// The email-code service.
pub struct VerificationService {
    accounts: Accounts,
    trusted: Arc<Vec<IpNet>>,
}

impl VerificationService {
    /// The service over accounts; `trusted` are the deployment's proxies. Requests over
    /// [`MAX_REQUEST_BYTES`] are refused before they are decoded.
    pub fn new(accounts: Accounts, trusted: Arc<Vec<IpNet>>) -> mail_pb::verification_server::VerificationServer<Self> {
        mail_pb::verification_server::VerificationServer::new(Self { accounts, trusted })
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
}

#[tonic::async_trait]
impl mail_pb::verification_server::Verification for VerificationService {
    async fn send_verification_code(
        &self,
        request: Request<mail_pb::SendVerificationCodeRequest>,
    ) -> Result<Response<mail_pb::SendVerificationCodeResponse>, Status> {
        let client = client(&request, &self.trusted);
        bounded("email", &request.get_ref().email, 0, MAX_EMAIL)?;
        self.accounts.resend_verification(&request.get_ref().email, &client).await.map_err(status)?;
        Ok(Response::new(mail_pb::SendVerificationCodeResponse {}))
    }

    async fn verify_code(
        &self,
        request: Request<mail_pb::VerifyCodeRequest>,
    ) -> Result<Response<mail_pb::VerifyCodeResponse>, Status> {
        let client = client(&request, &self.trusted);
        let mail_pb::VerifyCodeRequest { email, code } = request.into_inner();
        bounded("email", &email, 0, MAX_EMAIL)?;
        bounded("code", &code, 1, MAX_CODE)?;
        let user = self.accounts.verify_email(&email, &code, &client).await.map_err(status)?;
        Ok(Response::new(mail_pb::VerifyCodeResponse {
            user_id: user.id.to_string(),
            email_verified: user.email_verified,
        }))
    }

    async fn send_password_reset(
        &self,
        request: Request<mail_pb::SendPasswordResetRequest>,
    ) -> Result<Response<mail_pb::SendPasswordResetResponse>, Status> {
        let client = client(&request, &self.trusted);
        bounded("email", &request.get_ref().email, 0, MAX_EMAIL)?;
        self.accounts.forgot_password(&request.get_ref().email, &client).await.map_err(status)?;
        Ok(Response::new(mail_pb::SendPasswordResetResponse {}))
    }
}
