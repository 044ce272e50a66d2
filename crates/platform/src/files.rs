//! Private files: a module that decides a caller may see a stored object hands out an expiring
//! signed URL for it, and `GET /api/v1/files/{key}` serves the object to whoever holds a valid
//! one. The signature (HMAC-SHA256 under a key derived from the server secret) covers the key and
//! the expiry, so a URL can be neither extended nor pointed at another object, and a stranger's
//! guess is refused before storage is touched. Public files (avatars) are served by their
//! modules and need none of this.

use crate::crypto::{constant_time_eq, hmac_hex};
use crate::error::{DomainError, ErrorKind};
use crate::extract::{Path, Query};
use crate::secret::Secret;
use crate::storage::Storage;
use crate::upload::FileKind;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where signed files are served (the key, percent-encoded, is the next path segment).
pub const FILES_PATH: &str = "/api/v1/files";

/// What is percent-encoded in a key's path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// Longest lifetime of a signed URL.
pub const MAX_TTL_SECS: i64 = 7 * 24 * 3600;

/// Signs and checks file URLs.
#[derive(Clone)]
pub struct FileUrls {
    key: Secret,
    default_ttl_secs: i64,
    /// The server's public URL: links are absolute (docs/decisions.md, "Operating it").
    public: String,
}

impl std::fmt::Debug for FileUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileUrls").field("default_ttl_secs", &self.default_ttl_secs).finish_non_exhaustive()
    }
}

/// A signed URL and when it stops working.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = platform::SignedUrl)]
pub struct SignedUrl {
    /// Path and query to fetch the file with (relative to the server).
    pub url: String,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why a file URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileUrlError {
    /// The signature does not match the key and expiry.
    #[error("the file link is not valid")]
    BadSignature,
    /// The URL has expired.
    #[error("the file link has expired")]
    Expired,
}

impl DomainError for FileUrlError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Forbidden
    }
    fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "invalid_file_link",
            Self::Expired => "file_link_expired",
        }
    }
}

impl FileUrls {
    /// URLs on `public` (the server's public URL) signed under a key derived from `secret`,
    /// valid `default_ttl_secs` unless asked otherwise.
    pub fn new(secret: &Secret, default_ttl_secs: i64, public: &str) -> Self {
        Self {
            key: Secret::new(hmac_hex(secret.expose().as_bytes(), "file-urls")),
            default_ttl_secs: default_ttl_secs.clamp(1, MAX_TTL_SECS),
            public: public.trim_end_matches('/').to_string(),
        }
    }

    /// A URL for `key` valid for the default lifetime.
    pub fn sign(&self, key: &str) -> SignedUrl {
        self.sign_for(key, self.default_ttl_secs, Utc::now())
    }

    /// A URL for `key` valid `ttl_secs` (at most [`MAX_TTL_SECS`]) from `now`.
    pub fn sign_for(&self, key: &str, ttl_secs: i64, now: DateTime<Utc>) -> SignedUrl {
        let expires = now.timestamp() + ttl_secs.clamp(1, MAX_TTL_SECS);
        let signature = self.signature(key, expires);
        // One path segment: everything but letters, digits, `-`, `.` and `_` is percent-encoded
        // (the key's slashes travel as %2F), and the route decodes it back exactly.
        let encoded = percent_encoding::utf8_percent_encode(key, SEGMENT).to_string();
        SignedUrl {
            url: format!("{}{FILES_PATH}/{encoded}?expires={expires}&signature={signature}", self.public),
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(now),
        }
    }

    /// Checks a URL's parts at `now`.
    pub fn verify(&self, key: &str, expires: i64, signature: &str, now: DateTime<Utc>) -> Result<(), FileUrlError> {
        if !constant_time_eq(&self.signature(key, expires), signature) {
            return Err(FileUrlError::BadSignature);
        }
        if now.timestamp() >= expires {
            return Err(FileUrlError::Expired);
        }
        Ok(())
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        // The newline cannot occur in a key we generate, so (key, expires) pairs cannot collide.
        hmac_hex(self.key.expose().as_bytes(), &format!("{key}\n{expires}"))
    }
}

