//! The accounts use cases: the only place the rules of sign-up, sign-in, codes, sessions and
//! profiles live. Routes parse and answer; the store reads and writes; this decides.

use crate::error::AccountsError;
use crate::events::{self, CodeMail};
use crate::model::*;
use crate::session_cache::SessionCache;
use crate::store::{self, NewUser};
use platform::Platform;
use platform::auth::{SessionCheck, SessionStatus};
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

/// Who is asking, for sessions and rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP.
    pub ip: String,
    /// Its user agent.
    pub user_agent: Option<String>,
}

/// Told about account changes other modules react to, after they commit.
#[async_trait::async_trait]
pub trait AccountObserver: Send + Sync {
    /// `user` proved they own `email` (work turns pending project invitations into memberships).
    async fn email_verified(&self, user: Uuid, email: &str);
}

/// The accounts service. Cheap to clone; other modules hold one to look users up.
#[derive(Clone)]
pub struct Accounts {
    platform: Platform,
    sessions: Arc<SessionCache>,
    observers: Arc<std::sync::RwLock<Vec<Arc<dyn AccountObserver>>>>,
    hooks: AccountHookSet,
}

impl Accounts {
    /// The service over the platform. Sessions are cached only on SQLite, where this process
    /// is the only writer (see [`SessionCache`]).
    /// `hooks` are every module's export and deletion hooks, called by [`Accounts::export`] and
    /// [`Accounts::delete_account`].
    pub fn new(platform: Platform, hooks: AccountHookSet) -> Self {
        let cache = SessionCache::new(platform.db.dialect() == platform::db::Dialect::Sqlite);
        Self { platform, sessions: Arc::new(cache), observers: Arc::default(), hooks }
    }

