//! Domain types of accounts, validated on construction, and the shapes the API exchanges.

use crate::error::AccountsError;
use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A normalised (trimmed, lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts `local@domain.tld` of at most 254 characters, without spaces or control characters.
    pub fn parse(raw: &str) -> Result<Self, AccountsError> {
        let value = raw.trim().to_lowercase();
        let bad = || AccountsError::field("email", "is not a valid email address");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        let labels_ok = domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain.contains('.') || !labels_ok {
            return Err(bad());
        }
        Ok(Self(value))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password within the allowed length (10–128 characters).
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks the length rule.
    pub fn parse(raw: &str, field: &str) -> Result<Self, AccountsError> {
        let n = raw.chars().count();
        if !(10..=128).contains(&n) {
            return Err(AccountsError::field(field, "must be 10 to 128 characters long"));
        }
        Ok(Self(raw.to_string()))
    }

    /// The password.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A phone number in E.164 form (`+14155550100`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses an international number (with `+` and country code) in any common formatting.
    pub fn parse(raw: &str) -> Result<Self, AccountsError> {
        let bad = || AccountsError::field("phone", "is not a valid international phone number (+country code)");
        let parsed = phonenumber::parse(None, raw.trim()).map_err(|_| bad())?;
        if !phonenumber::is_valid(&parsed) {
            return Err(bad());
        }
        Ok(Self(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks the rule.
    pub fn parse(raw: &str) -> Result<Self, AccountsError> {
        let value = raw.trim();
        let n = value.chars().count();
        if n == 0 || n > 100 || value.chars().any(char::is_control) {
            return Err(AccountsError::field("name", "must be 1 to 100 characters"));
        }
        Ok(Self(value.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's role. Only the CLI and other admins grant `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = accounts::Role)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Administrator.
    Admin,
    /// Everyone else.
    User,
}

impl Role {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// Interface language of a user (mail is sent in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = accounts::Locale)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    /// English.
    En,
    /// Persian.
    Fa,
}

impl Locale {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fa => "fa",
        }
    }

    /// Reads a stored value; unknown values fall back to English.
    pub fn from_stored(s: &str) -> Self {
        if s == "fa" { Locale::Fa } else { Locale::En }
    }
}

/// A user as stored (with the password hash, which never leaves this crate's service).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub name: String,
    pub password_hash: Option<String>,
    pub locale: String,
    pub role: String,
    pub public_profile: bool,
    pub disabled: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub avatar_key: Option<String>,
}

/// Stored avatars: the original under `avatars/{user}/{version}.{ext}` and a square JPEG
/// thumbnail beside it. The version is random, so URLs change when the picture does.
pub mod avatar {
    use uuid::Uuid;

    /// Side of the thumbnail in pixels.
    pub const THUMBNAIL_SIZE: u32 = 256;

    /// Longest side of a stored avatar: larger pictures are scaled down (an avatar needs no
    /// more, and it bounds what every public request for it reads).
    pub const MAX_SIDE: u32 = 1024;

    /// The key of a new original.
    pub fn new_key(user: Uuid, extension: &str) -> String {
        format!("avatars/{user}/{}.{extension}", Uuid::new_v4().simple())
    }

    /// The thumbnail's key beside an original's.
    pub fn thumbnail_key(key: &str) -> String {
        let stem = key.rsplit_once('.').map_or(key, |(stem, _)| stem);
        format!("{stem}-thumb.jpg")
    }

    /// The content type of an original, from its extension (set by us from the sniffed type).
    pub fn content_type(key: &str) -> &'static str {
        match key.rsplit_once('.').map(|(_, ext)| ext) {
            Some("png") => "image/png",
            Some("webp") => "image/webp",
            _ => "image/jpeg",
        }
    }

    /// The public URLs (original, thumbnail) of a user's avatar, on `public` (the server's
    /// public URL).
    pub fn urls(public: &str, user: Uuid, key: Option<&str>) -> (Option<String>, Option<String>) {
        match key {
            None => (None, None),
            Some(key) => {
                let version = key.rsplit('/').next().and_then(|f| f.split('.').next()).unwrap_or_default();
                let public = public.trim_end_matches('/');
                let base = format!("{public}/api/v1/users/{user}/avatar?v={version}");
                (Some(base.clone()), Some(format!("{base}&size=thumbnail")))
            }
        }
    }
}

/// A user as the API shows it to the user and to admins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = accounts::User)]
pub struct User {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Email address, if the account has one.
    pub email: Option<String>,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// Phone number in E.164, if the account signed in by phone (and so proved it).
    pub phone: Option<String>,
    /// Display name.
    pub name: String,
    /// `en` or `fa`.
    pub locale: Locale,
    /// `admin` or `user`.
    pub role: Role,
    /// Whether other users may see the name beside the user's activity (e.g. as a ticket buyer).
    pub public_profile: bool,
    /// Whether an admin disabled the account.
    pub disabled: bool,
    /// Creation time.
    pub created_at: Ts,
    /// Last change.
    pub updated_at: Ts,
    /// The avatar picture, if any.
    pub avatar_url: Option<String>,
    /// A 256×256 JPEG thumbnail of it.
    pub avatar_thumbnail_url: Option<String>,
}

impl User {
    /// The API view of `r`, its links on `public` (the server's public URL).
    pub fn from_row(r: UserRow, public: &str) -> Self {
        let (avatar_url, avatar_thumbnail_url) = avatar::urls(public, r.id, r.avatar_key.as_deref());
        Self {
            avatar_url,
            avatar_thumbnail_url,
            id: r.id,
            email: r.email,
            email_verified: r.email_verified,
            phone: r.phone,
            name: r.name,
            locale: Locale::from_stored(&r.locale),
            role: if r.role == "admin" { Role::Admin } else { Role::User },
            public_profile: r.public_profile,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// What anyone signed in may see of another user.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = accounts::PublicUser)]
pub struct PublicUser {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The avatar picture, if any.
    pub avatar_url: Option<String>,
    /// Its thumbnail.
    pub avatar_thumbnail_url: Option<String>,
}

impl From<User> for PublicUser {
    fn from(u: User) -> Self {
        Self { id: u.id, name: u.name, avatar_url: u.avatar_url, avatar_thumbnail_url: u.avatar_thumbnail_url }
    }
}

/// A sign-in session as listed to its owner.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(as = accounts::Session)]
pub struct Session {
    /// Session id.
    pub id: Uuid,
    /// When it began.
    pub created_at: Ts,
    /// Its last refresh.
    pub last_used_at: Ts,
    /// When it ends unless refreshed.
    pub expires_at: Ts,
    /// The client's user agent at sign-in.
    pub user_agent: Option<String>,
    /// The client's IP at sign-in.
    pub ip: Option<String>,
    /// Whether this is the session of the calling token.
    #[sqlx(skip)]
    pub current: bool,
}

/// The answer to every sign-in: the user and a fresh token pair.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = accounts::SessionTokens)]
pub struct SessionTokens {
    /// The signed-in user.
    pub user: User,
    /// Bearer token for API calls (short-lived).
    pub access_token: String,
    /// Opaque token for `POST /auth/refresh` (single use, rotated).
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// What a live-session lookup returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionState {
    pub role: String,
    pub disabled: bool,
    pub revoked_at: Option<Ts>,
    pub expires_at: Ts,
}

/// A stored refresh token with its session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub spent_at: Option<Ts>,
    pub revoked_at: Option<Ts>,
    pub expires_at: Ts,
    /// The user agent the session was opened with.
    pub user_agent: Option<String>,
    /// The IP it was opened from.
    pub ip: Option<String>,
}

/// A stored one-time code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub id: Uuid,
    pub destination: String,
    pub code_hash: String,
    pub attempts: i64,
    pub expires_at: Ts,
}

/// What a one-time code is for; part of its hash, so a code for one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Verify an email address.
    VerifyEmail,
    /// Reset a password (the emailed code).
    PasswordReset,
    /// The single-use token a reset code is exchanged for.
    ResetToken,
    /// Sign in by phone.
    PhoneSignIn,
}

impl CodePurpose {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::VerifyEmail => "verify_email",
            CodePurpose::PasswordReset => "password_reset",
            CodePurpose::ResetToken => "reset_token",
            CodePurpose::PhoneSignIn => "phone_sign_in",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(EmailAddress::parse("  Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        for bad in ["", "alice", "alice@", "@example.com", "a@b", "a b@example.com", "a@@example.com", "a@-x.com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_normalise_to_e164() {
        let a = PhoneNumber::parse("+1 415 555 0100").unwrap();
        let b = PhoneNumber::parse("+14155550100").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "+14155550100");
        assert!(PhoneNumber::parse("hello").is_err());
        assert!(PhoneNumber::parse("4155550100").is_err());
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(Password::parse("short", "password").is_err());
        assert!(Password::parse("ééééééééé", "password").is_err());
        assert!(Password::parse("éééééééééé", "password").is_ok());
        assert!(Password::parse(&"x".repeat(129), "password").is_err());
        assert!(!format!("{:?}", Password::parse("supersecret1", "p").unwrap()).contains("supersecret"));
    }

    #[test]
    fn avatar_keys_and_urls() {
        let user = Uuid::now_v7();
        let key = avatar::new_key(user, "png");
        assert!(key.starts_with(&format!("avatars/{user}/")) && key.ends_with(".png"));
        assert_eq!(avatar::thumbnail_key("avatars/u/abc.png"), "avatars/u/abc-thumb.jpg");
        assert_eq!(avatar::content_type("avatars/u/abc.webp"), "image/webp");
        let (original, thumb) = avatar::urls("https://api.example.org/", user, Some("avatars/u/abc.png"));
        assert_eq!(original.unwrap(), format!("https://api.example.org/api/v1/users/{user}/avatar?v=abc"));
        assert_eq!(thumb.unwrap(), format!("https://api.example.org/api/v1/users/{user}/avatar?v=abc&size=thumbnail"));
        assert_eq!(avatar::urls("https://x", user, None), (None, None));
    }

    #[test]
    fn names_are_trimmed() {
        assert_eq!(DisplayName::parse("  Ann ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
    }
}
