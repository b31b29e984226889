//! A finished batch: metrics, estimator, policy feedback, failover, and the next work.

use super::completion::{Completion, Reply};
use super::failover::fail_over;
use super::health::take_down;
use super::mirror::{settle, try_start};
use super::request::Req;
use super::shared::{lock, ms_since, Shared};
use crate::error::BackendError;
use cosched_core::{Outcome, ProcessorId, RequestId};
use ndarray::ArrayD;
use thiserror::Error;

pub(super) type RunResult = Result<Vec<Vec<ArrayD<f32>>>, RunFailure>;

/// Why a batch produced no outputs.
#[derive(Debug, Error)]
pub(super) enum RunFailure {
    /// [`Fault::Error`](super::Fault::Error) was injected.
    #[error("injected inference error")]
    Injected,
    /// The processor has no session of the batch's model.
    #[error("no session for this model on this processor")]
    NoSession,
    /// The worker panicked inside the inference.
    #[error("worker panicked: {0}")]
    Panicked(String),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A worker's outcome for one batch.
pub(super) struct Done {
    pub(super) start_ms: f64,
    pub(super) end_ms: f64,
    pub(super) result: RunResult,
    pub(super) panicked: bool,
}

/// What a worker is left with after a batch: the completions to deliver, and whether it is to
/// probe its processor, which the batch's failure took down.
pub(super) struct AfterBatch {
    pub(super) replies: Vec<(Reply, Completion)>,
    pub(super) probe: bool,
}

/// Bookkeeping after a batch: metrics, estimator, policy feedback, failover, next work.
pub(super) fn on_done(sh: &Shared, p: usize, slot: usize, batch: Vec<Req>, done: Done) -> AfterBatch {
    let mut replies = Vec::with_capacity(batch.len());
    let mut probe = false;
    let mut st = lock(&sh.state);
    let st = &mut *st;
    let now = ms_since(sh.epoch);
    settle(sh, &mut st.procs[p], p, now);
    let ps = &mut st.procs[p];
    ps.active -= 1;
    ps.slots[slot].busy = false;
    if done.panicked {
        ps.slots[slot].down = true;
    } else {
        ps.free.push(slot);
    }
    let proc_ = &sh.device.processors[p];
    let b = batch.len() as u32;
    let service_ms = (done.end_ms - done.start_ms).max(0.0);
    let energy_j = proc_.energy_per_inference_j(service_ms, 1.0) / f64::from(b.max(1));
    let pid = ProcessorId(p as u16);
    match done.result {
        Ok(outputs) => {
            let model = batch[0].model;
            let profiled = sh.device.on(model, pid);
            let factor = profiled.map_or(1.0, |o| o.batch_factor(b));
            // The processors busy now stand for those busy while it ran (the executor does not
            // keep the set at each start); the frequency is taken as the highest.
            let others_busy = st
                .procs
                .iter()
                .enumerate()
                .filter(|&(q, s)| q != p && s.active > 0)
                .count() as u32;
            let expected_service_ms =
                profiled.map_or(0.0, |o| o.mean_ms * factor) * sh.device.interference.slowdown(others_busy);
            st.estimator.update(model, pid, service_ms / factor);
            if st.fit.record(model, pid, service_ms, factor) && !st.fit_warned {
                if let Some(e) = st.fit.entry(&sh.device, model, pid) {
                    if e.mismatched(sh.profile_tolerance) {
                        st.fit_warned = true;
                        tracing::warn!(
                            "device profile \"{}\" does not fit this machine: {} on {} takes {:.2} ms, the profile says {:.2} ms ({:.2}x); loads and placement are off by as much (calibrate: cosched-bench run --calibrate); the run report lists every ratio",
                            sh.device.name,
                            e.model,
                            e.processor,
                            e.measured_ms,
                            e.profile_ms,
                            e.ratio
                        );
                    }
                }
            }
            for (mut req, out) in batch.into_iter().zip(outputs) {
                req.attempts += 1;
                let latency_ms = done.end_ms - req.arrival_ms;
                let outcome = Outcome {
                    request: RequestId(req.id),
                    model: req.model,
                    stream: req.stream,
                    processor: pid,
                    latency_ms,
                    slo_ms: req.slo_ms,
                    energy_j,
                    service_ms,
                    batch: b,
                    expected_service_ms,
                    reference_energy_j: sh.reference_energy_j[req.model.index()],
                    violated: latency_ms > req.slo_ms,
                };
                st.policy.observe(&outcome);
                st.stats.completed += 1;
                st.stats.outstanding -= 1;
                st.procs[p].completed += 1;
                let mut c = req.completion(Ok(out), Some((pid, done.start_ms, b, energy_j)));
                c.end_ms = done.end_ms;
                if let Some(r) = req.reply.take() {
                    replies.push((r, c));
                }
            }
        }
        Err(failure) => {
            let message = failure.to_string();
            if matches!(&failure, RunFailure::Backend(e) if e.takes_processor_down()) {
                probe = take_down(sh, st, p, &message, &mut replies);
            }
            for mut req in batch {
                req.attempts += 1;
                fail_over(sh, st, req, p, message.clone(), &mut replies);
            }
        }
    }
    if done.panicked {
        st.stats.worker_restarts += 1;
    }
    try_start(sh, st, p);
    sh.changed.notify_all();
    AfterBatch { replies, probe }
}
