//! The HTTP shell around every module's routes: operations endpoints, the OpenAPI document and
//! UI, problem answers for unknown routes and panics, request ids, logs, metrics, security
//! headers, CORS and body limits.

mod client_ip;
mod health;
mod openapi;
mod shell;

pub use crate::telemetry::install_metrics;
pub use client_ip::{ClientIp, TrustedProxies};
/// A trusted proxy's address or network (`FERROBASE_TRUSTED_PROXIES`).
pub use ipnet::IpNet;
pub use openapi::ApiDoc;

use crate::app::Platform;
use crate::error::ApiError;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shell::REQUEST_ID;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;

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
    let openapi = openapi::render(openapi::finish(openapi));
    let docs = Router::new()
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let json = openapi.clone();
                async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json) }
            }),
        )
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .config(utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"])),
        )
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
    wrap(routes).layer(shell::ShellLayer::new(
        TrustedProxies(Arc::new(config.trusted_proxy_list())),
        cors(&config.cors_origin_list()),
        idempotency,
    ))
}

fn cors(origins: &[String]) -> shell::CorsRules {
    let list =
        |names: &[&str]| HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""));
    shell::CorsRules {
        origins: origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect(),
        allow_methods: list(&["GET", "POST", "PATCH", "PUT", "DELETE"]),
        allow_headers: list(&["authorization", "content-type", "idempotency-key"]),
        expose_headers: list(&[
            REQUEST_ID.as_str(),
            crate::idempotency::REPLAYED.as_str(),
            "retry-after",
            "location",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
        ]),
        max_age: HeaderValue::from_static("600"),
    }
}

/// A 201 answer with a `Location` header.
pub fn created<T: serde::Serialize>(location: String, body: T) -> Response {
    let mut response = (axum::http::StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
