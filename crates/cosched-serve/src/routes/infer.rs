//! `POST /v2/models/{m}[/versions/{v}]/infer`: decode, submit to the executor, await the
//! completion (the executor's callback completes a oneshot), encode.

use super::ModelPath;
use crate::error::RequestError;
use crate::model::ServedModel;
use crate::protocol::{decode_request, encode_response, ModelSignature, HEADER_LENGTH};
use crate::state::AppState;
use crate::stats::Timing;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cosched_core::StreamId;
use cosched_ort::Reply;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn infer(
    State(st): State<Arc<AppState>>,
    Path(p): Path<ModelPath>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // The permit is taken before the body is read: at most max_in_flight bodies are held.
    let Ok(_permit) = st.permits.clone().try_acquire_owned() else {
        return refuse(&st, &p.model, RequestError::Busy(st.max_in_flight));
    };
    let model = match st.model(&p.model, p.version.as_deref()) {
        Ok(m) => m,
        Err(e) => return refuse(&st, &p.model, e),
    };
    match run(&st, model, &headers, body, started).await {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, RequestError::Inference(_)) {
                model.stats.failure(started.elapsed().as_nanos() as u64);
            }
            refuse(&st, model.name(), e)
        }
    }
}

fn refuse(st: &AppState, model: &str, e: RequestError) -> Response {
    if let Some(reason) = e.rejection_reason() {
        st.metrics.rejected(reason);
    }
    st.metrics.answered(model, e.status().as_u16(), None);
    e.into_response()
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, RequestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RequestError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(RequestError::TooLarge { limit }),
        Err(e) => Err(RequestError::Invalid(format!("reading the request body: {e}"))),
    }
}

async fn run(
    st: &AppState,
    model: &ServedModel,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<Response, RequestError> {
    if st.stopping() {
        return Err(RequestError::ShuttingDown);
    }
    let bytes = read_body(headers, body, st.limits.max_body_bytes).await?;
    let header_length = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| RequestError::Binary("Inference-Header-Content-Length is not text".into()))?,
        ),
    };
    let sig = ModelSignature {
        inputs: &model.info.inputs,
        outputs: &model.info.outputs,
    };
    let decoded = decode_request(header_length, &bytes, sig, &st.limits)?;
    drop(bytes);
    let slo_ms = decoded
        .params
        .deadline_ms
        .unwrap_or_else(|| st.exec.default_slo_ms(model.id));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reply = Reply::Callback(Box::new(move |c| {
        let _ = tx.send(c);
    }));
    let submitted = Instant::now();
    st.exec.submit_with_reply(
        model.id,
        StreamId(decoded.params.priority),
        slo_ms,
        decoded.inputs,
        reply,
    )?;
    let c = rx
        .await
        .map_err(|_| RequestError::Inference("the executor dropped the request".into()))?;
    let completed = Instant::now();
    let outputs = c.result.as_ref().map_err(|e| RequestError::Inference(e.to_string()))?;
    if c.latency_ms() > c.slo_ms {
        st.metrics.slo_violation(model.name());
    }
    let encoded = encode_response(
        model.name(),
        decoded.id.as_deref(),
        &model.info.outputs,
        outputs,
        &decoded.outputs,
    );
    let done = Instant::now();
    let ns = |a: Instant, b: Instant| b.saturating_duration_since(a).as_nanos() as u64;
    let ms_ns = |ms: f64| (ms.max(0.0) * 1e6) as u64;
    let start_ms = c.start_ms.unwrap_or(c.end_ms);
    model.stats.success(Timing {
        input_ns: ns(started, submitted),
        queue_ns: ms_ns(start_ms - c.arrival_ms),
        infer_ns: ms_ns(c.end_ms - start_ms),
        output_ns: ns(completed, done),
        total_ns: ns(started, done),
    });
    st.metrics
        .answered(model.name(), 200, Some(done.duration_since(started).as_secs_f64()));
    let mut response = (StatusCode::OK, encoded.body).into_response();
    let h = response.headers_mut();
    match encoded.header_length {
        Some(n) => {
            h.insert(header::CONTENT_TYPE, "application/octet-stream".parse().expect("valid"));
            h.insert(HEADER_LENGTH, n.into());
        }
        None => {
            h.insert(header::CONTENT_TYPE, "application/json".parse().expect("valid"));
        }
    }
    Ok(response)
}
