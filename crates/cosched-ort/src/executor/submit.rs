//! Submission: checking a request, placing it by the policy, backpressure.

use super::completion::Reply;
use super::config::Backpressure;
use super::host::{enqueue, observe};
use super::model::{Inputs, ModelInfo};
use super::request::Req;
use super::shared::{lock, Shared};
use crate::error::SubmitError;
use cosched_core::{ModelId, Pending, RequestId, StreamId};
use std::sync::Arc;

/// See [`Executor::submitter`].
#[derive(Clone)]
pub(crate) struct Submitter {
    pub(super) shared: Arc<Shared>,
}

impl Submitter {
    /// [`Executor::submit_shared`].
    pub(crate) fn submit_shared(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Arc<Inputs>,
        reply: Reply,
    ) -> Result<RequestId, SubmitError> {
        submit(&self.shared, model, stream, slo_ms, inputs, reply).map(|a| a.id)
    }
}

/// An accepted request: its id, and when the dispatcher expects it to finish.
pub(super) struct Accepted {
    pub(super) id: RequestId,
    /// The placement's estimated wait plus service time, ms from submission.
    pub(super) est_finish_ms: f64,
}

pub(super) fn submit(
    sh: &Shared,
    model: ModelId,
    stream: StreamId,
    slo_ms: f64,
    inputs: Arc<Inputs>,
    reply: Reply,
) -> Result<Accepted, SubmitError> {
    let info = sh.models.get(model.index()).and_then(|m| m.as_ref()).ok_or_else(|| {
        SubmitError::UnknownModel(
            sh.device
                .models
                .get(model.index())
                .map_or_else(|| format!("#{}", model.0), |m| format!("\"{}\"", m.name)),
        )
    })?;
    check_inputs(info, &inputs)?;
    let mut st = lock(&sh.state);
    if st.closing {
        return Err(SubmitError::ShuttingDown);
    }
    let now = sh.clock.now_ms();
    st.dispatch.note_arrival(now);
    let id = st.next_id;
    st.next_id += 1;
    let mut req = Req {
        head: Pending::new(id, model, stream, now, slo_ms),
        inputs,
        reply: Some(reply.into()),
        attempts: 0,
        tried: 0,
        clock: sh.clock.clone(),
    };
    loop {
        let st_ref = &mut *st;
        observe(sh, st_ref, &req, 0);
        if st_ref.dispatch.observation().valid().next().is_none() {
            // Disarm the reply: an error return means no completion.
            req.disarm();
            let down = st_ref
                .procs
                .iter()
                .enumerate()
                .any(|(p, ps)| ps.usable && ps.offline && sh.device.models[model.index()].on[p].is_some());
            return Err(if down {
                SubmitError::Unavailable(info.name.clone())
            } else {
                SubmitError::UnknownModel(format!("\"{}\"", info.name))
            });
        }
        let action = st_ref.policy.decide(st_ref.dispatch.observation());
        st_ref.dispatch.set_queue_order(st_ref.policy.queue_order());
        let placement = st_ref.dispatch.resolve(action).expect("checked above");
        if placement.replaced {
            st_ref.stats.invalid_actions += 1;
        }
        let p = placement.processor;
        if st_ref.dispatch.lane(p.index()).queue_len() >= sh.queue_capacity {
            if sh.backpressure == Backpressure::Block {
                st = sh.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                if st.closing {
                    req.disarm();
                    return Err(SubmitError::ShuttingDown);
                }
                continue;
            }
            st_ref.stats.rejected += 1;
            req.disarm();
            return Err(SubmitError::Overloaded {
                processor: sh.device.processors[p.index()].id.clone(),
                capacity: sh.queue_capacity,
            });
        }
        st_ref.stats.accepted += 1;
        st_ref.stats.outstanding += 1;
        let est_finish_ms = st_ref.dispatch.observation().processors[p.index()].est_finish_ms();
        enqueue(sh, st_ref, &placement, req);
        return Ok(Accepted {
            id: RequestId(id),
            est_finish_ms,
        });
    }
}

pub(super) fn check_inputs(info: &ModelInfo, inputs: &Inputs) -> Result<(), SubmitError> {
    let bad = |message: String| SubmitError::BadInput {
        model: info.name.clone(),
        message,
    };
    if inputs.len() != info.inputs.len() {
        return Err(bad(format!(
            "{} inputs given, the model has {}",
            inputs.len(),
            info.inputs.len()
        )));
    }
    for (a, (name, shape)) in inputs.iter().zip(&info.inputs) {
        let ok = a.ndim() == shape.len() && a.shape().iter().zip(shape).all(|(&d, &s)| s < 0 || d as i64 == s);
        if !ok {
            return Err(bad(format!(
                "input \"{name}\" has shape {:?}, the model expects {shape:?}",
                a.shape()
            )));
        }
        if info.batchable && a.shape().first() != Some(&1) {
            return Err(bad(format!(
                "input \"{name}\": submit one request per sample (batch dimension 1); the executor batches"
            )));
        }
    }
    Ok(())
}
