//! Server and model metadata, and Triton's model configuration.

use super::{json, ModelPath};
use crate::error::RequestError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use std::sync::Arc;

/// The extensions this server implements, as `GET /v2` lists them.
pub const EXTENSIONS: [&str; 3] = ["binary_tensor_data", "model_configuration", "statistics"];

/// `GET /v2`.
pub(crate) async fn server() -> Response {
    json(serde_json::json!({
        "name": "cosched",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": EXTENSIONS,
    }))
}

/// `GET /v2/models/{m}[/versions/{v}]`.
pub(crate) async fn model(State(st): State<Arc<AppState>>, Path(p): Path<ModelPath>) -> Result<Response, RequestError> {
    Ok(json(st.model(&p.model, p.version.as_deref())?.metadata()))
}

/// `GET /v2/models/{m}[/versions/{v}]/config`.
pub(crate) async fn config(
    State(st): State<Arc<AppState>>,
    Path(p): Path<ModelPath>,
) -> Result<Response, RequestError> {
    Ok(json(st.model(&p.model, p.version.as_deref())?.config()))
}
