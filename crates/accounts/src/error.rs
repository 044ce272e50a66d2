//! What can go wrong in accounts, and the exact HTTP answer for each.

use platform::db::DbError;
use platform::ratelimit::Limited;
use platform::{ApiError, FieldError};

/// An accounts failure.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Registration with an address that already has an account.
    #[error("email already registered")]
    EmailTaken,
    /// Unknown email or wrong password (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The current password given to a change or deletion is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// The account was disabled by an administrator.
    #[error("account disabled")]
    AccountDisabled,
    /// A one-time code is wrong, expired or used.
    #[error("invalid code")]
    InvalidCode,
    /// The code took its last wrong attempt.
    #[error("too many attempts")]
    TooManyAttempts,
    /// A refresh token that is unknown, expired, or of an ended session.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A refresh token that was already spent: the session is revoked.
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// A reset token that is unknown, expired or used.
    #[error("invalid reset token")]
    InvalidResetToken,
    /// An upload that is not a JPEG, PNG or WebP image.
    #[error("unsupported image type")]
    UnsupportedImage,
    /// An upload that claims an image type but cannot be decoded or is too large.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// No such object (or not the caller's).
    #[error("not found")]
    NotFound,
    /// Input that fails the domain rules.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Over a rate limit.
    #[error("rate limited")]
    RateLimited(Limited),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// Another module's export or deletion hook failed.
    #[error("module {0}: {1}")]
    Hook(&'static str, anyhow::Error),
    /// A platform failure that already is an answer (hashing, token signing).
    #[error("{0}")]
    Platform(ApiError),
}

impl AccountsError {
    /// One invalid field.
    pub fn field(field: &str, message: &str) -> Self {
        AccountsError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<DbError> for AccountsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AccountsError::NotFound,
            DbError::Conflict(c) if c.contains("email") => AccountsError::EmailTaken,
            other => AccountsError::Db(other),
        }
    }
}

impl From<Limited> for AccountsError {
    fn from(l: Limited) -> Self {
        AccountsError::RateLimited(l)
    }
}

impl From<ApiError> for AccountsError {
    fn from(e: ApiError) -> Self {
        AccountsError::Platform(e)
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        use AccountsError as E;
        match e {
            E::EmailTaken => ApiError::conflict("email_taken", "An account with this email already exists."),
            E::InvalidCredentials => ApiError::unauthorized("invalid_credentials", "Wrong email or password."),
            E::WrongPassword => ApiError::bad_request("wrong_password", "The password is not correct."),
            E::AccountDisabled => ApiError::forbidden("account_disabled", "This account is disabled."),
            E::InvalidCode => ApiError::bad_request("invalid_code", "The code is wrong, expired or already used."),
            E::TooManyAttempts => {
                ApiError::bad_request("too_many_attempts", "Too many wrong attempts; request a new code.")
            }
            E::InvalidRefreshToken => {
                ApiError::unauthorized("invalid_refresh_token", "The refresh token is not valid; sign in again.")
            }
            E::RefreshTokenReused => ApiError::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; the session has been revoked.",
            ),
            E::InvalidResetToken => {
                ApiError::bad_request("invalid_reset_token", "The reset token is wrong, expired or already used.")
            }
            E::UnsupportedImage => ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_image_type",
                "Upload a JPEG, PNG or WebP image.",
            ),
            E::InvalidImage(why) => {
                let mut e = ApiError::invalid_field("file", why);
                e.code = "invalid_image";
                e
            }
            E::NotFound => ApiError::not_found(),
            E::Invalid(errors) => ApiError::validation(errors),
            E::RateLimited(l) => l.into(),
            E::Db(db) => ApiError::internal(db),
            E::Hook(module, e) => ApiError::internal(format!("{module}: {e:#}")),
            E::Platform(api) => api,
        }
    }
}

impl From<platform::images::ImageError> for AccountsError {
    fn from(e: platform::images::ImageError) -> Self {
        match e {
            platform::images::ImageError::UnsupportedType => AccountsError::UnsupportedImage,
            platform::images::ImageError::Invalid(why) => AccountsError::InvalidImage(why),
        }
    }
}

impl From<platform::storage::StorageError> for AccountsError {
    fn from(e: platform::storage::StorageError) -> Self {
        AccountsError::Platform(ApiError::internal(e))
    }
}
