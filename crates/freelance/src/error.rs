//! What can go wrong in freelance, in domain terms ([`DomainError`](platform::error::DomainError));
//! the edges map it to HTTP problems.

use platform::FieldError;
use platform::db::DbError;
use platform::error::Internal;

/// A freelance failure.
#[derive(Debug, thiserror::Error)]
pub enum FreelanceError {
    /// No such client, or another user's.
    #[error("The resource does not exist.")]
    NotFound,
    /// Invalid input.
    #[error("The request has invalid fields.")]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Db(DbError),
    /// A failure on our side.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl FreelanceError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        FreelanceError::Invalid(vec![FieldError::new(field, message.into())])
    }
}

platform::domain_error!(FreelanceError {
    Self::NotFound => NotFound, "not_found";
    Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
} wraps Db, Internal);

impl From<DbError> for FreelanceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound | DbError::ForeignKey => FreelanceError::NotFound,
            other => FreelanceError::Db(other),
        }
    }
}
