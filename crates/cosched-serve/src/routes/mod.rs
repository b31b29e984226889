//! The HTTP endpoints: KServe v2 REST plus Triton's model-configuration and statistics extensions.

mod health;
mod infer;
mod metadata;
mod metrics;
mod stats;

use crate::error::RequestError;
use crate::state::AppState;
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// `{model}` and optionally `{version}` of a path.
#[derive(Deserialize)]
pub(crate) struct ModelPath {
    model: String,
    version: Option<String>,
}

/// The router of every endpoint.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v2/health/live", get(health::live))
        .route("/v2/health/ready", get(health::ready))
        .route("/v2", get(metadata::server))
        .route("/v2/models/stats", get(stats::all))
        .route("/v2/models/{model}", get(metadata::model))
        .route("/v2/models/{model}/versions/{version}", get(metadata::model))
        .route("/v2/models/{model}/ready", get(health::model_ready))
        .route("/v2/models/{model}/versions/{version}/ready", get(health::model_ready))
        .route("/v2/models/{model}/config", get(metadata::config))
        .route("/v2/models/{model}/versions/{version}/config", get(metadata::config))
        .route("/v2/models/{model}/stats", get(stats::model))
        .route("/v2/models/{model}/versions/{version}/stats", get(stats::model))
        .route("/v2/models/{model}/infer", post(infer::infer))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer::infer))
        .route("/metrics", get(metrics::metrics))
        .fallback(no_route)
        .with_state(state)
}

async fn no_route(method: Method, uri: Uri) -> RequestError {
    RequestError::NoRoute(format!("{method} {}", uri.path()))
}

/// A JSON response with status 200.
pub(crate) fn json(v: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([("content-type", "application/json")], v.to_string()).into_response()
}
