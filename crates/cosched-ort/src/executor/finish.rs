//! A finished batch: metrics, estimator, policy feedback, failover, and the next work.

use super::completion::{Completion, Reply};
use super::failover::fail_over;
use super::health::take_down;
use super::host::try_start;
use super::request::Req;
use super::shared::{lock, Shared};
use crate::error::BackendError;
use cosched_core::{Claim, ProcessorId};
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
    let now = sh.clock.now_ms();
    let b = batch.len() as u32;
    let service_ms = (done.end_ms - done.start_ms).max(0.0);
    // A worker that panicked is being replaced: its slot takes no work until the new one is up.
    let fin = st.dispatch.finish_slot(p, slot, now, service_ms, b, !done.panicked);
    let pid = ProcessorId(p as u16);
    match done.result {
        Ok(outputs) => {
            let model = batch[0].head.model;
            let factor = st.dispatch.learn(model, p, service_ms, b);
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
            let reference_energy_j = st.dispatch.reference_energy_j(model);
            for (mut req, out) in batch.into_iter().zip(outputs) {
                req.attempts += 1;
                // Of a hedged request's two copies only the first to finish answers.
                if req.head.hedged {
                    match st.dispatch.claim(req.head.id, p) {
                        Claim::Lost => {
                            req.disarm();
                            continue;
                        }
                        Claim::Won(Some(mut twin)) => twin.disarm(),
                        Claim::Won(None) | Claim::Alone => {}
                    }
                }
                let latency_ms = done.end_ms - req.head.arrival_ms;
                let outcome = fin.outcome(&req.head, latency_ms, reference_energy_j, latency_ms > req.head.slo_ms);
                st.policy.observe(&outcome);
                st.stats.completed += 1;
                st.stats.outstanding -= 1;
                st.procs[p].completed += 1;
                let mut c = req.completion(Ok(out), Some((pid, done.start_ms, b, fin.energy_j)));
                c.end_ms = done.end_ms;
                if let Some(r) = req.take_reply() {
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
