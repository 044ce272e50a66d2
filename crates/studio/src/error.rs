//! What can go wrong in the studio, in domain terms ([`DomainError`](platform::error::DomainError));
//! the edges map it to HTTP problems.

use platform::FieldError;
use platform::db::DbError;
use platform::error::Internal;

/// A studio failure.
#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    /// No such object, or another user's.
    #[error("The resource does not exist.")]
    NotFound,
    /// A catalogue change by someone who is not an administrator.
    #[error("Only administrators can change the catalogue.")]
    AdminOnly,
    /// Invalid input.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// No credit left for a generation.
    #[error("You have no credits left for a generation.")]
    InsufficientCredits,
    /// Ordering a generation without a verified email address or phone number.
    #[error("Verify your email address or phone number before ordering generations.")]
    VerificationRequired,
    /// Too many of the caller's generations are queued or running.
    #[error("You have {0} generations in progress; wait for one to finish.")]
    TooManyGenerations(i64),
    /// No image provider is configured on this server.
    #[error("Image generation is not configured on this server.")]
    NotConfigured,
    /// Deleting a category that still has templates.
    #[error("This category still has templates; move or delete them first.")]
    CategoryNotEmpty,
    /// A category slug in use.
    #[error("Another category has this slug.")]
    SlugTaken,
    /// Editing a generation that has no image (yet).
    #[error("The parent generation has no image to edit.")]
    ParentNotReady,
    /// An image that cannot be taken.
    #[error("{0}")]
    Image(String),
    /// Too many of something in a while.
    #[error("{0}")]
    RateLimited(platform::ratelimit::Limited),
    /// Reading the caller from accounts failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure on our side.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl StudioError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        StudioError::Invalid(vec![FieldError::new(field, message.into())])
    }
}

platform::domain_error!(StudioError {
    Self::NotFound => NotFound, "not_found";
    Self::AdminOnly => Forbidden, "admin_only";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
    Self::InsufficientCredits => PaymentRequired, "insufficient_credits";
    Self::NotConfigured => Unavailable, "generation_not_configured";
    Self::VerificationRequired => Forbidden, "verification_required";
    Self::TooManyGenerations(_) => Conflict, "too_many_generations";
    Self::CategoryNotEmpty => Conflict, "category_not_empty";
    Self::SlugTaken => Conflict, "slug_taken";
    Self::ParentNotReady => Conflict, "parent_not_ready";
    Self::Image(_) => Invalid, "invalid_image";
    Self::RateLimited(limited) => RateLimited, "rate_limited", limit(Some(*limited));
} wraps Db, Accounts, Internal);

impl From<DbError> for StudioError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => StudioError::NotFound,
            other => StudioError::Db(other),
        }
    }
}

impl From<platform::images::ImageError> for StudioError {
    fn from(e: platform::images::ImageError) -> Self {
        // Types and pixel counts were checked by the upload extractor; what is left is a file
        // that claims to be an image and does not decode.
        StudioError::Image(e.to_string())
    }
}

impl From<platform::storage::StorageError> for StudioError {
    fn from(e: platform::storage::StorageError) -> Self {
        StudioError::Internal(Internal::new(e))
    }
}

impl From<platform::ratelimit::Limited> for StudioError {
    fn from(limited: platform::ratelimit::Limited) -> Self {
        StudioError::RateLimited(limited)
    }
}
