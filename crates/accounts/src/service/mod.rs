//! The accounts use cases: the only place the rules of sign-up, sign-in, codes, sessions and
//! profiles live. Routes parse and answer; the store reads and writes; this decides.

mod admin;
mod passwords;
mod phone;
mod profile;
mod sessions;
mod signup;

use crate::error::AccountsError;
use crate::events::{self, CodeMail};
use crate::model::*;
use crate::session_cache::SessionCache;
use crate::store::{self, NewUser};
use platform::Platform;
use platform::auth::{SessionCheck, SessionStatus};
use platform::cache::ExactCache;
use platform::crypto::{constant_time_eq, hmac_hex, random_token, sha256_hex, six_digit_code};
use platform::db::{DbError, Ts};
use platform::module::AccountHookSet;
use platform::outbox::{DELETE_FILES, DeleteFiles};
use platform::pagination::Page;
use platform::ratelimit::Quota;
use platform::realtime::Ended;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

type Result<T> = std::result::Result<T, AccountsError>;

/// Wrong attempts a code survives.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// Lifetime of emailed codes.
const EMAIL_CODE_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// Lifetime of SMS codes.
const SMS_CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Lifetime of a reset token.
const RESET_TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(10);

const LOGIN_FAILURES: Quota = Quota::new(10, Duration::from_secs(15 * 60));
const LOGIN_PER_IP: Quota = Quota::new(60, Duration::from_secs(60));
const REGISTER_PER_IP: Quota = Quota::new(30, Duration::from_secs(3600));
const SENDS_PER_DESTINATION: Quota = Quota::new(5, Duration::from_secs(15 * 60));
const SENDS_PER_IP: Quota = Quota::new(50, Duration::from_secs(3600));
const CODE_CHECKS_PER_IP: Quota = Quota::new(60, Duration::from_secs(15 * 60));
/// Code attempts per address (and purpose) and client network per day, across every code sent.
const CODE_ATTEMPTS_PER_DAY: Quota = Quota::new(20, Duration::from_secs(24 * 3600));
/// Code attempts per address (and purpose) per day from all networks together.
const CODE_ATTEMPTS_PER_ADDRESS_PER_DAY: Quota = Quota::new(100, Duration::from_secs(24 * 3600));
/// Avatar changes per user: each one decodes an image.
const AVATAR_UPLOADS: Quota = Quota::new(30, Duration::from_secs(3600));

/// Who is asking, for sessions and rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP.
    pub ip: String,
    /// What per-client limits count against: the IPv4 address, or the IPv6 /64.
    pub network: String,
    /// Its user agent.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client at `ip` (its network is what limits count), with its user agent, of which
    /// 300 characters are kept. REST and gRPC build it alike.
    pub fn new(ip: platform::http::ClientIp, user_agent: Option<&str>) -> Self {
        ClientInfo {
            network: ip.network(),
            ip: ip.0.to_string(),
            user_agent: user_agent.map(|s| s.chars().take(300).collect()),
        }
    }
}

/// The accounts service. Cheap to clone; other modules hold one to look users up.
#[derive(Clone)]
pub struct Accounts {
    platform: Platform,
    sessions: Arc<SessionCache>,
    /// Users by id: who sent a message, who is `/users/me`, read on every post and profile
    /// request. Dropped on every instance after any change of the user's row.
    users: Arc<ExactCache<Uuid, User>>,
    hooks: AccountHookSet,
}

/// A cache announcement: one session ended (key: the session id).
const SESSION_CHANGED: &str = "accounts.session";
/// A cache announcement: all of a user's sessions (and their row) changed (key: the user id).
const USER_CHANGED: &str = "accounts.user";
/// A cache announcement: a user's row changed, not their sessions (key: the user id). Kept
/// apart so that a profile edit does not scan the session cache on every instance.
const PROFILE_CHANGED: &str = "accounts.profile";

impl Accounts {
    /// The service over the platform; its caches are kept exact through the platform's
    /// [`Coherence`](platform::cache::Coherence) (see [`SessionCache`]).
    /// `hooks` are every module's export and deletion hooks, called by [`Accounts::export`] and
    /// [`Accounts::delete_account`].
    pub fn new(platform: Platform, hooks: AccountHookSet) -> Self {
        let sessions = Arc::new(SessionCache::new(&platform.caches));
        // A backstop should an announcement be lost (an instance killed between a commit and
        // its announcement): a renamed user's old name lives at most this long elsewhere.
        let users = Arc::new(ExactCache::new(&platform.caches, std::time::Duration::from_secs(30)));
        let cached = sessions.clone();
        platform.caches.on(SESSION_CHANGED, move |key| {
            if let Ok(session) = key.parse() {
                cached.forget_session(session);
            }
        });
        let (cached, cached_users) = (sessions.clone(), users.clone());
        platform.caches.on(USER_CHANGED, move |key| {
            if let Ok(user) = key.parse() {
                cached.forget_user(user);
                cached_users.invalidate(&user);
            }
        });
        let cached_users = users.clone();
        platform.caches.on(PROFILE_CHANGED, move |key| {
            if let Ok(user) = key.parse() {
                cached_users.invalidate(&user);
            }
        });
        Self { platform, sessions, users, hooks }
    }

