//! The executor as its users hold it: accessors, submission entry points, test hooks.

use super::completion::{Reply, Ticket};
use super::config::Fault;
use super::model::{Inputs, ModelInfo};
use super::shared::{lock, Shared};
use super::stats::{ExecStats, ProcessorLoad, ProcessorStatus, UsageSnapshot};
use super::submit::{submit, Submitter};
use crate::error::SubmitError;
use cosched_core::{DeviceProfile, ModelId, ProcessorId, ProfileFit, RequestId, StreamId};
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The real executor. See the module docs.
pub struct Executor {
    pub(super) shared: Arc<Shared>,
    pub(super) status: Vec<ProcessorStatus>,
    pub(super) shut_down: bool,
}

impl Executor {
    /// The device profile.
    pub fn device(&self) -> &DeviceProfile {
        &self.shared.device
    }

    /// What each processor runs on, or why it is masked out.
    pub fn processor_status(&self) -> &[ProcessorStatus] {
        &self.status
    }

    /// The loaded model `model`, if it is loaded.
    pub fn model(&self, model: ModelId) -> Option<&ModelInfo> {
        self.shared.models.get(model.index()).and_then(|m| m.as_ref())
    }

    /// ms since the executor started (the time base of [`Completion`]).
    pub fn now_ms(&self) -> f64 {
        self.shared.clock.now_ms()
    }

    /// The instant the executor's time base counts from.
    pub fn epoch(&self) -> Instant {
        self.shared.epoch
    }

    /// Submit one inference of `model` (stream 0, deadline `default_slo_factor` times the model's
    /// fastest profiled latency) and get a [`Ticket`] for its completion.
    pub fn submit(&self, model: ModelId, inputs: Inputs) -> Result<Ticket, SubmitError> {
        let slo = self.default_slo_ms(model);
        self.submit_to(model, StreamId(0), slo, inputs)
    }

    /// Submit with an explicit stream and deadline.
    pub fn submit_to(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Inputs,
    ) -> Result<Ticket, SubmitError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let submitted = Instant::now();
        let accepted = submit(
            &self.shared,
            model,
            stream,
            slo_ms,
            Arc::new(inputs),
            Reply::Channel(tx),
        )?;
        let expected = submitted + Duration::from_secs_f64(accepted.est_finish_ms.clamp(0.0, 3.6e6) / 1000.0);
        Ok(Ticket {
            id: accepted.id,
            rx,
            expected,
        })
    }

    /// Submit and have `reply` receive the completion (exactly once) instead of a ticket. If
    /// this returns an error, `reply` is dropped without being called.
    pub fn submit_with_reply(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Inputs,
        reply: Reply,
    ) -> Result<RequestId, SubmitError> {
        self.submit_shared(model, stream, slo_ms, Arc::new(inputs), reply)
    }

    /// [`Executor::submit_with_reply`] with inputs shared between requests: a caller that sends
    /// the same tensors again and again (a benchmark, a replayed frame) submits without copying
    /// them. Copying a 600 KB image per request was measurable against a plain onnxruntime loop:
    /// the worker then reads tensors another core has just written instead of cache-warm ones.
    pub fn submit_shared(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Arc<Inputs>,
        reply: Reply,
    ) -> Result<RequestId, SubmitError> {
        submit(&self.shared, model, stream, slo_ms, inputs, reply).map(|a| a.id)
    }

    /// A handle that submits from another thread, e.g. from a completion callback, so that a
    /// closed loop resubmits on the worker that just finished instead of waking a driver thread
    /// first (two thread hand-offs per request, idle worker time on a loaded 2-core host).
    /// Crate-private: a callback may also run while the executor's lock is held (a request
    /// dropped on an error path), and submitting from there would deadlock; the driver only
    /// resubmits from successful completions, which are always delivered outside the lock.
    pub(crate) fn submitter(&self) -> Submitter {
        Submitter {
            shared: self.shared.clone(),
        }
    }

    /// Deadline of [`Executor::submit`] for `model`, ms.
    pub fn default_slo_ms(&self, model: ModelId) -> f64 {
        self.shared
            .best_latency_ms
            .get(model.index())
            .map_or(1000.0, |l| l * self.shared.default_slo_factor)
    }

    /// Measured service times against the profile so far (every model and processor with at
    /// least [`ProfileFit::MIN_SAMPLES`] inferences is in its entries).
    pub fn profile_fit(&self) -> ProfileFit {
        lock(&self.shared.state).fit.clone()
    }

    /// Changes of the policy deciding so far (the run-time guard's; empty for other policies).
    pub fn policy_switches(&self) -> Vec<cosched_core::PolicySwitch> {
        lock(&self.shared.state).policy.switches().to_vec()
    }

    /// Counters so far.
    pub fn stats(&self) -> ExecStats {
        let st = lock(&self.shared.state);
        ExecStats {
            hedges: st.dispatch.hedge_counts(),
            ..st.stats.clone()
        }
    }

    /// Queue length and running slots per processor now, in the profile's processor order (for
    /// monitoring, e.g. a server's metrics; one lock, no allocation beyond the vector).
    pub fn processor_load(&self) -> Vec<ProcessorLoad> {
        lock(&self.shared.state)
            .dispatch
            .lanes()
            .iter()
            .map(|l| ProcessorLoad {
                queued: l.queue_len(),
                running: l.active(),
            })
            .collect()
    }

    /// Energy and busy time per processor up to now.
    pub fn usage(&self) -> UsageSnapshot {
        let sh = &*self.shared;
        let mut st = lock(&sh.state);
        let now = sh.clock.now_ms();
        st.dispatch.settle_all(now);
        let lanes = st.dispatch.lanes();
        UsageSnapshot {
            now_ms: now,
            energy_j: lanes.iter().map(|l| l.energy_j()).collect(),
            busy_slot_ms: lanes.iter().map(|l| l.busy_slot_ms()).collect(),
            completed: st.procs.iter().map(|p| p.completed).collect(),
            online: st.procs.iter().map(|p| p.usable && !p.offline).collect(),
        }
    }

    /// The online latency estimate of `model` on `processor` (batch 1), ms.
    pub fn estimate_ms(&self, model: ModelId, processor: ProcessorId) -> Option<f64> {
        lock(&self.shared.state).dispatch.estimator().estimate(model, processor)
    }

    /// Make the next inference on `processor` fail (test hook for failover).
    #[doc(hidden)]
    pub fn inject_fault(&self, processor: ProcessorId, fault: Fault) {
        self.shared.faults[processor.index()].store(fault as u8, AtomicOrdering::SeqCst);
    }
}
