//! The per-request shell in one layer: request id, the request's span (built only when INFO is
//! on), panics turned into problem answers, the static security headers, request metrics, the
//! trusted-proxy list, CORS, `Idempotency-Key` and the JSON body limit. One layer instead of
//! eleven, because axum boxes every layer put on a router around every route, and clones (and
//! drops) each box for every request: each layer cost an allocation, its own future and a few
//! reference counts, and together they halved the throughput of a bare route. Everything the
//! shell needs sits behind one reference count, so cloning it per request is cheap.

use super::client_ip::TrustedProxies;
use crate::error::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::BoxFuture;
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;

/// The request id header (kept when the caller sends one).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers every answer gets unless its handler set them.
const STATIC_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")),
];

/// Methods by name in metrics; anything else is "other" (a label must not take values a client
/// invents).
const METHODS: [&str; 8] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"];

fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// The request counter and latency histogram of one (method, status, route).
#[derive(Clone)]
struct Handles {
    count: Counter,
    latency: Histogram,
}

/// Metric handles, registered once per label set: building a labelled key (three owned
/// strings, hashed, looked up in the recorder) on every request cost more than the route.
#[derive(Default)]
struct RouteMetrics {
    by_labels: RwLock<HashMap<(u8, u16), ByRoute>>,
}

/// The handles of one method and status, by route template.
type ByRoute = HashMap<Box<str>, Handles>;

impl RouteMetrics {
    fn handles(&self, method: u8, status: u16, route: &str) -> Handles {
        if let Some(found) =
            self.by_labels.read().unwrap_or_else(|p| p.into_inner()).get(&(method, status)).and_then(|m| m.get(route))
        {
            return found.clone();
        }
        let labels = [
            ("method", METHODS[usize::from(method)].to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let handles = Handles {
            count: metrics::counter!("http_requests_total", &labels),
            latency: metrics::histogram!("http_request_duration_seconds", &labels),
        };
        self.by_labels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method, status))
            .or_default()
            .insert(route.into(), handles.clone());
        handles
    }
}

/// The CORS answer headers, rendered once.
pub(super) struct CorsRules {
    /// Origins allowed (exact match); none allows no cross-origin caller.
    pub origins: Vec<HeaderValue>,
    pub allow_methods: HeaderValue,
    pub allow_headers: HeaderValue,
    pub expose_headers: HeaderValue,
    pub max_age: HeaderValue,
}

/// Every answer varies by these request headers (as CORS decides by them).
const VARY: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");

impl CorsRules {
    /// The allowed origin of `req`, echoed back.
    fn allowed(&self, req: &Request) -> Option<HeaderValue> {
        let origin = req.headers().get(header::ORIGIN)?;
        self.origins.iter().any(|o| o == origin).then(|| origin.clone())
    }

    /// The answer to a preflight (any OPTIONS request: it never reaches a route).
    fn preflight(&self, origin: Option<HeaderValue>) -> Response {
        let mut response = Response::new(axum::body::Body::empty());
        let headers = response.headers_mut();
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers.clone());
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        response
    }

    /// Adds the CORS headers of an ordinary answer.
    fn decorate(&self, response: &mut Response, origin: Option<HeaderValue>) {
        let headers = response.headers_mut();
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers.clone());
        }
    }
}

struct ShellState {
    proxies: TrustedProxies,
    cors: CorsRules,
    /// Also carries the JSON body limit, which the shell applies to every route.
    idempotency: crate::idempotency::Idempotency,
    metrics: RouteMetrics,
    /// Request ids are this process's random prefix and a counter: unique, and free of the
    /// random-number call a UUID v4 per request costs.
    id_prefix: u64,
    next_id: AtomicU64,
}

impl ShellState {
    fn new_request_id(&self) -> HeaderValue {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = uuid::Uuid::from_u64_pair(self.id_prefix, n);
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// The layer (see the module docs).
#[derive(Clone)]
pub(super) struct ShellLayer(Arc<ShellState>);

impl ShellLayer {
    /// A shell that hands `proxies` to the client-address extractor, answers CORS by `cors`,
    /// keeps idempotent answers through `idempotency` and limits JSON bodies to its limit.
    pub(super) fn new(proxies: TrustedProxies, cors: CorsRules, idempotency: crate::idempotency::Idempotency) -> Self {
        let id_prefix = uuid::Uuid::new_v4().as_u64_pair().0;
        Self(Arc::new(ShellState {
            proxies,
            cors,
            idempotency,
            metrics: RouteMetrics::default(),
            id_prefix,
            next_id: AtomicU64::new(0),
        }))
    }
}

impl<S> Layer<S> for ShellLayer {
    type Service = Shell<<axum::extract::DefaultBodyLimit as Layer<S>>::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = axum::extract::DefaultBodyLimit::max(self.0.idempotency.body_limit).layer(inner);
        Shell { inner, state: self.0.clone() }
    }
}

/// The service the layer wraps routes in.
#[derive(Clone)]
pub(super) struct Shell<S> {
    inner: S,
    state: Arc<ShellState>,
}

impl<S> Service<Request> for Shell<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let state = self.state.clone();
        let id = match req.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = state.new_request_id();
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let method = method_index(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        let span = if tracing::enabled!(tracing::Level::INFO) {
            // The route's template (`/api/v1/ticketing/tickets/{code}`), not the path: paths carry
            // secrets (ticket codes admit their holder) and query strings tokens (`?token=`).
            // The request id ties a log line to what the client sent.
            let path = route.as_ref().map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = %req.method(), path = %path,
                request_id = %id.to_str().unwrap_or("-"))
        } else {
            tracing::Span::none()
        };
        req.extensions_mut().insert(state.proxies.clone());
        let origin = state.cors.allowed(&req);
        // The clone is ready only after poll_ready; the one that was polled serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            async move {
                let answer = async {
                    if req.method() == Method::OPTIONS {
                        return state.cors.preflight(origin.clone());
                    }
                    let mut response = if crate::idempotency::applies(&req) {
                        let run = |req| async move { inner.call(req).await.unwrap_or_else(|never| match never {}) };
                        crate::idempotency::serve(&state.idempotency, req, run).await
                    } else {
                        inner.call(req).await.unwrap_or_else(|never| match never {})
                    };
                    state.cors.decorate(&mut response, origin.clone());
                    response
                };
                let mut response = match AssertUnwindSafe(answer).catch_unwind().await {
                    Ok(response) => response,
                    Err(_) => ApiError::internal("handler panicked").into_response(),
                };
                let headers = response.headers_mut();
                for (name, value) in &STATIC_HEADERS {
                    if !headers.contains_key(name) {
                        headers.insert(name.clone(), value.clone());
                    }
                }
                headers.insert(REQUEST_ID, id);
                headers.append(header::VARY, VARY);
                let (status, took) = (response.status().as_u16(), start.elapsed());
                let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
                let handles = state.metrics.handles(method, status, route);
                handles.count.increment(1);
                handles.latency.record(took.as_secs_f64());
                tracing::info!(status, latency_ms = took.as_millis() as u64, "finished processing request");
                Ok(response)
            }
            .instrument(span),
        )
    }
}