    fn code_hash(&self, purpose: CodePurpose, destination: &str, code: &str) -> String {
        hmac_hex(self.platform.code_key.expose().as_bytes(), &format!("{}|{destination}|{code}", purpose.as_str()))
    }

    fn refresh_ttl(&self) -> chrono::Duration {
        chrono::Duration::days(self.platform.config.refresh_token_ttl_days)
    }

    /// After a commit that ended sessions: forget them in the cache and close their realtime
    /// connections, on every instance.
    fn ended(&self, ended: Ended) {
        match ended {
            Ended::Session(session) => self.platform.caches.changed(SESSION_CHANGED, &session.to_string()),
            Ended::User { user, .. } => self.sessions_changed(user),
        }
        self.platform.hub.end_sessions(ended);
    }

    /// After a commit that changed a user's sessions (and perhaps their row): forget both in
    /// the caches, on every instance.
    fn sessions_changed(&self, user: Uuid) {
        self.platform.caches.changed(USER_CHANGED, &user.to_string());
    }

    /// After a commit that changed a user's row: forget it in the caches, on every instance.
    fn user_changed(&self, user: Uuid) {
        self.platform.caches.changed(PROFILE_CHANGED, &user.to_string());
    }

    // --- public API for other modules -----------------------------------------------------------

    /// A user by id (from the cache when it holds them).
    pub async fn user(&self, id: Uuid) -> Result<User> {
        if let Some(user) = self.users.get(&id) {
            return Ok(user);
        }
        let epoch = self.users.epoch();
        let user = store::find_user(&self.platform.db, id)
            .await?
            .map(|r| User::from_row(r, &self.platform.config.public_url))
            .ok_or(AccountsError::NotFound)?;
        self.users.put(epoch, id, user.clone());
        Ok(user)
    }

    /// A user by id, read through the caller's open transaction: code that holds a transaction
    /// never waits for a second connection (a small pool would stall under load).
    pub async fn user_in(&self, tx: &mut platform::db::Tx, id: Uuid) -> Result<User> {
        store::find_user_in(tx, id)
            .await?
            .map(|r| User::from_row(r, &self.platform.config.public_url))
            .ok_or(AccountsError::NotFound)
    }

    /// The active user who owns (has verified) `email`, if any.
    pub async fn verified_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = EmailAddress::parse(email)?;
        let found = store::find_user_by_email(&self.platform.db, email.as_str()).await?;
        Ok(found
            .map(|r| User::from_row(r, &self.platform.config.public_url))
            .filter(|u| u.email_verified && !u.disabled))
    }

    /// The users that `@`-mentions in `content` could name, as (id, name): found by name, not
    /// by reading every member of a room, so a room of any size costs the same.
    /// `author` never mentions themself.
    pub async fn mention_candidates(&self, content: &str, author: Uuid) -> Result<Vec<(Uuid, String)>> {
        let names = platform::text::mention_candidates(content);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = store::find_users_named(&self.platform.db, &names).await?;
        Ok(rows.into_iter().filter(|r| !r.disabled && r.id != author).map(|r| (r.id, r.name)).collect())
    }

    /// The users among `ids` that exist, with their private fields: for a module that shows
    /// them to someone entitled (an organiser sees their buyers' addresses).
    pub async fn users(&self, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, User>> {
        let rows = store::find_users(&self.platform.db, ids).await?;
        Ok(rows.into_iter().map(|r| (r.id, User::from_row(r, &self.platform.config.public_url))).collect())
    }

    /// The public profiles of the users among `ids` that exist.
    pub async fn public_users(&self, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, PublicUser>> {
        let rows = store::find_users(&self.platform.db, ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id, PublicUser::from(User::from_row(r, &self.platform.config.public_url))))
            .collect())
    }
}

#[async_trait::async_trait]
impl SessionCheck for Accounts {
    async fn check(&self, user: Uuid, session: Uuid) -> std::result::Result<Option<SessionStatus>, DbError> {
        if let Some(role) = self.sessions.get(user, session) {
            return Ok(Some(SessionStatus { role }));
        }
        let epoch = self.sessions.epoch();
        let state = store::session_state(&self.platform.db, user, session).await?;
        let live = state.filter(|s| s.revoked_at.is_none() && s.expires_at > Ts::now() && !s.disabled);
        Ok(live.map(|s| {
            self.sessions.put(epoch, user, session, s.role.clone(), s.expires_at);
            SessionStatus { role: s.role }
        }))
    }
}

fn collect(errors: &mut Vec<platform::FieldError>, e: AccountsError) {
    if let AccountsError::Invalid(mut list) = e {
        errors.append(&mut list);
    }
}
