//! Triton's statistics extension.

use super::{json, ModelPath};
use crate::error::RequestError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use std::sync::Arc;

/// `GET /v2/models/stats`: every model.
pub(crate) async fn all(State(st): State<Arc<AppState>>) -> Response {
    let stats: Vec<_> = st.models.iter().map(|m| m.stats.json(m.name())).collect();
    json(serde_json::json!({ "model_stats": stats }))
}

/// `GET /v2/models/{m}[/versions/{v}]/stats`.
pub(crate) async fn model(State(st): State<Arc<AppState>>, Path(p): Path<ModelPath>) -> Result<Response, RequestError> {
    let m = st.model(&p.model, p.version.as_deref())?;
    Ok(json(serde_json::json!({ "model_stats": [m.stats.json(m.name())] })))
}
