//! Hedging rules: policies that wrap a placement policy and add a hedged copy to its actions
//! ([`Action::hedge`]).
//!
//! - [`MdInference`]: MDInference's rule (Ogden and Guo): when the estimate for the chosen
//!   processor exceeds the deadline, also send the request to the processor that would finish
//!   it earliest among the others.
//! - [`TailHedging`]: Dean and Barroso's backup request, placed ahead: a copy to a processor
//!   that is idle now (a free slot, nothing queued) and meets the deadline on its own, queued
//!   only if the original has not answered by the time it finishes nine times in ten (its
//!   backlog plus the 90th percentile of its latency, lognormal with the profiled cv). Only the
//!   slow tail gets a second chance, so copies cost about a tenth of the requests they cover;
//!   under load no processor is idle and it stops hedging by itself.
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

/// The 90th percentile of a lognormal latency of mean `mean_ms` and coefficient of variation `cv`.
fn p90_ms(mean_ms: f64, cv: f64) -> f64 {
    let s2 = (1.0 + cv * cv).ln();
    mean_ms * (1.281_551_6 * s2.sqrt() - s2 / 2.0).exp()
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
        if v.latency_cv <= 0.0 {
            return a; // a deterministic processor has no tail to cut
        }
        let left = obs.request.deadline_ms() - obs.now_ms;
        let after_ms = v.backlog_ms + p90_ms(v.est_latency_ms, v.latency_cv);
        let idle = |w: &ProcessorView| w.queue_len == 0 && w.in_flight < w.slots && after_ms + w.est_latency_ms <= left;
        match best_other(obs, p, idle) {
            Some(q) => a.with_hedge(HedgePlan {
                processor: q,
                after_us: (after_ms * 1000.0).min(f64::from(u32::MAX)) as u32,
            }),
            None => a,
        }
    }

    delegate_to_inner!();
}
