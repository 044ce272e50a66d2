//! Errors. Services fail with their module's `thiserror` enum, which says what went wrong in
//! domain terms through [`DomainError`] (a [`ErrorKind`], a stable `code`, a message, field
//! errors) and knows nothing of HTTP. One mapping at each edge turns that into an answer: for
//! HTTP the `From` below gives an [`ApiError`], an RFC 9457 `application/problem+json` body;
//! the gRPC server maps the same kinds to its status codes. A failure on our side never shows
//! its cause (it is logged with the request id instead).

use crate::ratelimit::Limited;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `email` or `items[0].quantity`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Extra members of a problem document.
pub type Extensions = serde_json::Map<String, serde_json::Value>;

/// Extensions with one member, `name: value` (for the `extensions(…)` of [`domain_error!`]).
pub fn extension(name: &str, value: impl Into<serde_json::Value>) -> Extensions {
    let mut map = Extensions::new();
    map.insert(name.to_string(), value.into());
    map
}

/// The problem document as it appears on the wire (also the OpenAPI schema of every error).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// A stable machine-readable code, e.g. `email_taken`.
    pub code: String,
    /// Per-field validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Members particular to the problem type (RFC 9457 §3.2), e.g. `seats_left` of `sold_out`.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// An error answer under construction.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// The human detail.
    pub detail: String,
    /// Field errors (422).
    pub errors: Vec<FieldError>,
    /// Extra headers, e.g. `Retry-After`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Extra members of the problem document ([`Problem::extensions`]).
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error with the given status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401 with a code.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// 403 with a code.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404 `not_found`: used for missing objects and for other users' private ones alike.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "The resource does not exist.")
    }

    /// 409 with a code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422 `validation_failed` with field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "The request has invalid fields.");
        e.errors = errors;
        e
    }

    /// 422 for a single field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 500: logs the cause and answers without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
    }

    /// Adds a header to the answer.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The wire document.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// What kind of failure a domain error is, whatever the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such thing, or one the caller may not know exists.
    NotFound,
    /// No valid credentials.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// The request is well formed but wrong (a bad code, a wrong password).
    BadRequest,
    /// The request clashes with the current state (taken, has children, cycle).
    Conflict,
    /// Fields fail the rules ([`DomainError::fields`] says which).
    Invalid,
    /// Content of a type we do not take.
    Unsupported,
    /// A body or file over its size limit.
    TooLarge,
    /// Too many attempts ([`DomainError::limit`] says until when).
    RateLimited,
    /// The caller's balance (credits) does not cover the request.
    PaymentRequired,
    /// A service we depend on (the database) cannot be reached right now; retry shortly.
    Unavailable,
    /// A failure on our side; the cause is logged, never shown.
    Internal,
}

/// A module's failure in domain terms. Implemented by every module's error enum; the edges
/// (HTTP, gRPC, the gateway) map it.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;
    /// A stable machine-readable code, e.g. `email_taken`.
    fn code(&self) -> &'static str;
    /// What happened, for people (not shown for [`ErrorKind::Internal`]).
    fn message(&self) -> String {
        self.to_string()
    }
    /// The invalid fields, for [`ErrorKind::Invalid`].
    fn fields(&self) -> Vec<FieldError> {
        Vec::new()
    }
    /// The limit that was hit, for [`ErrorKind::RateLimited`].
    fn limit(&self) -> Option<Limited> {
        None
    }
    /// Facts a client acts on beyond the code (`sold_out` tells `seats_left`): members of the
    /// problem document over HTTP.
    fn extensions(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
}

