//! What can go wrong in accounts, in domain terms: each failure's kind, stable code and message
//! ([`DomainError`]); the edges turn them into HTTP or gRPC answers.

use platform::FieldError;
use platform::db::DbError;
use platform::error::{DomainError, ErrorKind, Internal};
use platform::ratelimit::Limited;

/// An accounts failure.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Registration with an address that already has an account.
    #[error("An account with this email already exists.")]
    EmailTaken,
    /// Unknown email or wrong password (deliberately indistinguishable).
    #[error("Wrong email or password.")]
    InvalidCredentials,
    /// The current password given to a change or deletion is wrong.
    #[error("The password is not correct.")]
    WrongPassword,
    /// The account was disabled by an administrator.
    #[error("This account is disabled.")]
    AccountDisabled,
    /// A one-time code is wrong, expired or used.
    #[error("The code is wrong, expired or already used.")]
    InvalidCode,
    /// The code took its last wrong attempt.
    #[error("Too many wrong attempts; request a new code.")]
    TooManyAttempts,
    /// A refresh token that is unknown, expired, or of an ended session.
    #[error("The refresh token is not valid; sign in again.")]
    InvalidRefreshToken,
    /// A refresh token that was already spent: the session is revoked.
    #[error("This refresh token was already used; the session has been revoked.")]
    RefreshTokenReused,
    /// A reset token that is unknown, expired or used.
    #[error("The reset token is wrong, expired or already used.")]
    InvalidResetToken,
    /// An upload that is not a JPEG, PNG or WebP image.
    #[error("Upload a JPEG, PNG or WebP image.")]
    UnsupportedImage,
    /// An upload that claims an image type but cannot be decoded or is too large.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// No such object (or not the caller's).
    #[error("The resource does not exist.")]
    NotFound,
    /// Input that fails the domain rules.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// Over a rate limit.
    #[error("{0}")]
    RateLimited(Limited),
    /// Another module's export or deletion hook failed.
    #[error("module {0}: {1:#}")]
    Hook(&'static str, anyhow::Error),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure on our side (hashing, signing, storing files).
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl AccountsError {
    /// One invalid field.
    pub fn field(field: &str, message: &str) -> Self {
        AccountsError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl DomainError for AccountsError {
    fn kind(&self) -> ErrorKind {
        use AccountsError as E;
        match self {
            E::EmailTaken => ErrorKind::Conflict,
            E::InvalidCredentials | E::InvalidRefreshToken | E::RefreshTokenReused => ErrorKind::Unauthenticated,
            E::AccountDisabled => ErrorKind::Forbidden,
            E::WrongPassword | E::InvalidCode | E::TooManyAttempts | E::InvalidResetToken => ErrorKind::BadRequest,
            E::UnsupportedImage => ErrorKind::Unsupported,
            E::InvalidImage(_) | E::Invalid(_) => ErrorKind::Invalid,
            E::NotFound => ErrorKind::NotFound,
            E::RateLimited(_) => ErrorKind::RateLimited,
            E::Db(db) => db.kind(),
            E::Hook(..) | E::Internal(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        use AccountsError as E;
        match self {
            E::EmailTaken => "email_taken",
            E::InvalidCredentials => "invalid_credentials",
            E::WrongPassword => "wrong_password",
            E::AccountDisabled => "account_disabled",
            E::InvalidCode => "invalid_code",
            E::TooManyAttempts => "too_many_attempts",
            E::InvalidRefreshToken => "invalid_refresh_token",
            E::RefreshTokenReused => "refresh_token_reused",
            E::InvalidResetToken => "invalid_reset_token",
            E::UnsupportedImage => "unsupported_image_type",
            E::InvalidImage(_) => "invalid_image",
            E::NotFound => "not_found",
            E::Invalid(_) => "validation_failed",
            E::RateLimited(_) => "rate_limited",
            E::Db(db) => db.code(),
            E::Hook(..) | E::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            AccountsError::InvalidImage(_) => "The request has invalid fields.".into(),
            other => other.to_string(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            AccountsError::Invalid(errors) => errors.clone(),
            AccountsError::InvalidImage(why) => vec![FieldError::new("file", why.clone())],
            _ => Vec::new(),
        }
    }

    fn limit(&self) -> Option<Limited> {
        match self {
            AccountsError::RateLimited(limited) => Some(*limited),
            _ => None,
        }
    }
}

impl From<DbError> for AccountsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => AccountsError::NotFound,
            DbError::Unique(c) if c == "users(email)" => AccountsError::EmailTaken,
            other => AccountsError::Db(other),
        }
    }
}

impl From<Limited> for AccountsError {
    fn from(l: Limited) -> Self {
        AccountsError::RateLimited(l)
    }
}

impl From<platform::images::ImageError> for AccountsError {
    fn from(e: platform::images::ImageError) -> Self {
        match e {
            platform::images::ImageError::UnsupportedType => AccountsError::UnsupportedImage,
            platform::images::ImageError::Invalid(why) => AccountsError::InvalidImage(why),
            too_many @ platform::images::ImageError::TooManyPixels { .. } => {
                AccountsError::InvalidImage(too_many.to_string())
            }
        }
    }
}

impl From<platform::storage::StorageError> for AccountsError {
    fn from(e: platform::storage::StorageError) -> Self {
        AccountsError::Internal(Internal::new(e))
    }
}
