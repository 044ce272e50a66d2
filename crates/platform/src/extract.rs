//! Request extractors whose rejections are problem documents: [`Json`] (parse, then validate
//! with `garde`), [`Query`] and [`Path`]. axum's own rejections would answer in plain text.

use crate::error::{ApiError, FieldError};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON body, deserialised (unknown fields refused by the types) and validated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(unsupported_media_type());
        }
        let body = axum::body::Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
            _ => ApiError::bad_request("unreadable_body", "The request body could not be read."),
        })?;
        if escapes_nul(&body) {
            let mut e = ApiError::validation(vec![FieldError::new("", "must not contain NUL characters (\\u0000)")]);
            e.code = "nul_character";
            e.detail = "Text in the body must not contain NUL characters (\\u0000).".into();
            return Err(e);
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&body).map_err(json_rejection)?;
        value.validate().map_err(garde_errors)?;
        Ok(Json(value))
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Expected a body with `Content-Type: application/json`.",
    )
}

fn payload_too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large.")
}

/// `application/json` or another `application/…+json` type, parameters aside.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON text holds the escape of a NUL character (`\u0000` after an odd run of
/// backslashes; an even run is escaped backslashes followed by plain text). JSON strings cannot
/// hold a raw NUL byte, and PostgreSQL's text columns cannot hold the character at all: refused
/// here, it is the client's 422 on every backend instead of a database error.
pub(crate) fn escapes_nul(body: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"u0000";
    let mut from = 0;
    while let Some(found) = body[from..].windows(ESCAPE.len()).position(|w| w == ESCAPE) {
        let at = from + found;
        if body[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1 {
            return true;
        }
        from = at + 1;
    }
    false
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Maps axum's JSON rejections to problems, keeping their status (400, 413, 415, 422).
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let text = rejection.body_text();
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => unsupported_media_type(),
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        StatusCode::UNPROCESSABLE_ENTITY => {
            // axum formats data errors as "<prefix>: <path>: <message>" (path omitted at the root).
            let detail = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .unwrap_or(&text)
                .to_string();
            let (field, message) = match detail.split_once(": ") {
                Some((path, msg)) if !path.contains(' ') => (path.to_string(), msg.to_string()),
                _ => (String::new(), detail.clone()),
            };
            let mut e = ApiError::validation(vec![FieldError::new(field, message)]);
            e.code = "invalid_body";
            e.detail = detail;
            e
        }
        StatusCode::BAD_REQUEST => ApiError::bad_request("malformed_json", "The body is not valid JSON."),
        _ => ApiError::new(status, "invalid_body", text),
    }
}

/// Turns a `garde` report into 422 field errors.
pub fn garde_errors(report: garde::Report) -> ApiError {
    ApiError::validation(
        report.iter().map(|(path, error)| FieldError::new(path.to_string(), error.message().to_string())).collect(),
    )
}

/// Query parameters; a malformed query is a 400 problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // `%00` is always a NUL byte (a literal `%` is `%25`), which no text column of
        // PostgreSQL holds: refused as the client's mistake on every backend.
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request("invalid_query", "Query parameters must not contain NUL characters."));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// Path parameters; one that cannot name any object (say, not a UUID) is a 404.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_: PathRejection| ApiError::not_found())
    }
}

/// For PATCH fields that may be cleared: absent → `None` (leave as is), `null` → `Some(None)`
/// (clear), a value → `Some(Some(v))`. Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_escape_is_found_and_escaped_backslashes_are_not_one() {
        assert!(escapes_nul(br#"{"a":"x\u0000"}"#));
        assert!(escapes_nul(br#"{"a":"\\\u0000"}"#), "an escaped backslash, then the escape");
        assert!(!escapes_nul(br#"{"a":"\\u0000"}"#), "an escaped backslash, then text");
        assert!(!escapes_nul(br#"{"a":"u0000 \u0001"}"#));
        assert!(!escapes_nul(b""));
    }

    #[test]
    fn json_content_types() {
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::CONTENT_TYPE, v.parse().unwrap());
            json_content_type(&h)
        };
        assert!(
            with("application/json") && with("Application/JSON; charset=utf-8") && with("application/problem+json")
        );
        assert!(!with("text/plain") && !with("application/jsonx") && !json_content_type(&axum::http::HeaderMap::new()));
    }
}
