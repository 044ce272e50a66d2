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
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await.map_err(json_rejection)?;
        value.validate().map_err(garde_errors)?;
        Ok(Json(value))
    }
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
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported_media_type", "Expected a body with `Content-Type: application/json`.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "payload_too_large", "The request body is too large."),
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
