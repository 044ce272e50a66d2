//! The HTTP shell around every module's routes: operations endpoints, the OpenAPI document and
//! UI, problem answers for unknown routes and panics, request ids, logs, metrics, security
//! headers, CORS and body limits.

mod client_ip;
mod health;
mod metrics;
mod openapi;

pub use crate::telemetry::install_metrics;
pub use client_ip::{ClientIp, TrustedProxies};
pub use openapi::ApiDoc;

use crate::app::Platform;
use crate::error::ApiError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_axum::router::OpenApiRouter;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Turns the modules' routes into the served application, letting `wrap` add routes or layers
/// that must sit inside the shared middleware (request ids, tracing, CORS, security headers),
/// such as the socket.io layer. `auth` identifies the owners of idempotency keys.
pub fn finish_with(
    api: OpenApiRouter,
    platform: &Platform,
    auth: crate::auth::Authenticator,
    wrap: impl FnOnce(Router) -> Router,
) -> Router {
    let (api_router, openapi) = OpenApiRouter::with_openapi(openapi::base())
        .merge(api)
        .merge(health::router(platform.clone()))
        .merge(crate::files::router(crate::files::FilesState {
            urls: platform.file_urls.clone(),
            storage: platform.storage.clone(),
        }))
        .split_for_parts();
    let openapi = openapi::finish(openapi);
    let docs = Router::new()
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
            ),
        ));
    let config = &platform.config;
    let routes = Router::new()
        .merge(api_router)
        .merge(docs)
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "route_not_found", "No such route.") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed on this route.",
            )
        });
    let idempotency =
        crate::idempotency::Idempotency { db: platform.db.clone(), auth, body_limit: config.json_body_limit };
    wrap(routes)
        .layer(axum::middleware::from_fn_with_state(idempotency, crate::idempotency::layer))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(config.json_body_limit))
        .layer(axum::Extension(TrustedProxies(Arc::new(config.trusted_proxy_list()))))
        .layer(default_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(default_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(default_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(default_header(header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"))
        .layer(cors(&config.cors_origin_list()))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: query strings may carry tokens (`?token=`) and must not be logged.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// A response header set unless the handler set it already.
fn default_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
        .expose_headers([
            REQUEST_ID,
            crate::idempotency::REPLAYED,
            header::RETRY_AFTER,
            header::LOCATION,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(Duration::from_secs(600))
}

/// A 201 answer with a `Location` header.
pub fn created<T: serde::Serialize>(location: String, body: T) -> Response {
    let mut response = (axum::http::StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
