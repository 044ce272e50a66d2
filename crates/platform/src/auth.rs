//! Access tokens and the [`AuthUser`] extractor.
//!
//! An access token is a short-lived HS256 JWT naming the user, the session and the role. A valid
//! signature is not enough: every request also asks the session owner (the accounts module,
//! through [`SessionCheck`]) whether the session is still live, so logout, password change, role
//! change and account deletion take effect immediately, on every instance.

use crate::error::ApiError;
use crate::secret::Secret;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The session id.
    pub sid: Uuid,
    /// The user's role when the token was issued.
    pub role: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// Signs and checks access tokens. Cheap to clone: the [`Authenticator`] holding it is cloned
/// for every authenticated request, and the keys and validation rules (a few allocations and
/// hash sets) were a visible share of a cached read.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Arc<Keys>,
    /// Lifetime of a new access token in seconds.
    pub ttl_secs: i64,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from the signing secret.
    pub fn new(secret: &Secret, ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            keys: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
                decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
                validation,
            }),
            ttl_secs,
        }
    }

    /// A new access token for `user` in `session`.
    pub fn issue(&self, user: Uuid, session: Uuid, role: &str) -> Result<String, crate::error::Internal> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims { sub: user, sid: session, role: role.to_string(), iat: now, exp: now + self.ttl_secs };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.keys.encoding)
            .map_err(crate::error::Internal::new)
    }

    /// The claims of a token whose signature and expiry are good.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.keys.decoding, &self.keys.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token_expired", "The access token has expired.")
                }
                _ => ApiError::unauthorized("invalid_token", "The access token is not valid."),
            })
    }
}

/// What the session owner says about a session named by a token.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    /// The user's current role.
    pub role: String,
}

/// Implemented by the accounts module: is this session of this user live right now?
#[async_trait::async_trait]
pub trait SessionCheck: Send + Sync {
    /// `Ok(Some)` for a live session, `Ok(None)` for a revoked or expired one or a disabled user.
    async fn check(&self, user: Uuid, session: Uuid) -> Result<Option<SessionStatus>, crate::db::DbError>;
}

/// Token keys plus the live-session check: everything [`AuthUser`] needs.
#[derive(Clone)]
pub struct Authenticator {
    /// Token keys.
    pub keys: TokenKeys,
    /// The session owner.
    pub sessions: Arc<dyn SessionCheck>,
}

impl Authenticator {
    /// Checks a bearer token completely (signature, expiry, live session).
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError> {
        let claims = self.keys.verify(token)?;
        match self.sessions.check(claims.sub, claims.sid).await? {
            Some(status) => {
                Ok(AuthUser { user_id: claims.sub, session_id: claims.sid, role: status.role, expires_at: claims.exp })
            }
            None => Err(ApiError::unauthorized("session_revoked", "The session has ended; sign in again.")),
        }
    }
}

/// The signed-in caller of a request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user.
    pub user_id: Uuid,
    /// The session the token belongs to.
    pub session_id: Uuid,
    /// The user's role.
    pub role: String,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
}

impl AuthUser {
    /// True for administrators.
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    /// `Ok` for administrators, 403 otherwise.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("forbidden", "This action needs the admin role."))
        }
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

impl<S> FromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .ok_or_else(|| ApiError::unauthorized("unauthenticated", "Send `Authorization: Bearer <access token>`."))?;
        Authenticator::from_ref(state).authenticate(token).await
    }
}

/// `Option<AuthUser>`: for routes open to everyone that show a signed-in caller more (their own
/// drafts, say). No `Authorization` header is no caller; a header with a bad token is refused
/// as on any other route, not taken for no caller, so a client never mistakes a failed sign-in
/// for an anonymous answer.
impl<S> axum::extract::OptionalFromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), 60);
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let token = keys.issue(u, s, "user").unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (u, s));
        let other = TokenKeys::new(&Secret::new("x".repeat(32)), 60);
        assert_eq!(other.verify(&token).unwrap_err().code, "invalid_token");
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), -5);
        let token = keys.issue(Uuid::now_v7(), Uuid::now_v7(), "user").unwrap();
        assert_eq!(keys.verify(&token).unwrap_err().code, "token_expired");
    }
}
