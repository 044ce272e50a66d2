//! `Idempotency-Key` on POST: a signed-in client that repeats a POST with the same key within
//! 24 hours gets the first answer again (with `Idempotent-Replayed: true`) and nothing is done
//! twice; the same key with a different request answers 422 `idempotency_key_reused`; a
//! repeat that arrives while the first is still running waits for its answer (up to
//! [`WAIT`]), then answers 409 `idempotency_request_in_progress`.
//!
//! Keys are scoped by user (a live session is required, as for the route itself), so one
//! user's key never replays another's answer. Requests without a valid token, and the sign-in
//! routes under `/api/v1/auth/` (whose answers carry tokens that must not be stored), are
//! served as if the header were absent. Only answers worth repeating are kept (2xx, and 4xx
//! refusals of the request itself); a failure on our side, an authentication, permission,
//! conflict or rate-limit answer, and a handler that panicked forget the key, so the client's
//! retry runs again. A request whose client goes away runs to its end and its answer is kept:
//! the retry gets it, never a second run.

mod store;

use crate::auth::{Authenticator, bearer_token};
use crate::db::{Db, Ts};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The request header.
pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The header on a replayed answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a key is remembered.
pub const TTL: chrono::Duration = chrono::Duration::hours(24);
/// How long a repeat waits for the first request's answer.
pub const WAIT: Duration = Duration::from_secs(10);
/// Longest key accepted.
const MAX_KEY: usize = 255;
/// A claim with no answer after this long belongs to a request that will never answer (its
/// instance was killed, or the database went away before the claim could be released): the
/// retry runs instead of waiting on it for the whole [`TTL`]. Bodies are read before the claim,
/// so no request runs anywhere near this long.
const ABANDONED: chrono::Duration = chrono::Duration::minutes(2);
/// Largest answer kept for replay; larger answers are not replayable and forget their key.
const MAX_STORED: usize = 1 << 20;

/// What the middleware needs.
#[derive(Clone)]
pub struct Idempotency {
    /// Where keys are kept.
    pub db: Db,
    /// Checks the token behind a key.
    pub auth: Authenticator,
    /// Largest request body taken (the JSON limit; uploads are not repeated by key).
    pub body_limit: usize,
}

/// Whether `req` is for [`serve`]: a POST with the header (anything else runs as it is).
pub fn applies(req: &Request) -> bool {
    req.method() == Method::POST && req.headers().contains_key(&HEADER)
}

/// Serves a request that [`applies`]: `run` is the route, called at most once.
pub async fn serve<F, Fut>(idem: &Idempotency, req: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let Some(key) = req.headers().get(&HEADER) else { return run(req).await };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY && k.bytes().all(|b| (0x21..0x7f).contains(&b)) => k.to_string(),
        _ => {
            return ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1–255 visible ASCII characters.",
            )
            .into_response();
        }
    };
    if req.uri().path().starts_with("/api/v1/auth/") {
        return run(req).await;
    }
    let (parts, body) = req.into_parts();
    let user = match bearer_token(&parts) {
        Some(token) => idem.auth.authenticate(token).await.ok().map(|u| u.user_id),
        None => None,
    };
    let Some(user) = user else { return run(Request::from_parts(parts, body)).await };
    let body = match axum::body::to_bytes(body, idem.body_limit).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "The body is too large.")
                .into_response();
        }
    };
    let hash = {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(parts.uri.path_and_query().map_or("", |p| p.as_str()).as_bytes());
        digest.update(b"\n");
        digest.update(&body);
        hex::encode(digest.finalize())
    };
    let scope = format!("user:{user}");
    // From the claim on, the request runs in a task of its own, to its end: a client that goes
    // away mid-request does not stop it, its answer is kept, and the client's retry gets that
    // answer instead of running the request a second time (a purchase waiting in a queue would
    // otherwise be made once for the abandoned request and once for the retry), and no claim is
    // left without its answer. Only a panic forgets the key ([`Pending`]), so that the retry runs.
    let db = idem.db.clone();
    let work = tokio::spawn(async move {
        match claim(&db, &scope, &key, &hash).await {
            Ok(Claim::Ours) => {}
            Ok(Claim::Answered(response)) => return response,
            Err(error) => return error.into_response(),
        }
        let mut pending = Pending { db, scope, key, settled: false };
        let response = run(Request::from_parts(parts, Body::from(body))).await;
        pending.settled = true;
        remember(&pending.db, &pending.scope, &pending.key, response).await
    });
    work.await.unwrap_or_else(|_| ApiError::internal("handler panicked").into_response())
}

