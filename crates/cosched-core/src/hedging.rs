//! Hedging rules: policies that wrap a placement policy and add a hedged copy to its actions
//! ([`Action::hedge`]).
//!
//! - [`MdInference`]: MDInference's rule (Ogden and Guo): when the estimate for the chosen
//!   processor exceeds the deadline, also send the request to the processor that would finish
//!   it earliest among the others.
//! - [`TailHedging`]: Dean and Barroso's backup request, placed ahead: a copy to another
//!   processor with nothing queued, released only if the original has not answered by the time
//!   it has gone into its tail ([`LatencyTail::tail_after_ms`](crate::LatencyTail): its
//!   backlog plus its 90th percentile, or on a processor that stalls, the 99th percentile of an
//!   inference that does not), and only where the copy is expected to end before an original in
//!   its tail would. A lognormal tail of cv 0.6 is too light for that to hold often; a stall is
//!   not. Above [`MAX_HEDGING_LOAD`] of saturation it sends no copies: they would take slots
//!   that queued originals need.
//!
//! MDInference's trigger is the estimate plus one standard deviation of the chosen processor's
//! latency (its profiled cv) against the time left to the deadline.

use crate::ids::ProcessorId;
use crate::observation::{Observation, ProcessorView};
use crate::policy::{Action, HedgePlan, Policy};
use crate::wrapper::delegate_to_inner;

/// Whether the request of `obs` placed on `p` risks its deadline.
fn at_risk(obs: &Observation, p: ProcessorId) -> bool {
    let v = &obs.processors[p.index()];
    let left = obs.request.deadline_ms() - obs.now_ms;
    v.est_finish_ms() + v.latency_cv * v.est_latency_ms > left
}

/// The valid processor other than `p` that would finish earliest, among those `ok` accepts.
fn best_other(obs: &Observation, p: ProcessorId, ok: impl Fn(&ProcessorView) -> bool) -> Option<ProcessorId> {
    obs.valid()
        .filter(|&q| q != p && ok(&obs.processors[q.index()]))
        .min_by(|&a, &b| {
            let (a, b) = (&obs.processors[a.index()], &obs.processors[b.index()]);
            a.est_finish_ms().total_cmp(&b.est_finish_ms())
        })
}

/// MDInference's rule over a placement policy (see the [module docs](self)).
pub struct MdInference {
    inner: Box<dyn Policy>,
    name: String,
}

impl MdInference {
    /// MDInference's hedging over `inner`'s placements, reported as `name`.
    pub fn new(inner: Box<dyn Policy>, name: String) -> MdInference {
        MdInference { inner, name }
    }
}

impl Policy for MdInference {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let a = self.inner.decide(obs);
        if !obs.is_valid(a.processor) || !at_risk(obs, a.processor) {
            return a;
        }
        match best_other(obs, a.processor, |_| true) {
            Some(processor) => a.with_hedge(HedgePlan { processor, after_us: 0 }),
            None => a,
        }
    }

    delegate_to_inner!();
}

/// Above this share of the board's saturation throughput, tail hedging sends no copies: copies
/// then take slots that queued originals need (at 80 % load on the hedging check's stalling
/// profile they made the objective 4-7 % worse at 2 % extra inferences).
pub const MAX_HEDGING_LOAD: f64 = 0.7;

/// Backup requests for the slow tail, over a placement policy (see the [module docs](self)).
pub struct TailHedging {
    inner: Box<dyn Policy>,
    name: String,
}

impl TailHedging {
    /// Tail hedging over `inner`'s placements, reported as `name`.
    pub fn new(inner: Box<dyn Policy>, name: String) -> TailHedging {
        TailHedging { inner, name }
    }
}

impl Policy for TailHedging {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let a = self.inner.decide(obs);
        let p = a.processor;
        if !obs.is_valid(p) {
            return a;
        }
        let v = &obs.processors[p.index()];
        let tail = v.latency_tail();
        if v.latency_cv <= 0.0 && tail.stall().is_none() {
            return a; // a deterministic processor has no tail to cut
        }
        if obs.recent_load > MAX_HEDGING_LOAD {
            return a;
        }
        let after_ms = v.backlog_ms + tail.tail_after_ms();
        // A copy pays only where it is expected to end before an original in its tail would.
        // Not capped at the deadline: a late answer that comes sooner still counts.
        let by_ms = v.backlog_ms + tail.mean_in_tail_ms();
        let beats = |w: &ProcessorView| w.queue_len == 0 && after_ms + w.est_finish_ms() <= by_ms;
        match best_other(obs, p, beats) {
            Some(q) => a.with_hedge(HedgePlan {
                processor: q,
                after_us: (after_ms * 1000.0).min(f64::from(u32::MAX)) as u32,
            }),
            None => a,
        }
    }

    delegate_to_inner!();
}
