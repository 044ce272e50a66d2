//! Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use crate::app::Platform;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// `ok` or `unreachable` (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

pub(super) fn router(platform: Platform) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready)).routes(routes!(metrics)).with_state(platform)
}

/// The process answers.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, body = Health)))]
async fn live() -> impl IntoResponse {
    axum::Json(Health { status: "ok", database: None })
}

/// The process answers and its database does too.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn ready(State(platform): State<Platform>) -> impl IntoResponse {
    if platform.db.ping().await {
        (StatusCode::OK, axum::Json(Health { status: "ok", database: Some("ok") }))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(Health { status: "unavailable", database: Some("unreachable") }))
    }
}

/// Prometheus metrics in the text exposition format. With `FERROBASE_METRICS_TOKEN` set, only
/// to `Authorization: Bearer <token>`; without it, only to clients on this machine that are not
/// forwarding someone else's request (a request with `X-Forwarded-For` or `Forwarded` is refused,
/// so a reverse proxy on the same host does not make the metrics public).
#[utoipa::path(get, path = "/metrics", tag = "operations", security((), ("metrics_token" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "Token missing or wrong", body = crate::error::Problem),
        (status = 403, description = "Not from this machine, and no token is configured", body = crate::error::Problem)))]
async fn metrics(State(platform): State<Platform>, req: axum::extract::Request) -> axum::response::Response {
    let token = &platform.config.metrics_token;
    let headers = req.headers();
    if token.is_empty() {
        // This machine, and not a proxy on it passing on someone else's request.
        let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        let local = peer.is_some_and(|p| p.0.ip().to_canonical().is_loopback());
        let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED);
        if !local || forwarded {
            return crate::ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Metrics are served to this machine only unless FERROBASE_METRICS_TOKEN is set.",
            )
            .into_response();
        }
    } else {
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| crate::crypto::constant_time_eq(g.trim(), token.expose())) {
            return crate::ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "A metrics token is required.")
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], platform.metrics.render()).into_response()
}
