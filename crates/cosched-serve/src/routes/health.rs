//! Liveness and readiness: the status code is the answer (200 yes, 4xx/503 no).

use super::ModelPath;
use crate::error::RequestError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;

/// `GET /v2/health/live`: the process answers.
pub(crate) async fn live() -> StatusCode {
    StatusCode::OK
}

/// `GET /v2/health/ready`: 200 while it takes inferences, 503 once it is stopping.
pub(crate) async fn ready(State(st): State<Arc<AppState>>) -> StatusCode {
    if st.stopping() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// `GET /v2/models/{m}[/versions/{v}]/ready`: every served model is loaded and warmed up.
pub(crate) async fn model_ready(
    State(st): State<Arc<AppState>>,
    Path(p): Path<ModelPath>,
) -> Result<StatusCode, RequestError> {
    st.model(&p.model, p.version.as_deref())?;
    Ok(if st.stopping() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    })
}
