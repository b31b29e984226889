//! `GET /metrics`: Prometheus / OpenMetrics text.

use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub(crate) async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = st.metrics.render(&st.exec, st.in_flight());
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
