//! What can go wrong in accounts, in domain terms: each failure's kind, stable code and message
//! ([`DomainError`](platform::error::DomainError)); the edges turn them into HTTP or gRPC answers.

use platform::FieldError;
use platform::db::DbError;
use platform::error::Internal;
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
    /// A one-time code is wrong, expired, used, or past its attempts (deliberately one answer).
    #[error(
        "The code is wrong, expired or already used (a code takes at most five wrong attempts; then request a new one)."
    )]
    InvalidCode,
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
    /// An image with more pixels than we decode.
    #[error("image too large: {0}")]
    ImageTooLarge(String),
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

platform::domain_error!(AccountsError {
    Self::EmailTaken => Conflict, "email_taken";
    Self::InvalidCredentials => Unauthenticated, "invalid_credentials";
    Self::InvalidRefreshToken => Unauthenticated, "invalid_refresh_token";
    Self::RefreshTokenReused => Unauthenticated, "refresh_token_reused";
    Self::AccountDisabled => Forbidden, "account_disabled";
    Self::WrongPassword => BadRequest, "wrong_password";
    Self::InvalidCode => BadRequest, "invalid_code";
    Self::InvalidResetToken => BadRequest, "invalid_reset_token";
    Self::UnsupportedImage => Unsupported, "unsupported_image_type";
    Self::InvalidImage(why) => Invalid, "invalid_image",
        fields(vec![FieldError::new("file", why.clone())]), message("The request has invalid fields.".into());
    Self::ImageTooLarge(why) => Invalid, "image_too_large",
        fields(vec![FieldError::new("file", why.clone())]), message("The request has invalid fields.".into());
    Self::NotFound => NotFound, "not_found";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
    Self::RateLimited(limited) => RateLimited, "rate_limited", limit(Some(*limited));
    Self::Hook(..) => Internal, "internal_error";
} wraps Db, Internal);

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
                AccountsError::ImageTooLarge(too_many.to_string())
            }
        }
    }
}

impl From<platform::storage::StorageError> for AccountsError {
    fn from(e: platform::storage::StorageError) -> Self {
        AccountsError::Internal(Internal::new(e))
    }
}