    /// Adds an observer of account changes (modules register theirs while the app is built).
    pub fn observe(&self, observer: Arc<dyn AccountObserver>) {
        self.observers.write().unwrap_or_else(|p| p.into_inner()).push(observer);
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
            Ended::Session(session) => self.sessions.forget_session(session),
            Ended::User { user, .. } => self.sessions.forget_user(user),
        }
        self.platform.hub.end_sessions(ended);
    }

    // --- public API for other modules -----------------------------------------------------------

    /// A user by id.
    pub async fn user(&self, id: Uuid) -> Result<User> {
        store::find_user(&self.platform.db, id).await?.map(User::from).ok_or(AccountsError::NotFound)
    }

    /// The active user who owns (has verified) `email`, if any.
    pub async fn verified_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = EmailAddress::parse(email)?;
        let found = store::find_user_by_email(&self.platform.db, email.as_str()).await?;
        Ok(found.map(User::from).filter(|u| u.email_verified && !u.disabled))
    }

    /// The public profiles of the users among `ids` that exist.
    pub async fn public_users(&self, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, PublicUser>> {
        let rows = store::find_users(&self.platform.db, ids).await?;
        Ok(rows.into_iter().map(|r| (r.id, PublicUser::from(User::from(r)))).collect())
    }

    // --- registration and email verification ---------------------------------------------------

    /// Creates an email account, signs it in, and emails a verification code.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        locale: Locale,
        client: &ClientInfo,
    ) -> Result<SessionTokens> {
        let mut errors = Vec::new();
        let email = EmailAddress::parse(email).map_err(|e| collect(&mut errors, e)).ok();
        let password = Password::parse(password, "password").map_err(|e| collect(&mut errors, e)).ok();
        let name = DisplayName::parse(name).map_err(|e| collect(&mut errors, e)).ok();
        let (Some(email), Some(password), Some(name)) = (email, password, name) else {
            return Err(AccountsError::Invalid(errors));
        };
        self.platform.limiter.hit(&format!("register-ip:{}", client.ip), REGISTER_PER_IP).await?;
        if store::find_user_by_email(&self.platform.db, email.as_str()).await?.is_some() {
            return Err(AccountsError::EmailTaken);
        }
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let code = six_digit_code();
        let mut tx = self.platform.db.begin().await?;
        let user = store::insert_user(
            &mut tx,
            &NewUser {
                email: Some(email.as_str()),
                email_verified: false,
                phone: None,
                name: name.as_str(),
                password_hash: Some(&hash),
                role: Role::User.as_str(),
                locale: locale.as_str(),
            },
        )
        .await?;
        events::registered(&self.platform.outbox, &mut tx, &user).await?;
        let code_hash = self.code_hash(CodePurpose::VerifyEmail, email.as_str(), &code);
        store::insert_code(
            &mut tx,
            CodePurpose::VerifyEmail,
            email.as_str(),
            &code_hash,
            Ts::now().plus(EMAIL_CODE_TTL),
        )
        .await?;
        events::enqueue_code_mail(
            &self.platform.outbox,
            &mut tx,
            CodeMail::Verification,
            locale,
            email.as_str(),
            &code,
        )
        .await?;
        let tokens = self.start_session(&mut tx, &user, client).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(tokens)
    }

    /// Checks an emailed verification code and marks the address verified.
    pub async fn verify_email(&self, email: &str, code: &str, client: &ClientInfo) -> Result<User> {
        let email = EmailAddress::parse(email).map_err(|_| AccountsError::InvalidCode)?;
        let code_id = self.check_code(CodePurpose::VerifyEmail, email.as_str(), code, client).await?;
        let user =
            store::find_user_by_email(&self.platform.db, email.as_str()).await?.ok_or(AccountsError::InvalidCode)?;
        let mut tx = self.platform.db.begin().await?;
        if !store::consume_code(&mut tx, code_id).await? {
            return Err(AccountsError::InvalidCode);
        }
        let user = store::mark_email_verified(&mut tx, user.id).await?;
        tx.commit().await?;
        let observers = self.observers.read().unwrap_or_else(|p| p.into_inner()).clone();
        for observer in observers {
            observer.email_verified(user.id, email.as_str()).await;
        }
        Ok(user.into())
    }

    /// Sends a new verification code to an unverified address; silent otherwise.
    pub async fn resend_verification(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = EmailAddress::parse(email)?;
        self.limit_send(email.as_str(), client).await?;
        let Some(user) = store::find_user_by_email(&self.platform.db, email.as_str()).await? else {
            return Ok(());
        };
        if user.email_verified {
            return Ok(());
        }
        self.send_email_code(CodePurpose::VerifyEmail, CodeMail::Verification, &user, email.as_str()).await
    }

    async fn send_email_code(&self, purpose: CodePurpose, kind: CodeMail, user: &UserRow, email: &str) -> Result<()> {
        let code = six_digit_code();
        let mut tx = self.platform.db.begin().await?;
        let hash = self.code_hash(purpose, email, &code);
        store::insert_code(&mut tx, purpose, email, &hash, Ts::now().plus(EMAIL_CODE_TTL)).await?;
        let locale = Locale::from_stored(&user.locale);
        events::enqueue_code_mail(&self.platform.outbox, &mut tx, kind, locale, email, &code).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(())
    }

    async fn limit_send(&self, destination: &str, client: &ClientInfo) -> Result<()> {
        self.platform.limiter.hit(&format!("send-ip:{}", client.ip), SENDS_PER_IP).await?;
        self.platform.limiter.hit(&format!("send-to:{destination}"), SENDS_PER_DESTINATION).await?;
        Ok(())
    }

    /// Counts an attempt on the live code and compares; the caller consumes it in its transaction.
    async fn check_code(
        &self,
        purpose: CodePurpose,
        destination: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Uuid> {
        self.platform.limiter.hit(&format!("code-check-ip:{}", client.ip), CODE_CHECKS_PER_IP).await?;
        let row = store::live_code(&self.platform.db, purpose, destination, Ts::now())
            .await?
            .ok_or(AccountsError::InvalidCode)?;
        if !store::take_attempt(&self.platform.db, row.id, MAX_CODE_ATTEMPTS).await? {
            return Err(AccountsError::TooManyAttempts);
        }
        if !constant_time_eq(&row.code_hash, &self.code_hash(purpose, destination, code.trim())) {
            return Err(AccountsError::InvalidCode);
        }
        Ok(row.id)
    }

    // --- sign-in and sessions -------------------------------------------------------------------

    /// Email and password sign-in.
    pub async fn login(&self, email: &str, password: &str, client: &ClientInfo) -> Result<SessionTokens> {
        self.platform.limiter.hit(&format!("login-ip:{}", client.ip), LOGIN_PER_IP).await?;
        let normalised = email.trim().to_lowercase();
        let fail_key = format!("login-fail:{normalised}");
        self.platform.limiter.check(&fail_key, LOGIN_FAILURES).await?;
        let user = match EmailAddress::parse(&normalised) {
            Ok(e) => store::find_user_by_email(&self.platform.db, e.as_str()).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        if !self.platform.hasher.verify(password, hash).await? {
            self.platform.limiter.hit(&fail_key, LOGIN_FAILURES).await?;
            return Err(AccountsError::InvalidCredentials);
        }
        let user = user.ok_or(AccountsError::InvalidCredentials)?;
        if user.disabled {
            return Err(AccountsError::AccountDisabled);
        }
        self.platform.limiter.clear(&fail_key).await;
        let mut tx = self.platform.db.begin().await?;
        let tokens = self.start_session(&mut tx, &user, client).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    async fn start_session(
        &self,
        tx: &mut platform::db::Tx,
        user: &UserRow,
        client: &ClientInfo,
    ) -> Result<SessionTokens> {
        let expires = Ts::now().plus(self.refresh_ttl());
        let session =
            store::insert_session(tx, user.id, expires, client.user_agent.as_deref(), Some(&client.ip)).await?;
        self.tokens_for(tx, user.clone(), session).await
    }

    async fn tokens_for(&self, tx: &mut platform::db::Tx, user: UserRow, session: Uuid) -> Result<SessionTokens> {
        let refresh = random_token();
        store::insert_refresh_token(tx, &sha256_hex(&refresh), session).await?;
        let access = self.platform.keys.issue(user.id, session, &user.role)?;
        Ok(SessionTokens {
            user: user.into(),
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".into(),
            expires_in: self.platform.keys.ttl_secs,
        })
    }

    /// Exchanges a refresh token for a new pair. A spent token means it was stolen or replayed:
    /// the whole session is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens> {
        let db = &self.platform.db;
        let hash = sha256_hex(refresh_token.trim());
        let row = store::find_refresh_token(db, &hash).await?.ok_or(AccountsError::InvalidRefreshToken)?;
        let now = Ts::now();
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(AccountsError::InvalidRefreshToken);
        }
        let user = store::find_user(db, row.user_id).await?.ok_or(AccountsError::InvalidRefreshToken)?;
        if user.disabled {
            return Err(AccountsError::AccountDisabled);
        }
        let mut tx = db.begin().await?;
        // The conditional update decides races: of two concurrent uses, exactly one spends it.
        if row.spent_at.is_some() || !store::spend_refresh_token(&mut tx, &hash).await? {
            store::revoke_session(&mut tx, row.user_id, row.session_id).await?;
            tx.commit().await?;
            self.ended(Ended::Session(row.session_id));
            tracing::warn!(session = %row.session_id, "refresh token reuse; session revoked");
            return Err(AccountsError::RefreshTokenReused);
        }
        store::touch_session(&mut tx, row.session_id, now.plus(self.refresh_ttl())).await?;
        let tokens = self.tokens_for(&mut tx, user, row.session_id).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Ends one session of the caller (its access tokens stop working at once).
    pub async fn revoke_session(&self, user: Uuid, session: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        let found = store::revoke_session(&mut tx, user, session).await?;
        tx.commit().await?;
        self.ended(Ended::Session(session));
        if found { Ok(()) } else { Err(AccountsError::NotFound) }
    }

    /// Ends every session of the caller.
    pub async fn revoke_all(&self, user: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        store::revoke_all_sessions(&mut tx, user, None).await?;
        tx.commit().await?;
        self.ended(Ended::User { user, except: None });
        Ok(())
    }

    /// The caller's live sessions, the current one marked.
    pub async fn sessions(&self, user: Uuid, current: Uuid) -> Result<Vec<Session>> {
        let mut list = store::list_sessions(&self.platform.db, user, Ts::now()).await?;
        for s in &mut list {
            s.current = s.id == current;
        }
        Ok(list)
    }

    // --- phone sign-in --------------------------------------------------------------------------

    /// Texts a sign-in code to a phone number.
    pub async fn send_phone_code(&self, phone: &str, client: &ClientInfo) -> Result<()> {
        let phone = PhoneNumber::parse(phone)?;
        self.limit_send(phone.as_str(), client).await?;
        let code = six_digit_code();
        let mut tx = self.platform.db.begin().await?;
        let hash = self.code_hash(CodePurpose::PhoneSignIn, phone.as_str(), &code);
        store::insert_code(&mut tx, CodePurpose::PhoneSignIn, phone.as_str(), &hash, Ts::now().plus(SMS_CODE_TTL))
            .await?;
        events::enqueue_sign_in_sms(&self.platform.outbox, &mut tx, phone.as_str(), &code).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(())
    }

    /// Checks a phone code and signs in, creating the account on first sign-in.
    pub async fn verify_phone(&self, phone: &str, code: &str, client: &ClientInfo) -> Result<SessionTokens> {
        let phone = PhoneNumber::parse(phone)?;
        let code_id = self.check_code(CodePurpose::PhoneSignIn, phone.as_str(), code, client).await?;
        let existing = store::find_user_by_phone(&self.platform.db, phone.as_str()).await?;
        if existing.as_ref().is_some_and(|u| u.disabled) {
            return Err(AccountsError::AccountDisabled);
        }
        let mut tx = self.platform.db.begin().await?;
        if !store::consume_code(&mut tx, code_id).await? {
            return Err(AccountsError::InvalidCode);
        }
        let user = match existing {
            Some(user) => user,
            None => {
                let digits = phone.as_str();
                let name = format!("User {}", &digits[digits.len().saturating_sub(4)..]);
                let new = NewUser {
                    email: None,
                    email_verified: false,
                    phone: Some(phone.as_str()),
                    name: &name,
                    password_hash: None,
                    role: Role::User.as_str(),
                    locale: Locale::En.as_str(),
                };
                let user = store::insert_user(&mut tx, &new).await?;
                events::registered(&self.platform.outbox, &mut tx, &user).await?;
                user
            }
        };
        let tokens = self.start_session(&mut tx, &user, client).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(tokens)
    }

    // --- passwords ------------------------------------------------------------------------------

    /// Emails a reset code if the account exists; answers the same either way.
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = EmailAddress::parse(email)?;
        self.limit_send(email.as_str(), client).await?;
        match store::find_user_by_email(&self.platform.db, email.as_str()).await? {
            Some(user) if !user.disabled => {
                self.send_email_code(CodePurpose::PasswordReset, CodeMail::PasswordReset, &user, email.as_str()).await
            }
            _ => Ok(()),
        }
    }

    /// Exchanges a reset code for a single-use reset token.
    pub async fn verify_reset_code(&self, email: &str, code: &str, client: &ClientInfo) -> Result<String> {
        let email = EmailAddress::parse(email).map_err(|_| AccountsError::InvalidCode)?;
        let code_id = self.check_code(CodePurpose::PasswordReset, email.as_str(), code, client).await?;
        let user =
            store::find_user_by_email(&self.platform.db, email.as_str()).await?.ok_or(AccountsError::InvalidCode)?;
        let token = random_token();
        let mut tx = self.platform.db.begin().await?;
        if !store::consume_code(&mut tx, code_id).await? {
            return Err(AccountsError::InvalidCode);
        }
        let expires = Ts::now().plus(RESET_TOKEN_TTL);
        store::insert_code(&mut tx, CodePurpose::ResetToken, &user.id.to_string(), &sha256_hex(&token), expires)
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Sets a new password with a reset token and ends every session of the user.
    pub async fn reset_password(&self, reset_token: &str, new_password: &str) -> Result<()> {
        let password = Password::parse(new_password, "new_password")?;
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let mut tx = self.platform.db.begin().await?;
        let row =
            store::live_code_by_hash(&mut tx, CodePurpose::ResetToken, &sha256_hex(reset_token.trim()), Ts::now())
                .await?
                .ok_or(AccountsError::InvalidResetToken)?;
        let user = Uuid::parse_str(&row.destination).map_err(|_| AccountsError::InvalidResetToken)?;
        if !store::consume_code(&mut tx, row.id).await? {
            return Err(AccountsError::InvalidResetToken);
        }
        store::set_password(&mut tx, user, &hash).await?;
        // The reset code went to this address, which proves the user controls it.
        store::mark_email_verified(&mut tx, user).await?;
        store::revoke_all_sessions(&mut tx, user, None).await?;
        tx.commit().await?;
        self.ended(Ended::User { user, except: None });
        Ok(())
    }

    /// Changes the password of a signed-in user and ends their other sessions.
    pub async fn change_password(&self, user: Uuid, session: Uuid, current: &str, new_password: &str) -> Result<()> {
        let password = Password::parse(new_password, "new_password")?;
        let row = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        self.require_password(&row, current).await?;
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let mut tx = self.platform.db.begin().await?;
        store::set_password(&mut tx, user, &hash).await?;
        store::revoke_all_sessions(&mut tx, user, Some(session)).await?;
        tx.commit().await?;
        self.ended(Ended::User { user, except: Some(session) });
        Ok(())
    }

    async fn require_password(&self, row: &UserRow, password: &str) -> Result<()> {
        let key = format!("password-check:{}", row.id);
        self.platform.limiter.check(&key, LOGIN_FAILURES).await?;
        if !self.platform.hasher.verify(password, row.password_hash.as_deref()).await? {
            self.platform.limiter.hit(&key, LOGIN_FAILURES).await?;
            return Err(AccountsError::WrongPassword);
        }
        Ok(())
    }

    // --- profile ---------------------------------------------------------------------------------

    /// Changes the caller's profile and returns it.
    pub async fn update_profile(
        &self,
        user: Uuid,
        name: Option<&str>,
        locale: Option<Locale>,
        public_profile: Option<bool>,
    ) -> Result<User> {
        let name = name.map(DisplayName::parse).transpose()?;
        let row = store::update_profile(
            &self.platform.db,
            user,
            name.as_ref().map(DisplayName::as_str),
            locale.map(Locale::as_str),
            public_profile,
        )
        .await?;
        Ok(row.into())
    }

    /// Deletes the caller's account after checking the password (accounts without a password,
    /// created by phone, are confirmed by the signed-in session alone). Stored files are removed
    /// by the outbox once the deletion has committed.
    pub async fn delete_account(&self, user: Uuid, password: Option<&str>) -> Result<()> {
        let row = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        if row.password_hash.is_some() {
            self.require_password(&row, password.unwrap_or_default()).await?;
        }
        let mut tx = self.platform.db.begin().await?;
        for (module, hooks) in self.hooks.all() {
            hooks.deleting(&mut tx, user).await.map_err(|e| AccountsError::Hook(module, e))?;
        }
        store::delete_user(&mut tx, user).await?;
        events::deleted(&self.platform.outbox, &mut tx, user).await?;
        self.forget_avatar_files(&mut tx, row.avatar_key.as_deref()).await?;
        tx.commit().await?;
        self.ended(Ended::User { user, except: None });
        self.platform.outbox.wake();
        Ok(())
    }

    async fn forget_avatar_files(&self, tx: &mut platform::db::Tx, key: Option<&str>) -> Result<()> {
        if let Some(key) = key {
            let files = DeleteFiles { keys: vec![key.to_string(), avatar::thumbnail_key(key)] };
            self.platform.outbox.enqueue(tx, DELETE_FILES, &files).await?;
        }
        Ok(())
    }

    /// Replaces the caller's avatar with an uploaded image (its type and pixel count already
    /// checked by the upload extractor) and a generated thumbnail. The stored original is
    /// re-encoded upright without its metadata (EXIF, GPS). Files are written before the row
    /// points at them, so a reader never sees a key without its file; the previous files are
    /// removed after the commit.
    pub async fn set_avatar(&self, user: Uuid, file: platform::upload::Received) -> Result<User> {
        let before = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        let bytes = file.bytes().await.map_err(platform::error::Internal::new)?;
        let max_pixels = self.platform.uploads.max_pixels;
        let (clean, thumbnail) = self
            .platform
            .uploads
            .images
            .run(move || {
                let clean = platform::images::clean(&bytes, max_pixels)?;
                let thumbnail = platform::images::thumbnail(&clean.image, avatar::THUMBNAIL_SIZE)?;
                Ok::<_, platform::images::ImageError>((clean, thumbnail))
            })
            .await??;
        let key = avatar::new_key(user, clean.kind.extension());
        self.platform.storage.put(&key, clean.bytes.into()).await?;
        self.platform.storage.put(&avatar::thumbnail_key(&key), thumbnail.into()).await?;
        let mut tx = self.platform.db.begin().await?;
        let row = store::set_avatar(&mut tx, user, Some(&key)).await?;
        self.forget_avatar_files(&mut tx, before.avatar_key.as_deref()).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(row.into())
    }

    /// Removes the caller's avatar.
    pub async fn delete_avatar(&self, user: Uuid) -> Result<User> {
        let before = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        let mut tx = self.platform.db.begin().await?;
        let row = store::set_avatar(&mut tx, user, None).await?;
        self.forget_avatar_files(&mut tx, before.avatar_key.as_deref()).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(row.into())
    }

    /// A user's avatar (or its thumbnail) and its content type.
    pub async fn avatar(&self, user: Uuid, thumbnail: bool) -> Result<(bytes::Bytes, &'static str)> {
        let row = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        let key = row.avatar_key.ok_or(AccountsError::NotFound)?;
        let (key, content_type) = if thumbnail {
            (avatar::thumbnail_key(&key), "image/jpeg")
        } else {
            (key.clone(), avatar::content_type(&key))
        };
        let bytes = self.platform.storage.get(&key).await?.ok_or(AccountsError::NotFound)?;
        Ok((bytes, content_type))
    }

    /// Everything stored about the caller: this module's part and every other module's, each
    /// under the module's name.
    pub async fn export(&self, user: Uuid, session: Uuid) -> Result<serde_json::Value> {
        let me = self.user(user).await?;
        let sessions = self.sessions(user, session).await?;
        let mut out = serde_json::json!({
            "exported_at": Ts::now(),
            "accounts": { "user": me, "sessions": sessions },
        });
        for (module, hooks) in self.hooks.all() {
            let part = hooks.export(user).await.map_err(|e| AccountsError::Hook(module, e))?;
            out[module] = part;
        }
        Ok(out)
    }

    // --- administration -------------------------------------------------------------------------

    /// Lists users, optionally matching `q` in email or name.
    pub async fn list_users(&self, q: Option<&str>, cursor: Option<Uuid>, limit: i64) -> Result<Page<User>> {
        let q = q.map(str::trim).filter(|q| !q.is_empty());
        let rows = store::list_users(&self.platform.db, q, cursor, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        Ok(Page { items: page.items.into_iter().map(User::from).collect(), next_cursor: page.next_cursor })
    }

    /// Changes a user's role or disabled flag; either change ends all their sessions.
    pub async fn admin_update(&self, target: Uuid, role: Option<Role>, disabled: Option<bool>) -> Result<User> {
        let before = store::find_user(&self.platform.db, target).await?.ok_or(AccountsError::NotFound)?;
        let mut tx = self.platform.db.begin().await?;
        let after = store::update_admin_fields(&mut tx, target, role.map(Role::as_str), disabled).await?;
        if after.role != before.role || (after.disabled && !before.disabled) {
            store::revoke_all_sessions(&mut tx, target, None).await?;
        }
        tx.commit().await?;
        if after.role != before.role || (after.disabled && !before.disabled) {
            self.ended(Ended::User { user: target, except: None });
        } else {
            self.sessions.forget_user(target);
        }
        Ok(after.into())
    }

    /// Creates a verified admin, or promotes (and re-passwords) an existing account. CLI only.
    pub async fn create_admin(&self, email: &str, password: &str) -> Result<User> {
        let email = EmailAddress::parse(email)?;
        let password = Password::parse(password, "password")?;
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let existing = store::find_user_by_email(&self.platform.db, email.as_str()).await?;
        let mut tx = self.platform.db.begin().await?;
        let user = match existing {
            Some(user) => {
                store::set_password(&mut tx, user.id, &hash).await?;
                store::mark_email_verified(&mut tx, user.id).await?;
                store::revoke_all_sessions(&mut tx, user.id, None).await?;
                store::update_admin_fields(&mut tx, user.id, Some(Role::Admin.as_str()), Some(false)).await?
            }
            None => {
                let name = email.as_str().split('@').next().unwrap_or("admin").to_string();
                let new = NewUser {
                    email: Some(email.as_str()),
                    email_verified: true,
                    phone: None,
                    name: &name,
                    password_hash: Some(&hash),
                    role: Role::Admin.as_str(),
                    locale: Locale::En.as_str(),
                };
                let user = store::insert_user(&mut tx, &new).await?;
                events::registered(&self.platform.outbox, &mut tx, &user).await?;
                user
            }
        };
        tx.commit().await?;
        self.platform.outbox.wake();
        self.ended(Ended::User { user: user.id, except: None });
        Ok(user.into())
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
