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
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
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
    verified: Verified,
}

/// Tokens whose signature was checked, at most this many.
const VERIFIED_TOKENS: usize = 4096;

/// The longest text taken for an access token.
const MAX_TOKEN_BYTES: usize = 4096;

/// Access tokens whose signature checked out, with their claims. A client sends the same token
/// with every request until it refreshes it, and checking it again (base64, HMAC-SHA256, two
/// JSON documents) was an eighth of the server's time on a cached authenticated read
/// (docs/benchmarks.md, eleventh session). Only a token that verified is stored, under its
/// whole text, so a lookup finds nothing that these keys did not sign; the expiry is checked on
/// every use, and revocation stays the session check's job, asked on every request as before.
/// (Lookups hash with the map's per-process random keys and compare whole texts only within a
/// bucket, so timing them tells a caller nothing about tokens it does not already hold.) When
/// full, the expired tokens go, and all of them if that frees less than a quarter: a client
/// pays one signature check more. The remembered path repeats the decoder's rules as
/// [`TokenKeys::new`] sets them (no leeway, no `nbf`); a test pins those settings.
#[derive(Default)]
struct Verified(RwLock<HashMap<Box<str>, Claims>>);

impl Verified {
    fn get(&self, token: &str) -> Option<Claims> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(token).cloned()
    }

    fn insert(&self, token: &str, claims: &Claims, now: i64) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= VERIFIED_TOKENS {
            map.retain(|_, c| c.exp >= now);
            // Unless the sweep freed a quarter, start again: sweeping a map that stays nearly
            // full would scan it all, under the lock readers wait on, on every insert.
            if map.len() >= VERIFIED_TOKENS * 3 / 4 {
                map.clear();
            }
        }
        map.insert(token.into(), claims.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|p| p.into_inner()).len()
    }
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
        // [`Verified`] repeats these rules for remembered tokens: change both together.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            keys: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
                decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
                validation,
                verified: Verified::default(),
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
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`TokenKeys::verify`] at `now` (Unix seconds) for a token checked before. A token seen
    /// for the first time is checked by the decoder against the clock; `now` then only decides
    /// which remembered tokens count as expired when the memory is full.
    fn verify_at(&self, token: &str, now: i64) -> Result<Claims, ApiError> {
        let expired = || ApiError::unauthorized("token_expired", "The access token has expired.");
        let invalid = || ApiError::unauthorized("invalid_token", "The access token is not valid.");
        // Ours are about 300 bytes; a text far longer is no token we signed, and is not worth
        // hashing or decoding.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid());
        }
        // As the decoder's own rule (no leeway): a token is good through its `exp` second.
        if let Some(claims) = self.keys.verified.get(token) {
            return if claims.exp < now { Err(expired()) } else { Ok(claims) };
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.keys.decoding, &self.keys.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => expired(),
                _ => invalid(),
            })?;
        self.keys.verified.insert(token, &claims, now);
        Ok(claims)
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
    fn a_verified_token_is_remembered_but_still_expires_and_tampering_is_still_refused() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), 60);
        let token = keys.issue(Uuid::now_v7(), Uuid::now_v7(), "user").unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(keys.keys.verified.len(), 1, "remembered");
        // Past its expiry the remembered token is refused like any expired one.
        assert_eq!(keys.verify_at(&token, claims.exp).unwrap().sid, claims.sid, "good through its exp second");
        assert_eq!(keys.verify_at(&token, claims.exp + 1).unwrap_err().code, "token_expired");
        // One character changed anywhere (claims or signature) is another text: checked afresh.
        for at in [token.find('.').unwrap() + 3, token.len() - 2] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(keys.verify(&tampered).unwrap_err().code, "invalid_token", "changed at {at}");
        }
        // Another key's token is not found under these keys' memory.
        let other = TokenKeys::new(&Secret::new("x".repeat(32)), 60);
        assert_eq!(other.verify(&token).unwrap_err().code, "invalid_token");
        assert_eq!(keys.keys.verified.len(), 1, "refused tokens are not remembered");
    }

    #[test]
    fn the_remembered_path_repeats_the_decoders_rules() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), 60);
        let v = &keys.keys.validation;
        assert_eq!((v.leeway, v.reject_tokens_expiring_in_less_than), (0, 0));
        assert!(v.validate_exp && !v.validate_nbf && v.algorithms == [Algorithm::HS256]);
        assert_eq!(keys.verify(&"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err().code, "invalid_token");
    }

    #[test]
    fn a_full_memory_forgets_expired_tokens_first() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), 3600);
        let short = TokenKeys { ttl_secs: 1, ..keys.clone() };
        let issue = |k: &TokenKeys| k.issue(Uuid::now_v7(), Uuid::now_v7(), "user").unwrap();
        let long: Vec<String> = (0..VERIFIED_TOKENS / 2).map(|_| issue(&keys)).collect();
        for t in &long {
            keys.verify(t).unwrap();
        }
        for _ in 0..VERIFIED_TOKENS / 2 {
            short.verify(&issue(&short)).unwrap();
        }
        assert_eq!(keys.keys.verified.len(), VERIFIED_TOKENS);
        // Full: an hour later the short-lived half has expired and goes; the rest stays.
        let now = chrono::Utc::now().timestamp() + 100;
        keys.verify_at(&issue(&keys), now).unwrap();
        assert_eq!(keys.keys.verified.len(), VERIFIED_TOKENS / 2 + 1);
        assert!(long.iter().all(|t| keys.keys.verified.get(t).is_some()), "the live ones are kept");
        // When a sweep frees less than a quarter, everything goes.
        for _ in 0..VERIFIED_TOKENS / 2 - 1 {
            keys.verify(&issue(&keys)).unwrap();
        }
        keys.verify_at(&issue(&keys), now).unwrap();
        assert_eq!(keys.keys.verified.len(), 1);
    }

    #[test]
    fn the_memory_of_verified_tokens_is_bounded() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), 60);
        let tokens: Vec<String> =
            (0..VERIFIED_TOKENS + 10).map(|_| keys.issue(Uuid::now_v7(), Uuid::now_v7(), "user").unwrap()).collect();
        for t in &tokens {
            keys.verify(t).unwrap();
            assert!(keys.keys.verified.len() <= VERIFIED_TOKENS);
        }
        // Forgotten or not, every one of them still verifies.
        assert!(tokens.iter().all(|t| keys.verify(t).is_ok()));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)), -5);
        let token = keys.issue(Uuid::now_v7(), Uuid::now_v7(), "user").unwrap();
        assert_eq!(keys.verify(&token).unwrap_err().code, "token_expired");
    }
}
