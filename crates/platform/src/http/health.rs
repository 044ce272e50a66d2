//! Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use crate::app::Platform;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

pub(super) fn router(platform: Platform) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(platform)
}

/// `GET /health/live`: the process answers.
async fn live() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

/// `GET /health/ready`: the database answers too.
async fn ready(State(platform): State<Platform>) -> impl IntoResponse {
    if platform.db.ping().await {
        (StatusCode::OK, axum::Json(json!({"status": "ok", "database": "ok"})))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "unavailable", "database": "unreachable"})))
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(platform): State<Platform>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], platform.metrics.render())
}
