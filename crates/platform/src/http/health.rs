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

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(platform): State<Platform>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], platform.metrics.render())
}