/// Implements [`DomainError`] for a module's error enum from one table, so that no module
/// writes the delegation to the errors it wraps (storage, other modules' services) by hand.
///
/// Each row is `pattern => Kind, "code"`, optionally followed by `fields(expr)`,
/// `message(expr)`, `limit(expr)` and `extensions(expr)` (in that order) using the pattern's
/// bindings. The variants named after `wraps` hold another [`DomainError`] whose kind, code,
/// message, fields, limit and extensions pass through. Every variant must be in the table or among `wraps`: a new variant that is
/// forgotten does not compile.
///
/// ```ignore
/// platform::domain_error!(ChatError {
///     Self::NotFound => NotFound, "not_found";
///     Self::Invalid(errors) => Invalid, "validation_failed", fields(errors.clone());
/// } wraps Db, Accounts, Internal);
/// ```
#[macro_export]
macro_rules! domain_error {
    ($ty:ty {
        $( $pat:pat => $kind:ident, $code:literal
            $(, fields($fields:expr))? $(, message($message:expr))? $(, limit($limit:expr))?
            $(, extensions($extensions:expr))? ; )*
    } wraps $($wrap:ident),* $(,)?) => {
        impl $ty {
            /// The error of another module (or the platform) this one wraps.
            fn wrapped(&self) -> Option<&dyn $crate::error::DomainError> {
                match self {
                    $( Self::$wrap(e) => Some(e), )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        impl $crate::error::DomainError for $ty {
            #[allow(unused_variables)]
            fn kind(&self) -> $crate::error::ErrorKind {
                // No catch-all: a variant missing from the table does not compile.
                match self {
                    $( $pat => $crate::error::ErrorKind::$kind, )*
                    $( Self::$wrap(e) => e.kind(), )*
                }
            }

            #[allow(unused_variables)]
            fn code(&self) -> &'static str {
                match self {
                    $( $pat => $code, )*
                    $( Self::$wrap(e) => e.code(), )*
                }
            }

            #[allow(unused_variables)]
            fn message(&self) -> String {
                match self {
                    $( $( $pat => $message, )? )*
                    #[allow(unreachable_patterns)]
                    _ => self.wrapped().map_or_else(|| self.to_string(), |e| e.message()),
                }
            }

            #[allow(unused_variables)]
            fn fields(&self) -> Vec<$crate::error::FieldError> {
                match self {
                    $( $( $pat => $fields, )? )*
                    #[allow(unreachable_patterns)]
                    _ => self.wrapped().map(|e| e.fields()).unwrap_or_default(),
                }
            }

            #[allow(unused_variables)]
            fn limit(&self) -> Option<$crate::ratelimit::Limited> {
                match self {
                    $( $( $pat => $limit, )? )*
                    #[allow(unreachable_patterns)]
                    _ => self.wrapped().and_then(|e| e.limit()),
                }
            }

            #[allow(unused_variables)]
            fn extensions(&self) -> $crate::error::Extensions {
                match self {
                    $( $( $pat => $extensions, )? )*
                    #[allow(unreachable_patterns)]
                    _ => self.wrapped().map(|e| e.extensions()).unwrap_or_default(),
                }
            }
        }
    };
}

/// A failure on our side (hashing, signing, encoding, a storage service): logged, never shown.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Internal(pub String);

impl Internal {
    /// From any displayable cause.
    pub fn new(cause: impl std::fmt::Display) -> Self {
        Self(cause.to_string())
    }
}

impl DomainError for Internal {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
    fn code(&self) -> &'static str {
        "internal_error"
    }
}

impl DomainError for crate::db::DbError {
    /// Storage errors that a module did not map itself: not-found stays not found, the rest is ours.
    fn kind(&self) -> ErrorKind {
        match self {
            crate::db::DbError::NotFound => ErrorKind::NotFound,
            crate::db::DbError::Unavailable(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            crate::db::DbError::NotFound => "not_found",
            crate::db::DbError::Unavailable(_) => "unavailable",
            _ => "internal_error",
        }
    }
    fn message(&self) -> String {
        match self {
            crate::db::DbError::NotFound => "The resource does not exist.".into(),
            // The driver's words stay in the log.
            crate::db::DbError::Unavailable(_) => "The service is briefly unavailable; retry in a moment.".into(),
            other => other.to_string(),
        }
    }
}

impl DomainError for Limited {
    fn kind(&self) -> ErrorKind {
        ErrorKind::RateLimited
    }
    fn code(&self) -> &'static str {
        "rate_limited"
    }
    fn limit(&self) -> Option<Limited> {
        Some(*self)
    }
}

/// The 429 answer, with `Retry-After` and the `RateLimit-*` headers.
fn rate_limited(limited: &Limited) -> ApiError {
    let secs = limited.retry_after.as_secs().max(1);
    let header = |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("0"));
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("Too many requests; retry in {secs} s."))
        .with_header(HeaderName::from_static("retry-after"), header(secs.to_string()))
        .with_header(HeaderName::from_static("ratelimit-limit"), header(limited.quota.limit.to_string()))
        .with_header(HeaderName::from_static("ratelimit-remaining"), HeaderValue::from_static("0"))
        .with_header(HeaderName::from_static("ratelimit-reset"), header(secs.to_string()))
}

/// The HTTP status of each kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl<E: DomainError> From<E> for ApiError {
    /// The one mapping from domain errors to HTTP answers.
    fn from(err: E) -> Self {
        let kind = err.kind();
        if kind == ErrorKind::Internal {
            return ApiError::internal(&err);
        }
        if let Some(limited) = err.limit() {
            return rate_limited(&limited);
        }
        if kind == ErrorKind::Unavailable {
            tracing::warn!(error = %err, "dependency unavailable");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.code(), err.message())
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        let mut answer = ApiError::new(status_of(kind), err.code(), err.message());
        answer.errors = err.fields();
        answer.extensions = err.extensions();
        answer
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_problem_json_with_code() {
        let resp = ApiError::conflict("email_taken", "taken").into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/problem+json");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["code"], "email_taken");
        assert_eq!(v["status"], 409);
        assert!(v.get("errors").is_none());
    }

    #[test]
    fn internal_hides_the_cause() {
        let e = ApiError::internal("password=hunter2 leaked in a driver message");
        assert!(!e.problem().detail.contains("hunter2"));
    }
}