/// A claimed key whose request has not answered yet: if its handler panics (or its task is
/// dropped as the server shuts down), the key is forgotten so that the retry runs instead of
/// waiting for an answer that will never come.
struct Pending {
    db: Db,
    scope: String,
    key: String,
    settled: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.settled {
            let (db, scope, key) = (self.db.clone(), std::mem::take(&mut self.scope), std::mem::take(&mut self.key));
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = store::forget(&db, &scope, &key).await;
                });
            }
        }
    }
}

enum Claim {
    /// This request runs; its answer will be kept.
    Ours,
    /// The answer to give instead of running.
    Answered(Response),
}

async fn claim(db: &Db, scope: &str, key: &str, hash: &str) -> Result<Claim, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT;
    // Waiting for a duplicate in flight backs off (25 ms doubling to 400 ms), so a crowd of
    // retries with one key costs the database a few queries a second each, not forty.
    let mut pause = Duration::from_millis(25);
    loop {
        let now = Ts::now();
        if store::claim(db, scope, key, hash, now).await? {
            return Ok(Claim::Ours);
        }
        let Some(record) = store::find(db, scope, key).await? else { continue };
        if record.created_at < now.minus(TTL) {
            store::forget_expired(db, scope, key, now.minus(TTL)).await?;
            continue;
        }
        if record.status.is_none() && record.created_at < now.minus(ABANDONED) {
            store::forget_abandoned(db, scope, key, now.minus(ABANDONED)).await?;
            continue;
        }
        if record.request_hash != hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request.",
            ));
        }
        if let Some(status) = record.status {
            return Ok(Claim::Answered(replay(status, record)));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::conflict(
                "idempotency_request_in_progress",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(400));
    }
}

fn replay(status: i32, record: store::Record) -> Response {
    let status = u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    let mut response = (status, record.body.unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [(header::CONTENT_TYPE, record.content_type), (header::LOCATION, record.location)] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Keeps the answer for replay (or forgets the key when it cannot be replayed) and returns it.
async fn remember(db: &Db, scope: &str, key: &str, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let passing =
        [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS];
    if parts.status.is_server_error() || passing.contains(&parts.status) {
        // Our failure, or an answer about this moment rather than this request: the client's
        // retry should run again.
        if let Err(e) = store::forget(db, scope, key).await {
            tracing::warn!(error = %e, "could not forget an idempotency key");
        }
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_STORED).await else {
        // Every answer to a POST here is far below this; keep the key claimed (a repeat waits
        // and then gets 409) rather than run the request twice.
        tracing::error!("an idempotent answer was too large to keep");
        return ApiError::internal("an idempotent answer was too large to keep").into_response();
    };
    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (content_type, location) = (header(header::CONTENT_TYPE), header(header::LOCATION));
    let status = i32::from(parts.status.as_u16());
    if let Err(e) = store::complete(db, scope, key, status, content_type.as_deref(), location.as_deref(), &bytes).await
    {
        tracing::warn!(error = %e, "could not keep the idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The scheduled job that forgets keys older than [`TTL`].
pub struct Cleanup(pub Db);

#[async_trait::async_trait]
impl crate::outbox::Job for Cleanup {
    fn name(&self) -> &'static str {
        "platform.idempotency_cleanup"
    }

    async fn run(&self) -> Result<(), String> {
        store::purge(&self.0, Ts::now().minus(TTL)).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
