//! A failed request: retried once on another processor that runs its model, else completed
//! with its error.

use super::completion::{Completion, Reply};
use super::host::{enqueue, observe};
use super::request::Req;
use super::shared::{Shared, State};
use crate::error::InferenceError;
use cosched_core::{Outcome, Placement, ProcessorId, ProcessorView, RequestId};

/// A copy of a hedged request that will not answer (it failed, or it is cancelled) is dropped
/// without an answer while its other copy answers for it; true when that is so.
fn gives_up_copy(st: &mut State, req: &mut Req) -> bool {
    if req.head.hedged && !st.dispatch.abandon(req.head.id) {
        req.disarm();
        return true;
    }
    false
}

/// Complete `req` with an error (no failover left) and tell the policy.
pub(super) fn fail_request(
    sh: &Shared,
    st: &mut State,
    mut req: Req,
    p: usize,
    error: InferenceError,
    replies: &mut Vec<(Reply, Completion)>,
) {
    if gives_up_copy(st, &mut req) {
        return;
    }
    let now = sh.clock.now_ms();
    let h = req.head;
    let outcome = Outcome {
        request: RequestId(h.id),
        model: h.model,
        stream: h.stream,
        processor: ProcessorId(p as u16),
        latency_ms: now - h.arrival_ms,
        slo_ms: h.slo_ms,
        energy_j: 0.0,
        service_ms: 0.0,
        batch: 0,
        expected_service_ms: 0.0,
        reference_energy_j: st.dispatch.reference_energy_j(h.model),
        violated: true,
    };
    st.policy.observe(&outcome);
    st.stats.failed += 1;
    st.stats.outstanding -= 1;
    st.procs[p].failed += 1;
    let c = req.completion(Err(error), None);
    if let Some(r) = req.take_reply() {
        replies.push((r, c));
    }
}

/// Retry `req` once on another processor that can run its model, else fail it.
pub(super) fn fail_over(
    sh: &Shared,
    st: &mut State,
    mut req: Req,
    p: usize,
    message: String,
    replies: &mut Vec<(Reply, Completion)>,
) {
    if gives_up_copy(st, &mut req) {
        return;
    }
    req.tried |= 1 << p;
    if req.attempts < 2 {
        observe(sh, st, &req, req.tried);
        if let Some(q) = st.dispatch.observation().argmin_valid(ProcessorView::est_finish_ms) {
            tracing::warn!(
                "request {} failed on \"{}\" ({message}); retrying on \"{}\"",
                req.head.id,
                sh.device.processors[p].id,
                sh.device.processors[q.index()].id
            );
            st.stats.failovers += 1;
            enqueue(sh, st, &Placement::on(q), req);
            return;
        }
    }
    let e = InferenceError::Failed {
        processor: sh.device.processors[p].id.clone(),
        message,
    };
    fail_request(sh, st, req, p, e, replies);
}