/// What the file route needs.
#[derive(Debug, Clone)]
pub struct FilesState {
    /// The signer.
    pub urls: FileUrls,
    /// Where the objects are.
    pub storage: Storage,
}

/// The query of a signed URL.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// Unix time after which the URL stops working.
    pub expires: i64,
    /// HMAC of the key and the expiry.
    pub signature: String,
}

/// The route that serves signed files.
pub fn router(state: FilesState) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(get_file)).with_state(state)
}

/// A private file, through a signed URL that a module handed out.
#[utoipa::path(get, path = "/api/v1/files/{key}", tag = "files",
    params(("key" = String, Path, description = "The object key (from the signed URL)"), SignedQuery),
    responses(
        (status = 200, description = "The file", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "application/pdf"))),
        (status = 403, description = "Bad or expired link", body = crate::error::Problem),
        (status = 404, description = "The file is gone", body = crate::error::Problem)))]
async fn get_file(
    State(state): State<FilesState>,
    Path(key): Path<String>,
    Query(q): Query<SignedQuery>,
) -> crate::ApiResult<Response> {
    let now = Utc::now();
    state.urls.verify(&key, q.expires, &q.signature, now)?;
    let kind = FileKind::from_key(&key).ok_or(crate::db::DbError::NotFound)?;
    let bytes =
        state.storage.get(&key).await.map_err(crate::error::Internal::new)?.ok_or(crate::db::DbError::NotFound)?;
    let max_age = (q.expires - now.timestamp()).max(0);
    let disposition = if matches!(kind, FileKind::Image(_)) { "inline" } else { "attachment" };
    let cache =
        HeaderValue::from_str(&format!("private, max-age={max_age}")).unwrap_or(HeaderValue::from_static("no-store"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind.mime())),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static(disposition)),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> FileUrls {
        FileUrls::new(&Secret::new("a-test-secret-that-is-long-enough-000"), 900, "https://api.example.org/")
    }

    fn parts(url: &str) -> (i64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = String::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "expires" => expires = v.parse().unwrap(),
                "signature" => signature = v.into_owned(),
                _ => {}
            }
        }
        (expires, signature)
    }

    #[test]
    fn a_signed_url_works_until_it_expires() {
        let now = Utc::now();
        let signed = urls().sign_for("studio/u1/a.png", 60, now);
        assert!(
            signed.url.starts_with("https://api.example.org/api/v1/files/studio%2Fu1%2Fa.png?expires="),
            "{}",
            signed.url
        );
        let (expires, sig) = parts(&signed.url);
        assert_eq!(urls().verify("studio/u1/a.png", expires, &sig, now), Ok(()));
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(urls().verify("studio/u1/a.png", expires, &sig, later), Err(FileUrlError::Expired));
    }

    #[test]
    fn a_signature_covers_key_expiry_and_secret() {
        let now = Utc::now();
        let (expires, sig) = parts(&urls().sign_for("studio/u1/a.png", 60, now).url);
        assert_eq!(urls().verify("studio/u2/a.png", expires, &sig, now), Err(FileUrlError::BadSignature));
        assert_eq!(urls().verify("studio/u1/a.png", expires + 3600, &sig, now), Err(FileUrlError::BadSignature));
        let other =
            FileUrls::new(&Secret::new("another-secret-that-is-long-enough-11"), 900, "https://api.example.org");
        assert_eq!(other.verify("studio/u1/a.png", expires, &sig, now), Err(FileUrlError::BadSignature));
    }

    #[test]
    fn keys_with_any_characters_round_trip() {
        let key = "a b/c+d%2F/é.png";
        let url = urls().sign_for(key, 60, Utc::now()).url;
        let segment = url.strip_prefix("https://api.example.org/api/v1/files/").unwrap().split('?').next().unwrap();
        assert!(!segment.contains('/') && !segment.contains('+') && !segment.contains(' '), "{segment}");
        assert_eq!(percent_encoding::percent_decode_str(segment).decode_utf8().unwrap(), key);
    }

    #[test]
    fn lifetimes_are_bounded() {
        let now = Utc::now();
        let signed = urls().sign_for("k.pdf", i64::MAX, now);
        assert_eq!(signed.expires_at.timestamp(), now.timestamp() + MAX_TTL_SECS);
    }
}
